// Package message is the drill message codec: every message a drill writes
// carries its run, partition, sequence number and a CRC-32C of the whole,
// so that the checker can recognise it again and tell an intact copy from a
// damaged one, whatever the cluster did to it.
package message
