package check

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/run"
)

const (
	grace    = time.Second
	deadline = 3 * time.Second
)

func testWatch(t *testing.T) *Watch {
	t.Helper()
	c := kafka.NewClient([]kafka.Node{{ID: 1, Address: "127.0.0.1:1"}, {ID: 2, Address: "127.0.0.1:2"}, {ID: 3, Address: "127.0.0.1:3"}}, kafka.Options{Version: sarama.V3_6_0_0, Timeout: time.Second}, nil)
	w := NewWatch(c, "t", map[int32][]int32{0: {1, 2, 3}}, WatchSettings{Grace: grace, ElectionDeadline: deadline}, nil)
	w.started = t0
	return w
}

// named builds one round of views: node → the leader it names for
// partition 0 (-1: none), all answering at at.
func named(at time.Time, leaders map[int32]int32) []kafka.View {
	var out []kafka.View
	for node, l := range leaders {
		out = append(out, kafka.View{Node: node, At: at, Partitions: map[int32]kafka.PartitionState{0: {Leader: l}}})
	}
	return out
}

func kinds(w *Watch) map[string]int {
	out := map[string]int{}
	for _, a := range w.t.Anomalies(nil) {
		out[a.Kind] = a.Count
	}
	return out
}

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestLeaderWatchDisagreementNeedsTheGracePeriod(t *testing.T) {
	t.Parallel()
	w := testWatch(t)
	split := map[int32]int32{1: 1, 2: 2, 3: 1}
	w.observe(named(at(0), split))
	w.observe(named(at(grace), split)) // exactly the grace period: allowed
	if k := kinds(w); len(k) != 0 {
		t.Fatalf("reported within the grace period: %v", k)
	}
	w.observe(named(at(grace+10*time.Millisecond), split))
	w.observe(named(at(2*grace), split)) // same episode: once
	if k := kinds(w); k[run.KindLeaderDisagreement] != 1 || len(k) != 1 {
		t.Fatalf("got %v", k)
	}
	// Agreement ends the episode; a node that names no leader does not
	// disagree (it is between elections).
	w.observe(named(at(3*grace), map[int32]int32{1: 1, 2: -1, 3: 1}))
	w.observe(named(at(3*grace+time.Millisecond), split))
	w.observe(named(at(4*grace+2*time.Millisecond), split))
	if k := kinds(w); k[run.KindLeaderDisagreement] != 2 {
		t.Fatalf("second episode not reported: %v", k)
	}
}

func TestLeaderWatchStaleLeaderCountsFromTheKill(t *testing.T) {
	t.Parallel()
	w := testWatch(t)
	w.NodeDown(1, at(0))
	stale := map[int32]int32{2: 1, 3: 1}
	w.observe(named(at(grace/2), stale))
	w.observe(named(at(grace), stale))
	if k := kinds(w); len(k) != 0 {
		t.Fatalf("reported within the grace period: %v", k)
	}
	w.observe(named(at(grace+time.Millisecond), stale))
	w.observe(named(at(2*grace), stale))
	if k := kinds(w); k[run.KindStaleLeader] != 1 || len(k) != 1 { // once per kill, however many name it
		t.Fatalf("got %v", k)
	}
	// Killed again later: a new episode.
	w.NodeUp(1, at(3*grace), at(3*grace))
	w.NodeDown(1, at(4*grace))
	w.observe(named(at(5*grace+time.Millisecond), map[int32]int32{2: 1, 3: 2}))
	if k := kinds(w); k[run.KindStaleLeader] != 2 {
		t.Fatalf("second kill not reported: %v", k)
	}
}

func TestLeaderWatchNoElectionOnlyWithAMajorityUp(t *testing.T) {
	t.Parallel()
	w := testWatch(t)
	w.observe(named(at(0), map[int32]int32{1: 1, 2: 1, 3: 1}))
	w.NodeDown(1, at(time.Second))
	none := map[int32]int32{2: -1, 3: -1}
	w.observe(named(at(2*time.Second), none))
	w.observe(named(at(3*time.Second), none)) // 3 s since last seen led: not past the deadline
	if k := kinds(w); len(k) != 0 {
		t.Fatalf("reported before the deadline: %v", k)
	}
	// Majority down: nothing can be elected, the clock stops.
	w.NodeDown(2, at(3500*time.Millisecond))
	for s := 4; s < 20; s++ {
		w.observe(named(at(time.Duration(s)*time.Second), map[int32]int32{3: -1}))
	}
	if k := kinds(w); len(k) != 0 {
		t.Fatalf("no-election reported without a majority: %v", k)
	}
	// Majority back at 20 s: the clock starts there.
	w.NodeUp(2, at(20*time.Second), at(20*time.Second))
	w.observe(named(at(22*time.Second), none))
	w.observe(named(at(23*time.Second), none))
	if k := kinds(w); len(k) != 0 {
		t.Fatalf("clock did not restart with the majority: %v", k)
	}
	w.observe(named(at(23*time.Second+time.Millisecond), none))
	if k := kinds(w); k[run.KindNoElection] != 1 || len(k) != 1 {
		t.Fatalf("got %v", k)
	}
}

func TestLeaderWatchQuorumLostWindows(t *testing.T) {
	t.Parallel()
	w := testWatch(t)
	w.NodeDown(1, at(1*time.Second))
	w.NodeDown(2, at(2*time.Second))
	w.NodeUp(2, at(5*time.Second), at(6*time.Second))
	cases := []struct {
		start, done time.Duration
		lost        bool
	}{
		{2500 * time.Millisecond, 3 * time.Second, true},
		{2 * time.Second, 5 * time.Second, true},                // the window's own edges
		{1500 * time.Millisecond, 3 * time.Second, false},       // began with a majority up
		{4 * time.Second, 5500 * time.Millisecond, false},       // ended after the restart began
		{7 * time.Second, 8 * time.Second, false},               // after the restart
		{500 * time.Millisecond, 800 * time.Millisecond, false}, // before any kill
	}
	for _, c := range cases {
		if got := w.QuorumLost(0, at(c.start), at(c.done)); got != c.lost {
			t.Errorf("[%s, %s]: quorum lost %t, want %t", c.start, c.done, got, c.lost)
		}
	}
	var nilWatch *Watch
	if nilWatch.QuorumLost(0, at(0), at(time.Second)) || nilWatch.Stop() != nil {
		t.Fatal("a nil watch must find nothing")
	}
}

// Once another live leader is named, a live node that still names the dead
// one is stale, without waiting out the grace period; and that one lie is
// stale-leader only, not leader-disagreement too.
func TestLeaderWatchStaleAfterTheElection(t *testing.T) {
	t.Parallel()
	w := testWatch(t)
	w.NodeDown(1, at(0))
	lie := map[int32]int32{2: 2, 3: 1}
	w.observe(named(at(100*time.Millisecond), lie)) // node 2 elected; node 3 has not heard yet
	w.observe(named(at(100*time.Millisecond+w.settle()), lie))
	if k := kinds(w); len(k) != 0 {
		t.Fatalf("reported within the settling time: %v", k)
	}
	for d := 200 * time.Millisecond; d < 3*grace; d += 100 * time.Millisecond {
		w.observe(named(at(w.settle()+d), lie))
	}
	if k := kinds(w); k[run.KindStaleLeader] != 1 || len(k) != 1 {
		t.Fatalf("got %v", k)
	}
}

// An outage shorter than the grace period is judged when it ends: a dead
// node named in its second half was stale; one named only while its
// election ran was not.
func TestLeaderWatchStaleInAShortOutage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		namedTill time.Duration
		stale     bool
	}{
		{"named until the restart", 850 * time.Millisecond, true},
		{"named only during the election", 150 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := testWatch(t)
			w.NodeDown(1, at(0))
			for d := 50 * time.Millisecond; d <= 850*time.Millisecond; d += 50 * time.Millisecond {
				l := int32(1)
				if d > tc.namedTill {
					l = -1
				}
				w.observe(named(at(d), map[int32]int32{2: l, 3: l}))
			}
			w.NodeUp(1, at(900*time.Millisecond), at(950*time.Millisecond))
			if k := kinds(w); (k[run.KindStaleLeader] == 1) != tc.stale || len(k) > 1 {
				t.Fatalf("got %v", k)
			}
		})
	}
}

// A partition whose only named leader is a dead node is stale-leader's
// finding, not also no-election's.
func TestLeaderWatchStaleWinsOverNoElection(t *testing.T) {
	t.Parallel()
	w := testWatch(t)
	w.NodeDown(1, at(0))
	for d := 100 * time.Millisecond; d < 3*deadline; d += 100 * time.Millisecond {
		w.observe(named(at(d), map[int32]int32{2: 1, 3: 1}))
	}
	if k := kinds(w); k[run.KindStaleLeader] != 1 || len(k) != 1 {
		t.Fatalf("got %v", k)
	}
}
