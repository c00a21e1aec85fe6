package probes_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/exporters"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/sandbox"
)

// faultCase is a sandbox fault and the one kind a drill must name it by.
type faultCase struct {
	kind   string
	drill  string
	faults sandbox.Faults
	tune   func(*config.Config)
	// count, when > 0, is exactly how many the fault must cause.
	count int
	// whenLeading is the kind the same fault is rightly named by when the
	// replica that shows it leads at read-back (its lie is then the
	// committed log); each occurrence is still one finding.
	whenLeading string
}

var faultCases = []faultCase{
	{kind: run.KindLostWrite, drill: "failure-recovery", faults: sandbox.Faults{LoseAckedOnKill: 3}},
	{kind: run.KindLostWrite, drill: "leader-failover", faults: sandbox.Faults{LoseAckedOnKill: 3}},
	{kind: run.KindBogusAck, drill: "leader-failover", faults: sandbox.Faults{AckOffsetMinusOne: 2}, count: 2},
	{kind: run.KindBogusAck, drill: "failure-recovery", faults: sandbox.Faults{AckOffsetMinusOne: 3}, count: 3},
	{kind: run.KindCorrupt, drill: "failure-recovery", faults: sandbox.Faults{CorruptWrites: 2}, count: 2},
	{kind: run.KindDuplicate, drill: "failure-recovery", faults: sandbox.Faults{DuplicateWrites: 2}, count: 2},
	// The diverging replica is the highest-numbered one other than the
	// leader that appended: if it leads at read-back, its divergent
	// record is in the committed log and the acked write is lost from
	// it. Each divergent record is one finding either way.
	{kind: run.KindInconsistentOffsets, drill: "failure-recovery", faults: sandbox.Faults{DivergentWrites: 2}, count: 2, whenLeading: run.KindLostWrite},
	{kind: run.KindNonmonotonic, drill: "failure-recovery", faults: sandbox.Faults{ReorderWrites: 1}, count: 1},
	{kind: run.KindPhantom, drill: "failure-recovery", faults: sandbox.Faults{PhantomWrites: 2}, count: 2},
	{kind: run.KindUnackedVisible, drill: "failure-recovery", faults: sandbox.Faults{RefuseButAppend: 2}, count: 2},
	// The fault answers on append only while the leader believes its
	// majority down, so the writes acked just before (and through) a
	// kill of a leader that had its majority are committed: nothing is
	// lost, and the fault shows its one kind.
	{kind: run.KindAckWithoutQuorum, drill: "failure-recovery", faults: sandbox.Faults{AckWithoutQuorum: true}},
	{kind: run.KindLeaderDisagreement, drill: "leader-failover", faults: sandbox.Faults{SplitLeader: true}},
	// Kills interrupt the disagreement (a partition without a leader
	// has nothing to disagree on): a grace period shorter than a step.
	{kind: run.KindLeaderDisagreement, drill: "failure-recovery", faults: sandbox.Faults{SplitLeader: true},
		tune: func(c *config.Config) { testenv.FR(c).LeaderGrace = 300 * time.Millisecond }},
	// The dead leader is named for the whole leaderless window, which
	// is made longer than the grace period and shorter than the
	// election deadline: stale-leader alone, not no-election.
	{kind: run.KindStaleLeader, drill: "failure-recovery", faults: sandbox.Faults{StaleLeader: true},
		tune: func(c *config.Config) {
			testenv.Sandbox(c).ElectionTimeoutMin, testenv.Sandbox(c).ElectionTimeoutMax = 1500*time.Millisecond, 1800*time.Millisecond
		}},
	{kind: run.KindNoElection, drill: "failure-recovery", faults: sandbox.Faults{NeverElect: true},
		tune: func(c *config.Config) {
			testenv.FR(c).ElectionDeadline = 2 * time.Second
			testenv.FR(c).RecoveryDeadline = 3 * time.Second
		}},
}

// A check that has never failed proves nothing (anomalies.md, rule 1): for
// every anomaly kind, the sandbox is told to misbehave in exactly that way,
// a drill runs, and the run must fail naming that kind (and only the kinds
// the fault explains), with raftdrill_anomalies_total{kind} counting it.
func TestEveryAnomalyKindIsCaught(t *testing.T) {
	for _, tc := range faultCases {
		t.Run(tc.drill+"/"+tc.kind, func(t *testing.T) {
			t.Parallel() // each case has a sandbox of its own
			cfg := testenv.ShortConfig()
			if tc.tune != nil {
				tc.tune(cfg)
			}
			res := runWithFaults(t, cfg, tc.drill, tc.faults)
			var found *run.Anomaly
			total := 0
			for i, a := range res.Anomalies {
				switch a.Kind {
				case tc.kind:
					found = &res.Anomalies[i]
				case tc.whenLeading:
					t.Logf("the faulty replica led at read-back: %s ×%d: %s", a.Kind, a.Count, a.Detail)
				default:
					// Each fault explains one kind; anything else is the
					// checker confusing one anomaly for another.
					t.Fatalf("want only %s, got %+v", tc.kind, res.Anomalies)
				}
				total += a.Count
			}
			if found == nil && (tc.whenLeading == "" || total == 0) {
				t.Fatalf("%s not named; status %s, anomalies %+v, error %q, steps %+v", tc.kind, res.Status, res.Anomalies, res.Error, res.Steps)
			}
			if res.Status != run.StatusFailed {
				t.Fatalf("status %s, want failed (error %q)", res.Status, res.Error)
			}
			if tc.count > 0 && total != tc.count {
				t.Fatalf("%d findings, the fault caused %d: %+v", total, tc.count, res.Anomalies)
			}
			for _, a := range res.Anomalies {
				if len(a.Examples) == 0 || a.Detail == "" {
					t.Fatalf("no detail or example: %+v", a)
				}
				if got := anomaliesMetric(t, tc.drill, res, a.Kind); got != float64(a.Count) {
					t.Fatalf("raftdrill_anomalies_total{drill=%q,kind=%q} = %v, want %d", tc.drill, a.Kind, got, a.Count)
				}
			}
			if found != nil {
				t.Logf("%s ×%d: %s, e.g. %+v", found.Kind, found.Count, found.Detail, found.Examples[0])
			}
		})
	}
}

// Every kind a drill can report is shown, by a sandbox fault (of the log or
// of one node) or by the lying proxy, failing a drill.
func TestEveryAnomalyKindIsProven(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range faultCases {
		covered[tc.kind] = true
	}
	for _, tc := range nodeFaultCases {
		covered[tc.kind] = true
	}
	for _, tc := range lieCases {
		covered[tc.kind] = true
	}
	for _, k := range run.AnomalyKinds {
		if !covered[k] {
			t.Errorf("no sandbox fault nor lie shows %s", k)
		}
	}
}

// Indeterminate-visible is not an anomaly: a write that timed out may well
// have happened. It must be counted, and the run must pass.
func TestIndeterminateVisibleIsCountedNotAnomaly(t *testing.T) {
	const n = 3
	cfg := testenv.ShortConfig()
	res := runWithFaults(t, cfg, "failure-recovery", sandbox.Faults{TimeoutAfterAppend: n})
	if res.Status != run.StatusPassed || len(res.Anomalies) != 0 {
		t.Fatalf("status %s, anomalies %+v, error %q, criteria %+v", res.Status, res.Anomalies, res.Error, res.Criteria)
	}
	m := res.Measurements
	// At least the n the fault made: with Raft, a write in flight when
	// the drill kills its leader, or sent while a majority is down, may
	// also end without an answer and be committed later.
	if m.Value(run.IndetVisible) < n || m.Value(run.MessagesIndet) < n {
		t.Fatalf("want %d indeterminate sends read back: %v", n, m)
	}
}

// runWithFaults starts a sandbox with the faults on and runs one drill.
func runWithFaults(t *testing.T, cfg *config.Config, drill string, f sandbox.Faults) run.Result {
	t.Helper()
	sb, env := testenv.Env(t, cfg)
	sb.SetFaults(f)
	res := testenv.Drill(t, cfg, drill).Run(context.Background(), env)
	for _, n := range sb.Nodes() {
		if !n.Up {
			t.Errorf("node %d left down", n.ID)
		}
	}
	return res
}

// anomaliesMetric feeds the result to a fresh set of metrics, as the daemon
// does, and reads raftdrill_anomalies_total{drill,kind}.
func anomaliesMetric(t *testing.T, drillName string, res run.Result, kind string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	criteria := map[string][]string{}
	cfg := testenv.ShortConfig()
	for _, spec := range drills.All {
		criteria[spec.Name] = spec.New(cfg).Criteria()
	}
	m := exporters.New(reg, drills.Names(), criteria, []int32{1, 2, 3})
	if before := testutil.ToFloat64(m.Anomalies.WithLabelValues(drillName, kind)); before != 0 {
		t.Fatalf("series starts at %v", before)
	}
	r := run.New(drillName, run.TriggerAPI, time.Now().Add(-time.Second))
	r.Finish(res, time.Now())
	m.Record(r)
	return testutil.ToFloat64(m.Anomalies.WithLabelValues(drillName, kind))
}
