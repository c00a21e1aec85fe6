// Package kafka speaks the Kafka protocol to each node of the cluster under
// drill on its own (sarama's low-level Broker): a drill must see what every
// node says, not what a client library's cached and merged metadata says,
// and must know the outcome of every single send without hidden retries. It
// holds the per-node connection pools, the metadata views, the one-message
// producer whose every send has exactly one outcome, and the read-back of a
// partition through one node.
package kafka
