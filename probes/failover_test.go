package probes

import (
	"context"
	"testing"
)

func TestLeaderFailoverPassesOnHealthySandbox(t *testing.T) {
	cfg := shortConfig()
	sb, env := startSandbox(t, cfg)
	res := Drills["leader-failover"](cfg).Run(context.Background(), env)
	t.Logf("result: %+v", res)
	if res.Status != StatusPassed {
		t.Fatalf("status %s (error %q), criteria %+v anomalies %+v", res.Status, res.Error, res.Criteria, res.Anomalies)
	}
	m := res.Measurements
	if m["messages_lost"] != 0 || m["messages_acked"] == 0 || m["election_seconds"] <= 0 || m["failover_seconds"] < m["election_seconds"] {
		t.Fatalf("implausible figures: %v", m)
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
	cfg := shortConfig()
	_, env := startSandbox(t, cfg)
	topic := cfg.Cluster.Topic
	if err := env.Client.EnsureTopic(context.Background(), topic.Name, topic.Partitions, topic.ReplicationFactor); err != nil {
		t.Fatal(err)
	}
	pp := env.Client.newPartProducer(topic.Name, 1, "earlier-run", 100)
	defer pp.close()
	for seq := int64(0); seq < 7; seq++ {
		if s := pp.send(seq); s.Outcome != Acked {
			t.Fatalf("send %d: %v %v", seq, s.Outcome, s.Err)
		}
	}
	from := env.Client.EndOffsets(context.Background(), topic.Name, topic.Partitions)
	if from[1] != 7 || from[0] != 0 {
		t.Fatalf("end offsets %v, want partition 1 at 7 and partition 0 at 0", from)
	}
	pp.run = "this-run"
	if s := pp.send(0); s.Outcome != Acked || s.Offset != 7 {
		t.Fatalf("send: %+v", s)
	}
	leader := currentLeader(env.Client.Views(context.Background(), topic.Name), 1)
	recs, err := env.Client.ReadPartition(context.Background(), leader, topic.Name, 1, from[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Offset != 7 || recs[0].Msg.Run != "this-run" {
		t.Fatalf("read %+v, want only this run's record at offset 7", recs)
	}
}
