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
)

// A follower (ha.kubernetes) evaluates what the leader does but sends
// nothing: no opening, no repeat, no anomaly, no resolution. When it
// becomes the leader it announces what still fires, once.
func TestFollowerSendsNothingAndAnnouncesWhatFiresWhenItLeads(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(Settings{QuorumLostAfter: 2, RepeatInterval: time.Hour})
	u.e.onLeading(false, u.at(0))
	u.observe(0, 1)
	u.observe(5*time.Second, 1)
	u.e.onTick(u.at(2 * time.Hour))
	r := failedRun("r1")
	r.Anomalies = []run.Anomaly{{Kind: run.KindLostWrite, Count: 1}}
	u.e.onRunFinished(r, u.at(time.Minute))
	u.e.onRunFinished(failedRun("r2"), u.at(2*time.Minute))
	wantOps(t, u)
	if u.e.quorum.firing == nil || u.e.drills["leader-failover"].missed == nil {
		t.Fatal("the follower does not know what fires")
	}

	u.e.onLeading(true, u.at(3*time.Hour))
	wantOps(t, u, "quorum-lost/open", "threshold-missed/open")
	if !u.got[0].At.Equal(u.at(3*time.Hour)) || !u.got[0].Alert.Since.Equal(u.at(0)) {
		t.Errorf("announced at %s, firing since %s; want now, since the first bad check", u.got[0].At, u.got[0].Alert.Since)
	}
	u.e.onLeading(true, u.at(3*time.Hour+time.Second)) // no change, nothing new
	u.e.onTick(u.at(3*time.Hour + 59*time.Minute))
	wantOps(t, u, "quorum-lost/open", "threshold-missed/open")
	u.e.onTick(u.at(4*time.Hour + time.Second))
	wantOps(t, u, "quorum-lost/open", "threshold-missed/open", "quorum-lost/repeat", "threshold-missed/repeat")
	u.observe(4*time.Hour+time.Minute, 1, 2, 3)
	wantOps(t, u, "quorum-lost/open", "threshold-missed/open", "quorum-lost/repeat", "threshold-missed/repeat", "quorum-lost/resolve")
	if u.got[0].Firing != u.got[4].Firing {
		t.Fatalf("resolved %q, announced %q", u.got[4].Firing, u.got[0].Firing)
	}
}

// What opens and closes while a replica follows is never sent at all.
func TestFollowerKeepsWhatOpensAndClosesMeanwhileToItself(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	u.e.onLeading(false, u.at(0))
	u.observe(0, 1)
	u.observe(5*time.Second, 1)
	u.observe(10*time.Second, 1, 2, 3)
	u.e.onLeading(true, u.at(time.Minute))
	wantOps(t, u)
}

// A leader that steps down goes quiet at once: what it announced is
// neither repeated nor resolved by it (the new leader announces and
// resolves its own).
func TestLeaderThatStepsDownGoesQuiet(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(Settings{QuorumLostAfter: 1, RepeatInterval: time.Hour})
	u.observe(0, 1)
	wantOps(t, u, "quorum-lost/open")
	u.e.onLeading(false, u.at(time.Minute))
	u.e.onTick(u.at(2 * time.Hour))
	u.observe(2*time.Hour, 1, 2, 3)
	wantOps(t, u, "quorum-lost/open")
}

// The drills-stale clock of a replica starts when it leads: it drilled
// nothing while it followed, which says nothing about the drills.
func TestDrillsStaleClockStartsWhenAFollowerLeads(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(Settings{QuorumLostAfter: 2, StaleAfter: time.Hour})
	u.e.onLeading(false, u.at(0))
	u.e.onTick(u.at(3 * time.Hour))
	wantOps(t, u)
	u.e.onLeading(true, u.at(3*time.Hour))
	u.e.onTick(u.at(3*time.Hour + 59*time.Minute))
	wantOps(t, u)
	u.e.onTick(u.at(4*time.Hour + time.Minute))
	wantOps(t, u, "drills-stale/open")
	if !strings.Contains(u.got[0].Alert.Text, "since this replica became the leader at") {
		t.Errorf("stale text: %q", u.got[0].Alert.Text)
	}
}

// A node left down that opened quietly is announced when the replica
// leads, and the restore journal hears the firing then.
func TestNodeNotRestoredAnnouncedWhenItLeads(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	u.e.onLeading(false, u.at(0))
	var recorded []string
	o := NodeOutage{Node: 2, Run: "r1", Drill: "leader-failover", Since: u.at(0), Announced: func(id string) { recorded = append(recorded, id) }}
	u.e.onNode(nodeEvent{o: o}, u.at(time.Minute))
	wantOps(t, u)
	if len(recorded) != 0 {
		t.Fatalf("journal told of an announcement that was not sent: %v", recorded)
	}
	u.e.onLeading(true, u.at(2*time.Minute))
	wantOps(t, u, "node-not-restored/open")
	if !slices.Equal(recorded, []string{u.got[0].Firing}) {
		t.Fatalf("journal heard %v, want %s", recorded, u.got[0].Firing)
	}
}

// A paused dispatcher delivers nothing, not even at shutdown; what it
// holds stays in the outbox, and is delivered, in order, once resumed.
func TestPausedDispatcherHoldsUntilResumed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := openState(t, dir)
	n := &scriptedNotifier{}
	d := NewDispatcher(n, DispatcherOptions{QueueSize: 10, Outbox: st.Outbox()}, nil)
	d.SetPaused(true)
	d.Enqueue(msg(KindQuorumLost, "a"))
	d.Enqueue(msg(KindQuorumLost, "b"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	cancel()
	<-done // Run and its last delivery round are over
	if got := n.got(); len(got) != 0 {
		t.Fatalf("a paused dispatcher delivered %v", got)
	}
	if items, _ := st.Outbox().List(); len(items) != 2 {
		t.Fatalf("%d messages in the outbox, want 2", len(items))
	}

	d = NewDispatcher(n, DispatcherOptions{QueueSize: 10, Outbox: st.Outbox()}, nil)
	d.SetPaused(true)
	d.Enqueue(msg(KindQuorumLost, "c"))
	runDispatcher(t, d)
	d.SetPaused(false)
	testutil.WaitFor(t, "delivery after resume", 10*time.Second, func() bool { return len(n.got()) == 3 })
	if got := n.got(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("delivered %v", got)
	}
	st.Close()
}

// A dispatcher paused while Slack refuses a message stops retrying it and
// keeps it, first in line, for when it resumes.
func TestPauseStopsRetries(t *testing.T) {
	t.Parallel()
	n := &scriptedNotifier{retryable: true}
	for range 1000 {
		n.fail = append(n.fail, errors.New("slack down"))
	}
	d := NewDispatcher(n, DispatcherOptions{Backoff: time.Millisecond, BackoffMax: time.Millisecond}, nil)
	d.Enqueue(msg(KindQuorumLost, "a"))
	runDispatcher(t, d)
	attempts := func() int {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(n.attempts)
	}
	testutil.WaitFor(t, "retries", 10*time.Second, func() bool { return attempts() >= 2 })
	d.SetPaused(true)
	testutil.WaitFor(t, "the message back in the queue", 10*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.inflight == nil && len(d.queue) == 1
	})
	stopped := attempts()
	n.mu.Lock()
	n.fail = nil
	n.mu.Unlock()
	d.Enqueue(msg(KindQuorumLost, "b"))
	d.SetPaused(false)
	testutil.WaitFor(t, "delivery after resume", 10*time.Second, func() bool { return len(n.got()) == 2 })
	if got := n.got(); !slices.Equal(got, []string{"a", "b"}) || attempts() != stopped+2 {
		t.Fatalf("delivered %v in %d attempts after the pause, want a b in 2", got, attempts()-stopped)
	}
}
