package state

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Actions a drill takes on a node, as the journal records them, each
// undone in its own way: a kill by a restart, an isolation by a heal, a
// pause by a resume.
const (
	ActionKill    = "kill"
	ActionIsolate = "isolate"
	ActionPause   = "pause"
)

// Outage is one node a drill took down: a journal entry. It is written and
// synced before the drill acts, and removed only once the node serves Kafka
// again, so that whoever starts next knows what to bring back.
type Outage struct {
	Run        string    `json:"run"`
	Drill      string    `json:"drill"`
	Node       int32     `json:"node"`
	Controller string    `json:"controller"` // cluster.controller.type at the time
	Action     string    `json:"action"`     // ActionKill, ...
	At         time.Time `json:"at"`
	// Peers are the nodes an isolation cut the node off from: what the
	// heal must restore.
	Peers []int32 `json:"peers,omitempty"`

	// What the restore loop has tried so far.
	Attempts    int       `json:"attempts,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Alert is the node-not-restored firing announced for it, so that a
	// restarted daemon resolves it rather than announce it again.
	Alert string `json:"alert,omitempty"`
}

func (o Outage) key() []byte { return outageKey(o.Run, o.Node) }

func outageKey(run string, node int32) []byte {
	return fmt.Appendf(nil, "%010d/%s", node, run)
}

// Journal is the restore journal.
type Journal struct{ db *bolt.DB }

// Record writes o and syncs it to disk before it returns: a kill that
// could not be journalled must not happen.
func (j *Journal) Record(o Outage) error {
	err := j.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(journalBucket), o.key(), o) })
	if err != nil {
		return fmt.Errorf("restore journal: record node %d of run %s: %w", o.Node, o.Run, err)
	}
	return nil
}

// Update rewrites o if it is still journalled (the restore loop's record
// of its attempts); it does not bring back an entry cleared meanwhile, nor
// forget an announcement recorded meanwhile (MarkAlerted).
func (j *Journal) Update(o Outage) error {
	return j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(journalBucket)
		raw := b.Get(o.key())
		if raw == nil {
			return nil
		}
		if o.Alert == "" {
			var have Outage
			if json.Unmarshal(raw, &have) == nil {
				o.Alert = have.Alert
			}
		}
		return putJSON(b, o.key(), o)
	})
}

// MarkAlerted records the node-not-restored firing announced for the entry
// of node for run (if it is still journalled).
func (j *Journal) MarkAlerted(run string, node int32, firing string) error {
	return j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(journalBucket)
		raw := b.Get(outageKey(run, node))
		if raw == nil {
			return nil
		}
		var o Outage
		if err := json.Unmarshal(raw, &o); err != nil {
			return err
		}
		o.Alert = firing
		return putJSON(b, o.key(), o)
	})
}

// Clear removes the entry of node for run: the node serves again.
func (j *Journal) Clear(run string, node int32) error {
	err := j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(journalBucket).Delete(outageKey(run, node)) })
	if err != nil {
		return fmt.Errorf("restore journal: clear node %d of run %s: %w", node, run, err)
	}
	return nil
}

// ClearIf removes every entry match accepts and returns them.
func (j *Journal) ClearIf(match func(Outage) bool) ([]Outage, error) {
	var gone []Outage
	err := j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(journalBucket)
		var keys [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var o Outage
			if json.Unmarshal(v, &o) == nil && match(o) {
				keys = append(keys, append([]byte(nil), k...))
				gone = append(gone, o)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return gone, err
}

// List returns every entry, by node then run.
func (j *Journal) List() ([]Outage, error) {
	var out []Outage
	err := j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(journalBucket).ForEach(func(k, v []byte) error {
			var o Outage
			if err := json.Unmarshal(v, &o); err != nil {
				return fmt.Errorf("restore journal: entry %q: %w", k, err)
			}
			out = append(out, o)
			return nil
		})
	})
	return out, err
}
