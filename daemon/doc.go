// Package daemon is raftdrill's lifecycle: it connects to the cluster under
// drill (or starts the embedded sandbox), runs drills on their cron schedules
// and on demand one at a time, keeps the recent runs, serves the HTTP API and
// the metrics, and shuts down in order so that a drill cut short restores the
// nodes it stopped. It wires the other packages together and holds no drill
// logic of its own.
package daemon
