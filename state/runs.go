package state

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/raftdrill/raftdrill/run"
)

// Runs is the run history: each run as GET /runs/{id} shows it, keyed by
// its id (which sorts by start time).
type Runs struct{ db *bolt.DB }

// Put writes r (a new run or a newer state of one) and syncs it.
func (rs *Runs) Put(r run.Run) error {
	err := rs.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(runsBucket), []byte(r.ID), r)
	})
	if err != nil {
		return fmt.Errorf("store run %s: %w", r.ID, err)
	}
	return nil
}

// List returns every stored run, newest first. A record that does not
// decode (written by a raftdrill far newer or broken) is skipped and
// counted in bad.
func (rs *Runs) List() (runs []run.Run, bad int, err error) {
	err = rs.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(runsBucket).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var r run.Run
			if json.Unmarshal(v, &r) != nil || r.ID == "" {
				bad++
				continue
			}
			runs = append(runs, r)
		}
		return nil
	})
	return runs, bad, err
}

// Interrupt marks every run still `running` as interrupted: found at
// start-up, it was cut short when the process running it died. It keeps
// what the run had recorded (events, steps, measurements) and returns the
// runs it changed.
func (rs *Runs) Interrupt(now time.Time) ([]run.Run, error) {
	var out []run.Run
	err := rs.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(runsBucket)
		var changed []run.Run
		err := b.ForEach(func(_, v []byte) error {
			var r run.Run
			if json.Unmarshal(v, &r) != nil || r.Status != run.StatusRunning {
				return nil
			}
			changed = append(changed, r)
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range changed {
			end := LastActivity(r)
			r.Status = run.StatusInterrupted
			r.FinishedAt = &end
			msg := fmt.Sprintf("interrupted: raftdrill stopped during the run (killed, crashed or its host went down) and found it unfinished when it started again at %s",
				now.UTC().Format(time.RFC3339))
			if r.Error != "" {
				msg += "; before that: " + r.Error
			}
			r.Error = msg
			if err := putJSON(b, []byte(r.ID), r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// LastActivity is the last time a run recorded anything: its last event or
// step, or its start.
func LastActivity(r run.Run) time.Time {
	last := r.StartedAt
	for _, e := range r.Events {
		if e.At.After(last) {
			last = e.At
		}
	}
	for _, s := range r.Steps {
		if end := s.StartedAt.Add(time.Duration(s.Seconds * float64(time.Second))); end.After(last) {
			last = end
		}
	}
	return last
}

// Retention says which runs to keep: the newest Runs runs, passing ones up
// to MaxAge old and the others up to FailedMaxAge; beyond those, the newest
// FailedRuns runs that did not pass (failed, error, interrupted), up to
// FailedMaxAge old. Runs still running are always kept.
type Retention struct {
	Runs         int
	MaxAge       time.Duration
	FailedRuns   int
	FailedMaxAge time.Duration
}

// Keep lists the ids of runs (newest first) that r keeps at now.
func (r Retention) Keep(runs []run.Run, now time.Time) map[string]bool {
	keep := map[string]bool{}
	failed := 0
	for i, x := range runs {
		if x.Status == run.StatusRunning {
			keep[x.ID] = true
			continue
		}
		end := x.StartedAt
		if x.FinishedAt != nil {
			end = *x.FinishedAt
		}
		age := now.Sub(end)
		passed := x.Status == run.StatusPassed
		if !passed {
			failed++
		}
		switch {
		case i < r.Runs && passed && age <= r.MaxAge:
			keep[x.ID] = true
		case i < r.Runs && !passed && age <= r.FailedMaxAge:
			keep[x.ID] = true
		case !passed && failed <= r.FailedRuns && age <= r.FailedMaxAge:
			keep[x.ID] = true
		}
	}
	return keep
}

// Prune deletes the runs ret does not keep and returns their ids.
func (rs *Runs) Prune(ret Retention, now time.Time) ([]string, error) {
	runs, _, err := rs.List()
	if err != nil {
		return nil, err
	}
	keep := ret.Keep(runs, now)
	var gone []string
	for _, r := range runs {
		if !keep[r.ID] {
			gone = append(gone, r.ID)
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	err = rs.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(runsBucket)
		for _, id := range gone {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	slices.Sort(gone)
	return gone, err
}
