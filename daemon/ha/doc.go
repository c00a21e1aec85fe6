// Package ha lets two or more raftdrill replicas share one job: they elect
// a leader through a Kubernetes Lease (client-go's leaderelection with a
// LeaseLock), and only the leader drills. An Elector campaigns until its
// context ends, campaigning again after it loses the Lease, and gives the
// Lease up at once when its context is cancelled, so a rolling update hands
// over without waiting out lease_duration. The daemon asks IsLeader before
// each scheduled drill and reads Changes to learn, without polling, that it
// must stop (cancel a running drill, whose restore then brings its nodes
// back). Its configuration section, ha.kubernetes, lives in the light
// package settings; this package links client-go and is compiled into
// raftdrill only with the build tag kubernetes.
package ha
