package run

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"time"
)

// Statuses of a run.
const (
	StatusRunning = "running"
	StatusPassed  = "passed"
	StatusFailed  = "failed"
	StatusError   = "error"
	// StatusInterrupted is a run the daemon found still running when it
	// started again: it died (or was killed) during the drill.
	StatusInterrupted = "interrupted"
)

// Results are the statuses a finished run can have, as metric label values.
var Results = []string{StatusPassed, StatusFailed, StatusError}

// Triggers: what started a run.
const (
	TriggerSchedule = "schedule"
	TriggerAPI      = "api"
	TriggerCLI      = "cli" // raftdrill run
)

// Run is one drill run as the API, the run store, the reports and the
// alerts see it.
type Run struct {
	ID         string     `json:"id"`
	Drill      string     `json:"drill"`
	Trigger    string     `json:"trigger"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Result
}

// New returns a running run of drill, started now.
func New(drill, trigger string, now time.Time) Run {
	return Run{ID: NewID(now), Drill: drill, Trigger: trigger, StartedAt: now,
		Result: Result{Status: StatusRunning, Measurements: Measurements{}, Criteria: []Criterion{}, Anomalies: []Anomaly{}}}
}

// Finish records a drill's result and when it ended.
func (r *Run) Finish(res Result, at time.Time) {
	r.Result = res
	r.FinishedAt = &at
}

// Took is how long the run took, or has taken so far.
func (r Run) Took(now time.Time) time.Duration {
	if r.FinishedAt != nil {
		return r.FinishedAt.Sub(r.StartedAt)
	}
	return now.Sub(r.StartedAt)
}

// NewID returns a sortable, unique run id: UTC start time plus entropy.
func NewID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// Result is what a drill found: its figures, its criteria against their
// thresholds, the anomalies, what happened when, and the verdict.
type Result struct {
	Status       string       `json:"status"`
	Measurements Measurements `json:"measurements"`
	Criteria     []Criterion  `json:"criteria"`
	Anomalies    []Anomaly    `json:"anomalies"`
	Events       []Event      `json:"events,omitempty"`
	// Steps are the stages of a drill that proceeds in stages, each with
	// its timing and outcome.
	Steps []Step `json:"steps,omitempty"`
	// NotTested lists what the drill did not test because the
	// configuration said not to (a step switched off, replicas not read):
	// the report says so rather than imply it passed.
	NotTested []NotTested `json:"not_tested,omitempty"`
	// Current is the step a running drill is in now (outcome "running"),
	// for whoever watches it; nil once the drill has finished.
	Current *Step  `json:"current_step,omitempty"`
	Error   string `json:"error,omitempty"`
	// Latencies of every acked send, for the produce-latency histogram.
	Latencies []time.Duration `json:"-"`
	// Targets are the per-target figures of a drill that measures several
	// (the benchmark), for the benchmark metrics.
	Targets []TargetFigures `json:"-"`
}

// Failed returns a result with only an error: the drill could not run.
func Failed(err error) Result {
	res := Result{Measurements: Measurements{}, Error: err.Error()}
	res.Finish()
	return res
}

// Finish sets the status from the error, the criteria and the anomalies,
// and puts the events in time order.
func (r *Result) Finish() {
	switch {
	case len(r.Anomalies) > 0:
		// What the cluster did wrong outranks what stopped the drill: a
		// run cut short by a cluster that never elected is a failure of
		// the cluster, not of raftdrill.
		r.Status = StatusFailed
	case r.Error != "":
		r.Status = StatusError
	default:
		r.Status = StatusPassed
		for _, c := range r.Criteria {
			if !c.Passed {
				r.Status = StatusFailed
			}
		}
	}
	r.Current = nil
	sort.SliceStable(r.Events, func(i, j int) bool { return r.Events[i].At.Before(r.Events[j].At) })
	if r.Measurements == nil {
		r.Measurements = Measurements{}
	}
	if r.Anomalies == nil {
		r.Anomalies = []Anomaly{}
	}
	if r.Criteria == nil {
		r.Criteria = []Criterion{}
	}
}

// Event is something the drill did or saw, with its time.
type Event struct {
	At     time.Time `json:"at"`
	What   string    `json:"what"`
	Node   int32     `json:"node,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// NewEvent makes an event at the given time.
func NewEvent(at time.Time, what string, node int32, format string, args ...any) Event {
	return Event{At: at, What: what, Node: node, Detail: fmt.Sprintf(format, args...)}
}

// NotTested is one thing a drill did not test, and why.
type NotTested struct {
	What string `json:"what"`
	Why  string `json:"why"`
}

// Step outcomes.
const (
	StepPassed = "passed"
	StepFailed = "failed"
	// StepNotTested is a step the configuration switched off: the report
	// says so rather than imply that it passed.
	StepNotTested = "not tested"
	// StepRunning is the step a running drill is in, as a live view of
	// the run shows it; a finished run has none.
	StepRunning = "running"
)

// Step is one stage of a drill, as the run shows it.
type Step struct {
	Name      string    `json:"name"`
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"seconds"`
	Outcome   string    `json:"outcome"`
	Detail    string    `json:"detail,omitempty"`
}

// TargetFigures are the headline figures of one target of a drill that
// measures several (the benchmark's cluster and baseline), for the gauge
// raftdrill_benchmark_throughput_messages_per_second and the summary
// raftdrill_benchmark_latency_seconds.
type TargetFigures struct {
	Target     string             // one of BenchmarkTargets
	Throughput map[string]float64 // messages per second, by op (BenchmarkOps)
	Latency    map[string]float64 // seconds, by quantile (BenchmarkQuantiles)
	// LatencyCount and LatencySum are the number of acked messages and the
	// sum of their latencies in seconds: the summary's _count and _sum.
	LatencyCount uint64
	LatencySum   float64
}

// Label values of the benchmark metrics, so that every series exists from
// start-up.
var (
	BenchmarkTargets   = []string{"cluster", "baseline"}
	BenchmarkOps       = []string{"produce", "consume"}
	BenchmarkQuantiles = []string{"0.5", "0.95", "0.99"}
)
