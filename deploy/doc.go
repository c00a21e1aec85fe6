// Package deploy holds no code that raftdrill runs: it is the home of the
// files that install raftdrill (kubernetes/ for kustomize, systemd/,
// compose/) and of the tests that decode every one of them strictly into
// the real types, so that a typo fails a test rather than a deployment.
// gen/ writes the manifests that copy other files of the repository (the
// alert rules, the Grafana dashboards); run it after changing those:
//
//	go generate ./deploy
package deploy

//go:generate go run ./gen -root ..
