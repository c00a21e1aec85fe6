package failover_test

import (
	"context"
	"testing"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/run"
)

func TestLeaderFailoverPassesOnHealthySandbox(t *testing.T) {
	t.Parallel()
	cfg := testenv.ShortConfig()
	sb, env := testenv.Env(t, cfg)
	res := testenv.Drill(t, cfg, "leader-failover").Run(context.Background(), env)
	if res.Status != run.StatusPassed {
		t.Fatalf("status %s (error %q), criteria %+v anomalies %+v steps %+v", res.Status, res.Error, res.Criteria, res.Anomalies, res.Steps)
	}
	m := res.Measurements
	if m.Value(run.MessagesLost) != 0 || m.Value(run.MessagesAcked) == 0 || m.Value(run.ElectionSeconds) <= 0 ||
		m.Value(run.FailoverSeconds) < m.Value(run.ElectionSeconds) {
		t.Fatalf("implausible figures: %v", m)
	}
	wantSteps := []string{"preflight", "load-and-kill", "restore", "recovery", "read-back", "classify"}
	if len(res.Steps) != len(wantSteps) {
		t.Fatalf("steps %+v, want %v", res.Steps, wantSteps)
	}
	for i, s := range res.Steps {
		if s.Name != wantSteps[i] || s.Outcome != run.StepPassed {
			t.Fatalf("step %d: %+v", i, s)
		}
	}
	for _, n := range sb.Nodes() {
		if !n.Up {
			t.Fatalf("node %d left down", n.ID)
		}
	}
}

// A drill reads back from where the topic ended before it wrote, so its
// read-back does not grow with the topic's history.
func TestReadBackStartsAtTheRunsOwnOffsets(t *testing.T) {
	t.Parallel()
	cfg := testenv.ShortConfig()
	_, env := testenv.Env(t, cfg)
	topic := cfg.Cluster.Topic
	if err := env.Client.EnsureTopic(topic.Name, topic.Partitions, topic.ReplicationFactor); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.WaitLed(context.Background(), topic.Name, topic.Partitions, cfg.Cluster.RequestTimeout); err != nil {
		t.Fatal(err)
	}
	earlier := env.Client.NewProducer(kafka.ProducerOptions{Topic: topic.Name, Partition: 1, Run: "earlier-run", Size: 100, Leader: -1})
	defer earlier.Close()
	for seq := int64(0); seq < 7; seq++ {
		if s := earlier.Send(seq); s.Outcome != kafka.Acked {
			t.Fatalf("send %d: %v %v", seq, s.Outcome, s.Err)
		}
	}
	from := env.Client.EndOffsets(topic.Name, topic.Partitions)
	if from[1] != 7 || from[0] != 0 {
		t.Fatalf("end offsets %v, want partition 1 at 7 and partition 0 at 0", from)
	}
	this := env.Client.NewProducer(kafka.ProducerOptions{Topic: topic.Name, Partition: 1, Run: "this-run", Size: 100, Leader: -1})
	defer this.Close()
	if s := this.Send(0); s.Outcome != kafka.Acked || s.Offset != 7 {
		t.Fatalf("send: %+v", s)
	}
	leader := kafka.CurrentLeader(env.Client.Views(topic.Name), 1)
	recs, err := env.Client.ReadPartition(context.Background(), leader, topic.Name, 1, from[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Offset != 7 || recs[0].Msg.Run != "this-run" {
		t.Fatalf("read %+v, want only this run's record at offset 7", recs)
	}
}
