package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

// store is the run history: the recent runs in memory, newest last, each
// written to the state directory when it starts, as it progresses and when
// it ends, so that /runs, the status page and the last-run gauges come back
// after a restart. Old runs go by the retention policy.
type store struct {
	db  *state.Runs
	log *slog.Logger

	mu   sync.RWMutex
	ret  state.Retention
	runs []*run.Run
}

func newStore(db *state.Runs, ret state.Retention, log *slog.Logger) *store {
	return &store{db: db, ret: ret, log: log}
}

// load reads the history and applies the retention; it returns the runs,
// newest first.
func (s *store) load() ([]run.Run, error) {
	if _, err := s.db.Prune(s.retention(), time.Now()); err != nil {
		s.log.Error("run history: old runs not deleted", "err", err)
	}
	runs, bad, err := s.db.List()
	if err != nil {
		return nil, err
	}
	if bad > 0 {
		s.log.Warn("run history: records that do not decode were skipped", "count", bad)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = s.runs[:0]
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		s.runs = append(s.runs, &r)
	}
	return runs, nil
}

func (s *store) retention() state.Retention {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ret
}

func (s *store) setRetention(ret state.Retention) {
	s.mu.Lock()
	s.ret = ret
	s.mu.Unlock()
	s.prune()
}

// persist writes a run; a failure is logged (the run lives on in memory).
func (s *store) persist(r run.Run) {
	if s.db == nil {
		return
	}
	if err := s.db.Put(r); err != nil {
		s.log.Error("run history: run not written to the state directory", "run", r.ID, "err", err)
	}
}

func (s *store) add(r *run.Run) {
	s.mu.Lock()
	s.runs = append(s.runs, r)
	cp := *r
	s.mu.Unlock()
	s.persist(cp)
}

// live records what a running drill has recorded so far.
func (s *store) live(id string, snap run.Result) {
	var cp run.Run
	ok := s.update(id, func(r *run.Run) {
		snap.Status = run.StatusRunning
		r.Result = snap
		cp = *r
	})
	if ok {
		s.persist(cp)
	}
}

// finish records a run's result and end, prunes, and returns the run.
func (s *store) finish(id string, res run.Result, at time.Time) run.Run {
	var out run.Run
	s.update(id, func(r *run.Run) {
		r.Finish(res, at)
		out = *r
	})
	s.persist(out)
	s.prune()
	return out
}

func (s *store) update(id string, fn func(*run.Run)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.runs) - 1; i >= 0; i-- {
		if r := s.runs[i]; r.ID == id {
			fn(r)
			return true
		}
	}
	return false
}

// prune applies the retention policy to memory and the state directory.
func (s *store) prune() {
	now := time.Now()
	list := s.list()
	keep := s.retention().Keep(list, now)
	s.mu.Lock()
	kept := s.runs[:0]
	for _, r := range s.runs {
		if keep[r.ID] {
			kept = append(kept, r)
		}
	}
	s.runs = kept
	s.mu.Unlock()
	if s.db != nil && len(keep) < len(list) {
		if _, err := s.db.Prune(s.retention(), now); err != nil {
			s.log.Error("run history: old runs not deleted", "err", err)
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
	pending func() // a reload waiting for the running drill to end
	wg      sync.WaitGroup
	ctx     context.Context // cancelled at shutdown
}

// start begins a run of drill in the background unless one is running.
// begin runs before start returns (so the run is visible to whoever asked
// for it at once); exec does the work and must return when its context is
// cancelled: at shutdown, or when term ends (the cause is errNotLeading).
func (rn *runner) start(r *run.Run, term context.Context, begin func(r *run.Run), exec func(ctx context.Context, r *run.Run)) error {
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
	ctx, cancel := context.WithCancelCause(rn.ctx)
	// A term that has ended already cancels the drill at once.
	stopWatching := context.AfterFunc(term, func() { cancel(errNotLeading) })
	rn.current = r
	begin(r)
	rn.wg.Add(1)
	go func() {
		defer rn.wg.Done()
		defer cancel(nil)
		defer stopWatching()
		exec(ctx, r)
		// A reload that waited for this drill applies before the next
		// drill can start.
		rn.mu.Lock()
		apply := rn.pending
		rn.pending = nil
		rn.mu.Unlock()
		if apply != nil {
			apply()
		}
		rn.mu.Lock()
		rn.current = nil
		rn.mu.Unlock()
	}()
	return nil
}

// running returns the id of the running drill's run, "" when none.
func (rn *runner) running() string {
	if rn == nil {
		return ""
	}
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.current == nil {
		return ""
	}
	return rn.current.ID
}

// whenIdle runs apply now if no drill runs (and none can start meanwhile),
// else when the running one ends, replacing a reload that was waiting. It
// returns the id of the run it waits for ("" when it ran apply).
func (rn *runner) whenIdle(apply func()) string {
	if rn == nil { // not serving yet
		apply()
		return ""
	}
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.current != nil {
		rn.pending = apply
		return rn.current.ID
	}
	apply()
	return ""
}

// wait blocks until the running drill (if any) has finished, restoring its
// nodes, or until ctx ends.
func (rn *runner) wait(ctx context.Context, log *slog.Logger) {
	done := make(chan struct{})
	go func() { rn.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		log.Error("gave up waiting for the running drill to finish; the next start restores the nodes it had down (restore journal)")
	}
}
