package exporters

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/probes"
)

func TestBenchmarkGaugesExistFromStartAndFollowTheLastRun(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, Build{Version: "test"}, []string{"benchmark"}, nil, nil)
	if n := testutil.CollectAndCount(m.BenchmarkThroughput); n != 4 {
		t.Errorf("%d throughput series at start-up, want cluster and baseline × produce and consume", n)
	}
	if n := testutil.CollectAndCount(m.BenchmarkLatency); n != 6 {
		t.Errorf("%d latency series at start-up, want cluster and baseline × 0.5, 0.95, 0.99", n)
	}

	now := time.Now()
	m.Record("benchmark", now.Add(-time.Second), now, probes.Result{
		Status:    probes.StatusPassed,
		Latencies: []time.Duration{2 * time.Millisecond, 3 * time.Millisecond},
		Targets: []probes.TargetFigures{
			{Target: "cluster", Throughput: map[string]float64{"produce": 3128, "consume": 7234},
				Latency: map[string]float64{"0.5": 0.00412, "0.95": 0.01834, "0.99": 0.03245}},
			{Target: "baseline", Throughput: map[string]float64{"produce": 5234, "consume": 8765},
				Latency: map[string]float64{"0.5": 0.00234, "0.95": 0.00891, "0.99": 0.01567}},
		},
	})
	for _, c := range []struct {
		g    prometheus.Gauge
		want float64
	}{
		{m.BenchmarkThroughput.WithLabelValues("cluster", "produce"), 3128},
		{m.BenchmarkThroughput.WithLabelValues("baseline", "consume"), 8765},
		{m.BenchmarkLatency.WithLabelValues("cluster", "0.99"), 0.03245},
		{m.BenchmarkLatency.WithLabelValues("baseline", "0.5"), 0.00234},
	} {
		if got := testutil.ToFloat64(c.g); got != c.want {
			t.Errorf("%s: %v, want %v", c.g.Desc(), got, c.want)
		}
	}
	// Every ack latency lands in the cumulative histogram too.
	if n := testutil.CollectAndCount(m.ProduceLatency, Namespace+"_produce_latency_seconds"); n != 1 {
		t.Fatalf("produce latency series: %d", n)
	}
	count, err := histogramCount(reg, Namespace+"_produce_latency_seconds")
	if err != nil || count != 2 {
		t.Errorf("produce latency histogram has %d samples (%v), want 2", count, err)
	}
}

func histogramCount(reg *prometheus.Registry, name string) (uint64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				return m.GetHistogram().GetSampleCount(), nil
			}
		}
	}
	return 0, nil
}
