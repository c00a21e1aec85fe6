package alerts

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/probes/quorum"
	"github.com/raftdrill/raftdrill/run"
)

// engineUnderTest drives an engine's handlers directly with made-up times,
// so repeats after hours and deadlines after minutes need no waiting.
type engineUnderTest struct {
	e    *Engine
	plan *Planner
	got  []*Message
	t0   time.Time
}

func newEngineUnderTest(set Settings) *engineUnderTest {
	u := &engineUnderTest{plan: NewPlanner(30*time.Second, 5*time.Minute)}
	u.e = NewEngine(set, u.plan, func(m *Message) { u.got = append(u.got, m) }, nil)
	u.t0 = u.e.started
	return u
}

func (u *engineUnderTest) at(d time.Duration) time.Time { return u.t0.Add(d) }

// observe feeds an observation of a 3-node cluster with the given nodes up.
func (u *engineUnderTest) observe(d time.Duration, up ...int32) {
	u.e.onObservation(observation(u.at(d), up...), u.at(d))
}

func observation(at time.Time, up ...int32) quorum.Observation {
	o := quorum.Observation{At: at, Partitions: 3, Canary: quorum.Canary{Enabled: true, Attempts: 3}}
	for id := int32(1); id <= 3; id++ {
		st := quorum.NodeStatus{ID: id, Up: slices.Contains(up, id)}
		if st.Up {
			o.Up++
		} else {
			st.Err = "connect: connection refused"
		}
		o.Nodes = append(o.Nodes, st)
	}
	o.Majority = o.Up*2 > 3
	if o.Majority {
		o.Canary.Acked = 3
	} else {
		o.Leaderless = []quorum.TopicPartition{{Topic: "raftdrill", Partition: 0}, {Topic: "raftdrill", Partition: 1}}
		o.Canary.Failures = []string{"partition 2 via node 1: failed: NOT_ENOUGH_REPLICAS"}
	}
	o.Available = o.Majority
	return o
}

func (u *engineUnderTest) ops() []string {
	var out []string
	for _, m := range u.got {
		out = append(out, m.Kind()+"/"+m.Op.String())
	}
	return out
}

func wantOps(t *testing.T, u *engineUnderTest, want ...string) {
	t.Helper()
	if got := u.ops(); !slices.Equal(got, want) {
		t.Fatalf("messages %v, want %v", got, want)
	}
}

var defaultSettings = Settings{QuorumLostAfter: 2, RepeatInterval: 4 * time.Hour}

func TestQuorumLostFiresOnceAfterConsecutiveChecksAndResolves(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	u.observe(0, 1, 2, 3)
	u.observe(5*time.Second, 1)
	wantOps(t, u) // one bad check is not yet an alert
	u.observe(10*time.Second, 1)
	wantOps(t, u, "quorum-lost/open")
	for i := 3; i < 20; i++ {
		u.observe(time.Duration(i)*5*time.Second, 1)
	}
	wantOps(t, u, "quorum-lost/open") // one message per firing, not per check
	u.observe(100*time.Second, 1, 2, 3)
	wantOps(t, u, "quorum-lost/open", "quorum-lost/resolve")
	if u.got[0].Firing != u.got[1].Firing {
		t.Fatalf("resolve of another firing: %q vs %q", u.got[0].Firing, u.got[1].Firing)
	}
	open := u.got[0].Alert
	if !open.Since.Equal(u.at(5*time.Second)) || !strings.Contains(open.Text, "1 of 3 nodes up") || !strings.Contains(open.Text, "node 2: connect") {
		t.Fatalf("open alert: %+v", open)
	}
}

func TestQuorumBlipIsNotAnAlert(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	for i := 0; i < 10; i++ {
		u.observe(time.Duration(2*i)*5*time.Second, 1)
		u.observe(time.Duration(2*i+1)*5*time.Second, 1, 2, 3)
	}
	wantOps(t, u)
}

func TestRepeatOnlyAfterRepeatIntervalWhileFiring(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	u.observe(0, 1)
	u.observe(5*time.Second, 1)
	u.e.onTick(u.at(3 * time.Hour))
	wantOps(t, u, "quorum-lost/open")
	u.observe(3*time.Hour+time.Second, 1)
	u.e.onTick(u.at(4*time.Hour + 6*time.Second))
	wantOps(t, u, "quorum-lost/open", "quorum-lost/repeat")
	u.e.onTick(u.at(5 * time.Hour))
	wantOps(t, u, "quorum-lost/open", "quorum-lost/repeat")
	if !strings.Contains(u.got[1].Alert.Text, "1 of 3 nodes up") {
		t.Fatalf("repeat without the latest figures: %q", u.got[1].Alert.Text)
	}
	u.observe(5*time.Hour, 1, 2, 3)
	u.e.onTick(u.at(10 * time.Hour))
	wantOps(t, u, "quorum-lost/open", "quorum-lost/repeat", "quorum-lost/resolve")
}

func failedRun(id string) run.Run {
	r := run.New("leader-failover", run.TriggerSchedule, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r.ID = id
	r.Finish(run.Result{Status: run.StatusFailed,
		Measurements: run.Measurements{"failover_seconds": 22.5, "election_seconds": 1.234, "success_ratio": 0.91},
		Criteria: []run.Criterion{
			run.Judge(run.ElectionSeconds, "<", 15, 1.234),
			run.Judge(run.FailoverSeconds, "<", 15, 22.5),
			run.Judge(run.SuccessRatio, ">", 0.8, 0.91),
		}}, r.StartedAt.Add(time.Minute))
	return r
}

func passedRun(id string) run.Run {
	r := failedRun(id)
	r.Status = run.StatusPassed
	r.Criteria[1].Value, r.Criteria[1].Passed = 2.1, true
	return r
}

func TestThresholdMissedNamesCriterionThresholdAndValue(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	u.e.onRunFinished(failedRun("r1"), u.at(time.Minute))
	wantOps(t, u, "threshold-missed/open")
	a := u.got[0].Alert
	if a.Drill != "leader-failover" || a.RunID != "r1" || len(a.Criteria) != 3 {
		t.Errorf("alert: %+v", a)
	}
	if !strings.Contains(a.Text, "*failover_seconds* 22.5 s (threshold < 15 s)") {
		t.Errorf("text should say which criterion missed by how much: %q", a.Text)
	}
	var failover *Figure
	for i, f := range a.Figures {
		if f.Name == run.FailoverSeconds.Label {
			failover = &a.Figures[i]
		}
	}
	if failover == nil || failover.Value != "22.5 s" || failover.Want != "< 15 s" || failover.OK {
		t.Errorf("failover figure %+v in %+v", failover, a.Figures)
	}
}

func TestThresholdMissedOncePerFiringAndResolvedByAPass(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	u.e.onRunFinished(failedRun("r1"), u.at(time.Minute))
	u.e.onRunFinished(failedRun("r2"), u.at(16*time.Minute))
	u.e.onRunFinished(failedRun("r3"), u.at(31*time.Minute))
	wantOps(t, u, "threshold-missed/open")
	u.e.onRunFinished(passedRun("r4"), u.at(46*time.Minute))
	wantOps(t, u, "threshold-missed/open", "threshold-missed/resolve")
	if !strings.Contains(u.got[1].Resolution, "r4") {
		t.Fatalf("resolution should name the passing run: %q", u.got[1].Resolution)
	}
	u.e.onRunFinished(passedRun("r5"), u.at(61*time.Minute))
	wantOps(t, u, "threshold-missed/open", "threshold-missed/resolve")
}

func TestDataAnomalyEveryRunInsteadOfThresholdMissed(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	r := failedRun("r1")
	r.Anomalies = []run.Anomaly{{Kind: run.KindLostWrite, Count: 3, Detail: "acked, never read back",
		Examples: []run.Example{{Partition: 0, Offset: 12, Seq: 7, Node: 2}}}}
	u.e.onRunFinished(r, u.at(time.Minute))
	r.ID = "r2"
	u.e.onRunFinished(r, u.at(16*time.Minute))
	wantOps(t, u, "data-anomaly/open", "data-anomaly/open")
	if u.got[0].Resolvable {
		t.Fatal("a data anomaly is a fact about a run; it does not resolve")
	}
	a := u.got[0].Alert
	if len(a.Anomalies) != 1 || a.Anomalies[0].Count != 3 || a.Anomalies[0].Examples[0].Offset != 12 ||
		!strings.Contains(a.Text, "lost-write ×3") || len(a.Figures) == 0 {
		t.Errorf("anomaly alert: %+v", a)
	}
}

func TestDrillErrorOpensOnceAndResolvesWhenTheDrillRunsAgain(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	r := failedRun("r1")
	r.Finish(run.Failed(errors.New("cluster unhealthy before drill: nodes [2] are down")), *r.FinishedAt)
	u.e.onRunFinished(r, u.at(time.Minute))
	r.ID = "r2"
	u.e.onRunFinished(r, u.at(16*time.Minute))
	wantOps(t, u, "drill-error/open")
	if !strings.Contains(u.got[0].Alert.Text, "nodes [2] are down") {
		t.Fatalf("drill-error should say why: %q", u.got[0].Alert.Text)
	}
	u.e.onRunFinished(failedRun("r3"), u.at(31*time.Minute))
	wantOps(t, u, "drill-error/open", "drill-error/resolve", "threshold-missed/open")
}

func TestDrillsStaleDeadMansSwitch(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(Settings{QuorumLostAfter: 2, StaleAfter: time.Hour})
	u.e.onTick(u.at(59 * time.Minute))
	wantOps(t, u)
	u.e.onTick(u.at(61 * time.Minute))
	u.e.onTick(u.at(62 * time.Minute))
	wantOps(t, u, "drills-stale/open")
	if !strings.Contains(u.got[0].Alert.Text, "No drill has run at all") {
		t.Fatalf("stale text: %q", u.got[0].Alert.Text)
	}
	u.e.onRunFinished(passedRun("r1"), u.at(70*time.Minute))
	wantOps(t, u, "drills-stale/open", "drills-stale/resolve")
	u.e.onTick(u.at(129 * time.Minute))
	wantOps(t, u, "drills-stale/open", "drills-stale/resolve")
	u.e.onTick(u.at(131 * time.Minute))
	wantOps(t, u, "drills-stale/open", "drills-stale/resolve", "drills-stale/open")

	off := newEngineUnderTest(Settings{QuorumLostAfter: 2})
	off.e.onTick(off.at(100 * time.Hour))
	wantOps(t, off)
}

// A drill that kills a majority on purpose is not an incident; the loss
// becomes a note in the drill's own message.
func TestPlannedMajorityLossIsNotPaged(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	u.plan.Begin("r1", "failure-recovery")
	u.plan.killing(2, u.at(time.Second))
	u.plan.killing(3, u.at(time.Second))
	for i := 1; i <= 6; i++ {
		u.observe(time.Duration(i)*5*time.Second, 1)
	}
	u.plan.restarted(2, u.at(31*time.Second))
	u.plan.restarted(3, u.at(31*time.Second))
	u.observe(35*time.Second, 1, 2, 3)
	wantOps(t, u)
	u.plan.End("r1", u.at(40*time.Second))
	r := failedRun("r1")
	r.Drill = "failure-recovery"
	u.e.onRunFinished(r, u.at(40*time.Second))
	wantOps(t, u, "threshold-missed/open")
	notes := u.got[0].Alert.Notes
	if len(notes) != 1 || !strings.Contains(notes[0], "on purpose") || !strings.Contains(notes[0], "[2 3]") || !strings.Contains(notes[0], "6 probe checks") {
		t.Fatalf("note: %v", notes)
	}

	// The same drill passing: no message at all.
	u.plan.Begin("r2", "failure-recovery")
	u.plan.killing(2, u.at(time.Hour))
	u.plan.killing(3, u.at(time.Hour))
	u.observe(time.Hour+5*time.Second, 1)
	u.observe(time.Hour+10*time.Second, 1)
	u.plan.restarted(2, u.at(time.Hour+11*time.Second))
	u.plan.restarted(3, u.at(time.Hour+11*time.Second))
	// Partitions still electing right after the restart: still the drill's.
	u.observe(time.Hour+15*time.Second, 1, 2)
	u.plan.End("r2", u.at(time.Hour+20*time.Second))
	pass := passedRun("r2")
	pass.Drill = "failure-recovery"
	u.e.onRunFinished(pass, u.at(time.Hour+20*time.Second))
	wantOps(t, u, "threshold-missed/open", "threshold-missed/resolve")
}

// Past the drill's recovery deadline, the same loss pages.
func TestPlannedLossPagesAfterTheRecoveryDeadline(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	u.plan.Begin("r1", "failure-recovery")
	u.plan.killing(2, u.at(0))
	u.plan.killing(3, u.at(0))
	u.plan.End("r1", u.at(10*time.Second)) // ended without restarting them
	for d := 5 * time.Second; d < 40*time.Second; d += 5 * time.Second {
		u.observe(d, 1)
	}
	wantOps(t, u) // within end + 30 s grace
	u.observe(40*time.Second, 1)
	wantOps(t, u)
	u.observe(45*time.Second, 1)
	wantOps(t, u, "quorum-lost/open")
	a := u.got[0].Alert
	if a.Drill != "failure-recovery" || a.RunID != "r1" || !strings.Contains(a.Text, "recovery deadline passed") {
		t.Fatalf("page should name the drill and its deadline: %+v", a)
	}
}

// A node the drill did not kill going down during the drill is real.
func TestUnplannedNodeLossDuringADrillPages(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	u.plan.Begin("r1", "leader-failover")
	u.plan.killing(2, u.at(0))
	u.observe(5*time.Second, 1)
	u.observe(10*time.Second, 1)
	wantOps(t, u, "quorum-lost/open")
}

func TestMaxOutageBoundsAPlannedLoss(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	u.plan.Begin("r1", "failure-recovery")
	u.plan.killing(2, u.at(0))
	u.plan.killing(3, u.at(0))
	u.observe(4*time.Minute, 1)
	u.observe(4*time.Minute+59*time.Second, 1)
	wantOps(t, u)
	u.observe(5*time.Minute+time.Second, 1)
	u.observe(5*time.Minute+6*time.Second, 1)
	wantOps(t, u, "quorum-lost/open")
}

// Nodes back but partitions still leaderless past the grace: that pages,
// and says the drill did restore its nodes.
func TestRestoredNodesButNoQuorumAfterGracePages(t *testing.T) {
	t.Parallel()
	u := newEngineUnderTest(defaultSettings)
	u.plan.Begin("r1", "failure-recovery")
	u.plan.killing(2, u.at(0))
	u.plan.restarted(2, u.at(10*time.Second))
	lost := func(d time.Duration) {
		o := observation(u.at(d), 1, 2, 3)
		o.Available, o.Leaderless = false, []quorum.TopicPartition{{Topic: "raftdrill", Partition: 0}}
		u.e.onObservation(o, u.at(d))
	}
	lost(20 * time.Second)
	lost(35 * time.Second)
	wantOps(t, u) // within restart + 30 s
	lost(41 * time.Second)
	lost(46 * time.Second)
	wantOps(t, u, "quorum-lost/open")
	if !strings.Contains(u.got[0].Alert.Text, "restarted the nodes it had taken down") {
		t.Fatalf("text: %s", u.got[0].Alert.Text)
	}
}
