package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/raftdrill/raftdrill/run"
)

// store keeps the most recent runs in memory, newest last.
type store struct {
	mu   sync.RWMutex
	max  int
	runs []*run.Run
}

func (s *store) add(r *run.Run) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, r)
	if len(s.runs) > s.max {
		s.runs = s.runs[len(s.runs)-s.max:]
	}
}

func (s *store) update(id string, fn func(*run.Run)) {
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
func (s *store) get(id string) (run.Run, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.runs {
		if r.ID == id {
			return *r, true
		}
	}
	return run.Run{}, false
}

// list returns copies of the runs, newest first.
func (s *store) list() []run.Run {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]run.Run, 0, len(s.runs))
	for i := len(s.runs) - 1; i >= 0; i-- {
		out = append(out, *s.runs[i])
	}
	return out
}

// ErrBusy is returned when a drill is asked to start while another runs.
type ErrBusy struct{ Running run.Run }

func (e ErrBusy) Error() string {
	return "drill " + e.Running.Drill + " is already running (run " + e.Running.ID + ")"
}

// runner runs one drill at a time: killing nodes for two drills at once
// would make both meaningless and could take the cluster below quorum.
type runner struct {
	mu      sync.Mutex
	current *run.Run
	wg      sync.WaitGroup
	ctx     context.Context // cancelled at shutdown
}

// start begins a run of drill in the background unless one is running.
// begin runs before start returns (so the run is visible to whoever asked
// for it at once); exec does the work and must return when its context is
// cancelled.
func (rn *runner) start(r *run.Run, begin func(r *run.Run), exec func(ctx context.Context, r *run.Run)) error {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if c := rn.current; c != nil {
		// Only the fields fixed at creation: the run store updates the
		// rest under its own lock.
		return ErrBusy{Running: run.Run{ID: c.ID, Drill: c.Drill, Trigger: c.Trigger, StartedAt: c.StartedAt}}
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
