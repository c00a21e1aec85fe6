package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/raftdrill/raftdrill/probes"
)

// Run is one drill run as the API shows it.
type Run struct {
	ID         string             `json:"id"`
	Drill      string             `json:"drill"`
	Trigger    string             `json:"trigger"` // schedule, api or cli
	Status     string             `json:"status"`
	StartedAt  time.Time          `json:"started_at"`
	FinishedAt *time.Time         `json:"finished_at"`
	Measures   map[string]float64 `json:"measurements"`
	Criteria   []probes.Criterion `json:"criteria"`
	Anomalies  []probes.Anomaly   `json:"anomalies"`
	Events     []probes.Event     `json:"events,omitempty"`
	Steps      []probes.Step      `json:"steps,omitempty"`
	Error      string             `json:"error,omitempty"`
}

// Triggers.
const (
	TriggerSchedule = "schedule"
	TriggerAPI      = "api"
	TriggerCLI      = "cli" // raftdrill run
)

// NewRunID returns a sortable, unique run id: UTC start time plus entropy.
func NewRunID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// store keeps the most recent runs in memory, newest last.
type store struct {
	mu   sync.RWMutex
	max  int
	runs []*Run
}

func (s *store) add(r *Run) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, r)
	if len(s.runs) > s.max {
		s.runs = s.runs[len(s.runs)-s.max:]
	}
}

func (s *store) update(id string, fn func(*Run)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runs {
		if r.ID == id {
			fn(r)
			return
		}
	}
}

// get returns a copy of one run.
func (s *store) get(id string) (Run, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.runs {
		if r.ID == id {
			return *r, true
		}
	}
	return Run{}, false
}

// list returns copies of the runs, newest first.
func (s *store) list() []Run {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Run, 0, len(s.runs))
	for i := len(s.runs) - 1; i >= 0; i-- {
		out = append(out, *s.runs[i])
	}
	return out
}

// ErrBusy is returned when a drill is asked to start while another runs.
type ErrBusy struct{ Running Run }

func (e ErrBusy) Error() string {
	return "drill " + e.Running.Drill + " is already running (run " + e.Running.ID + ")"
}

// runner runs one drill at a time: killing nodes for two drills at once
// would make both meaningless and could take the cluster below quorum.
type runner struct {
	mu      sync.Mutex
	current *Run
	wg      sync.WaitGroup
	ctx     context.Context // cancelled at shutdown
}

// start begins a run of drill in the background unless one is running.
// begin runs before start returns (so the run is visible to whoever asked
// for it at once); exec does the work and must return when its context is
// cancelled.
func (rn *runner) start(r *Run, begin func(r *Run), exec func(ctx context.Context, r *Run)) error {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if c := rn.current; c != nil {
		// Only the fields fixed at creation: the run store updates the
		// rest under its own lock.
		return ErrBusy{Running: Run{ID: c.ID, Drill: c.Drill, Trigger: c.Trigger, StartedAt: c.StartedAt}}
	}
	if rn.ctx.Err() != nil {
		return errors.New("shutting down")
	}
	ctx, cancel := context.WithCancel(rn.ctx)
	rn.current = r
	begin(r)
	rn.wg.Add(1)
	go func() {
		defer rn.wg.Done()
		defer cancel()
		exec(ctx, r)
		rn.mu.Lock()
		rn.current = nil
		rn.mu.Unlock()
	}()
	return nil
}

// wait blocks until the running drill (if any) has finished, restoring its
// nodes, or until ctx ends.
func (rn *runner) wait(ctx context.Context, log *slog.Logger) {
	done := make(chan struct{})
	go func() { rn.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		log.Error("gave up waiting for the running drill to finish; its nodes may still be down")
	}
}
