package drill

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/raftdrill/raftdrill/probes/check"
	"github.com/raftdrill/raftdrill/run"
)

// Restorer remembers the nodes a drill stopped and brings them back, however
// the drill ends: a drill cut short by an error, a cancel or a shutdown
// must not leave the cluster worse than it found it.
type Restorer struct {
	env    Env
	res    *run.Result
	killed []int32
	// watch, when set, learns of every kill and restart, so it knows which
	// nodes are down and when a majority was.
	watch *check.Watch
}

// NewRestorer returns a restorer that records its events in res.
func NewRestorer(env Env, res *run.Result) *Restorer { return &Restorer{env: env, res: res} }

// Watch tells the restorer which leader watch to keep informed.
func (rs *Restorer) Watch(w *check.Watch) { rs.watch = w }

// Down lists the nodes the drill has killed and not yet brought back.
func (rs *Restorer) Down() []int32 { return slices.Clone(rs.killed) }

// Kill kills a node unless ctx is done: a drill told to stop must not take
// one more node down on its way out.
func (rs *Restorer) Kill(ctx context.Context, id int32) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("drill cancelled: %w", err)
	}
	// Remembered before the attempt: a kill that worked but reported an
	// error (a command that timed out after the node died, say) must still
	// be undone.
	rs.killed = append(rs.killed, id)
	if o := rs.env.Observer; o != nil {
		o.Killing(id, time.Now())
	}
	if err := rs.env.Control.Kill(context.WithoutCancel(ctx), id); err != nil {
		return fmt.Errorf("kill node %d: %w", id, err)
	}
	if rs.watch != nil {
		rs.watch.NodeDown(id, time.Now())
	}
	return nil
}

// Restore restarts every node still down, in the order they were killed,
// then waits until each serves Kafka again. Every restart is issued before
// any wait, and a failed restart does not stop the others: with a majority
// down, one stuck node must not keep the rest down too, and a shutdown that
// cuts the waiting short has at least issued every restart. It ignores the
// drill's context (which may be cancelled) and uses its own deadline.
func (rs *Restorer) Restore(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var errs []error
	var restarted, still []int32
	for _, id := range rs.killed {
		if up, err := rs.env.Control.Up(ctx, id); err == nil && up {
			// Back already (a failed kill, or a supervisor such as
			// systemd's Restart=on-failure brought it back).
			restarted = append(restarted, id)
			continue
		}
		rs.env.Progressf("restarting node %d", id)
		began := time.Now()
		if err := rs.env.Control.Restart(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("restart node %d: %w", id, err))
			rs.env.Log.Error("restart failed", "node", id, "err", err)
			still = append(still, id)
			continue
		}
		if rs.watch != nil {
			rs.watch.NodeUp(id, began, time.Now())
		}
		if o := rs.env.Observer; o != nil {
			o.Restarted(id, time.Now())
		}
		rs.res.Events = append(rs.res.Events, run.NewEvent(time.Now(), "restart", id, "node restarted"))
		restarted = append(restarted, id)
	}
	rs.killed = still
	for _, id := range restarted {
		if err := rs.env.Client.WaitServing(ctx, id, rs.env.Topic().Name); err != nil {
			errs = append(errs, err)
			continue
		}
		rs.res.Events = append(rs.res.Events, run.NewEvent(time.Now(), "serving", id, "node serves Kafka again"))
	}
	return errors.Join(errs...)
}
