package splitbrain_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/sandbox"
	"github.com/raftdrill/raftdrill/state"
)

// kinds lists the sandbox timeline's event kinds in order.
func kinds(sb *sandbox.Cluster) []string {
	var out []string
	for _, e := range sb.Timeline() {
		out = append(out, e.Kind)
	}
	return out
}

// On a healthy Raft cluster both modes pass: the cut-off (or thawed) old
// leader steps down, the majority elects another, nothing acked is lost,
// and the old leader is healed and catches up.
func TestSplitBrainPassesOnHealthySandbox(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{control.Isolate, control.Pause} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			cfg := testenv.ShortConfig()
			testenv.SB(cfg).Mode = mode
			sb, env := testenv.Env(t, cfg)
			res := testenv.Drill(t, cfg, "split-brain").Run(context.Background(), env)
			if res.Status != run.StatusPassed {
				t.Fatalf("status %s (error %q), criteria %+v anomalies %+v steps %+v", res.Status, res.Error, res.Criteria, res.Anomalies, res.Steps)
			}
			m := res.Measurements
			for _, key := range []run.Measure{run.StepdownSeconds, run.ElectionSeconds, run.FailoverSeconds, run.HealSeconds} {
				if _, ok := m.Get(key); !ok {
					t.Errorf("%s not measured: %v", key.Key, m)
				}
			}
			if m.Value(run.MinorityAcks) != 0 || m.Value(run.MessagesLost) != 0 || m.Value(run.MessagesAcked) == 0 {
				t.Fatalf("figures: %v", m)
			}
			old := int32(m.Value(run.OldLeader))
			if nl := int32(m.Value(run.NewLeader)); nl == old || nl <= 0 {
				t.Fatalf("new leader %d, old %d", nl, old)
			}
			// The sandbox saw the disruption and its undoing, in order.
			undo := map[string]string{control.Isolate: sandbox.EventHeal, control.Pause: sandbox.EventResume}[mode]
			do := map[string]string{control.Isolate: sandbox.EventPartition, control.Pause: sandbox.EventPause}[mode]
			k := kinds(sb)
			if i, j := slices.Index(k, do), slices.Index(k, undo); i < 0 || j < i {
				t.Fatalf("sandbox timeline %v: want %s then %s", k, do, undo)
			}
			for _, n := range sb.Nodes() {
				if !n.Up || n.Paused {
					t.Fatalf("node %d left %+v", n.ID, n)
				}
			}
		})
	}
}

// A real split brain: CheckQuorum off, so the cut-off leader stays in
// office and acknowledges acks=1 writes on its own. The drill fails with
// the writes the minority acknowledged named, and the lost ones lost.
func TestSplitBrainNamesWhatTheMinorityAcked(t *testing.T) {
	t.Parallel()
	cfg := testenv.ShortConfig()
	testenv.Sandbox(cfg).Faults.AckWithoutQuorum = true
	sbc := testenv.SB(cfg)
	sbc.Acks = "1"
	_, env := testenv.Env(t, cfg)
	res := testenv.Drill(t, cfg, "split-brain").Run(context.Background(), env)
	if res.Status != run.StatusFailed {
		t.Fatalf("status %s (error %q), anomalies %+v", res.Status, res.Error, res.Anomalies)
	}
	m := res.Measurements
	if m.Value(run.MinorityAcks) == 0 || m.Value(run.MessagesLost) == 0 {
		t.Fatalf("figures: %v", m)
	}
	var noQuorum, lost *run.Anomaly
	for i, a := range res.Anomalies {
		switch a.Kind {
		case run.KindAckWithoutQuorum:
			noQuorum = &res.Anomalies[i]
		case run.KindLostWrite:
			lost = &res.Anomalies[i]
		}
	}
	if noQuorum == nil || lost == nil {
		t.Fatalf("anomalies %+v: want ack-without-quorum and lost-write", res.Anomalies)
	}
	if noQuorum.Count != int(m.Value(run.MinorityAcks)) {
		t.Fatalf("ack-without-quorum ×%d, minority_acks %v", noQuorum.Count, m.Value(run.MinorityAcks))
	}
	old := int32(m.Value(run.OldLeader))
	for _, ex := range noQuorum.Examples {
		if ex.Node != old || ex.Offset < 0 || ex.Partition != sbc.TargetPartition {
			t.Fatalf("a minority ack that is not the old leader's: %+v (old leader %d)", ex, old)
		}
	}
	if !strings.Contains(noQuorum.Detail, "step-down deadline") {
		t.Fatalf("detail %q", noQuorum.Detail)
	}
	if c := criterion(res, run.MinorityAcks.Key); c == nil || c.Passed {
		t.Fatalf("minority_acks criterion %+v", c)
	}
}

func criterion(res run.Result, name string) *run.Criterion {
	for i, c := range res.Criteria {
		if c.Name == name {
			return &res.Criteria[i]
		}
	}
	return nil
}

// onlyKills is a controller that can kill and restart but neither cut off
// nor freeze a node.
type onlyKills struct{ control.Controller }

// A controller that cannot do the mode ends the drill as an error before
// anything is disturbed.
func TestSplitBrainRefusesAModeTheControllerLacks(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{control.Isolate, control.Pause} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			cfg := testenv.ShortConfig()
			testenv.SB(cfg).Mode = mode
			sb, env := testenv.Env(t, cfg)
			env.Control = onlyKills{env.Control}
			res := testenv.Drill(t, cfg, "split-brain").Run(context.Background(), env)
			if res.Status != run.StatusError || !strings.Contains(res.Error, "drills.split-brain.mode "+mode) || !strings.Contains(res.Error, "cannot") {
				t.Fatalf("status %s, error %q", res.Status, res.Error)
			}
			for _, k := range kinds(sb) {
				if k != sandbox.EventElected && k != sandbox.EventLeaderless {
					t.Fatalf("the sandbox saw %q: %v", k, kinds(sb))
				}
			}
		})
	}
}

// A drill cut short while the leader is cut off still heals it, and its
// journal entry goes once healed.
func TestSplitBrainCancelledStillHeals(t *testing.T) {
	t.Parallel()
	cfg := testenv.ShortConfig()
	testenv.SB(cfg).Duration = time.Minute
	sb, env := testenv.Env(t, cfg)
	st, err := state.Open(t.TempDir(), state.Me("test", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	env.Journal = st.Journal()
	entries := func() int {
		t.Helper()
		l, err := st.Journal().List()
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan run.Result)
	go func() { done <- testenv.Drill(t, cfg, "split-brain").Run(ctx, env) }()
	testutil.WaitFor(t, "the partition", 20*time.Second, func() bool { return slices.Contains(kinds(sb), sandbox.EventPartition) })
	if n := entries(); n != 1 {
		t.Fatalf("journal entries while cut off: %d, want 1", n)
	}
	cancel()
	res := <-done
	if res.Status != run.StatusError || !strings.Contains(res.Error, "cancelled") {
		t.Fatalf("status %s, error %q", res.Status, res.Error)
	}
	if k := kinds(sb); !slices.Contains(k, sandbox.EventHeal) {
		t.Fatalf("not healed: %v", k)
	}
	if entries() != 0 {
		t.Fatal("journal entry kept after the heal")
	}
	// The cluster is whole again: every node serves, writes go through.
	cl := env.Client
	if _, err := cl.WaitLed(context.Background(), cfg.Cluster.Topic.Name, cfg.Cluster.Topic.Partitions, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	pp := cl.NewProducer(kafka.ProducerOptions{Topic: cfg.Cluster.Topic.Name, Partition: 0, Run: "after", Size: 100, Leader: -1})
	defer pp.Close()
	testutil.WaitFor(t, "a write acked after the heal", 10*time.Second, func() bool { return pp.Send(0).Outcome == kafka.Acked })
}
