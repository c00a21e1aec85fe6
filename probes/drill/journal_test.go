package drill_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

// memJournal is a restore journal in memory, which can be made to fail.
type memJournal struct {
	mu      sync.Mutex
	entries map[string]state.Outage
	fail    error
	records int
}

func newMemJournal() *memJournal { return &memJournal{entries: map[string]state.Outage{}} }

func key(run string, node int32) string { return fmt.Sprintf("%d/%s", node, run) }

func (j *memJournal) Record(o state.Outage) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	j.records++
	j.entries[key(o.Run, o.Node)] = o
	return nil
}

func (j *memJournal) Clear(run string, node int32) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.entries, key(run, node))
	return nil
}

func (j *memJournal) Update(o state.Outage) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.entries[key(o.Run, o.Node)]; ok {
		j.entries[key(o.Run, o.Node)] = o
	}
	return nil
}

func (j *memJournal) List() ([]state.Outage, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []state.Outage
	for _, o := range j.entries {
		out = append(out, o)
	}
	return out, nil
}

func (j *memJournal) get(run string, node int32) (state.Outage, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	o, ok := j.entries[key(run, node)]
	return o, ok
}

// The journal holds a node from before its kill until it serves again; a
// kill that cannot be journalled is not attempted.
func TestKillIsJournalledFirstAndClearedWhenServing(t *testing.T) {
	cfg := testenv.ShortConfig()
	sb, env := testenv.Env(t, cfg)
	j := newMemJournal()
	env.Journal, env.Drill = j, "leader-failover"
	var seen []string
	env.Control = &spyControl{Controller: sb, kill: func(id int32) {
		_, ok := j.get(env.RunID, id)
		seen = append(seen, fmt.Sprintf("kill %d journalled=%v", id, ok))
	}}
	rs := drill.NewRestorer(env, &run.Result{})
	ctx := context.Background()
	if err := rs.Kill(ctx, 2); err != nil {
		t.Fatal(err)
	}
	o, ok := j.get(env.RunID, 2)
	if !ok || o.Action != state.ActionKill || o.Controller != "sandbox" || o.Drill != "leader-failover" || o.At.IsZero() {
		t.Fatalf("journal entry: %+v %v", o, ok)
	}
	if len(seen) != 1 || seen[0] != "kill 2 journalled=true" {
		t.Fatalf("kill before journal: %v", seen)
	}
	if err := rs.Restore(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ok := j.get(env.RunID, 2); ok {
		t.Fatal("entry kept after the node serves again")
	}

	j.fail = errors.New("disk full")
	err := rs.Kill(ctx, 3)
	if err == nil || !strings.Contains(err.Error(), "kill node 3 not attempted: disk full") {
		t.Fatalf("kill without a journal: %v", err)
	}
	if up, _ := sb.Up(ctx, 3); !up || len(seen) != 1 {
		t.Fatal("a node was killed without being journalled")
	}
}

type spyControl struct {
	control.Controller
	kill func(id int32)
}

func (s *spyControl) Kill(ctx context.Context, id int32) error {
	if s.kill != nil {
		s.kill(id)
	}
	return s.Controller.Kill(ctx, id)
}

// lyingUp is a controller whose up check always says up, as an exec `up`
// that wrongly exits 0 does.
type lyingUp struct{ control.Controller }

func (lyingUp) Up(context.Context, int32) (bool, error) { return true, nil }

func (lyingUp) LastRun(op string, id int32) string {
	return fmt.Sprintf(`exec "%s-cmd %d": exit status 0`, op, id)
}

// A kill the controller never sees take effect ends the drill with an error
// that names the kill command, and the restore still brings the node back:
// serving Kafka, not the up check, decides.
func TestKillMustBeSeenDownAndRestoreDoesNotTrustUp(t *testing.T) {
	cfg := testenv.ShortConfig()
	cfg.Cluster.Controller.DownTimeout = 300 * time.Millisecond
	sb, env := testenv.Env(t, cfg)
	j := newMemJournal()
	env.Journal, env.Control = j, lyingUp{sb}
	res := &run.Result{}
	rs := drill.NewRestorer(env, res)
	ctx := context.Background()
	err := rs.Kill(ctx, 2)
	if err == nil || !strings.Contains(err.Error(), "the kill command did not stop node 2") || !strings.Contains(err.Error(), `kill: exec "kill-cmd 2"`) {
		t.Fatalf("kill error: %v", err)
	}
	if up, _ := sb.Up(ctx, 2); up {
		t.Fatal("test setup: the node should really be down")
	}
	if err := rs.Restore(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if up, _ := sb.Up(ctx, 2); !up {
		t.Fatal("restore trusted the up check and left the node down")
	}
	if _, ok := j.get(env.RunID, 2); ok {
		t.Fatal("journal entry kept")
	}
}

// A drill cancelled while its node cannot be restarted says so first: the
// node and the restart error, not only "drill cancelled".
func TestRestoreErrorComesFirst(t *testing.T) {
	res := &run.Result{Error: "drill cancelled: context canceled"}
	drill.NoteRestoreError(res, errors.New(`node 2 left down: restart node 2: exec "false": exit status 1`))
	if want := `node 2 left down: restart node 2: exec "false": exit status 1; drill cancelled: context canceled`; res.Error != want {
		t.Fatalf("error %q, want %q", res.Error, want)
	}
}

// A running drill's events and steps can be watched as they happen.
func TestLiveSnapshots(t *testing.T) {
	cfg := testenv.ShortConfig()
	_, env := testenv.Env(t, cfg)
	var mu sync.Mutex
	var snaps []run.Result
	env.Live = func(r run.Result) {
		mu.Lock()
		defer mu.Unlock()
		snaps = append(snaps, r)
	}
	res := &run.Result{Measurements: run.Measurements{}}
	drill.RunSteps(context.Background(), env, res, []drill.Step{
		{Name: "one", Title: "first", Do: func(context.Context) (string, bool, error) {
			env.Record(res, run.NewEvent(time.Now(), "kill", 2, "killed"))
			res.Measurements.Set(run.KillSeconds, 0.01)
			return "ok", true, nil
		}},
		{Name: "two", Title: "second", Do: func(context.Context) (string, bool, error) { return "ok", true, nil }},
	})
	mu.Lock()
	defer mu.Unlock()
	// step one running, the kill, step one done, step two running, done.
	if len(snaps) != 5 {
		t.Fatalf("%d snapshots: %+v", len(snaps), snaps)
	}
	if s := snaps[0]; s.Status != run.StatusRunning || len(s.Steps) != 0 || s.Current == nil || s.Current.Name != "one" || s.Current.Outcome != run.StepRunning {
		t.Fatalf("first snapshot: %+v", s)
	}
	if s := snaps[1]; len(s.Events) != 1 || s.Events[0].What != "kill" || s.Current == nil || s.Current.Name != "one" {
		t.Fatalf("kill snapshot: %+v", s)
	}
	if s := snaps[3]; len(s.Steps) != 1 || s.Current == nil || s.Current.Name != "two" {
		t.Fatalf("second step's snapshot: %+v", s)
	}
	if s := snaps[4]; len(s.Steps) != 2 || s.Current != nil || s.Steps[1].Outcome != run.StepPassed || s.Measurements["kill_seconds"] != 0.01 {
		t.Fatalf("last snapshot: %+v", s)
	}
	// Snapshots share nothing with the result the drill goes on writing.
	res.Events[0].Detail = "changed"
	if snaps[1].Events[0].Detail != "killed" {
		t.Fatal("a snapshot shares the drill's events")
	}
}

// failingRestart fails every restart until it is told to work.
type failingRestart struct {
	control.Controller
	mu       sync.Mutex
	failing  bool
	restarts int
}

func (f *failingRestart) Restart(ctx context.Context, id int32) error {
	f.mu.Lock()
	f.restarts++
	failing := f.failing
	f.mu.Unlock()
	if failing {
		return fmt.Errorf("restart node %d: exec \"systemctl start chronik@%d\": exit status 1: Job failed", id, id)
	}
	return f.Controller.Restart(ctx, id)
}

func (f *failingRestart) set(failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = failing
}

type keeperEvents struct {
	mu          sync.Mutex
	notRestored []state.Outage
	restored    []state.Outage
}

func (k *keeperEvents) NotRestored(o state.Outage) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.notRestored = append(k.notRestored, o)
}

func (k *keeperEvents) Restored(o state.Outage, _ time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.restored = append(k.restored, o)
}

func (k *keeperEvents) counts() (int, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.notRestored), len(k.restored)
}

// The keeper restores journalled nodes with backoff and no attempt limit,
// records each failed attempt in the journal, leaves the running drill's
// nodes alone, and clears a node that serves already without restarting it.
func TestKeeperRestoresWithBackoffUntilServing(t *testing.T) {
	cfg := testenv.ShortConfig()
	cfg.Cluster.Controller.RestoreBackoff = 20 * time.Millisecond
	cfg.Cluster.Controller.RestoreBackoffMax = 100 * time.Millisecond
	cfg.Cluster.Controller.ServeTimeout = 5 * time.Second
	sb, env := testenv.Env(t, cfg)
	ctx := context.Background()
	ctl := &failingRestart{Controller: sb, failing: true}
	j := newMemJournal()
	at := time.Now().Add(-time.Minute)
	for _, o := range []state.Outage{
		{Run: "dead-run", Drill: "leader-failover", Node: 2, Action: state.ActionKill, At: at},
		{Run: "running-run", Drill: "failure-recovery", Node: 3, Action: state.ActionKill, At: at},
		{Run: "old-run", Drill: "leader-failover", Node: 1, Action: state.ActionKill, At: at}, // node 1 serves
	} {
		j.Record(o)
	}
	for _, id := range []int32{2, 3} {
		if err := sb.Kill(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	events := &keeperEvents{}
	awaiting := make(chan int, 100)
	k := drill.NewKeeper(drill.KeeperOptions{
		Journal:  j,
		Target:   func() drill.Target { return drill.Target{Control: ctl, Client: env.Client, Config: cfg} },
		Running:  func() string { return "running-run" },
		Observer: events,
		Awaiting: func(n int) { awaiting <- n },
		Log:      testutil.Log(),
	})
	kctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); k.Run(kctx) }()
	defer func() { cancel(); <-done }()

	testutil.WaitFor(t, "three failed attempts", 20*time.Second, func() bool { n, _ := events.counts(); return n >= 3 })
	if _, ok := j.get("old-run", 1); ok {
		t.Fatal("a node that serves was not cleared")
	}
	o, _ := j.get("dead-run", 2)
	if o.Attempts < 3 || !strings.Contains(o.LastError, "exit status 1: Job failed") {
		t.Fatalf("journal does not record the attempts: %+v", o)
	}
	ctl.set(false)
	testutil.WaitFor(t, "node 2 restored", 20*time.Second, func() bool { _, r := events.counts(); return r == 2 })
	if _, ok := j.get("dead-run", 2); ok {
		t.Fatal("entry kept after the node was restored")
	}
	if up, _ := sb.Up(ctx, 2); !up {
		t.Fatal("node 2 down")
	}
	if up, _ := sb.Up(ctx, 3); up {
		t.Fatal("the keeper restarted a node of the running drill")
	}
	if _, ok := j.get("running-run", 3); !ok {
		t.Fatal("the running drill's entry was cleared")
	}
	testutil.WaitFor(t, "the gauge at 0", 10*time.Second, func() bool {
		for {
			select {
			case n := <-awaiting:
				if n == 0 {
					return true
				}
			default:
				return false
			}
		}
	})
	events.mu.Lock()
	defer events.mu.Unlock()
	if events.restored[0].Node != 1 || events.restored[1].Node != 2 {
		t.Fatalf("restored: %+v", events.restored)
	}
}
