// Package sandbox is an in-process Kafka-protocol cluster that fails over like
// a Raft-replicated one. franz-go's kfake serves the protocol and stores the
// data; this package adds what makes it a cluster worth drilling: every node
// has its own listener that dies as under SIGKILL, partitions of a killed
// leader stay leaderless for a randomised election timeout and then elect a
// live replica with a higher epoch, but only while a majority is up, and
// writes are refused without quorum. It records a ground-truth timeline of
// kills, restarts and elections for tests and accuracy benchmarks, serves a
// small HTTP control API for running it as its own process, and can be told
// to misbehave (faults.go) so that raftdrill's checkers can be proven.
package sandbox
