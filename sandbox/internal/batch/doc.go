// Package batch reads and rewrites Kafka record batches (magic 2) as a
// sandbox node stores and serves them: a produce's records checked (CRC-32C,
// magic, offsets) and kept as the producer sent them, served with the base
// offset and leader epoch a broker assigns, and decoded and re-encoded
// where a fault changes what is stored or served. The module's
// internal/kbatch is the tests' own: batches written by hand.
package batch
