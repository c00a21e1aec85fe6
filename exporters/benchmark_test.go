package exporters

import (
	"bytes"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	rdtest "github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/run"
)

// benchmarkRun is a finished benchmark run with figures for both targets.
func benchmarkRun() run.Run {
	r := run.New("benchmark", run.TriggerAPI, time.Now().Add(-time.Second))
	r.Finish(run.Result{
		Status:    run.StatusPassed,
		Latencies: []time.Duration{2 * time.Millisecond, 3 * time.Millisecond},
		Targets: []run.TargetFigures{
			{Target: "cluster", Throughput: map[string]float64{"produce": 3128, "consume": 7234},
				Latency:      map[string]float64{"0.5": 0.00412, "0.95": 0.01834, "0.99": 0.03245},
				LatencyCount: 10000, LatencySum: 52.5},
			{Target: "baseline", Throughput: map[string]float64{"produce": 5234, "consume": 8765},
				Latency:      map[string]float64{"0.5": 0.00234, "0.95": 0.00891, "0.99": 0.01567},
				LatencyCount: 9999, LatencySum: 25.25},
		},
	}, time.Now())
	return r
}

func TestBenchmarkMetricsExistFromStartAndFollowTheLastRun(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, []string{"benchmark"}, nil, nil)
	if n := testutil.CollectAndCount(m.BenchmarkThroughput); n != 4 {
		t.Errorf("%d throughput series at start-up, want cluster and baseline × produce and consume", n)
	}
	zero := summary{quantiles: map[float64]float64{0.5: 0, 0.95: 0, 0.99: 0}}
	for _, target := range run.BenchmarkTargets {
		if got := benchmarkSummary(t, reg, target); !got.equal(zero) {
			t.Errorf("%s at start-up: %+v, want every figure at 0", target, got)
		}
	}

	m.Record(benchmarkRun())
	for _, c := range []struct {
		g    prometheus.Gauge
		want float64
	}{
		{m.BenchmarkThroughput.WithLabelValues("cluster", "produce"), 3128},
		{m.BenchmarkThroughput.WithLabelValues("baseline", "consume"), 8765},
	} {
		if got := testutil.ToFloat64(c.g); got != c.want {
			t.Errorf("%s: %v, want %v", c.g.Desc(), got, c.want)
		}
	}
	for target, want := range map[string]summary{
		"cluster":  {count: 10000, sum: 52.5, quantiles: map[float64]float64{0.5: 0.00412, 0.95: 0.01834, 0.99: 0.03245}},
		"baseline": {count: 9999, sum: 25.25, quantiles: map[float64]float64{0.5: 0.00234, 0.95: 0.00891, 0.99: 0.01567}},
	} {
		if got := benchmarkSummary(t, reg, target); !got.equal(want) {
			t.Errorf("%s: %+v, want %+v", target, got, want)
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

// summary is one series of a summary metric family.
type summary struct {
	count     uint64
	sum       float64
	quantiles map[float64]float64
}

func (s summary) equal(o summary) bool {
	if s.count != o.count || s.sum != o.sum || len(s.quantiles) != len(o.quantiles) {
		return false
	}
	for q, v := range s.quantiles {
		if w, ok := o.quantiles[q]; !ok || w != v {
			return false
		}
	}
	return true
}

// benchmarkSummary is target's raftdrill_benchmark_latency_seconds, which
// must be a summary.
func benchmarkSummary(t *testing.T, reg *prometheus.Registry, target string) summary {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != Namespace+"_benchmark_latency_seconds" {
			continue
		}
		if mf.GetType() != dto.MetricType_SUMMARY {
			t.Fatalf("%s is a %s, want a summary", mf.GetName(), mf.GetType())
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "target" || m.GetLabel()[0].GetValue() != target {
				continue
			}
			s := summary{count: m.GetSummary().GetSampleCount(), sum: m.GetSummary().GetSampleSum(), quantiles: map[float64]float64{}}
			for _, q := range m.GetSummary().GetQuantile() {
				s.quantiles[q.GetQuantile()] = q.GetValue()
			}
			return s
		}
	}
	t.Fatalf("no raftdrill_benchmark_latency_seconds{target=%q}", target)
	return summary{}
}

// promtool lints the whole exposition, as node_exporter's checkmetrics
// does, before any run and after one; any output is a finding.
func TestPromtoolAcceptsTheExposition(t *testing.T) {
	t.Parallel()
	promtool := rdtest.RequireTool(t, "promtool")
	reg := prometheus.NewRegistry()
	m := New(reg, []string{"benchmark"}, map[string][]string{"benchmark": {"errors"}}, []int32{1, 2, 3})
	check := func(when string) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var text bytes.Buffer
		enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = &text
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("promtool check metrics %s: %v\n%s", when, err, out)
		}
	}
	check("at start-up")
	m.Record(benchmarkRun())
	check("after a benchmark run")
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
