package splitbrain_test

import (
	"fmt"
	"sync"

	"github.com/raftdrill/raftdrill/state"
)

// journal is a restore journal in memory.
type journal struct {
	mu      sync.Mutex
	entries map[string]state.Outage
}

func newJournal() *journal { return &journal{entries: map[string]state.Outage{}} }

func (j *journal) Record(o state.Outage) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries[fmt.Sprintf("%d/%s", o.Node, o.Run)] = o
	return nil
}

func (j *journal) Clear(run string, node int32) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.entries, fmt.Sprintf("%d/%s", node, run))
	return nil
}

func (j *journal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.entries)
}
