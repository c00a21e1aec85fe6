// Package raftlog is the durable log of one Raft group on one sandbox
// node: segment files of entries, hard states and snapshots, each record
// checksummed (CRC-32C) and read back at start by its header alone, behind
// a write buffer that is written out and fsynced once per Raft Ready
// (fsync "always") or written out now and then and lost at a kill (fsync
// "never"). It implements raft.Storage for go.etcd.io/raft/v3, and it
// indexes its entries by the Kafka offsets they take, so that a partition's
// offsets are positions in its Raft log: the sandbox serves fetches, offset
// lookups and retention from it. What an entry's data means is the
// sandbox's; the log asks it only how many offsets each entry takes.
package raftlog
