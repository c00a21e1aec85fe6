package state

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Outbox holds alert messages from before they are sent until the channel
// accepts them, in the order they were made, so that a restart sends what
// the last process could not. It stores bytes; package alerts encodes.
type Outbox struct{ db *bolt.DB }

// OutboxItem is one stored message.
type OutboxItem struct {
	Seq  uint64
	Data []byte
}

// Append stores data behind everything stored so far and returns its
// sequence number (its place in the order).
func (o *Outbox) Append(data []byte) (uint64, error) {
	var seq uint64
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(outboxBucket)
		var err error
		if seq, err = b.NextSequence(); err != nil {
			return err
		}
		return b.Put(seqKey(seq), data)
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: store alert: %w", err)
	}
	return seq, nil
}

// Put replaces the message at seq (its delivery progressed, or it became
// a summary of others).
func (o *Outbox) Put(seq uint64, data []byte) error {
	return o.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(outboxBucket).Put(seqKey(seq), data) })
}

// Delete removes messages: delivered, or folded into a summary.
func (o *Outbox) Delete(seqs ...uint64) error {
	return o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(outboxBucket)
		for _, s := range seqs {
			if err := b.Delete(seqKey(s)); err != nil {
				return err
			}
		}
		return nil
	})
}

// List returns every stored message, oldest first.
func (o *Outbox) List() ([]OutboxItem, error) {
	var out []OutboxItem
	err := o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(outboxBucket).ForEach(func(k, v []byte) error {
			out = append(out, OutboxItem{Seq: binary.BigEndian.Uint64(k), Data: append([]byte(nil), v...)})
			return nil
		})
	})
	return out, err
}
