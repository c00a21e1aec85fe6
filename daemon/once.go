package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

// RunOnce runs one drill in the foreground (raftdrill run). With a state
// directory (st; nil only in tests) it first restores every node an earlier
// drill left down, retrying with backoff until they all serve Kafka or ctx
// ends; it journals the drill's kills, and keeps the run in the history
// (written at start, as it goes, and at the end), so that a daemon started
// later shows it. The error is a *NodesLeftDownError when nodes are down
// before or after the drill (their journal entries stay).
func RunOnce(ctx context.Context, cfg *config.Config, st *state.Store, cl *Cluster, name string, log *slog.Logger, progress func(string)) (run.Run, error) {
	spec, ok := drills.Lookup(name)
	if !ok {
		return run.Run{}, fmt.Errorf("unknown drill %q", name)
	}
	env := drill.Env{Drill: name, Client: cl.Client, Control: cl.Control, Config: cfg, Log: log, Progress: progress}
	var hist *store
	if st != nil {
		if err := restoreFirst(ctx, cfg, st, cl, log, progress); err != nil {
			return run.Run{}, err
		}
		hist = newStore(st.Runs(), retention(cfg), log)
		env.Journal = st.Journal()
	}
	r := run.New(name, run.TriggerCLI, time.Now())
	env.RunID = r.ID
	if hist != nil {
		hist.add(&r)
		env.Live = func(snap run.Result) { hist.live(r.ID, snap) }
	}
	res := spec.New(cfg).Run(ctx, env)
	if hist == nil {
		r.Finish(res, time.Now())
		return r, nil
	}
	r = hist.finish(r.ID, res, time.Now())
	left, err := st.Journal().List()
	if err != nil {
		return r, fmt.Errorf("restore journal: %w", err)
	}
	if len(left) > 0 {
		return r, &NodesLeftDownError{Outages: left}
	}
	return r, nil
}

// restoreFirst marks runs an earlier process left running as interrupted
// and brings back every node the journal holds, before a drill may start.
func restoreFirst(ctx context.Context, cfg *config.Config, st *state.Store, cl *Cluster, log *slog.Logger, progress func(string)) error {
	interrupted, err := st.Runs().Interrupt(time.Now())
	if err != nil {
		return fmt.Errorf("state.dir %s: run history: %w", st.Dir(), err)
	}
	for _, r := range interrupted {
		log.Warn("a drill was interrupted: raftdrill stopped during the run", "drill", r.Drill, "run", r.ID, "started", r.StartedAt)
	}
	left, err := st.Journal().List()
	if err != nil {
		return fmt.Errorf("restore journal: %w", err)
	}
	if len(left) == 0 {
		return nil
	}
	if progress != nil {
		progress(fmt.Sprintf("restoring first what an earlier drill left down: %s", drill.DescribeOutages(left)))
	}
	k := drill.NewKeeper(drill.KeeperOptions{
		Journal:  st.Journal(),
		Target:   func() drill.Target { return drill.Target{Control: cl.Control, Client: cl.Client, Config: cfg} },
		Log:      log,
		Progress: progress,
	})
	if err := k.RestoreAll(ctx); err != nil {
		left, _ := st.Journal().List()
		return &NodesLeftDownError{Outages: left}
	}
	return nil
}
