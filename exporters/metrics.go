package exporters

import (
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/probes"
)

// Namespace prefixes every metric name.
const Namespace = "raftdrill"

// Results of a drill run, as label values.
var Results = []string{probes.StatusPassed, probes.StatusFailed, probes.StatusError}

// Message outcomes counted per drill, with the measurement each comes from.
var messageOutcomes = []struct{ outcome, measurement string }{
	{"sent", "messages_sent"},
	{"acked", "messages_acked"},
	{"failed", "messages_failed"},
	{"consumed", "messages_consumed"},
	{"lost", "messages_lost"},
	{"duplicated", "messages_duplicated"},
	{"corrupted", "messages_corrupted"},
}

// Failover phases and the measurement each comes from.
var phases = []struct{ phase, measurement string }{
	{"election", "election_seconds"},
	{"write_recovery", "failover_seconds"},
}

// Metrics holds every metric raftdrill exports. It is fed from run results
// (Record) and probe observations; nothing else writes metrics.
type Metrics struct {
	BuildInfo            *prometheus.GaugeVec
	RunsTotal            *prometheus.CounterVec
	InProgress           *prometheus.GaugeVec
	Duration             *prometheus.HistogramVec
	LastRun              *prometheus.GaugeVec
	LastSuccess          *prometheus.GaugeVec
	FailoverDuration     *prometheus.HistogramVec
	LastFailover         *prometheus.GaugeVec
	Messages             *prometheus.CounterVec
	LastSuccessRatio     *prometheus.GaugeVec
	ProduceLatency       *prometheus.HistogramVec
	CriterionPassed      *prometheus.GaugeVec
	ThresholdBreaches    *prometheus.CounterVec
	Anomalies            *prometheus.CounterVec
	SkippedRuns          *prometheus.CounterVec
	QuorumAvailable      prometheus.Gauge
	NodeUp               *prometheus.GaugeVec
	PartitionsLeaderless prometheus.Gauge
	AlertsSent           *prometheus.CounterVec
	AlertsQueued         prometheus.Gauge
	BenchmarkThroughput  *prometheus.GaugeVec
	BenchmarkLatency     *BenchmarkLatency
}

// Build identifies this binary in raftdrill_build_info.
type Build struct {
	Version string
	Commit  string
}

// New creates every metric on reg and creates each known labelled series at
// zero, so dashboards and rules see 0 rather than "no data" before anything
// has happened. criteria maps each drill to its criterion names.
func New(reg prometheus.Registerer, build Build, drills []string, criteria map[string][]string, nodes []int32) *Metrics {
	m := &Metrics{
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "build_info",
			Help: "A constant 1, labelled with the version of raftdrill and the Go version it was built with.",
		}, []string{"version", "goversion", "commit"}),
		RunsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "drill_runs_total",
			Help: "Drill runs finished, by drill and result (passed, failed, error).",
		}, []string{"drill", "result"}),
		InProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "drill_in_progress",
			Help: "1 while a drill of this kind runs.",
		}, []string{"drill"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "drill_duration_seconds",
			Help:    "Wall time of drill runs.",
			Buckets: []float64{1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600},
		}, []string{"drill"}),
		LastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "drill_last_run_timestamp_seconds",
			Help: "Unix time the last run of this drill finished.",
		}, []string{"drill"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "drill_last_success_timestamp_seconds",
			Help: "Unix time the last passed run of this drill finished.",
		}, []string{"drill"}),
		FailoverDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "failover_duration_seconds",
			Help:    "Time from killing a leader to a new leader elected (phase=election) and to the first acked write (phase=write_recovery).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60},
		}, []string{"drill", "phase"}),
		LastFailover: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "last_failover_duration_seconds",
			Help: "Failover time of the last run that measured one, by phase.",
		}, []string{"drill", "phase"}),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "messages_total",
			Help: "Drill messages by outcome: sent, acked, failed, consumed, lost, duplicated, corrupted.",
		}, []string{"drill", "outcome"}),
		LastSuccessRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "last_success_ratio",
			Help: "Acked over sent in the last run of the drill.",
		}, []string{"drill"}),
		ProduceLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "produce_latency_seconds",
			Help:    "Latency from send to ack of every acked drill write (acks=all).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18), // 100µs .. ~13s
		}, []string{"drill"}),
		CriterionPassed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "criterion_passed",
			Help: "1 if the criterion passed in the last run that evaluated it, 0 if not.",
		}, []string{"drill", "criterion"}),
		ThresholdBreaches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "threshold_breaches_total",
			Help: "Runs in which the criterion failed.",
		}, []string{"drill", "criterion"}),
		Anomalies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "anomalies_total",
			Help: "Data and leadership anomalies found by drills, by kind (see docs/anomalies.md).",
		}, []string{"drill", "kind"}),
		SkippedRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "drill_skipped_total",
			Help: "Scheduled runs skipped because another drill was running.",
		}, []string{"drill"}),
		QuorumAvailable: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "quorum_available",
			Help: "1 if a majority of nodes is up and every watched partition has a live leader.",
		}),
		NodeUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "node_up",
			Help: "1 if the node answered a Kafka ApiVersions request in time.",
		}, []string{"node"}),
		PartitionsLeaderless: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "partitions_without_leader",
			Help: "Watched partitions that no live node names a live leader for.",
		}),
		AlertsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "alerts_sent_total",
			Help: "Alert deliveries by kind and result (sent, retry, failed, dropped, disabled; see docs/alerts.md).",
		}, []string{"kind", "result"}),
		AlertsQueued: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "alerts_queue_length",
			Help: "Alert messages waiting for Slack; above 0 for long means Slack is not accepting them.",
		}),
		BenchmarkThroughput: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "benchmark_throughput_messages_per_second",
			Help: "Throughput of the last benchmark run, by target (cluster, baseline) and op (produce, consume).",
		}, []string{"target", "op"}),
		BenchmarkLatency: newBenchmarkLatency(),
	}
	reg.MustRegister(m.BuildInfo, m.RunsTotal, m.InProgress, m.Duration, m.LastRun, m.LastSuccess,
		m.FailoverDuration, m.LastFailover, m.Messages, m.LastSuccessRatio, m.ProduceLatency,
		m.CriterionPassed, m.ThresholdBreaches, m.Anomalies, m.SkippedRuns,
		m.QuorumAvailable, m.NodeUp, m.PartitionsLeaderless, m.AlertsSent, m.AlertsQueued,
		m.BenchmarkThroughput, m.BenchmarkLatency)

	m.BuildInfo.WithLabelValues(build.Version, runtime.Version(), build.Commit).Set(1)
	for _, d := range drills {
		for _, r := range Results {
			m.RunsTotal.WithLabelValues(d, r)
		}
		m.InProgress.WithLabelValues(d)
		m.Duration.WithLabelValues(d)
		m.LastRun.WithLabelValues(d)
		m.LastSuccess.WithLabelValues(d)
		for _, ph := range phases {
			m.FailoverDuration.WithLabelValues(d, ph.phase)
			m.LastFailover.WithLabelValues(d, ph.phase)
		}
		for _, o := range messageOutcomes {
			m.Messages.WithLabelValues(d, o.outcome)
		}
		m.LastSuccessRatio.WithLabelValues(d)
		m.ProduceLatency.WithLabelValues(d)
		for _, c := range criteria[d] {
			m.CriterionPassed.WithLabelValues(d, c)
			m.ThresholdBreaches.WithLabelValues(d, c)
		}
		for _, k := range probes.AnomalyKinds {
			m.Anomalies.WithLabelValues(d, k)
		}
		m.SkippedRuns.WithLabelValues(d)
	}
	for _, t := range probes.BenchmarkTargets {
		for _, op := range probes.BenchmarkOps {
			m.BenchmarkThroughput.WithLabelValues(t, op)
		}
	}
	for _, n := range nodes {
		m.NodeUp.WithLabelValues(NodeLabel(n))
	}
	for _, k := range alerts.Kinds {
		for _, r := range alerts.Results {
			m.AlertsSent.WithLabelValues(k, r)
		}
	}
	return m
}

// NodeLabel is the node label value for a node id.
func NodeLabel(id int32) string { return strconv.Itoa(int(id)) }

// Started marks a drill as running.
func (m *Metrics) Started(drill string) { m.InProgress.WithLabelValues(drill).Set(1) }

// Skipped counts a scheduled run skipped because another drill ran.
func (m *Metrics) Skipped(drill string) { m.SkippedRuns.WithLabelValues(drill).Inc() }

// Record feeds the metrics from one finished run.
func (m *Metrics) Record(drill string, started, finished time.Time, r probes.Result) {
	m.InProgress.WithLabelValues(drill).Set(0)
	m.RunsTotal.WithLabelValues(drill, r.Status).Inc()
	m.Duration.WithLabelValues(drill).Observe(finished.Sub(started).Seconds())
	m.LastRun.WithLabelValues(drill).Set(float64(finished.Unix()))
	if r.Status == probes.StatusPassed {
		m.LastSuccess.WithLabelValues(drill).Set(float64(finished.Unix()))
	}
	for _, ph := range phases {
		if v, ok := r.Measurements[ph.measurement]; ok {
			m.FailoverDuration.WithLabelValues(drill, ph.phase).Observe(v)
			m.LastFailover.WithLabelValues(drill, ph.phase).Set(v)
		}
	}
	for _, o := range messageOutcomes {
		if v, ok := r.Measurements[o.measurement]; ok && v > 0 {
			m.Messages.WithLabelValues(drill, o.outcome).Add(v)
		}
	}
	if v, ok := r.Measurements["success_ratio"]; ok {
		m.LastSuccessRatio.WithLabelValues(drill).Set(v)
	}
	h := m.ProduceLatency.WithLabelValues(drill)
	for _, l := range r.Latencies {
		h.Observe(l.Seconds())
	}
	for _, c := range r.Criteria {
		v := 0.0
		if c.Passed {
			v = 1
		} else {
			m.ThresholdBreaches.WithLabelValues(drill, c.Name).Inc()
		}
		m.CriterionPassed.WithLabelValues(drill, c.Name).Set(v)
	}
	for _, t := range r.Targets {
		for op, v := range t.Throughput {
			m.BenchmarkThroughput.WithLabelValues(t.Target, op).Set(v)
		}
		m.BenchmarkLatency.Set(t)
	}
	for _, a := range r.Anomalies {
		m.Anomalies.WithLabelValues(drill, a.Kind).Add(float64(a.Count))
	}
}
