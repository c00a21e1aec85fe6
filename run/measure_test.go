package run

import (
	"math"
	"testing"
)

// Every place a figure is written (report, status page, Slack) writes it
// the same way: its unit's.
func TestFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m    Measure
		v    float64
		want string
	}{
		{FailoverSeconds, 0.4123, "412.3 ms"},
		{FailoverSeconds, 0, "0 ms"},
		{FailoverSeconds, 16.2, "16.2 s"},
		{FailoverSeconds, 15, "15 s"},
		{FailoverSeconds, 1.6004667399999999, "1.6 s"},
		{FailoverSeconds, 1.961, "1.961 s"},
		{FailoverSeconds, math.Inf(1), "not measured"},
		{FailoverSeconds, NotMeasured, "not measured"},
		{SuccessRatio, 0.9876, "98.8 %"},
		{LatencyP99Ratio, 3, "300.0 %"},
		{ProduceThroughput, 1234.4, "1234 msg/s"},
		{MessagesLost, 3, "3"},
		{MessageBytes, 1024, "1024 B"},
		{NodeRSSTotal, 3 << 20, "3.0 MiB"},
		{NodeCPUAvg, 55.55, "55.5 %"},
		{KilledNode, 2, "2"},
	} {
		if got := tc.m.Format(tc.v); got != tc.want {
			t.Errorf("%s.Format(%v) = %q, want %q", tc.m.Key, tc.v, got, tc.want)
		}
	}
}

func TestLookupFindsDerivedKeys(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]Measure{
		"failover_seconds":             FailoverSeconds,
		"baseline_latency_p99_seconds": LatencyP99.Baseline(),
		"node_2_cpu_percent":           NodeCPU.ForNode(2),
		"baseline_node_3_rss_bytes":    NodeRSS.ForNode(3).Baseline(),
	} {
		got := Lookup(key)
		if got.Key != key || got.Unit != want.Unit || got.Label != want.Label {
			t.Errorf("Lookup(%q) = %+v, want %+v", key, got, want)
		}
	}
	if m := Lookup("something_new"); m.Unit != Count || m.Label != "Something new" {
		t.Errorf("an unknown key: %+v", m)
	}
}

func TestKeyFiguresInTableOrder(t *testing.T) {
	t.Parallel()
	ms := Measurements{"messages_sent": 3, "failover_seconds": 1, "kill_seconds": 0, "election_seconds": 0.5}
	var got []string
	for _, m := range KeyFigures(ms) {
		got = append(got, m.Key)
	}
	if want := []string{"election_seconds", "failover_seconds", "messages_sent"}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("key figures %v, want %v", got, want)
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	if c := Judge(FailoverSeconds, "<", 15, 16); c.Passed || c.Unit != "s" || c.Describe() != "failover 16 s, must be < 15 s" {
		t.Fatalf("%+v %q", c, c.Describe())
	}
	if c := Judge(SuccessRatio, ">", 0.8, 0.9); !c.Passed || c.Unit != "" {
		t.Fatalf("%+v", c)
	}
	if c := Judge(ElectionSeconds, "<", 15, NotMeasured); c.Passed {
		t.Fatalf("a figure never measured passed: %+v", c)
	}
}

func TestFinishStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		res  Result
		want string
	}{
		{Result{}, StatusPassed},
		{Result{Criteria: []Criterion{Judge(MessagesLost, "<=", 0, 1)}}, StatusFailed},
		{Result{Error: "boom"}, StatusError},
		// What the cluster did wrong outranks what stopped the drill.
		{Result{Error: "boom", Anomalies: []Anomaly{{Kind: KindLostWrite, Count: 1}}}, StatusFailed},
	} {
		tc.res.Finish()
		if tc.res.Status != tc.want {
			t.Errorf("%+v: status %s, want %s", tc.res, tc.res.Status, tc.want)
		}
	}
}
