package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/raftdrill/raftdrill/config"
	hasettings "github.com/raftdrill/raftdrill/daemon/ha/settings"
)

// haSection is ha.kubernetes: several replicas elect one driller through a
// Kubernetes Lease.
type haSection struct {
	hasettings.Config `mapstructure:",squash"`
}

func (h *haSection) Validate(ch *config.Checker, _ *config.Config) {
	if !h.Enabled() {
		return
	}
	for _, p := range h.Config.Validate(hasettings.Key) {
		ch.AddAbs(p.Key, "%s", p.Msg)
	}
}

func haSections() []config.Section {
	return []config.Section{{Key: hasettings.Key, New: func() any { return &haSection{hasettings.Default()} }}}
}

// Leadership is how replicas agree on the one that drills: ha.Elector
// (the ha.kubernetes Lease), linked only into a binary built with the
// kubernetes tag, hence an interface here.
type Leadership interface {
	// Run campaigns until ctx ends, then gives the leadership up.
	Run(ctx context.Context) error
	// IsLeader reports whether this replica leads now; never true on two
	// replicas at once.
	IsLeader() bool
	// Leader is the identity of the replica that leads, "" if none is known.
	Leader() string
	// Identity is this replica's.
	Identity() string
	// Changes receives a value after IsLeader or Leader may have changed.
	Changes() <-chan struct{}
}

// leadership returns opts' Leadership, else the Lease of ha.kubernetes
// when a lease is named (a binary without Kubernetes support refuses),
// else nil: this raftdrill drills alone.
func leadership(cfg *config.Config, opts Options) (Leadership, error) {
	if opts.Leadership != nil {
		return opts.Leadership, nil
	}
	// A configuration built in code may lack the section: no election.
	if !cfg.Has(hasettings.Key) || !config.Get[*haSection](cfg, hasettings.Key).Enabled() {
		return nil, nil
	}
	return newLeadership(cfg, opts.Logger)
}

// errNotLeading is the cause given to a drill cancelled because this
// replica stopped leading.
var errNotLeading = errors.New("this replica lost the ha.kubernetes Lease, so the drill was cut short (another replica drills now)")

// ErrNotLeader is Trigger's error on a replica that does not lead.
type ErrNotLeader struct {
	Leader string // identity of the replica that leads; "" if none is known
}

func (e ErrNotLeader) Error() string {
	if e.Leader == "" {
		return "this replica does not lead (ha.kubernetes) and no replica leads right now; try again once one does"
	}
	return "this replica does not lead (ha.kubernetes): send it to the leader, " + e.Leader
}

// term is one stretch of leading: the drills started in it are cancelled
// when it ends. Without leader election there is one term, from Serve to
// its shutdown.
type term struct {
	mu       sync.Mutex
	ctx      context.Context // nil while this replica follows
	end      context.CancelFunc
	stopping bool // Serve is shutting down: no restore loop starts again

	// The restore loop, run while leading.
	keeperStop context.CancelFunc
	keeperDone chan struct{}
}

// currentTerm returns the context of the term in force, or ErrNotLeader
// while this replica follows.
func (d *Daemon) currentTerm() (context.Context, error) {
	if d.lead != nil && !d.lead.IsLeader() {
		return nil, ErrNotLeader{Leader: d.lead.Leader()}
	}
	d.term.mu.Lock()
	ctx := d.term.ctx
	d.term.mu.Unlock()
	switch {
	case ctx != nil && ctx.Err() == nil:
		return ctx, nil
	case d.lead == nil: // the one term is over (or not begun)
		return nil, errors.New("not serving: raftdrill is starting or shutting down")
	}
	return nil, ErrNotLeader{Leader: d.lead.Leader()}
}

// beginTerm makes this replica the one that drills: scheduled and
// triggered drills run, the restore loop works on the journal, alerts are
// sent.
func (d *Daemon) beginTerm() {
	t := &d.term
	t.mu.Lock()
	if t.ctx != nil {
		t.mu.Unlock()
		return
	}
	t.ctx, t.end = context.WithCancel(context.Background())
	if !t.stopping {
		d.startKeeperLocked()
	}
	t.mu.Unlock()
	d.metrics.Leading(true)
	if a := d.alertService(); a != nil {
		a.SetLeading(true)
	}
	if d.lead != nil {
		d.log.Info("this replica leads (ha.kubernetes): it drills, restores and alerts", "identity", d.lead.Identity())
	}
}

// endTerm makes this replica a follower: the running drill is cancelled
// (and restores its nodes), the restore loop stops, alerts go quiet.
func (d *Daemon) endTerm() {
	t := &d.term
	t.mu.Lock()
	if t.ctx == nil {
		t.mu.Unlock()
		return
	}
	t.end()
	t.ctx, t.end = nil, nil
	stop, done := t.keeperStop, t.keeperDone
	t.keeperStop, t.keeperDone = nil, nil
	t.mu.Unlock()
	if a := d.alertService(); a != nil {
		a.SetLeading(false)
	}
	d.metrics.Leading(false)
	if running := d.runner.running(); running != "" {
		d.log.Warn("stopped leading mid-drill: the drill is cancelled and restores its nodes", "run", running)
	}
	if stop != nil {
		stop()
		<-done
	}
	if d.lead != nil {
		d.log.Warn("this replica follows (ha.kubernetes): it drills nothing until it leads again", "leader", d.lead.Leader())
	}
}

func (d *Daemon) startKeeperLocked() {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	d.term.keeperStop, d.term.keeperDone = stop, done
	go func() { defer close(done); d.keeper.Run(ctx) }()
}

// stopKeeper stops the restore loop for good (shutdown), waiting for it
// until ctx ends.
func (d *Daemon) stopKeeper(ctx context.Context) {
	t := &d.term
	t.mu.Lock()
	t.stopping = true
	stop, done := t.keeperStop, t.keeperDone
	t.keeperStop, t.keeperDone = nil, nil
	t.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// followInterval is how often followLeadership looks at the leadership
// besides being told: leading runs out with the clock (no renewal within
// renew_deadline), which nobody announces.
const followInterval = 250 * time.Millisecond

// followLeadership keeps the term in step with the Lease until ctx ends.
func (d *Daemon) followLeadership(ctx context.Context) {
	tick := time.NewTicker(followInterval)
	defer tick.Stop()
	for {
		if d.lead.IsLeader() {
			d.beginTerm()
		} else {
			d.endTerm()
		}
		select {
		case <-ctx.Done():
			return
		case <-d.lead.Changes():
		case <-tick.C:
		}
	}
}

// haStatus is this replica's part in leader election, for the status page;
// nil without it.
type haStatus struct {
	Identity, Leader string
	Leading          bool
}

func (d *Daemon) haStatus() *haStatus {
	if d.lead == nil {
		return nil
	}
	return &haStatus{Identity: d.lead.Identity(), Leader: d.lead.Leader(), Leading: d.lead.IsLeader()}
}
