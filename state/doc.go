// Package state is raftdrill's state directory (state.dir): what must
// survive the process that wrote it. One embedded bbolt database holds the
// run history, the durable alert outbox and the restore journal (every node
// a drill takes down, written and synced before the kill and cleared only
// when the node serves Kafka again); bbolt syncs each commit to disk. The
// directory is owned by one `raftdrill serve` or `raftdrill run` at a time
// through an advisory lock file that says who holds it, so two of them
// cannot drill the same cluster from one host. The process controller
// keeps its pidfiles beside the database.
package state
