package exporters

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftdrill/raftdrill/run"
)

// BenchmarkLatency is raftdrill_benchmark_latency_seconds: for each target
// (cluster, baseline), the produce latencies of the last benchmark run as a
// summary — its p50, p95 and p99, the number of acked messages (_count)
// and the sum of their latencies (_sum).
//
// A summary, because a series with a quantile label is one: as a gauge,
// promtool check metrics rejects it. Not a prometheus.Summary, whose
// quantiles are estimated over a sliding window of observations: these are
// the run's own figures, exact from its HDR histogram, and stay until the
// next run. Every series exists from start-up, at zero.
type BenchmarkLatency struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	last map[string]run.TargetFigures // by target
}

// benchmarkQuantiles are run.BenchmarkQuantiles as numbers; the summary
// writes them back in the same form ("0.5", "0.95", "0.99").
var benchmarkQuantiles = func() map[string]float64 {
	qs := map[string]float64{}
	for _, s := range run.BenchmarkQuantiles {
		q, err := strconv.ParseFloat(s, 64)
		if err != nil {
			panic("benchmark quantile " + s + ": " + err.Error())
		}
		qs[s] = q
	}
	return qs
}()

func newBenchmarkLatency() *BenchmarkLatency {
	return &BenchmarkLatency{
		desc: prometheus.NewDesc(Namespace+"_benchmark_latency_seconds",
			"Produce latency (send to acks=all ack) of the last benchmark run, by target: quantiles 0.5, 0.95, 0.99, and the count and sum of the acked messages' latencies; every sample is in raftdrill_produce_latency_seconds.",
			[]string{"target"}, nil),
		last: map[string]run.TargetFigures{},
	}
}

// Set replaces target f.Target's figures with f's.
func (c *BenchmarkLatency) Set(f run.TargetFigures) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last[f.Target] = f
}

func (c *BenchmarkLatency) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *BenchmarkLatency) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range run.BenchmarkTargets {
		f := c.last[t] // zero before the first run
		qs := make(map[float64]float64, len(benchmarkQuantiles))
		for s, q := range benchmarkQuantiles {
			qs[q] = f.Latency[s]
		}
		ch <- prometheus.MustNewConstSummary(c.desc, f.LatencyCount, f.LatencySum, qs, t)
	}
}
