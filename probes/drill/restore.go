package drill

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/probes/check"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

// Restorer remembers the nodes a drill stopped and brings them back, however
// the drill ends: a drill cut short by an error, a cancel or a shutdown
// must not leave the cluster worse than it found it. With a journal in the
// environment, every node it takes down is journalled before the kill and
// cleared once it serves Kafka again, so a node this process could not
// bring back (or did not live to) is restored by the next one.
type Restorer struct {
	env    Env
	res    *run.Result
	killed []int32 // taken down, not restarted yet
	// journalled are the journal entries written, by node, so that a
	// failed restart is recorded in them (the next raftdrill, and the
	// alert at shutdown, say why the node is down).
	journalled map[int32]state.Outage
	// waiting were restarted but have not been seen serving Kafka yet:
	// their journal entries stay until they are.
	waiting []int32
	// watch, when set, learns of every kill and restart, so it knows which
	// nodes are down and when a majority was.
	watch *check.Watch
}

// NewRestorer returns a restorer that records its events in res.
func NewRestorer(env Env, res *run.Result) *Restorer { return &Restorer{env: env, res: res} }

// Watch tells the restorer which leader watch to keep informed.
func (rs *Restorer) Watch(w *check.Watch) { rs.watch = w }

// Down lists the nodes the drill has killed and not yet restarted.
func (rs *Restorer) Down() []int32 { return slices.Clone(rs.killed) }

// Kill kills a node unless ctx is done: a drill told to stop must not take
// one more node down on its way out. The node is journalled first (a kill
// that cannot be journalled does not happen), and after the kill the
// controller must see it down within cluster.controller.down_timeout: a
// kill command that reports success while the node runs on would make
// every figure of the drill a lie.
func (rs *Restorer) Kill(ctx context.Context, id int32) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("drill cancelled: %w", err)
	}
	if j := rs.env.Journal; j != nil {
		o := state.Outage{Run: rs.env.RunID, Drill: rs.env.Drill, Node: id, Controller: rs.controllerType(),
			Action: state.ActionKill, At: time.Now().UTC()}
		if err := j.Record(o); err != nil {
			return fmt.Errorf("kill node %d not attempted: %w", id, err)
		}
		if rs.journalled == nil {
			rs.journalled = map[int32]state.Outage{}
		}
		rs.journalled[id] = o
	}
	// Remembered before the attempt: a kill that worked but reported an
	// error (a command that timed out after the node died, say) must still
	// be undone.
	rs.killed = append(rs.killed, id)
	if o := rs.env.Observer; o != nil {
		o.Killing(id, time.Now())
	}
	ctx = context.WithoutCancel(ctx)
	if err := rs.env.Control.Kill(ctx, id); err != nil {
		return fmt.Errorf("kill node %d: %w", id, err)
	}
	killedAt := time.Now()
	if err := rs.confirmDown(ctx, id); err != nil {
		return err
	}
	if rs.watch != nil {
		rs.watch.NodeDown(id, killedAt)
	}
	return nil
}

func (rs *Restorer) controllerType() string {
	if rs.env.Config == nil {
		return ""
	}
	return rs.env.Config.Cluster.Controller.Type
}

// confirmDown polls the controller until it sees the node down, up to
// cluster.controller.down_timeout.
func (rs *Restorer) confirmDown(ctx context.Context, id int32) error {
	timeout := 30 * time.Second
	if rs.env.Config != nil && rs.env.Config.Cluster.Controller.DownTimeout > 0 {
		timeout = rs.env.Config.Cluster.Controller.DownTimeout
	}
	deadline := time.Now().Add(timeout)
	var lastErr error
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		up, err := rs.env.Control.Up(ctx, id)
		if err == nil && !up {
			return nil
		}
		lastErr = err
		if !time.Now().Add(wait).Before(deadline) {
			break
		}
		if !Sleep(ctx, wait) {
			break
		}
	}
	msg := fmt.Sprintf("the kill command did not stop node %d: %s still sees it up %s after the kill", id, rs.describeController(), timeout)
	if lastErr != nil {
		msg = fmt.Sprintf("the kill command did not stop node %d: %s cannot tell whether it is down %s after the kill: %v", id, rs.describeController(), timeout, lastErr)
	}
	if rep, ok := rs.env.Control.(control.Reporter); ok {
		var parts []string
		for _, op := range []string{"kill", "up"} {
			if s := rep.LastRun(op, id); s != "" {
				parts = append(parts, op+": "+s)
			}
		}
		if len(parts) > 0 {
			msg += " (" + strings.Join(parts, "; ") + ")"
		}
	}
	return errors.New(msg)
}

func (rs *Restorer) describeController() string {
	if t := rs.controllerType(); t != "" {
		return "the " + t + " controller"
	}
	return "the controller"
}

// Restore restarts every node still down, in the order they were killed,
// then waits until each serves Kafka again. Every restart is issued before
// any wait, and a failed restart does not stop the others: with a majority
// down, one stuck node must not keep the rest down too, and a shutdown that
// cuts the waiting short has at least issued every restart. A node counts
// as back only when it serves Kafka, never because the controller's up
// check says so: a node the controller calls up that does not serve is
// restarted all the same. It ignores the drill's context (which may be
// cancelled) and uses its own deadline. Its error names each node left
// down and why.
func (rs *Restorer) Restore(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var errs []error
	var still []int32
	check := slices.Clone(rs.waiting)
	for _, id := range rs.killed {
		up, upErr := rs.env.Control.Up(ctx, id)
		runs := upErr == nil && up
		if runs && rs.env.Client.Serving(id) == nil {
			// Back already (a failed kill, or a supervisor such as
			// systemd's Restart=on-failure brought it back).
			check = append(check, id)
			continue
		}
		rs.env.Progressf("restarting node %d", id)
		began := time.Now()
		if err := rs.env.Control.Restart(ctx, id); err != nil {
			if !runs {
				if !strings.HasPrefix(err.Error(), fmt.Sprintf("restart node %d: ", id)) {
					err = fmt.Errorf("restart node %d: %w", id, err)
				}
				errs = append(errs, fmt.Errorf("node %d left down: %w", id, err))
				rs.env.Log.Error("restart failed", "node", id, "err", err)
				rs.noteFailure(id, err)
				still = append(still, id)
				continue
			}
			// The controller says the process runs (still starting,
			// say): whether it serves decides.
			rs.env.Log.Warn("restart refused for a node the controller sees running; waiting for it to serve", "node", id, "err", err)
		}
		if rs.watch != nil {
			rs.watch.NodeUp(id, began, time.Now())
		}
		if o := rs.env.Observer; o != nil {
			o.Restarted(id, time.Now())
		}
		rs.env.Record(rs.res, run.NewEvent(time.Now(), "restart", id, "node restarted"))
		check = append(check, id)
	}
	rs.killed = still
	rs.waiting = nil
	for _, id := range check {
		if err := rs.env.Client.WaitServing(ctx, id, rs.env.Topic().Name); err != nil {
			errs = append(errs, err)
			rs.waiting = append(rs.waiting, id)
			continue
		}
		if j := rs.env.Journal; j != nil {
			if err := j.Clear(rs.env.RunID, id); err != nil {
				// The next restore loop will find it serving and clear it.
				rs.env.Log.Error("node serves again but its journal entry stays", "node", id, "err", err)
			}
		}
		rs.env.Record(rs.res, run.NewEvent(time.Now(), "serving", id, "node serves Kafka again"))
	}
	return errors.Join(errs...)
}

// noteFailure records a failed restart in the node's journal entry.
func (rs *Restorer) noteFailure(id int32, err error) {
	o, ok := rs.journalled[id]
	if !ok {
		return
	}
	o.Attempts++
	o.LastAttempt = time.Now().UTC()
	o.LastError = err.Error()
	rs.journalled[id] = o
	if jerr := rs.env.Journal.Record(o); jerr != nil {
		rs.env.Log.Error("restore journal: failed restart not recorded", "node", id, "err", jerr)
	}
}

// NoteRestoreError puts the error of a drill's last restore into its
// result. A node left down is what matters most about such a run, so the
// error comes first, ahead of whatever stopped the drill ("drill
// cancelled"), and is never dropped for it.
func NoteRestoreError(res *run.Result, err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	switch {
	case res.Error == "":
		res.Error = msg
	case !strings.Contains(res.Error, msg):
		res.Error = msg + "; " + res.Error
	}
}
