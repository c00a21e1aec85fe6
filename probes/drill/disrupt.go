package drill

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

// Disruptor cuts nodes off from their peers or freezes them for a drill,
// and undoes it however the drill ends, as Restorer does for kills: a node
// left isolated or paused is a cluster left worse than the drill found it.
// With a journal in the environment each disruption is journalled (and
// synced) before it happens and cleared once undone, so that the next
// raftdrill heals or resumes what this one could not.
type Disruptor struct {
	env      Env
	res      *run.Result
	isolated map[int32][]int32 // node → the peers it is cut off from
	paused   []int32
}

// NewDisruptor returns a disruptor that records its events in res.
func NewDisruptor(env Env, res *run.Result) *Disruptor {
	return &Disruptor{env: env, res: res, isolated: map[int32][]int32{}}
}

// Isolate cuts node id off from peers, unless ctx is done.
func (d *Disruptor) Isolate(ctx context.Context, id int32, peers []int32) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("drill cancelled: %w", err)
	}
	iso, ok := d.env.Control.(control.Isolator)
	if !ok {
		return control.Supports(d.env.Control, control.Isolate)
	}
	if err := d.journal(id, state.ActionIsolate, peers); err != nil {
		return fmt.Errorf("isolate node %d not attempted: %w", id, err)
	}
	// Remembered before the attempt, as a kill is: a command that cut the
	// links and then failed must still be undone.
	d.isolated[id] = slices.Clone(peers)
	if o := d.env.Observer; o != nil {
		o.Killing(id, time.Now())
	}
	if err := iso.Isolate(context.WithoutCancel(ctx), id, peers); err != nil {
		return fmt.Errorf("isolate node %d from %v: %w", id, peers, err)
	}
	return nil
}

// Pause freezes node id, unless ctx is done.
func (d *Disruptor) Pause(ctx context.Context, id int32) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("drill cancelled: %w", err)
	}
	p, ok := d.env.Control.(control.Pauser)
	if !ok {
		return control.Supports(d.env.Control, control.Pause)
	}
	if err := d.journal(id, state.ActionPause, nil); err != nil {
		return fmt.Errorf("pause node %d not attempted: %w", id, err)
	}
	d.paused = append(d.paused, id)
	if o := d.env.Observer; o != nil {
		o.Killing(id, time.Now())
	}
	if err := p.Pause(context.WithoutCancel(ctx), id); err != nil {
		return fmt.Errorf("pause node %d: %w", id, err)
	}
	return nil
}

// Outstanding says what is still disrupted, for messages.
func (d *Disruptor) Outstanding() []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(d.isolated)) {
		out = append(out, fmt.Sprintf("node %d isolated from %v", id, d.isolated[id]))
	}
	for _, id := range d.paused {
		out = append(out, fmt.Sprintf("node %d paused", id))
	}
	return out
}

// Undo heals every isolation and resumes every paused node, whatever ctx
// says (it may be cancelled), within timeout. A failure does not stop the
// others; what could not be undone stays outstanding, for the next call.
func (d *Disruptor) Undo(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(d.isolated)) {
		peers := d.isolated[id]
		if err := d.env.Control.(control.Isolator).Heal(ctx, id, peers); err != nil {
			errs = append(errs, fmt.Errorf("node %d left isolated: heal: %w", id, err))
			continue
		}
		delete(d.isolated, id)
		d.undone(id, "heal", "node %d's links to %v restored", id, peers)
	}
	var still []int32
	for _, id := range d.paused {
		if err := d.env.Control.(control.Pauser).Resume(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("node %d left paused: resume: %w", id, err))
			still = append(still, id)
			continue
		}
		d.undone(id, "resume", "node %d resumed", id)
	}
	d.paused = still
	return errors.Join(errs...)
}

func (d *Disruptor) journal(id int32, action string, peers []int32) error {
	j := d.env.Journal
	if j == nil {
		return nil
	}
	ctl := ""
	if d.env.Config != nil {
		ctl = d.env.Config.Cluster.Controller.Type
	}
	return j.Record(state.Outage{Run: d.env.RunID, Drill: d.env.Drill, Node: id, Controller: ctl,
		Action: action, At: time.Now().UTC(), Peers: slices.Clone(peers)})
}

func (d *Disruptor) undone(id int32, what, format string, args ...any) {
	now := time.Now()
	if j := d.env.Journal; j != nil {
		if err := j.Clear(d.env.RunID, id); err != nil {
			// The restore loop will heal or resume it again (both are
			// safe to repeat) and clear the entry.
			d.env.Log.Error("node undone but its journal entry stays", "node", id, "err", err)
		}
	}
	d.env.Record(d.res, run.NewEvent(now, what, id, format, args...))
	if o := d.env.Observer; o != nil {
		o.Restarted(id, now)
	}
}
