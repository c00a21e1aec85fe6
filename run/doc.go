// Package run is the one shape of a drill run that every part of raftdrill
// shares: the drill fills a Result, the daemon wraps it in a Run with its
// identity and times, and the run store, the HTTP API, the reports, the
// exporters and the alerts all read that same value. It also holds the
// measurement table: every figure a drill can produce, with its unit, how
// it is written for people and whether it is a key figure, so that no
// measurement key is a bare string anywhere else. It imports nothing of
// raftdrill.
package run
