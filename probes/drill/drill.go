package drill

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

// Drill is one configured drill. It returns its result as a value; it never
// touches metrics, alerts or the run store (the daemon feeds those).
type Drill interface {
	// Schedule is the cron spec the daemon runs it on ("" or "off": never).
	Schedule() string
	// Criteria names the pass criteria the drill evaluates, so their
	// metric series exist before the first run.
	Criteria() []string
	Run(ctx context.Context, env Env) run.Result
}

// Spec describes one kind of drill: its name, its config section
// (drills.<name>), how it is made from the configuration, the measurements
// it produces in the order people read them, and, optionally, a report
// section of its own.
type Spec struct {
	Name     string
	Defaults func() any // the section's defaults, a pointer to its config struct
	New      func(cfg *config.Config) Drill
	// Measures lists what the drill measures, in report order; the key
	// figures among them are what the status page and Slack show.
	Measures []run.Measure
	// Report writes the drill's own part of the text report and returns
	// the measurement keys it showed; nil for none.
	Report func(w io.Writer, r run.Run) map[string]bool
}

// Key is the drill's config section key.
func (s Spec) Key() string { return SectionKey(s.Name) }

// SectionKey is the config section key of the drill called name.
func SectionKey(name string) string { return "drills." + name }

// Section is the drill's config section.
func (s Spec) Section() config.Section { return config.Section{Key: s.Key(), New: s.Defaults} }

// KeyFigures are the drill's key figures, in report order.
func (s Spec) KeyFigures() []run.Measure {
	var out []run.Measure
	for _, m := range s.Measures {
		if m.KeyFigure {
			out = append(out, m)
		}
	}
	return out
}

// Env is what a drill works with.
type Env struct {
	RunID   string
	Drill   string // the drill's name, for the restore journal
	Client  *kafka.Client
	Control control.Controller
	Config  *config.Config
	Log     *slog.Logger
	// Progress receives one line per notable step, for people watching.
	Progress func(msg string)
	// Observer, when set, hears of every node the drill kills and brings
	// back (the alert planner, so that planned outages do not page).
	Observer NodeObserver
	// Journal, when set, is the restore journal: every node the drill
	// takes down is recorded (and synced to disk) before the kill, and
	// cleared once it serves Kafka again, so that a raftdrill that dies
	// mid-drill leaves word of what to bring back. The daemon and
	// `raftdrill run` always set it; a kill that cannot be journalled does
	// not happen.
	Journal Journal
	// Live, when set, receives a copy of the result so far each time the
	// drill records an event or a step starts or ends, so that a running
	// drill can be watched (GET /runs/{id}, the status page).
	Live func(run.Result)
}

// Journal is where a drill records the nodes it takes down (package
// state's restore journal).
type Journal interface {
	Record(o state.Outage) error
	Clear(run string, node int32) error
}

// NodeObserver hears of every kill before it is attempted and of every
// restart after it worked.
type NodeObserver interface {
	Killing(id int32, at time.Time)
	Restarted(id int32, at time.Time)
}

// Progressf logs a line and hands it to whoever watches the run.
func (e Env) Progressf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.Log.Info(msg)
	if e.Progress != nil {
		e.Progress(msg)
	}
}

// Record adds an event to res and publishes the result so far.
func (e Env) Record(res *run.Result, ev run.Event) {
	res.Events = append(res.Events, ev)
	e.Publish(res)
}

// Publish hands a copy of the result so far to whoever watches the run.
func (e Env) Publish(res *run.Result) {
	if e.Live != nil {
		e.Live(Snapshot(res))
	}
}

// Snapshot copies what a result has recorded so far, as a running result
// that shares nothing with res.
func Snapshot(res *run.Result) run.Result {
	snap := run.Result{
		Status:       run.StatusRunning,
		Measurements: maps.Clone(res.Measurements),
		Criteria:     slices.Clone(res.Criteria),
		Anomalies:    slices.Clone(res.Anomalies),
		Events:       slices.Clone(res.Events),
		Steps:        slices.Clone(res.Steps),
		Error:        res.Error,
	}
	if res.Current != nil {
		cur := *res.Current
		snap.Current = &cur
	}
	if snap.Measurements == nil {
		snap.Measurements = run.Measurements{}
	}
	if snap.Criteria == nil {
		snap.Criteria = []run.Criterion{}
	}
	if snap.Anomalies == nil {
		snap.Anomalies = []run.Anomaly{}
	}
	return snap
}

// Topic is the drill topic.
func (e Env) Topic() config.Topic { return e.Config.Cluster.Topic }

// Sleep waits d or until ctx ends, and says whether the wait was whole.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
