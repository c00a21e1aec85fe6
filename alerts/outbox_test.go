package alerts

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

func openState(t *testing.T, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(dir, state.Me("serve", ""))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Messages Slack has not taken survive the process: the next dispatcher
// sends them first, in order, each once, then what it makes itself.
func TestOutboxSendsWhatAnEarlierProcessLeftInOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := openState(t, dir)
	down := &scriptedNotifier{retryable: true}
	for range 1000 {
		down.fail = append(down.fail, errors.New("slack down"))
	}
	d := NewDispatcher(down, DispatcherOptions{QueueSize: 10, Backoff: time.Millisecond, BackoffMax: 2 * time.Millisecond, Outbox: st.Outbox()}, nil)
	for _, title := range []string{"a", "b", "c"} {
		m := msg(KindDrillError, title)
		m.Alert.Criteria = []run.Criterion{run.Judge(run.FailoverSeconds, "<", 15, 16)}
		d.Enqueue(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	testutil.WaitFor(t, "attempts", 10*time.Second, func() bool {
		down.mu.Lock()
		defer down.mu.Unlock()
		return len(down.attempts) >= 2
	})
	cancel()
	<-done
	st.Close() // the process "dies" with a, b, c undelivered

	st = openState(t, dir)
	defer st.Close()
	up := &scriptedNotifier{}
	d = NewDispatcher(up, DispatcherOptions{QueueSize: 10, Outbox: st.Outbox()}, nil)
	if d.Len() != 3 {
		t.Fatalf("%d messages restored, want 3", d.Len())
	}
	d.Enqueue(msg(KindDrillError, "d"))
	runDispatcher(t, d)
	testutil.WaitFor(t, "delivery", 10*time.Second, func() bool { return len(up.got()) == 4 })
	if got := up.got(); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("delivered %v, want a b c d", got)
	}
	testutil.WaitFor(t, "an empty outbox", 10*time.Second, func() bool {
		items, _ := st.Outbox().List()
		return len(items) == 0
	})
}

// A message refused for good leaves the outbox too, and folding a full
// queue folds the stored messages into one stored summary.
func TestOutboxFoldsAndForgets(t *testing.T) {
	t.Parallel()
	st := openState(t, t.TempDir())
	defer st.Close()
	n := &scriptedNotifier{}
	d := NewDispatcher(n, DispatcherOptions{QueueSize: 2, Outbox: st.Outbox()}, nil)
	for _, title := range []string{"a", "b", "c", "d"} {
		d.Enqueue(msg(KindQuorumLost, title))
	}
	items, _ := st.Outbox().List()
	if len(items) != 2 || !strings.Contains(string(items[0].Data), `"Overflow":{"Count":3`) {
		t.Fatalf("outbox after folding: %d items, first %s", len(items), items[0].Data)
	}
	runDispatcher(t, d)
	testutil.WaitFor(t, "delivery", 10*time.Second, func() bool { return len(n.got()) == 2 })
	testutil.WaitFor(t, "an empty outbox", 10*time.Second, func() bool {
		items, _ := st.Outbox().List()
		return len(items) == 0
	})
}

// node-not-restored opens at the first failed attempt, is updated (not
// re-sent) by the next ones, and resolves once when the node serves.
func TestNodeNotRestoredFiresOnceAndResolvesOnce(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	since := u.at(-time.Minute)
	var announced []string
	o := NodeOutage{Node: 2, Run: "r1", Drill: "leader-failover", Since: since, Attempts: 1,
		LastError: `restart node 2: exec "systemctl start chronik@2": exit status 1: <Job failed>`,
		Announced: func(f string) { announced = append(announced, f) }}
	u.e.onNode(nodeEvent{o: o}, u.at(0))
	for i := 2; i < 10; i++ {
		o.Attempts = i
		u.e.onNode(nodeEvent{o: o}, u.at(time.Duration(i)*time.Second))
	}
	wantOps(t, u, "node-not-restored/open")
	a := u.got[0].Alert
	if len(announced) != 1 || announced[0] != u.got[0].Firing || !strings.Contains(a.Title, "Node 2") ||
		!strings.Contains(a.Text, "&lt;Job failed&gt;") || !strings.Contains(a.Text, "raftdrill state clear --node 2") {
		t.Fatalf("announced %v, alert %+v", announced, a)
	}
	u.e.onNode(nodeEvent{o: o, restored: true, down: 2 * time.Minute}, u.at(time.Minute))
	u.e.onNode(nodeEvent{o: o, restored: true, down: 2 * time.Minute}, u.at(time.Minute))
	wantOps(t, u, "node-not-restored/open", "node-not-restored/resolve")
	if u.got[1].Firing != u.got[0].Firing || !strings.Contains(u.got[1].Resolution, "serves Kafka again") {
		t.Fatalf("resolution: %+v", u.got[1])
	}
}

// A node announced by an earlier raftdrill is not announced again: the
// firing is taken over, and resolved when the node serves.
func TestNodeNotRestoredAcrossARestart(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	o := NodeOutage{Node: 3, Run: "r1", Drill: "leader-failover", Since: u.at(-time.Hour), Attempts: 7, Firing: "node-not-restored#abc-1"}
	u.e.onNode(nodeEvent{o: o}, u.at(0))
	wantOps(t, u)
	u.e.onNode(nodeEvent{o: o, restored: true}, u.at(time.Second))
	wantOps(t, u, "node-not-restored/resolve")
	if u.got[0].Firing != "node-not-restored#abc-1" {
		t.Fatalf("resolved %q", u.got[0].Firing)
	}
	// Restored before any attempt failed here: resolved all the same.
	u.e.onNode(nodeEvent{o: NodeOutage{Node: 1, Firing: "node-not-restored#abc-2"}, restored: true}, u.at(2*time.Second))
	// Restored at the first attempt, never announced: nothing to say.
	u.e.onNode(nodeEvent{o: NodeOutage{Node: 2}, restored: true}, u.at(3*time.Second))
	wantOps(t, u, "node-not-restored/resolve", "node-not-restored/resolve")
}

// A run found unfinished at start-up is said to be interrupted, not "could
// not run".
func TestInterruptedRunIsADrillError(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	r := run.New("leader-failover", run.TriggerAPI, u.at(-time.Minute))
	end := u.at(-30 * time.Second)
	r.Finish(run.Result{Status: run.StatusInterrupted, Error: "interrupted: raftdrill stopped during the run"}, end)
	u.e.onRunFinished(r, u.at(0))
	wantOps(t, u, "drill-error/open")
	if a := u.got[0].Alert; a.Title != "Drill leader-failover was interrupted" || !strings.Contains(a.Text, "was interrupted") {
		t.Fatalf("alert %+v", a)
	}
}

// Stopping the engine evaluates what was handed over first: the run of
// the drill the shutdown cut short and the nodes it left down reach Slack.
func TestEngineStopEvaluatesWhatWasHandedOver(t *testing.T) {
	t.Parallel()
	var got []*Message
	done := make(chan []*Message)
	e := NewEngine(defaultSettings, NewPlanner(time.Second, time.Minute), func(m *Message) { got = append(got, m) }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { e.Run(ctx); done <- got }()
	r := run.New("leader-failover", run.TriggerAPI, time.Now())
	r.Finish(run.Result{Status: run.StatusError, Error: "node 2 left down: restart node 2: exit status 1; drill cancelled"}, time.Now())
	cancel()
	e.RunFinished(r)
	e.NodeNotRestored(NodeOutage{Node: 2, Run: r.ID, Drill: r.Drill, Since: time.Now(), LastError: "exit status 1"})
	msgs := <-done
	var kinds []string
	for _, m := range msgs {
		kinds = append(kinds, m.Kind())
	}
	// The run may have been evaluated before the cancel was seen, or in
	// the drain; either way both are there, the run first.
	if !slices.Equal(kinds, []string{KindDrillError, KindNodeNotRestored}) {
		t.Fatalf("messages %v", kinds)
	}
}
