package drill

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/state"
)

// KeeperJournal is the restore journal as the keeper uses it.
type KeeperJournal interface {
	List() ([]state.Outage, error)
	Update(o state.Outage) error
	Clear(run string, node int32) error
}

// Target is the cluster as the keeper reaches it now (a reload may swap it).
type Target struct {
	Control control.Controller
	Client  *kafka.Client
	Config  *config.Config
}

// KeeperObserver hears what the keeper does: every failed attempt to
// restore a node (with the journal entry as updated: attempts, last error)
// and every node it brought back. Calls come from the keeper's goroutine.
type KeeperObserver interface {
	NotRestored(o state.Outage)
	Restored(o state.Outage, down time.Duration)
}

// KeeperOptions shape a Keeper.
type KeeperOptions struct {
	Journal KeeperJournal
	Target  func() Target
	// Running returns the run id of the drill running now ("" when none):
	// its nodes are its own Restorer's to bring back, never the keeper's.
	Running  func() string
	Observer KeeperObserver // may be nil
	// Awaiting, when set, is told how many nodes await restore after each
	// look at the journal (the gauge raftdrill_nodes_awaiting_restore).
	Awaiting func(n int)
	Log      *slog.Logger
	// Progress, when set, receives a line for people per attempt
	// (raftdrill run prints them).
	Progress func(msg string)
}

// Keeper is the restore loop: it brings back every journalled node that
// does not serve Kafka and is not the running drill's, without a human,
// however it was left down (a drill that could not restore it, a
// raftdrill that died mid-drill). Each node is retried with exponential
// backoff and jitter (cluster.controller.restore_backoff up to
// restore_backoff_max) and no limit on attempts, until it serves Kafka or
// an operator clears its entry (raftdrill state clear). A node counts as
// restored only when it serves Kafka, never because the controller's up
// check says so.
type Keeper struct {
	opts KeeperOptions
	wake chan struct{}

	mu      sync.Mutex
	next    map[int32]time.Time     // when each node's next attempt is due
	backoff map[int32]time.Duration // each node's next backoff
	pending []state.Outage          // the entries of the last look
}

// NewKeeper returns a keeper; Run or RestoreAll put it to work.
func NewKeeper(opts KeeperOptions) *Keeper {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Running == nil {
		opts.Running = func() string { return "" }
	}
	return &Keeper{opts: opts, wake: make(chan struct{}, 1), next: map[int32]time.Time{}, backoff: map[int32]time.Duration{}}
}

// Wake makes the keeper look at the journal now (a drill ended, an entry
// was cleared).
func (k *Keeper) Wake() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// Pending returns the entries the keeper is working on, as of its last
// look at the journal.
func (k *Keeper) Pending() []state.Outage {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.pending)
}

// idle is how long the keeper waits between looks at an empty journal:
// the journal changes only through this process, which wakes it, so this
// is only a backstop.
const idle = time.Minute

// Run restores until ctx ends.
func (k *Keeper) Run(ctx context.Context) {
	for {
		wait := k.Pass(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-k.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// RestoreAll restores until no journalled node is left (nil) or ctx ends
// (an error naming the nodes still down): `raftdrill run` does this before
// it drills.
func (k *Keeper) RestoreAll(ctx context.Context) error {
	for {
		wait := k.Pass(ctx)
		left := k.Pending()
		if len(left) == 0 {
			return nil
		}
		if !Sleep(ctx, wait) {
			return fmt.Errorf("%s; their journal entries are kept", DescribeOutages(left))
		}
	}
}

// Pass looks at the journal once, makes every attempt that is due, and
// returns how long until the next one is.
func (k *Keeper) Pass(ctx context.Context) time.Duration {
	entries, err := k.opts.Journal.List()
	if err != nil {
		k.opts.Log.Error("restore journal unreadable; nodes a drill left down may stay down", "err", err)
		return time.Second
	}
	running := k.opts.Running()
	byNode := map[int32][]state.Outage{}
	var nodes []int32
	for _, o := range entries {
		if o.Run == running {
			continue
		}
		if byNode[o.Node] == nil {
			nodes = append(nodes, o.Node)
		}
		byNode[o.Node] = append(byNode[o.Node], o)
	}
	k.forgetOthers(byNode)
	k.setPending(byNode)
	wait := idle
	for _, id := range nodes {
		if ctx.Err() != nil {
			break
		}
		k.mu.Lock()
		due := k.next[id]
		k.mu.Unlock()
		if now := time.Now(); now.Before(due) {
			wait = min(wait, due.Sub(now))
			continue
		}
		outs := byNode[id]
		first := slices.MinFunc(outs, func(a, b state.Outage) int { return a.At.Compare(b.At) })
		err := k.restore(ctx, id, outs, first)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			k.restored(id, outs, first)
			delete(byNode, id)
			continue
		}
		wait = min(wait, k.failed(id, outs, err))
	}
	k.setPending(byNode)
	return wait
}

// restore makes one attempt at node id: it heals and resumes what the
// node's entries say was cut off or frozen, then, for a kill, restarts it
// unless it serves already.
func (k *Keeper) restore(ctx context.Context, id int32, outs []state.Outage, o state.Outage) error {
	t := k.opts.Target()
	topic := t.Config.Cluster.Topic.Name
	killed := false
	for _, e := range outs {
		switch e.Action {
		case state.ActionIsolate:
			iso, ok := t.Control.(control.Isolator)
			if !ok {
				return fmt.Errorf("node %d was left cut off from %v by run %s, and the %s controller cannot heal it", id, e.Peers, e.Run, t.Config.Cluster.Controller.Type)
			}
			k.progress("node %d was left cut off from %v by run %s (%s ago); healing it", id, e.Peers, e.Run, time.Since(e.At).Round(time.Second))
			if err := iso.Heal(ctx, id, e.Peers); err != nil {
				return fmt.Errorf("heal node %d: %w", id, err)
			}
		case state.ActionPause:
			p, ok := t.Control.(control.Pauser)
			if !ok {
				return fmt.Errorf("node %d was left paused by run %s, and the %s controller cannot resume it", id, e.Run, t.Config.Cluster.Controller.Type)
			}
			k.progress("node %d was left paused by run %s (%s ago); resuming it", id, e.Run, time.Since(e.At).Round(time.Second))
			if err := p.Resume(ctx, id); err != nil {
				return fmt.Errorf("resume node %d: %w", id, err)
			}
		default:
			killed = true
		}
	}
	if !killed {
		serve, cancel := context.WithTimeout(ctx, t.Config.Cluster.Controller.ServeTimeout)
		defer cancel()
		if err := t.Client.WaitServing(serve, id, topic); err != nil {
			return fmt.Errorf("node %d healed or resumed but not serving Kafka within cluster.controller.serve_timeout (%s): %w",
				id, t.Config.Cluster.Controller.ServeTimeout, err)
		}
		return nil
	}
	// Serving already? (The drill's restore got it back but died before
	// clearing the entry; someone restarted it by hand.) One look: a node
	// that is down refuses the connection at once.
	if t.Client.Serving(id) == nil {
		quick, cancel := context.WithTimeout(ctx, min(t.Config.Cluster.RequestTimeout, 3*time.Second))
		err := t.Client.WaitServing(quick, id, topic)
		cancel()
		if err == nil {
			return nil
		}
	}
	k.progress("node %d was left down by run %s (%s, %s ago); restarting it", id, o.Run, o.Drill, time.Since(o.At).Round(time.Second))
	up, upErr := t.Control.Up(ctx, id)
	if err := t.Control.Restart(ctx, id); err != nil && (upErr != nil || !up) {
		return err
	}
	serve, cancel := context.WithTimeout(ctx, t.Config.Cluster.Controller.ServeTimeout)
	defer cancel()
	if err := t.Client.WaitServing(serve, id, topic); err != nil {
		return fmt.Errorf("node %d restarted but not serving Kafka within cluster.controller.serve_timeout (%s): %w",
			id, t.Config.Cluster.Controller.ServeTimeout, err)
	}
	return nil
}

func (k *Keeper) restored(id int32, outs []state.Outage, first state.Outage) {
	for _, o := range outs {
		if err := k.opts.Journal.Clear(o.Run, o.Node); err != nil {
			k.opts.Log.Error("node serves again but its journal entry stays", "node", id, "run", o.Run, "err", err)
		}
	}
	k.mu.Lock()
	delete(k.next, id)
	delete(k.backoff, id)
	k.mu.Unlock()
	down := time.Since(first.At)
	k.opts.Log.Warn("node left down by a drill restored: it serves Kafka again", "node", id, "run", first.Run, "drill", first.Drill,
		"down_for", down.Round(time.Millisecond), "attempts", first.Attempts+1)
	k.progress("node %d serves Kafka again (down %s)", id, down.Round(time.Millisecond))
	if k.opts.Observer != nil {
		k.opts.Observer.Restored(first, down)
	}
}

// failed records a failed attempt and returns when the next one is due.
func (k *Keeper) failed(id int32, outs []state.Outage, err error) time.Duration {
	cfg := k.opts.Target().Config.Cluster.Controller
	k.mu.Lock()
	b := k.backoff[id]
	if b <= 0 {
		b = cfg.RestoreBackoff
	}
	wait := jitter(b)
	k.backoff[id] = min(2*b, max(cfg.RestoreBackoffMax, cfg.RestoreBackoff))
	k.next[id] = time.Now().Add(wait)
	k.mu.Unlock()

	now := time.Now().UTC()
	var first state.Outage
	for i, o := range outs {
		o.Attempts++
		o.LastAttempt = now
		o.LastError = err.Error()
		if err := k.opts.Journal.Update(o); err != nil {
			k.opts.Log.Error("restore journal: cannot record the attempt", "node", id, "err", err)
		}
		if i == 0 || o.At.Before(first.At) {
			first = o
		}
	}
	k.opts.Log.Warn("node left down by a drill is still not restored; trying again", "node", id, "run", first.Run, "drill", first.Drill,
		"attempt", first.Attempts, "retry_in", wait.Round(time.Millisecond), "err", err)
	k.progress("node %d not restored (attempt %d): %v; next attempt in %s", id, first.Attempts, err, wait.Round(time.Millisecond))
	if k.opts.Observer != nil {
		k.opts.Observer.NotRestored(first)
	}
	return wait
}

// forgetOthers drops the backoff of nodes no longer journalled (cleared
// by an operator, or restored by a drill).
func (k *Keeper) forgetOthers(byNode map[int32][]state.Outage) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id := range k.next {
		if byNode[id] == nil {
			delete(k.next, id)
			delete(k.backoff, id)
		}
	}
}

func (k *Keeper) setPending(byNode map[int32][]state.Outage) {
	var all []state.Outage
	for _, outs := range byNode {
		all = append(all, outs...)
	}
	slices.SortFunc(all, func(a, b state.Outage) int { return cmp.Or(cmp.Compare(a.Node, b.Node), a.At.Compare(b.At)) })
	k.mu.Lock()
	k.pending = all
	k.mu.Unlock()
	if k.opts.Awaiting != nil {
		k.opts.Awaiting(len(byNode))
	}
}

func (k *Keeper) progress(format string, args ...any) {
	if k.opts.Progress != nil {
		k.opts.Progress(fmt.Sprintf(format, args...))
	}
}

// jitter spreads attempts by ±20 %, so that the restarts of several nodes
// (or several raftdrills) do not fall in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - d/5 + rand.N(2*d/5+1)
}

// DescribeOutages says which nodes are left down, by whom, and the last
// error restoring each, for errors and logs.
func DescribeOutages(outs []state.Outage) string {
	seen := map[int32]bool{}
	var parts []string
	for _, o := range outs {
		if seen[o.Node] {
			continue
		}
		seen[o.Node] = true
		s := fmt.Sprintf("node %d left down by run %s (%s) since %s", o.Node, o.Run, o.Drill, o.At.UTC().Format(time.RFC3339))
		if o.LastError != "" {
			s += fmt.Sprintf(", %d restore attempts, last error: %s", o.Attempts, o.LastError)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "no node awaits restore"
	}
	return strings.Join(parts, "; ")
}
