package recovery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/cluster/message"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/daemon/report"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/recovery"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/sandbox"
)

func TestFailureRecoveryPassesOnHealthySandbox(t *testing.T) {
	cfg := testenv.ShortConfig()
	sb, env := testenv.Env(t, cfg)
	if err := env.Client.EnsureTopic(cfg.Cluster.Topic.Name, cfg.Cluster.Topic.Partitions, cfg.Cluster.Topic.ReplicationFactor); err != nil {
		t.Fatal(err)
	}
	leaderBefore, _, _ := sb.Leader(cfg.Cluster.Topic.Name, testenv.FR(cfg).TargetPartition)
	var progress []string
	env.Progress = func(msg string) { progress = append(progress, msg) }
	res := testenv.Drill(t, cfg, "failure-recovery").Run(context.Background(), env)
	for _, s := range res.Steps {
		t.Logf("%-14s %-6s %6.3fs %s", s.Name, s.Outcome, s.Seconds, s.Detail)
	}
	if res.Status != run.StatusPassed {
		t.Fatalf("status %s (error %q), criteria %+v anomalies %+v", res.Status, res.Error, res.Criteria, res.Anomalies)
	}
	wantSteps := []string{"preflight", "produce", "follower-loss", "leader-loss", "majority-loss", "recovery", "read-back", "classify"}
	if len(res.Steps) != len(wantSteps) {
		t.Fatalf("steps %+v, want %v", res.Steps, wantSteps)
	}
	for i, s := range res.Steps {
		if s.Name != wantSteps[i] || s.Outcome != run.StepPassed || s.StartedAt.IsZero() || s.Detail == "" {
			t.Fatalf("step %d: %+v", i, s)
		}
	}
	m := res.Measurements
	fr := testenv.FR(cfg)
	// The leader was killed under the load, acks=all: writes flowed (acks
	// before the kill), and every one acked is in the committed log.
	load := killLoad(t, res.Steps[3].Detail)
	if fr.KillLoadRate <= 0 || load.sent == 0 || load.ackedBeforeKill == 0 {
		t.Fatalf("leader-loss step: no writes through the kill: %s", res.Steps[3].Detail)
	}
	// produce, follower, leader, majority, recovery, and the load's writes
	wantSent := float64(fr.Messages + 4*fr.Batch + load.sent)
	if m["messages_sent"] != wantSent || m["acked_recovered_ratio"] != 1 || m["messages_lost"] != 0 ||
		m["nodes_recovered"] != 3 || m["election_seconds"] <= 0 || m["recovery_seconds"] <= 0 {
		t.Fatalf("implausible figures (want %v sent): %v", wantSent, m)
	}
	// The majority-loss batch must have been refused in full, and seen to be.
	for _, c := range res.Criteria {
		if (c.Name == "majority_loss_acked" && c.Value != 0) || (c.Name == "quorum_loss_observed" && c.Value != 1) {
			t.Fatalf("majority loss: %+v", c)
		}
	}
	if !strings.Contains(res.Steps[4].Detail, "0 acked") || !strings.Contains(res.Steps[4].Detail, "quorum loss observed") {
		t.Fatalf("majority-loss step: %s", res.Steps[4].Detail)
	}
	follower, leader := int32(m["killed_follower"]), int32(m["killed_leader"])
	if follower == leader || follower < 1 || leader < 1 {
		t.Fatalf("follower %d and leader %d must be two different nodes", follower, leader)
	}
	// Killing a follower of the target moves none of its leadership, so
	// the node killed as leader must be the one that led it all along.
	if leader != leaderBefore {
		t.Fatalf("killed node %d as leader of partition %d, but node %d led it", leader, fr.TargetPartition, leaderBefore)
	}
	for _, n := range sb.Nodes() {
		if !n.Up {
			t.Fatalf("node %d left down", n.ID)
		}
	}
	if !strings.Contains(strings.Join(progress, "\n"), "STEP 5: kill one more node") {
		t.Fatalf("progress does not tell the steps:\n%s", strings.Join(progress, "\n"))
	}
	// Steps are part of the run's JSON.
	b, _ := json.Marshal(res)
	if !strings.Contains(string(b), `"steps":[{"name":"preflight","started_at":`) {
		t.Fatalf("steps missing from JSON: %s", b)
	}
}

// loadFigures are the figures of the writes through the leader kill, as the
// leader-loss step's detail gives them.
type loadFigures struct{ sent, acked, ackedBeforeKill int }

var loadDetail = regexp.MustCompile(`writes through the kill \([^)]*\): (\d+) sent, (\d+) acked .*?, (\d+) of the acks before the kill`)

func killLoad(t *testing.T, detail string) loadFigures {
	t.Helper()
	m := loadDetail.FindStringSubmatch(detail)
	if m == nil {
		t.Fatalf("leader-loss step tells no figures of the writes through the kill: %s", detail)
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return loadFigures{sent: n(m[1]), acked: n(m[2]), ackedBeforeKill: n(m[3])}
}

// A clean sandbox, drilled many times, must report no anomaly at all
// (anomalies.md, rule 2): 20 drills in a row on one sandbox, leader-failover
// and failure-recovery (with majority loss) alternating, timings cut so
// that each takes one to two seconds. make bench-soak runs 50 and more.
func TestNoFalsePositivesIn20Drills(t *testing.T) {
	const drills = 20
	cfg := testenv.ShortConfig()
	testenv.Sandbox(cfg).ElectionTimeoutMin = 100 * time.Millisecond
	testenv.Sandbox(cfg).ElectionTimeoutMax = 200 * time.Millisecond
	lf := testenv.LF(cfg)
	lf.ProduceDuration = 1200 * time.Millisecond
	lf.KillAfter = 400 * time.Millisecond
	lf.MessageSize = 256
	fr := testenv.FR(cfg)
	fr.Messages = 150
	_, env := testenv.Env(t, cfg)
	start := time.Now()
	var acked, sent float64
	for i := range drills {
		name := []string{"leader-failover", "failure-recovery"}[i%2]
		env.RunID = fmt.Sprintf("fp-%02d", i)
		began := time.Now()
		res := testenv.Drill(t, cfg, name).Run(context.Background(), env)
		if len(res.Anomalies) > 0 || res.Error != "" {
			t.Fatalf("drill %d (%s): false positive: anomalies %+v, error %q, steps %+v", i, name, res.Anomalies, res.Error, res.Steps)
		}
		// Criteria about data must hold; ones about availability (ack
		// ratios over a one-second load) depend on how leadership happens
		// to be spread and on a noisy machine, and are only logged.
		for _, c := range res.Criteria {
			if c.Passed {
				continue
			}
			switch c.Name {
			case "messages_lost", "messages_corrupted", "anomalies", "acked_recovered_ratio", "nodes_recovered", "cluster_recovered":
				t.Fatalf("drill %d (%s): data criterion %s failed: %+v steps %+v", i, name, c.Name, c, res.Steps)
			default:
				t.Logf("drill %d (%s): availability criterion %s missed (%v %s %v)", i, name, c.Name, c.Value, c.Op, c.Threshold)
			}
		}
		acked += res.Measurements.Value(run.MessagesAcked)
		sent += res.Measurements.Value(run.MessagesSent)
		t.Logf("drill %2d %-16s %s in %.2fs", i, name, res.Status, time.Since(began).Seconds())
	}
	t.Logf("%d drills, %.0f messages sent, %.0f acked, 0 anomalies, in %s", drills, sent, acked, time.Since(start).Round(time.Millisecond))
}

// An unhealthy cluster is not drilled: the run is an error and nothing is
// killed (the guide's test went ahead regardless).
func TestFailureRecoveryRefusesAnUnhealthyCluster(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, sb *sandbox.Cluster, cfg *config.Config)
		want  string
	}{
		{"a node down", func(t *testing.T, sb *sandbox.Cluster, _ *config.Config) {
			if err := sb.Kill(context.Background(), 3); err != nil {
				t.Fatal(err)
			}
		}, "nodes [3] are down"},
		{"too few replicas to lose a leader", func(_ *testing.T, _ *sandbox.Cluster, cfg *config.Config) {
			cfg.Cluster.Topic.Name = "rf2"
			cfg.Cluster.Topic.ReplicationFactor = 2
		}, "needs at least 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testenv.ShortConfig()
			sb, env := testenv.Env(t, cfg)
			tc.setup(t, sb, cfg)
			before := len(sb.Timeline())
			res := testenv.Drill(t, cfg, "failure-recovery").Run(context.Background(), env)
			if res.Status != run.StatusError || !strings.Contains(res.Error, tc.want) {
				t.Fatalf("status %s error %q, want error containing %q", res.Status, res.Error, tc.want)
			}
			if len(res.Steps) != 1 || res.Steps[0].Name != "preflight" || res.Steps[0].Outcome != run.StepFailed {
				t.Fatalf("steps %+v", res.Steps)
			}
			for _, e := range sb.Timeline()[before:] {
				if e.Kind == sandbox.EventKill {
					t.Fatalf("killed node %d after a failed preflight", e.Node)
				}
			}
		})
	}
}

// A drill cut short brings back every node it stopped.
func TestFailureRecoveryCancelledRestoresNodes(t *testing.T) {
	cfg := testenv.ShortConfig()
	sb, env := testenv.Env(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env.Progress = func(msg string) {
		// Cancel once the leader is dead: two kills to undo.
		if strings.HasPrefix(msg, "STEP 5:") {
			cancel()
		}
	}
	res := testenv.Drill(t, cfg, "failure-recovery").Run(ctx, env)
	if res.Status != run.StatusError || !strings.Contains(res.Error, "cancelled") {
		t.Fatalf("status %s error %q", res.Status, res.Error)
	}
	if last := res.Steps[len(res.Steps)-1]; last.Name != "majority-loss" || last.Outcome != run.StepFailed {
		t.Fatalf("last step %+v", last)
	}
	kills := 0
	for _, e := range sb.Timeline() {
		if e.Kind == sandbox.EventKill {
			kills++
		}
	}
	if kills != 2 {
		t.Fatalf("%d kills, want the follower's and the leader's only", kills)
	}
	for _, n := range sb.Nodes() {
		if !n.Up {
			t.Fatalf("node %d left down after a cancelled drill", n.ID)
		}
	}
}

// Majority loss runs by default; a cluster where it must be off says so in
// config, and then the run says the step and its criteria were not tested
// rather than imply they passed.
func TestMajorityLossOffIsNotTested(t *testing.T) {
	t.Parallel()
	if !recovery.Defaults().Steps.MajorityLoss {
		t.Fatal("steps.majority_loss must be on by default")
	}
	cfg := testenv.ShortConfig()
	testenv.FR(cfg).Steps.MajorityLoss = false
	_, env := testenv.Env(t, cfg)
	d := testenv.Drill(t, cfg, "failure-recovery")
	res := d.Run(context.Background(), env)
	if res.Status != run.StatusPassed {
		t.Fatalf("status %s, anomalies %+v, criteria %+v", res.Status, res.Anomalies, res.Criteria)
	}
	if s := res.Steps[4]; s.Name != "majority-loss" || s.Outcome != run.StepNotTested {
		t.Fatalf("step 5: %+v", s)
	}
	for _, c := range res.Criteria {
		if c.Name == run.MajorityLossAcked.Key || c.Name == run.QuorumLossObserved.Key {
			t.Fatalf("criterion %s judged although its step did not run", c.Name)
		}
	}
	if len(res.NotTested) != 1 || !strings.Contains(res.NotTested[0].What, "majority_loss_acked") ||
		!strings.Contains(res.NotTested[0].Why, "steps.majority_loss is off") {
		t.Fatalf("not_tested: %+v", res.NotTested)
	}
	r := run.New("failure-recovery", run.TriggerCLI, time.Now())
	r.Finish(res, time.Now())
	var out bytes.Buffer
	report.Write(&out, r)
	if !strings.Contains(out.String(), "NOT TESTED\n  majority loss") || !strings.Contains(out.String(), "[NOT TESTED] drills.failure-recovery.steps.majority_loss is off") {
		t.Fatalf("report:\n%s", out.String())
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"not_tested":[{"what":"majority loss`) {
		t.Fatalf("run JSON: %s", b)
	}
}

// loseOnLeaderKill is the sandbox's controller with one change: for the
// first kill after armed is set (the leader-loss step's), it waits until
// the last k records the partition has committed are writes of run (the
// load through the kill), then kills the node with the sandbox's fault
// lose_acked_on_kill k, which takes the last k committed records of each
// partition the node led. With a topic of one partition, what the fault
// takes is then writes of the load, and nothing else.
type loseOnLeaderKill struct {
	control.Controller
	t     *testing.T
	sb    *sandbox.Cluster
	topic string
	run   string
	k     int
	armed bool
	fired bool
}

func (c *loseOnLeaderKill) Kill(ctx context.Context, id int32) error {
	if !c.armed || c.fired {
		return c.Controller.Kill(ctx, id)
	}
	c.fired = true
	testutil.WaitFor(c.t, fmt.Sprintf("the last %d records node %d committed to be writes of %s", c.k, id, c.run), 10*time.Second, func() bool {
		recs, err := c.sb.Log(id, c.topic, 0)
		if err != nil || len(recs) < c.k {
			return false
		}
		for _, r := range recs[len(recs)-c.k:] {
			if m, err := message.Decode(r.Value); err != nil || !m.Valid || m.Run != c.run {
				return false
			}
		}
		return true
	})
	c.sb.SetFaults(sandbox.Faults{LoseAckedOnKill: c.k})
	defer c.sb.SetFaults(sandbox.Faults{})
	return c.Controller.Kill(ctx, id)
}

// With acks=1, writes acked through the leader kill can be lost, and the
// drill must say so. Which ones a kill loses is a matter of timing; here
// the sandbox's lose_acked_on_kill takes the last k writes the partition
// committed, which the test first sees to be writes of the load: at least
// those k acked writes are lost, only writes of the load can be (no other
// write is under a kill), and the run fails naming them lost-write.
func TestWritesLostThroughTheLeaderKillAreCaught(t *testing.T) {
	const k = 4
	cfg := testenv.ShortConfig()
	cfg.Cluster.Topic.Name = "kill-load"
	cfg.Cluster.Topic.Partitions = 1 // the killed leader leads nothing else
	fr := testenv.FR(cfg)
	fr.Acks = "1"
	fr.Steps.MajorityLoss = false // acks=1 goes only without it
	if ps := cfg.Validate(); len(ps) > 0 {
		t.Fatalf("config: %v", ps)
	}
	sb, env := testenv.Env(t, cfg)
	ctl := &loseOnLeaderKill{Controller: env.Control, t: t, sb: sb, topic: cfg.Cluster.Topic.Name, run: env.RunID + "-kill-load", k: k}
	env.Control = ctl
	env.Progress = func(msg string) {
		if strings.HasPrefix(msg, "STEP 4:") {
			ctl.armed = true
		}
	}
	res := testenv.Drill(t, cfg, "failure-recovery").Run(context.Background(), env)
	for _, s := range res.Steps {
		t.Logf("%-14s %-6s %6.3fs %s", s.Name, s.Outcome, s.Seconds, s.Detail)
	}
	if !ctl.fired {
		t.Fatal("the leader-loss step killed no node")
	}
	if res.Status != run.StatusFailed || res.Error != "" {
		t.Fatalf("status %s (error %q), want failed", res.Status, res.Error)
	}
	if load := killLoad(t, res.Steps[3].Detail); load.ackedBeforeKill < k {
		t.Fatalf("%d writes of the load acked before the kill, but the fault took %d of them", load.ackedBeforeKill, k)
	}
	lost := res.Measurements.Value(run.MessagesLost)
	if len(res.Anomalies) != 1 || res.Anomalies[0].Kind != run.KindLostWrite || res.Anomalies[0].Count < k || float64(res.Anomalies[0].Count) != lost {
		t.Fatalf("want lost-write ×%d or more (messages_lost %v), got %+v", k, lost, res.Anomalies)
	}
	for _, ex := range res.Anomalies[0].Examples {
		if ex.Partition != 0 || ex.Node != int32(res.Measurements.Value(run.KilledLeader)) {
			t.Fatalf("lost write %+v: not acked by the killed leader of partition 0", ex)
		}
	}
	for _, c := range res.Criteria {
		if (c.Name == run.AnomalyCount.Key || c.Name == run.AckedRecovered.Key) && c.Passed {
			t.Fatalf("criterion %s passed: %+v", c.Name, c)
		}
	}
	if s := res.Steps[len(res.Steps)-1]; s.Outcome != run.StepFailed || !strings.Contains(s.Detail, "lost-write") {
		t.Fatalf("classify: %+v", s)
	}
}
