package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/raftdrill/raftdrill/config"
)

// Run statuses.
const (
	StatusRunning = "running"
	StatusPassed  = "passed"
	StatusFailed  = "failed"
	StatusError   = "error"
)

// Drill is one kind of drill. A drill returns its result as a value; it
// never touches metrics, alerts or the run store (the daemon feeds those).
type Drill interface {
	// Schedule is the cron spec the daemon runs it on ("" or "off": never).
	Schedule() string
	// Criteria names the pass criteria the drill evaluates, so their
	// metric series exist before the first run.
	Criteria() []string
	Run(ctx context.Context, env Env) Result
}

// Drills is the one list of drills: the daemon, the CLI, the metrics and
// the trigger endpoint all take their names from it.
var Drills = map[string]func(*config.Config) Drill{
	"leader-failover":  newLeaderFailover,
	"failure-recovery": newFailureRecovery,
	"benchmark":        newBenchmark,
}

// DrillNames returns the names of all drills, sorted.
func DrillNames() []string {
	names := make([]string, 0, len(Drills))
	for n := range Drills {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Env is what a drill works with.
type Env struct {
	RunID   string
	Client  *Client
	Control NodeController
	Config  *config.Config
	Log     *slog.Logger
	// Progress receives one line per notable step, for people watching.
	Progress func(msg string)
}

func (e Env) progress(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.Log.Info(msg)
	if e.Progress != nil {
		e.Progress(msg)
	}
}

// Criterion is one pass condition, with what was measured.
type Criterion struct {
	Name      string  `json:"name"`
	Op        string  `json:"op"` // "<", "<=", ">", ">="
	Threshold float64 `json:"threshold"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit,omitempty"`
	Passed    bool    `json:"passed"`
}

func criterion(name, op string, threshold, value float64, unit string) Criterion {
	c := Criterion{Name: name, Op: op, Threshold: threshold, Value: value, Unit: unit}
	switch op {
	case "<":
		c.Passed = value < threshold
	case "<=":
		c.Passed = value <= threshold
	case ">":
		c.Passed = value > threshold
	case ">=":
		c.Passed = value >= threshold
	}
	return c
}

// Event is something the drill did or saw, with its time.
type Event struct {
	At     time.Time `json:"at"`
	What   string    `json:"what"`
	Node   int32     `json:"node,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Result is the outcome of one run.
type Result struct {
	Status       string             `json:"status"`
	Measurements map[string]float64 `json:"measurements"`
	Criteria     []Criterion        `json:"criteria"`
	Anomalies    []Anomaly          `json:"anomalies"`
	Events       []Event            `json:"events,omitempty"`
	// Steps are the stages of a drill that proceeds in stages
	// (failure-recovery), each with its timing and outcome.
	Steps []Step `json:"steps,omitempty"`
	Error string `json:"error,omitempty"`
	// Latencies of every acked send, for the produce-latency histogram.
	Latencies []time.Duration `json:"-"`
	// Targets are the per-target figures of a drill that measures several
	// (the benchmark), for the benchmark gauges.
	Targets []TargetFigures `json:"-"`
}

// finish sets the status from the error, the criteria and the anomalies.
func (r *Result) finish() {
	switch {
	case len(r.Anomalies) > 0:
		// What the cluster did wrong outranks what stopped the drill:
		// a run cut short by a cluster that never elected is a failure
		// of the cluster, not of raftdrill.
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
	sort.SliceStable(r.Events, func(i, j int) bool { return r.Events[i].At.Before(r.Events[j].At) })
	if r.Anomalies == nil {
		r.Anomalies = []Anomaly{}
	}
	if r.Criteria == nil {
		r.Criteria = []Criterion{}
	}
}

// Step outcomes.
const (
	StepPassed = "passed"
	StepFailed = "failed"
)

// Step is one stage of a drill, as the run shows it.
type Step struct {
	Name      string    `json:"name"`
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"seconds"`
	Outcome   string    `json:"outcome"` // passed or failed
	Detail    string    `json:"detail,omitempty"`
}

func (r *Result) event(what string, node int32, format string, args ...any) {
	r.Events = append(r.Events, Event{At: time.Now(), What: what, Node: node, Detail: fmt.Sprintf(format, args...)})
}

// restorer remembers the nodes a drill stopped and brings them back, however
// the drill ends: a drill cut short by an error, a cancel or a shutdown
// must not leave the cluster worse than it found it.
type restorer struct {
	env    Env
	killed []int32
	res    *Result
	// watch, when set, learns of every kill and restart, so it knows which
	// nodes are down and when a majority was.
	watch *leaderWatch
}

func (rs *restorer) kill(ctx context.Context, id int32) error {
	// Remembered before the attempt: a kill that worked but reported an
	// error (a command that timed out after the node died, say) must still
	// be undone.
	rs.killed = append(rs.killed, id)
	if err := rs.env.Control.Kill(ctx, id); err != nil {
		return fmt.Errorf("kill node %d: %w", id, err)
	}
	rs.watch.nodeDown(id, time.Now())
	return nil
}

// restore restarts every node still down, in the order they were killed,
// then waits until each serves Kafka again. Every restart is issued before
// any wait, and a failed restart does not stop the others: with a majority
// down, one stuck node must not keep the rest down too, and a shutdown that
// cuts the waiting short has at least issued every restart. It ignores the
// drill's context (which may be cancelled) and uses its own deadline.
func (rs *restorer) restore(ctx context.Context, timeout time.Duration, topic string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var errs []error
	var restarted, still []int32
	for _, id := range rs.killed {
		if up, err := rs.env.Control.Up(ctx, id); err == nil && up {
			// Back already (a failed kill, or a supervisor such as
			// systemd's Restart=on-failure brought it back).
			restarted = append(restarted, id)
			continue
		}
		rs.env.progress("restarting node %d", id)
		began := time.Now()
		if err := rs.env.Control.Restart(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("restart node %d: %w", id, err))
			rs.env.Log.Error("restart failed", "node", id, "err", err)
			still = append(still, id)
			continue
		}
		rs.watch.nodeUp(id, began, time.Now())
		rs.res.event("restart", id, "node restarted")
		restarted = append(restarted, id)
	}
	rs.killed = still
	for _, id := range restarted {
		if err := rs.env.Client.WaitServing(ctx, id, topic); err != nil {
			errs = append(errs, err)
			continue
		}
		rs.res.event("serving", id, "node serves Kafka again")
	}
	return errors.Join(errs...)
}

// preflight refuses to drill a cluster that is already unhealthy: every
// configured node must be up and every partition of the topic led.
func preflight(ctx context.Context, env Env) error {
	topic := env.Config.Cluster.Topic
	var down []int32
	for _, n := range env.Client.Nodes() {
		up, err := env.Control.Up(ctx, n.ID)
		if err != nil {
			return fmt.Errorf("cluster unhealthy before drill: node %d: %w", n.ID, err)
		}
		if !up {
			down = append(down, n.ID)
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("cluster unhealthy before drill: nodes %v are down", down)
	}
	if err := env.Client.EnsureTopic(ctx, topic.Name, topic.Partitions, topic.ReplicationFactor); err != nil {
		return fmt.Errorf("cluster unhealthy before drill: %w", err)
	}
	// A freshly created topic may need a moment to elect its leaders.
	deadline := time.Now().Add(5 * time.Second)
	for {
		h := env.Client.CheckHealth(ctx, topic.Name, topic.Partitions)
		probs := h.Problems()
		if len(probs) == 0 {
			probs = append(quorumProblems(h.Views, topic.Partitions), idProblems(h.Views, env.Client.Nodes())...)
			if len(probs) == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) || len(h.Unreachable) > 0 || ctx.Err() != nil {
			return fmt.Errorf("cluster unhealthy before drill: %s", strings.Join(probs, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func joinProblems(ps []string) string { return strings.Join(ps, "; ") }

// idProblems finds configured node ids that the cluster gives to another
// address: with ids swapped in the config, a drill would kill a different
// machine than the leader it chose.
func idProblems(views []View, nodes []Node) []string {
	var out []string
	seen := map[int32]bool{}
	for _, v := range views {
		for _, n := range nodes {
			for id, addr := range v.Brokers {
				if addr == n.Address && id != n.ID && !seen[n.ID] {
					seen[n.ID] = true
					out = append(out, fmt.Sprintf("cluster.nodes: node %d's address %s is broker %d's", n.ID, n.Address, id))
				}
			}
		}
	}
	return out
}
