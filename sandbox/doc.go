// Package sandbox is a Kafka-protocol cluster whose nodes replicate every
// partition through Raft (go.etcd.io/raft/v3): the cluster raftdrill drills
// when none is configured, and its test equipment.
//
// Each node owns its data directory, a Raft group per partition replica it
// holds plus the metadata group every node belongs to (topic creation and
// deletion, as KRaft's quorum), a durable log per group (fsync "always" once
// per Raft Ready, or "never" with a buffer a kill loses), a loopback TCP
// transport to its peers whose links can be cut, and its own Kafka
// listener. A Kafka offset is a position in the Raft log: each entry's
// records take the offsets after those of the entries before it, so an
// uncommitted suffix that Raft truncates gives its offsets to other records,
// which is how an acks=1 write is really lost. Fetch serves up to the
// committed end on every replica; Metadata names the leader the node's own
// group follows, with the Raft term as leader epoch. Kill stops a node's
// goroutines and sockets and drops its memory; Restart reads its disk and
// catches up through Raft. With process-per-node each node is a child
// process (NodeMain) and kill is SIGKILL.
//
// This package is the cluster, its nodes, their Raft groups, the Kafka
// request handlers and the faults. The parts beneath are internal
// packages: raftlog (a group's log on disk), transport (between nodes),
// kafkaserver (the Kafka front end), entry and batch (the formats of the
// Raft entries and of the record batches they hold), and damage (what the
// data faults make a replica serve).
//
// Why its own Kafka front end and not kfake: kfake stores the data itself
// and handles every request of the cluster in one loop, while acks=all here
// means many produce requests waiting concurrently for Raft to commit, and
// every node must answer from its own log and its own view of leadership.
// The Kafka messages themselves are franz-go's kmsg (decode, encode);
// internal/kafkaserver adds the framing, the per-connection ordering of
// answers, TLS and SASL, and this package the handlers (handlers.go).
//
// The timeline of kills, restarts, pauses, partitions and the Raft groups'
// own leader changes is ground truth for raftdrill's accuracy benchmark;
// Log and Truncated show what each node's log holds and what Raft removed
// from it. Faults (faults.go) are hooks in the produce path, the metadata a
// node serves, the vote messages and the quorum check, so that every
// checker of raftdrill can be shown to catch what it names. docs/sandbox.md
// has the design, the measurements and the control API.
package sandbox
