package drill_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/sandbox"
	"github.com/raftdrill/raftdrill/state"
)

// An isolation and a pause are journalled before they happen and cleared
// once undone; one that cannot be journalled does not happen.
func TestDisruptionsAreJournalledAndUndone(t *testing.T) {
	cfg := testenv.ShortConfig()
	sb, env := testenv.Env(t, cfg)
	ctx := context.Background()
	j := newMemJournal()
	env.Journal, env.RunID, env.Drill = j, "run-1", "split-brain"
	var res run.Result
	d := drill.NewDisruptor(env, &res)
	if err := d.Isolate(ctx, 1, []int32{2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := d.Pause(ctx, 3); err != nil {
		t.Fatal(err)
	}
	o, ok := j.get("run-1", 1)
	if !ok || o.Action != state.ActionIsolate || !slices.Equal(o.Peers, []int32{2, 3}) || o.Drill != "split-brain" {
		t.Fatalf("isolation journalled as %+v (%v)", o, ok)
	}
	if o, ok := j.get("run-1", 3); !ok || o.Action != state.ActionPause {
		t.Fatalf("pause journalled as %+v (%v)", o, ok)
	}
	if err := d.Undo(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ok := j.get("run-1", 1); ok {
		t.Fatal("isolation still journalled after the heal")
	}
	if _, ok := j.get("run-1", 3); ok {
		t.Fatal("pause still journalled after the resume")
	}
	var kinds []string
	for _, e := range sb.Timeline() {
		kinds = append(kinds, e.Kind)
	}
	for _, k := range []string{sandbox.EventPartition, sandbox.EventPause, sandbox.EventHeal, sandbox.EventResume} {
		if !slices.Contains(kinds, k) {
			t.Fatalf("sandbox timeline %v lacks %s", kinds, k)
		}
	}

	j.fail = errTest
	if err := d.Pause(ctx, 2); err == nil {
		t.Fatal("a pause that could not be journalled went ahead")
	}
	for _, n := range sb.Nodes() {
		if n.Paused {
			t.Fatalf("node %d paused although its journal entry failed", n.ID)
		}
	}
}

var errTest = &testError{}

type testError struct{}

func (*testError) Error() string { return "disk full" }

// The restore loop heals and resumes what a dead raftdrill left cut off or
// frozen, then clears the entries.
func TestKeeperHealsAndResumes(t *testing.T) {
	cfg := testenv.ShortConfig()
	cfg.Cluster.Controller.RestoreBackoff = 20 * time.Millisecond
	cfg.Cluster.Controller.RestoreBackoffMax = 100 * time.Millisecond
	cfg.Cluster.Controller.ServeTimeout = 10 * time.Second
	sb, env := testenv.Env(t, cfg)
	ctx := context.Background()
	if err := env.Control.(control.Isolator).Isolate(ctx, 1, []int32{2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := env.Control.(control.Pauser).Pause(ctx, 3); err != nil {
		t.Fatal(err)
	}
	j := newMemJournal()
	at := time.Now().Add(-time.Minute)
	j.Record(state.Outage{Run: "dead-run", Drill: "split-brain", Node: 1, Action: state.ActionIsolate, Peers: []int32{2, 3}, At: at})
	j.Record(state.Outage{Run: "dead-run-2", Drill: "split-brain", Node: 3, Action: state.ActionPause, At: at})
	events := &keeperEvents{}
	k := drill.NewKeeper(drill.KeeperOptions{
		Journal:  j,
		Target:   func() drill.Target { return drill.Target{Control: env.Control, Client: env.Client, Config: cfg} },
		Observer: events,
		Log:      testutil.Log(),
	})
	kctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); k.Run(kctx) }()
	defer func() { cancel(); <-done }()
	testutil.WaitFor(t, "both nodes brought back", 30*time.Second, func() bool { _, r := events.counts(); return r == 2 })
	if left, _ := j.List(); len(left) != 0 {
		t.Fatalf("journal after the keeper: %+v", left)
	}
	var kinds []string
	for _, e := range sb.Timeline() {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Contains(kinds, sandbox.EventHeal) || !slices.Contains(kinds, sandbox.EventResume) {
		t.Fatalf("sandbox timeline %v: want a heal and a resume", kinds)
	}
	for _, n := range sb.Nodes() {
		if !n.Up || n.Paused {
			t.Fatalf("node %+v not whole", n)
		}
	}
}
