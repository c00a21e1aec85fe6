// Package daemon is raftdrill's lifecycle: it takes the state directory,
// connects to the cluster under drill (or starts the embedded sandbox),
// runs drills on their cron schedules and on demand one at a time, keeps
// the run history (in the state directory, across restarts), restores the
// nodes a drill left down (the restore loop over the journal), serves the
// HTTP API and the metrics, reloads its configuration on SIGHUP and
// POST /-/reload, and shuts down in order so that a drill cut short
// restores the nodes it stopped before the alerts are evaluated and flushed.
// It serves through a Prometheus web config file (TLS, basic auth; package
// web), and, with several replicas electing a leader (ha.kubernetes,
// package ha, linked with the kubernetes build tag), lets only the leader
// drill, restore and alert: two drillers would take nodes down for two
// drills at once. It wires the other packages together and holds no drill
// logic of its own.
package daemon
