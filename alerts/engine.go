package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/raftdrill/raftdrill/probes/quorum"
	"github.com/raftdrill/raftdrill/run"
)

// Settings are the engine's thresholds (from config alerts.*).
type Settings struct {
	QuorumLostAfter int           // bad probe checks in a row before quorum-lost fires
	RepeatInterval  time.Duration // 0: never repeat
	StaleAfter      time.Duration // 0: no drills-stale
}

// Engine decides what deserves a message. It hears every quorum probe
// observation and every drill run, keeps one firing per condition, and
// hands messages to send (the dispatcher): one when a firing opens, a
// repeat after RepeatInterval while it still fires, one when it resolves.
// Loss a running drill caused on purpose (see Planner) is not paged; it
// becomes a quiet note in that drill's own message.
type Engine struct {
	set  Settings
	plan *Planner
	send func(*Message)
	log  *slog.Logger

	obs  chan quorum.Observation
	runs chan run.Run
	done chan struct{}

	// Owned by the goroutine in Run (or a test calling the handlers).
	seq      uint64
	quorum   quorumState
	drills   map[string]*drillState
	stale    *firing
	started  time.Time
	lastPass time.Time
	lastRun  *run.Run
	notes    map[string]*plannedNote // run id → planned outage
}

// firing is one open alert.
type firing struct {
	id       string
	kind     string
	lastSent time.Time
	alert    Alert
}

type quorumState struct {
	bad      int       // unexplained bad checks in a row
	badSince time.Time // first of them
	firing   *firing
}

type drillState struct {
	missed  *firing // threshold-missed
	errored *firing // drill-error
}

// plannedNote collects the quorum loss one drill run caused on purpose.
type plannedNote struct {
	first, last time.Time
	checks      int
	nodes       map[int32]bool
}

// NewEngine returns an engine; send receives every message, in order.
func NewEngine(set Settings, plan *Planner, send func(*Message), log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if set.QuorumLostAfter < 1 {
		set.QuorumLostAfter = 1
	}
	return &Engine{
		set: set, plan: plan, send: send, log: log,
		obs:     make(chan quorum.Observation, 16),
		runs:    make(chan run.Run, 64),
		done:    make(chan struct{}),
		drills:  map[string]*drillState{},
		notes:   map[string]*plannedNote{},
		started: time.Now(),
	}
}

// Observe hands over one quorum observation; it waits while the engine is
// busy and returns at once after the engine has stopped.
func (e *Engine) Observe(o quorum.Observation) {
	select {
	case e.obs <- o:
	case <-e.done:
	}
}

// RunStarted is called by the daemon when a drill starts. The planner
// hears of it at once, before the drill can kill anything.
func (e *Engine) RunStarted(r run.Run) { e.plan.Begin(r.ID, r.Drill) }

// RunFinished is called by the daemon when a drill ends. A finished run
// may carry a data anomaly, the most urgent page of all, so it waits for
// the engine (which only ever falls behind by a tick) rather than drop it;
// only an engine that has stopped loses it.
func (e *Engine) RunFinished(r run.Run) {
	e.plan.End(r.ID, finishedAt(r))
	select {
	case e.runs <- r:
	case <-e.done:
		e.log.Error("alert engine stopped; run not evaluated", "run", r.ID, "drill", r.Drill, "status", r.Status)
	}
}

// Run evaluates until ctx ends. Runs that finish after that (drills cut
// short by the shutdown) are not alerted on.
func (e *Engine) Run(ctx context.Context) {
	defer close(e.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-e.obs:
			e.onObservation(o, time.Now())
		case r := <-e.runs:
			e.onRunFinished(r, time.Now())
		case now := <-tick.C:
			e.onTick(now)
		}
	}
}

func (e *Engine) open(kind string, a Alert, now time.Time) *firing {
	e.seq++
	f := &firing{id: fmt.Sprintf("%s#%d", kind, e.seq), kind: kind, lastSent: now, alert: a}
	e.log.Info("alert firing", "kind", kind, "firing", f.id, "title", a.Title)
	e.send(&Message{Firing: f.id, Op: OpOpen, Alert: a, At: now, Resolvable: true})
	return f
}

// event sends a message that opens nothing: a data anomaly is a fact about
// one run, not a state that later resolves.
func (e *Engine) event(a Alert, now time.Time) {
	e.seq++
	id := fmt.Sprintf("%s#%d", a.Kind, e.seq)
	e.log.Info("alert", "kind", a.Kind, "firing", id, "title", a.Title)
	e.send(&Message{Firing: id, Op: OpOpen, Alert: a, At: now})
}

// resolve ends *fp, if it is firing, with a message saying why.
func (e *Engine) resolve(fp **firing, now time.Time, why string) {
	f := *fp
	if f == nil {
		return
	}
	*fp = nil
	e.log.Info("alert resolved", "kind", f.kind, "firing", f.id)
	e.send(&Message{Firing: f.id, Op: OpResolve, Alert: f.alert, At: now, Resolution: why})
}

// onTick repeats what still fires and checks the dead-man's switch.
func (e *Engine) onTick(now time.Time) {
	if e.set.StaleAfter > 0 {
		since := maxTime(e.started, e.lastPass)
		if now.Sub(since) >= e.set.StaleAfter {
			if e.stale == nil {
				e.stale = e.open(KindDrillsStale, e.staleAlert(now), now)
			} else {
				e.stale.alert = e.staleAlert(now)
			}
		}
	}
	if e.set.RepeatInterval <= 0 {
		return
	}
	for _, f := range e.firings() {
		if now.Sub(f.lastSent) >= e.set.RepeatInterval {
			f.lastSent = now
			e.send(&Message{Firing: f.id, Op: OpRepeat, Alert: f.alert, At: now})
		}
	}
}

func (e *Engine) firings() []*firing {
	var out []*firing
	add := func(f *firing) {
		if f != nil {
			out = append(out, f)
		}
	}
	add(e.quorum.firing)
	add(e.stale)
	for _, name := range sortedKeys(e.drills) {
		add(e.drills[name].missed)
		add(e.drills[name].errored)
	}
	return out
}

// onObservation is the quorum-lost state machine.
func (e *Engine) onObservation(o quorum.Observation, now time.Time) {
	q := &e.quorum
	if o.Available {
		if q.firing != nil {
			e.resolve(&q.firing, now, fmt.Sprintf("Quorum is back: %d of %d nodes up, every watched partition led by a live node%s.",
				o.Up, len(o.Nodes), canaryOK(o)))
		}
		q.bad = 0
		return
	}
	v := e.plan.Explain(o.Down(), o.At)
	if v.Planned && q.firing == nil {
		e.notePlanned(v, o)
		q.bad = 0
		return
	}
	q.bad++
	if q.bad == 1 {
		q.badSince = o.At
	}
	a := e.quorumAlert(o, q.badSince, v)
	switch {
	case q.firing != nil:
		q.firing.alert = a // repeats show the latest figures
	case q.bad >= e.set.QuorumLostAfter:
		q.firing = e.open(KindQuorumLost, a, now)
	}
}

func (e *Engine) notePlanned(v Verdict, o quorum.Observation) {
	n := e.notes[v.Run]
	if n == nil {
		n = &plannedNote{first: o.At, nodes: map[int32]bool{}}
		e.notes[v.Run] = n
		e.log.Info("quorum lost on purpose by a drill; not paging", "drill", v.Drill, "run", v.Run, "nodes", v.Nodes, "deadline", v.Deadline)
	}
	n.last = o.At
	n.checks++
	for _, id := range v.Nodes {
		n.nodes[id] = true
	}
}

func canaryOK(o quorum.Observation) string {
	if o.Canary.Enabled {
		return fmt.Sprintf(", canary writes acked by %d of %d partitions", o.Canary.Acked, o.Canary.Attempts)
	}
	return ""
}

func (e *Engine) quorumAlert(o quorum.Observation, since time.Time, v Verdict) Alert {
	need := len(o.Nodes)/2 + 1
	a := Alert{
		Kind:  KindQuorumLost,
		Title: "Quorum lost",
		Since: since,
		Figures: []Figure{
			{Name: "Nodes up", Value: fmt.Sprintf("%d of %d", o.Up, len(o.Nodes)), Want: fmt.Sprintf("≥ %d", need), OK: o.Majority},
			{Name: "Partitions without leader", Value: fmt.Sprintf("%d of %d", len(o.Leaderless), o.Partitions), Want: "0", OK: len(o.Leaderless) == 0},
		},
	}
	if o.Canary.Enabled {
		a.Figures = append(a.Figures, Figure{Name: "Canary writes acked", Value: fmt.Sprintf("%d of %d", o.Canary.Acked, o.Canary.Attempts),
			Want: "all", OK: o.Canary.OK()})
	}
	a.Figures = append(a.Figures, Figure{Name: "Lost since", Value: stamp(since)})
	var b strings.Builder
	fmt.Fprintf(&b, "The cluster cannot commit writes: ")
	for i, r := range o.Reasons() {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(esc(r))
	}
	b.WriteString(".")
	for _, n := range o.Nodes {
		if !n.Up {
			fmt.Fprintf(&b, "\n• node %d: %s", n.ID, esc(n.Err))
		}
	}
	if v.Run != "" && !v.Planned {
		did := "restarted the nodes it had taken down"
		if len(v.Nodes) > 0 {
			did = fmt.Sprintf("took nodes %v down on purpose", v.Nodes)
		}
		fmt.Fprintf(&b, "\nDrill *%s* (run %s) %s, but its recovery deadline passed at %s and quorum is still lost.",
			esc(v.Drill), esc(v.Run), did, stamp(v.Deadline))
		a.Drill, a.RunID = v.Drill, v.Run
	}
	a.Text = b.String()
	return a
}

// onRunFinished turns one run into at most one message: data-anomaly if
// it found any (the most urgent, sent for every such run), else
// threshold-missed or drill-error when that opens a firing; a passing run
// resolves what its drill had firing.
func (e *Engine) onRunFinished(r run.Run, now time.Time) {
	e.lastRun = &r
	ds := e.drills[r.Drill]
	if ds == nil {
		ds = &drillState{}
		e.drills[r.Drill] = ds
	}
	note := e.takeNote(r.ID)
	var notes []string
	if note != "" {
		notes = []string{note}
	}
	sent := false
	switch {
	case len(r.Anomalies) > 0:
		e.resolve(&ds.errored, now, fmt.Sprintf("Drill *%s* runs again (run %s).", esc(r.Drill), esc(r.ID)))
		e.event(runAlert(KindDataAnomaly, r, notes), now)
		sent = true
	case r.Status == run.StatusError:
		a := runAlert(KindDrillError, r, notes)
		if ds.errored == nil {
			ds.errored = e.open(KindDrillError, a, now)
			sent = true
		} else {
			ds.errored.alert = a
		}
	case r.Status == run.StatusFailed:
		e.resolve(&ds.errored, now, fmt.Sprintf("Drill *%s* runs again (run %s).", esc(r.Drill), esc(r.ID)))
		a := runAlert(KindThresholdMissed, r, notes)
		if ds.missed == nil {
			ds.missed = e.open(KindThresholdMissed, a, now)
			sent = true
		} else {
			ds.missed.alert = a
		}
	case r.Status == run.StatusPassed:
		e.lastPass = now
		why := fmt.Sprintf("Drill *%s* passed again (run %s).", esc(r.Drill), esc(r.ID))
		e.resolve(&ds.errored, now, why)
		e.resolve(&ds.missed, now, why)
		e.resolve(&e.stale, now, why)
	}
	if note != "" && !sent {
		e.log.Info("drill caused quorum loss on purpose (not paged)", "drill", r.Drill, "run", r.ID, "status", r.Status, "note", note)
	}
}

func (e *Engine) takeNote(run string) string {
	n := e.notes[run]
	if n == nil {
		return ""
	}
	delete(e.notes, run)
	var nodes []int32
	for id := range n.nodes {
		nodes = append(nodes, id)
	}
	sortIDs(nodes)
	return fmt.Sprintf("Quorum was unavailable on purpose from %s to %s (%d probe checks) while this drill had nodes %v down; not paged.",
		stamp(n.first), stamp(n.last), n.checks, nodes)
}

// runAlert describes a finished run for kind.
func runAlert(kind string, r run.Run, notes []string) Alert {
	a := Alert{Kind: kind, Drill: r.Drill, RunID: r.ID, Criteria: r.Criteria, Anomalies: r.Anomalies,
		Figures: keyFigures(r), Notes: notes, Since: finishedAt(r)}
	var missed []string
	for _, c := range r.Criteria {
		if !c.Passed {
			m := run.Lookup(c.Name)
			missed = append(missed, fmt.Sprintf("*%s* %s (threshold %s %s)", esc(c.Name), m.Format(c.Value), c.Op, m.Format(c.Threshold)))
		}
	}
	switch kind {
	case KindDataAnomaly:
		a.Title = fmt.Sprintf("Data anomaly in drill %s", r.Drill)
		a.Text = fmt.Sprintf("Drill *%s* found %s. Acknowledged writes may be lost or wrong: treat it as data loss until shown otherwise.",
			esc(r.Drill), esc(run.Summary(r.Anomalies)))
	case KindDrillError:
		a.Title = fmt.Sprintf("Drill %s could not run", r.Drill)
		a.Text = fmt.Sprintf("Drill *%s* could not run: %s", esc(r.Drill), esc(r.Error))
	default:
		a.Title = fmt.Sprintf("Drill %s missed %d of %d criteria", r.Drill, len(missed), len(r.Criteria))
		a.Text = fmt.Sprintf("Drill *%s* failed: %s.", esc(r.Drill), strings.Join(missed, "; "))
	}
	return a
}

// keyFigures are the run's key figures (the measurement table says which),
// each against its criterion where it has one.
func keyFigures(r run.Run) []Figure {
	crit := map[string]run.Criterion{}
	for _, c := range r.Criteria {
		crit[c.Name] = c
	}
	var out []Figure
	for _, m := range run.KeyFigures(r.Measurements) {
		v := r.Measurements.Value(m)
		f := Figure{Name: m.Label, Value: m.Format(v)}
		if c, ok := crit[m.Key]; ok {
			f.Want, f.OK = c.Op+" "+m.Format(c.Threshold), c.Passed
		}
		out = append(out, f)
	}
	return out
}

func (e *Engine) staleAlert(now time.Time) Alert {
	since := maxTime(e.started, e.lastPass)
	a := Alert{Kind: KindDrillsStale, Title: "No drill has passed lately", Since: since.Add(e.set.StaleAfter),
		Figures: []Figure{{Name: "Since last pass", Value: RoundDuration(now.Sub(since)).String(), Want: "< " + e.set.StaleAfter.String(), OK: false}}}
	last := "No drill has passed since raftdrill started at " + stamp(e.started) + "."
	if !e.lastPass.IsZero() {
		last = "The last drill passed at " + stamp(e.lastPass) + "."
	}
	a.Text = fmt.Sprintf("Nothing has proven for %s that the cluster survives losing a node. %s", RoundDuration(now.Sub(since)), last)
	if r := e.lastRun; r != nil {
		a.Text += fmt.Sprintf(" Last run: *%s* %s (%s).", esc(r.Drill), r.Status, esc(r.ID))
		a.Drill, a.RunID = r.Drill, r.ID
	} else {
		a.Text += " No drill has run at all: check drills.*.schedule and raftdrill's log."
	}
	return a
}

func finishedAt(r run.Run) time.Time {
	if r.FinishedAt == nil {
		return time.Now()
	}
	return *r.FinishedAt
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortIDs(ids []int32) { slices.Sort(ids) }
