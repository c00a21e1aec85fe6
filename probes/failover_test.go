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
