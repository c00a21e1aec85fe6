// Package probes holds the drills and the continuous probes, and what they
// share: the per-node Kafka client (sarama), node control (kill, restart, up),
// the workload that writes recognisable messages, and the checker that
// decides whether every acknowledged write survived. A drill returns a Result
// value; it never touches metrics, alerts or the run store.
package probes
