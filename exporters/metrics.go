package exporters

import (
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/raftdrill/raftdrill/run"
)

// Namespace prefixes every metric name.
const Namespace = "raftdrill"

// Message outcomes counted per drill, with the measurement each comes from.
var messageOutcomes = []struct {
	outcome string
	m       run.Measure
}{
	{"sent", run.MessagesSent},
	{"acked", run.MessagesAcked},
	{"failed", run.MessagesFailed},
	{"consumed", run.MessagesConsumed},
	{"lost", run.MessagesLost},
	{"duplicated", run.MessagesDup},
	{"corrupted", run.MessagesCorrupt},
}

// Failover phases and the measurement each comes from.
var phases = []struct {
	phase string
	m     run.Measure
}{
	{"election", run.ElectionSeconds},
	{"write_recovery", run.FailoverSeconds},
	{"stepdown", run.StepdownSeconds},
}

// Metrics holds every metric raftdrill exports. It is fed from run results
// (Record) and probe observations; nothing else writes metrics.
type Metrics struct {
	RunsTotal            *prometheus.CounterVec
	InProgress           *prometheus.GaugeVec
	Duration             *prometheus.HistogramVec
	LastRun              *prometheus.GaugeVec
	LastSuccess          *prometheus.GaugeVec
	FailoverDuration     *prometheus.HistogramVec
	LastFailover         *prometheus.GaugeVec
	LastStepdown         *prometheus.GaugeVec
	Messages             *prometheus.CounterVec
	LastSuccessRatio     *prometheus.GaugeVec
	ProduceLatency       *prometheus.HistogramVec
	CriterionPassed      *prometheus.GaugeVec
	ThresholdBreaches    *prometheus.CounterVec
	Anomalies            *prometheus.CounterVec
	SkippedRuns          *prometheus.CounterVec
	HALeader             prometheus.Gauge
	QuorumAvailable      prometheus.Gauge
	NodeUp               *prometheus.GaugeVec
	PartitionsLeaderless prometheus.Gauge
	AlertsSent           *prometheus.CounterVec
	AlertsQueued         prometheus.Gauge
	BenchmarkThroughput  *prometheus.GaugeVec
	BenchmarkLatency     *BenchmarkLatency
	NodesAwaitingRestore prometheus.Gauge
	RestoreAttempts      *prometheus.CounterVec
	ReloadSuccessful     prometheus.Gauge
	ReloadTimestamp      prometheus.Gauge
}

// Why a scheduled run was skipped: the reason label of
// raftdrill_drill_skipped_total.
const (
	SkipBusy      = "busy"       // another drill was running
	SkipNotLeader = "not_leader" // this replica does not hold the ha.kubernetes Lease
)

var skipReasons = []string{SkipBusy, SkipNotLeader}

// Restore attempt results: the result label of
// raftdrill_node_restore_attempts_total.
var restoreResults = []string{"restored", "failed"}

// New creates every metric on reg and creates each known labelled series at
// zero, so dashboards and rules see 0 rather than "no data" before anything
// has happened. criteria maps each drill to its criterion names.
// raftdrill_build_info is client_golang's build-info collector (labels
// version, revision, branch, goversion, goos, goarch, tags), fed by
// prometheus/common/version, which the build sets.
func New(reg prometheus.Registerer, drills []string, criteria map[string][]string, nodes []int32) *Metrics {
	m := &Metrics{
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
			Help:    "Time from killing (or cutting off, or freezing) a leader to a new leader elected (phase=election) and to the first acked write (phase=write_recovery); for the split-brain drill, from the old leader being cut off (or thawed) to its stepping down (phase=stepdown).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60},
		}, []string{"drill", "phase"}),
		LastFailover: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "last_failover_duration_seconds",
			Help: "Failover time of the last run that measured one, by phase.",
		}, []string{"drill", "phase"}),
		LastStepdown: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "last_stepdown_seconds",
			Help: "Split-brain drill: time from the old leader being cut off (or thawed) to its stepping down, in the last run that measured it.",
		}, []string{"drill"}),
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
			Help: "Scheduled runs skipped, by reason: busy (another drill was running), not_leader (this replica does not hold the ha.kubernetes Lease).",
		}, []string{"drill", "reason"}),
		HALeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "ha_leader",
			Help: "1 while this raftdrill drills: it holds the ha.kubernetes Lease, or leader election is off; 0 while it follows.",
		}),
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
		NodesAwaitingRestore: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "nodes_awaiting_restore",
			Help: "Nodes a drill took down that do not serve Kafka again and that raftdrill is restoring (the restore journal, less the running drill's own).",
		}),
		RestoreAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "node_restore_attempts_total",
			Help: "Attempts of the restore loop to bring back a node a drill left down, by result (restored, failed).",
		}, []string{"result"}),
		ReloadSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "config_last_reload_successful",
			Help: "1 if the last configuration load (start-up, SIGHUP, POST /-/reload) succeeded, 0 if the file was invalid and the previous configuration is still in use.",
		}),
		ReloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load.",
		}),
	}
	reg.MustRegister(versioncollector.NewCollector(Namespace), m.RunsTotal, m.InProgress, m.Duration, m.LastRun, m.LastSuccess,
		m.FailoverDuration, m.LastFailover, m.LastStepdown, m.Messages, m.LastSuccessRatio, m.ProduceLatency,
		m.CriterionPassed, m.ThresholdBreaches, m.Anomalies, m.SkippedRuns, m.HALeader,
		m.QuorumAvailable, m.NodeUp, m.PartitionsLeaderless, m.AlertsSent, m.AlertsQueued,
		m.BenchmarkThroughput, m.BenchmarkLatency, m.NodesAwaitingRestore, m.RestoreAttempts,
		m.ReloadSuccessful, m.ReloadTimestamp)
	for _, r := range restoreResults {
		m.RestoreAttempts.WithLabelValues(r)
	}

	for _, d := range drills {
		for _, r := range append(slices.Clone(run.Results), run.StatusInterrupted) {
			m.RunsTotal.WithLabelValues(d, r)
		}
		m.InProgress.WithLabelValues(d)
		m.Duration.WithLabelValues(d)
		m.LastRun.WithLabelValues(d)
		m.LastSuccess.WithLabelValues(d)
		// The last-value gauges appear once a run measured them: a gauge
		// at 0 would say a drill that never fails over did so at once.
		for _, ph := range phases {
			m.FailoverDuration.WithLabelValues(d, ph.phase)
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
		for _, k := range run.AnomalyKinds {
			m.Anomalies.WithLabelValues(d, k)
		}
		for _, r := range skipReasons {
			m.SkippedRuns.WithLabelValues(d, r)
		}
	}
	for _, t := range run.BenchmarkTargets {
		for _, op := range run.BenchmarkOps {
			m.BenchmarkThroughput.WithLabelValues(t, op)
		}
	}
	for _, n := range nodes {
		m.NodeUp.WithLabelValues(NodeLabel(n))
	}
	return m
}

// AddCriteria creates the series of criteria a reloaded configuration
// brought (a drill's criteria do not change today, but a new drill's do).
func (m *Metrics) AddCriteria(criteria map[string][]string) {
	for d, cs := range criteria {
		for _, c := range cs {
			m.CriterionPassed.WithLabelValues(d, c)
			m.ThresholdBreaches.WithLabelValues(d, c)
		}
	}
}

// Reloaded records the outcome of a configuration load.
func (m *Metrics) Reloaded(ok bool, at time.Time) {
	if !ok {
		m.ReloadSuccessful.Set(0)
		return
	}
	m.ReloadSuccessful.Set(1)
	m.ReloadTimestamp.Set(float64(at.Unix()))
}

// Interrupted counts a run found unfinished at start-up: it ended when the
// process running it died.
func (m *Metrics) Interrupted(r run.Run) {
	m.RunsTotal.WithLabelValues(r.Drill, run.StatusInterrupted).Inc()
	if r.FinishedAt != nil {
		m.LastRun.WithLabelValues(r.Drill).Set(float64(r.FinishedAt.Unix()))
	}
}

// RestoreLast sets the gauges about each drill's last run from the run
// history (newest first), so that they come back after a restart rather
// than start blank: drill_last_run_timestamp_seconds,
// drill_last_success_timestamp_seconds, last_failover_duration_seconds,
// last_success_ratio and criterion_passed. Counters and histograms are the
// process's own and start at zero.
func (m *Metrics) RestoreLast(runs []run.Run) {
	set := map[string]bool{}
	once := func(key string, fn func()) {
		if !set[key] {
			set[key] = true
			fn()
		}
	}
	for _, r := range runs {
		if r.Status == run.StatusRunning || r.FinishedAt == nil {
			continue
		}
		d, end := r.Drill, float64(r.FinishedAt.Unix())
		once("run/"+d, func() { m.LastRun.WithLabelValues(d).Set(end) })
		if r.Status == run.StatusPassed {
			once("pass/"+d, func() { m.LastSuccess.WithLabelValues(d).Set(end) })
		}
		for _, ph := range phases {
			if v, ok := r.Measurements.Get(ph.m); ok {
				once("phase/"+d+"/"+ph.phase, func() { m.setLastPhase(d, ph.phase, v) })
			}
		}
		if v, ok := r.Measurements.Get(run.SuccessRatio); ok {
			once("ratio/"+d, func() { m.LastSuccessRatio.WithLabelValues(d).Set(v) })
		}
		for _, c := range r.Criteria {
			v := 0.0
			if c.Passed {
				v = 1
			}
			once("crit/"+d+"/"+c.Name, func() { m.CriterionPassed.WithLabelValues(d, c.Name).Set(v) })
		}
	}
}

func (m *Metrics) setLastPhase(drill, phase string, v float64) {
	m.LastFailover.WithLabelValues(drill, phase).Set(v)
	if phase == "stepdown" {
		m.LastStepdown.WithLabelValues(drill).Set(v)
	}
}

// NodeLabel is the node label value for a node id.
func NodeLabel(id int32) string { return strconv.Itoa(int(id)) }

// Started marks a drill as running.
func (m *Metrics) Started(drill string) { m.InProgress.WithLabelValues(drill).Set(1) }

// Skipped counts a scheduled run skipped, for reason (SkipBusy,
// SkipNotLeader).
func (m *Metrics) Skipped(drill, reason string) { m.SkippedRuns.WithLabelValues(drill, reason).Inc() }

// Leading sets raftdrill_ha_leader.
func (m *Metrics) Leading(lead bool) {
	v := 0.0
	if lead {
		v = 1
	}
	m.HALeader.Set(v)
}

// Record feeds the metrics from one finished run.
func (m *Metrics) Record(r run.Run) {
	drill := r.Drill
	finished := r.StartedAt
	if r.FinishedAt != nil {
		finished = *r.FinishedAt
	}
	m.InProgress.WithLabelValues(drill).Set(0)
	m.RunsTotal.WithLabelValues(drill, r.Status).Inc()
	m.Duration.WithLabelValues(drill).Observe(finished.Sub(r.StartedAt).Seconds())
	m.LastRun.WithLabelValues(drill).Set(float64(finished.Unix()))
	if r.Status == run.StatusPassed {
		m.LastSuccess.WithLabelValues(drill).Set(float64(finished.Unix()))
	}
	for _, ph := range phases {
		if v, ok := r.Measurements.Get(ph.m); ok {
			m.FailoverDuration.WithLabelValues(drill, ph.phase).Observe(v)
			m.setLastPhase(drill, ph.phase, v)
		}
	}
	for _, o := range messageOutcomes {
		if v, ok := r.Measurements.Get(o.m); ok && v > 0 {
			m.Messages.WithLabelValues(drill, o.outcome).Add(v)
		}
	}
	if v, ok := r.Measurements.Get(run.SuccessRatio); ok {
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
