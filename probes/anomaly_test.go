package probes_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/exporters"
	"github.com/raftdrill/raftdrill/probes"
)

// A check that has never failed proves nothing (anomalies.md, rule 1): for
// every anomaly kind, the sandbox is told to misbehave in exactly that way,
// a drill runs, and the run must fail naming that kind (and only the kinds
// the fault explains), with raftdrill_anomalies_total{kind} counting it.
func TestEveryAnomalyKindIsCaught(t *testing.T) {
	cases := []struct {
		kind   string
		drill  string
		faults config.SandboxFaults
		tune   func(*config.Config)
		// count, when > 0, is exactly how many the fault must cause.
		count int
	}{
		{kind: probes.KindLostWrite, drill: "failure-recovery", faults: config.SandboxFaults{LoseAckedOnKill: 3}},
		{kind: probes.KindLostWrite, drill: "leader-failover", faults: config.SandboxFaults{LoseAckedOnKill: 3}},
		{kind: probes.KindBogusAck, drill: "leader-failover", faults: config.SandboxFaults{AckOffsetMinusOne: 2}, count: 2},
		{kind: probes.KindBogusAck, drill: "failure-recovery", faults: config.SandboxFaults{AckOffsetMinusOne: 3}, count: 3},
		{kind: probes.KindCorrupt, drill: "failure-recovery", faults: config.SandboxFaults{CorruptWrites: 2}, count: 2},
		{kind: probes.KindDuplicate, drill: "failure-recovery", faults: config.SandboxFaults{DuplicateWrites: 2}, count: 2},
		{kind: probes.KindInconsistentOffsets, drill: "failure-recovery", faults: config.SandboxFaults{DivergentWrites: 2}, count: 2},
		{kind: probes.KindNonmonotonic, drill: "failure-recovery", faults: config.SandboxFaults{ReorderWrites: 1}, count: 1},
		{kind: probes.KindPhantom, drill: "failure-recovery", faults: config.SandboxFaults{PhantomWrites: 2}, count: 2},
		{kind: probes.KindUnackedVisible, drill: "failure-recovery", faults: config.SandboxFaults{RefuseButAppend: 2}, count: 2},
		{kind: probes.KindAckWithoutQuorum, drill: "failure-recovery", faults: config.SandboxFaults{AckWithoutQuorum: true}},
		{kind: probes.KindLeaderDisagreement, drill: "leader-failover", faults: config.SandboxFaults{SplitLeader: true}},
		// Kills interrupt the disagreement (a partition without a leader
		// has nothing to disagree on): a grace period shorter than a step.
		{kind: probes.KindLeaderDisagreement, drill: "failure-recovery", faults: config.SandboxFaults{SplitLeader: true},
			tune: func(c *config.Config) { c.Drills.FailureRecovery.LeaderGrace = 300 * time.Millisecond }},
		// The dead leader is named for the whole leaderless window, which
		// is made longer than the grace period and shorter than the
		// election deadline: stale-leader alone, not no-election.
		{kind: probes.KindStaleLeader, drill: "failure-recovery", faults: config.SandboxFaults{StaleLeader: true},
			tune: func(c *config.Config) {
				c.Sandbox.ElectionTimeoutMin, c.Sandbox.ElectionTimeoutMax = 1500*time.Millisecond, 1800*time.Millisecond
			}},
		{kind: probes.KindNoElection, drill: "failure-recovery", faults: config.SandboxFaults{NeverElect: true},
			tune: func(c *config.Config) {
				c.Drills.FailureRecovery.ElectionDeadline = 2 * time.Second
				c.Drills.FailureRecovery.RecoveryDeadline = 3 * time.Second
			}},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.kind] = true
		t.Run(tc.drill+"/"+tc.kind, func(t *testing.T) {
			cfg := probes.ShortRecoveryConfig()
			if tc.tune != nil {
				tc.tune(cfg)
			}
			res := runWithFaults(t, cfg, tc.drill, tc.faults)
			var found *probes.Anomaly
			var kinds []string
			for i, a := range res.Anomalies {
				kinds = append(kinds, a.Kind)
				if a.Kind == tc.kind {
					found = &res.Anomalies[i]
				}
			}
			if found == nil {
				t.Fatalf("%s not named; status %s, anomalies %+v, error %q, steps %+v", tc.kind, res.Status, res.Anomalies, res.Error, res.Steps)
			}
			// Each fault explains one kind; anything else is the checker
			// confusing one anomaly for another.
			if len(kinds) != 1 {
				t.Fatalf("want only %s, got %v: %+v", tc.kind, kinds, res.Anomalies)
			}
			if res.Status != probes.StatusFailed {
				t.Fatalf("status %s, want failed (error %q)", res.Status, res.Error)
			}
			if tc.count > 0 && found.Count != tc.count {
				t.Fatalf("%s ×%d, the fault caused %d: %+v", tc.kind, found.Count, tc.count, found)
			}
			if len(found.Examples) == 0 || found.Detail == "" {
				t.Fatalf("no detail or example: %+v", found)
			}
			if got := anomaliesMetric(t, tc.drill, res, tc.kind); got != float64(found.Count) {
				t.Fatalf("raftdrill_anomalies_total{drill=%q,kind=%q} = %v, want %d", tc.drill, tc.kind, got, found.Count)
			}
			t.Logf("%s ×%d: %s, e.g. %+v", found.Kind, found.Count, found.Detail, found.Examples[0])
		})
	}
	for _, k := range probes.AnomalyKinds {
		if !covered[k] {
			t.Errorf("no test makes the sandbox show %s", k)
		}
	}
}

// Indeterminate-visible is not an anomaly: a write that timed out may well
// have happened. It must be counted, and the run must pass.
func TestIndeterminateVisibleIsCountedNotAnomaly(t *testing.T) {
	const n = 3
	cfg := probes.ShortRecoveryConfig()
	res := runWithFaults(t, cfg, "failure-recovery", config.SandboxFaults{TimeoutAfterAppend: n})
	if res.Status != probes.StatusPassed || len(res.Anomalies) != 0 {
		t.Fatalf("status %s, anomalies %+v, error %q, criteria %+v", res.Status, res.Anomalies, res.Error, res.Criteria)
	}
	m := res.Measurements
	// At least the n the fault made: with Raft, a write in flight when
	// the drill kills its leader, or sent while a majority is down, may
	// also end without an answer and be committed later.
	if m["messages_indeterminate_visible"] < n || m["messages_indeterminate"] < n {
		t.Fatalf("want %d indeterminate sends read back: %v", n, m)
	}
}

// runWithFaults starts a sandbox with the faults on and runs one drill.
func runWithFaults(t *testing.T, cfg *config.Config, drill string, f config.SandboxFaults) probes.Result {
	t.Helper()
	sb, env := probes.StartSandboxForTest(t, cfg)
	sb.SetFaults(f)
	res := probes.Drills[drill](cfg).Run(context.Background(), env)
	for _, n := range sb.Nodes() {
		if !n.Up {
			t.Errorf("node %d left down", n.ID)
		}
	}
	return res
}

// anomaliesMetric feeds the result to a fresh set of metrics, as the daemon
// does, and reads raftdrill_anomalies_total{drill,kind}.
func anomaliesMetric(t *testing.T, drill string, res probes.Result, kind string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	criteria := map[string][]string{}
	cfg := config.Default()
	for name, mk := range probes.Drills {
		criteria[name] = mk(&cfg).Criteria()
	}
	m := exporters.New(reg, exporters.Build{Version: "test"}, probes.DrillNames(), criteria, []int32{1, 2, 3})
	if before := testutil.ToFloat64(m.Anomalies.WithLabelValues(drill, kind)); before != 0 {
		t.Fatalf("series starts at %v", before)
	}
	now := time.Now()
	m.Record(drill, now.Add(-time.Second), now, res)
	return testutil.ToFloat64(m.Anomalies.WithLabelValues(drill, kind))
}
