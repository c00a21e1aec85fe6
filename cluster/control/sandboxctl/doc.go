// Package sandboxctl is the node controller of the sandbox cluster: with no
// cluster configured it starts the embedded sandbox (package sandbox, the
// test equipment raftdrill drills by default) and controls its nodes in
// process; with cluster.controller.sandbox_url it controls a separate
// `raftdrill sandbox` through its control API. It is the only production
// package that reaches into package sandbox.
package sandboxctl
