package probes_test

import (
	"context"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/lieproxy"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/run"
)

// lieCase is one way a cluster lies, told by the lying proxy in front of an
// honest sandbox, and the one kind the drill must name it by.
type lieCase struct {
	name  string
	drill string
	lies  func() []*lieproxy.Lie
	kind  string
	// count, when > 0, is exactly how many the lie causes.
	count int
}

// A cluster that lies in a way the checker's author did not write into the
// sandbox must still fail the drill with the right kind, and only that kind
// (one fault, one kind). The proxy (internal/lieproxy) is written apart
// from the sandbox's faults: it learns acked offsets and leaders from the
// traffic and rewrites what one node answers. Three partitions: a lie aimed
// at "the first n acks of each partition" happens 3n times.
var lieCases = []lieCase{
	{name: "leader hides acked records a follower keeps", drill: "failure-recovery",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.HideAcked(2)} }, kind: run.KindLostWrite, count: 6},
	{name: "leader hides acked records a follower keeps", drill: "leader-failover",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.HideAcked(1)} }, kind: run.KindLostWrite, count: 3},
	{name: "leader lost its tail, followers keep it", drill: "failure-recovery",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.TruncateLeader(2)} }, kind: run.KindLostWrite, count: 6},
	// At the 2nd and 3rd acked offsets the record before each: one acked
	// message pushed along by a stale copy, the next one lost.
	{name: "leader serves stale records at acked offsets", drill: "failure-recovery",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.StaleRecord(lieproxy.Leader, 2)} }, kind: run.KindLostWrite, count: 3},
	{name: "leader serves a stale record at an acked offset", drill: "leader-failover",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.StaleRecord(lieproxy.Leader, 1)} }, kind: run.KindLostWrite, count: 3},
	{name: "acks off by one", drill: "failure-recovery",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.ShiftAcks(3, 1)} }, kind: run.KindBogusAck, count: 3},
	{name: "acks off by minus one", drill: "leader-failover",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.ShiftAcks(2, -1)} }, kind: run.KindBogusAck, count: 2},
	{name: "follower serves a flipped payload byte, CRC fixed", drill: "failure-recovery",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.FlipByte(lieproxy.Follower, 2, -1, true)} }, kind: run.KindCorrupt, count: 6},
	{name: "follower serves a batch failing its CRC", drill: "failure-recovery",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.FlipByte(lieproxy.Follower, 2, -1, false)} }, kind: run.KindCorrupt, count: 6},
	{name: "leader serves a batch failing its CRC", drill: "leader-failover",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.FlipByte(lieproxy.Leader, 1, -1, false)} }, kind: run.KindCorrupt, count: 3},
	{name: "every replica serves a batch failing its CRC", drill: "leader-failover",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.FlipByte(lieproxy.Anyone, 1, -1, false)} }, kind: run.KindCorrupt, count: 3},
	{name: "leader serves a damaged run id, CRC fixed", drill: "failure-recovery",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.FlipByte(lieproxy.Leader, 2, 6, true)} }, kind: run.KindCorrupt, count: 6},
	{name: "leader serves a damaged magic, CRC fixed", drill: "failure-recovery",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.FlipByte(lieproxy.Leader, 1, 1, true)} }, kind: run.KindCorrupt, count: 3},
	{name: "follower serves a stale record at an acked offset", drill: "failure-recovery",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.StaleRecord(lieproxy.Follower, 2)} }, kind: run.KindInconsistentOffsets, count: 6},
	{name: "follower never catches up", drill: "failure-recovery",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.Lag(lieproxy.Follower, 3)} }, kind: run.KindLaggingReplica, count: 3},
	{name: "follower refuses to be read", drill: "leader-failover",
		lies: func() []*lieproxy.Lie { return []*lieproxy.Lie{lieproxy.RefuseFetch(lieproxy.Follower)} }, kind: run.KindUnreadableReplica, count: 3},
}

func TestLyingClusterIsNamed(t *testing.T) {
	for _, tc := range lieCases {
		t.Run(tc.drill+"/"+tc.name, func(t *testing.T) {
			t.Parallel() // each case has a sandbox and a proxy of its own
			cfg := testenv.ShortConfig()
			testenv.LF(cfg).ReadBack.CatchUpTimeout = 2 * time.Second
			testenv.FR(cfg).ReadBack.CatchUpTimeout = 2 * time.Second
			px, res := runWithLies(t, cfg, tc.drill, tc.lies()...)
			var found *run.Anomaly
			var kinds []string
			for i, a := range res.Anomalies {
				kinds = append(kinds, a.Kind)
				if a.Kind == tc.kind {
					found = &res.Anomalies[i]
				}
			}
			if found == nil || len(kinds) != 1 || res.Status != run.StatusFailed {
				t.Fatalf("want %s alone; status %s, anomalies %+v, error %q, lies told %v, steps %+v",
					tc.kind, res.Status, res.Anomalies, res.Error, px.Told(), res.Steps)
			}
			if tc.count > 0 && found.Count != tc.count {
				t.Fatalf("%s ×%d, the lie causes %d: %+v (lies told %v)", tc.kind, found.Count, tc.count, found, px.Told())
			}
			if got := anomaliesMetric(t, tc.drill, res, tc.kind); got != float64(found.Count) {
				t.Fatalf("raftdrill_anomalies_total{kind=%q} = %v, want %d", tc.kind, got, found.Count)
			}
			t.Logf("%s ×%d: %s, e.g. %+v", found.Kind, found.Count, found.Detail, found.Examples[0])
		})
	}
}

// Through the proxy telling no lie, both drills pass with no anomaly: the
// proxy itself is honest.
func TestHonestProxyPasses(t *testing.T) {
	for _, name := range []string{"leader-failover", "failure-recovery"} {
		t.Run(name, func(t *testing.T) {
			cfg := testenv.ShortConfig()
			_, res := runWithLies(t, cfg, name)
			if len(res.Anomalies) != 0 || res.Error != "" {
				t.Fatalf("status %s, anomalies %+v, error %q, steps %+v", res.Status, res.Anomalies, res.Error, res.Steps)
			}
		})
	}
}

// runWithLies starts a sandbox with the lying proxy in front of it and runs
// one drill at the proxy's addresses; the sandbox's controller still kills
// and restarts the nodes behind it.
func runWithLies(t *testing.T, cfg *config.Config, name string, lies ...*lieproxy.Lie) (*lieproxy.Proxy, run.Result) {
	t.Helper()
	sb, _ := testenv.Cluster(t, cfg)
	px, err := lieproxy.Start(sb.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	px.Tell(lies...)
	env := drill.Env{RunID: "test-" + t.Name(), Client: testenv.Client(t, cfg, px.Addrs()...), Control: sb, Config: cfg, Log: testutil.Log()}
	res := testenv.Drill(t, cfg, name).Run(context.Background(), env)
	for _, n := range sb.Nodes() {
		if !n.Up {
			t.Errorf("node %d left down", n.ID)
		}
	}
	return px, res
}
