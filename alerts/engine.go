package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
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
//
// An engine of a replica that does not lead (ha.kubernetes) is quiet: it
// evaluates everything as the leader's does, so that it knows what fires
// when it takes over, but sends nothing. When it starts to lead it
// announces what fires and it has not announced, except drills-stale,
// whose clock starts then: a follower drills nothing, so its own history
// says nothing about whether the drills are stale.
type Engine struct {
	set  Settings
	plan *Planner
	send func(*Message)
	log  *slog.Logger

	obs chan quorum.Observation
	// facts are finished runs and node outages, in one channel so that
	// they are evaluated in the order they happened.
	facts chan fact
	sets  chan Settings
	leads chan bool
	done  chan struct{}
	// boot makes firing ids unique across restarts: messages of an earlier
	// raftdrill may still be in the outbox.
	boot string

	// Owned by the goroutine in Run (or a test calling the handlers).
	quiet    bool // this replica does not lead: send nothing
	tookOver bool // it led after following: started is when
	seq      uint64
	quorum   quorumState
	drills   map[string]*drillState
	stale    *firing
	started  time.Time
	lastPass time.Time
	lastRun  *run.Run
	notes    map[string]*plannedNote // run id → planned outage
	left     map[int32]*firing       // node-not-restored, by node
}

// NodeOutage is a node a drill took down that raftdrill has not brought
// back yet, as the restore loop reports it.
type NodeOutage struct {
	Node       int32
	Run, Drill string
	Since      time.Time // when the drill took it down
	Attempts   int       // restore attempts so far
	LastError  string
	// Firing is the node-not-restored firing an earlier raftdrill announced
	// for it: this one resolves it rather than announce it again.
	Firing string
	// Announced, when set, is called (from the engine's goroutine) with
	// the firing id once the announcement is queued, so that the restore
	// journal can remember it.
	Announced func(firing string)
	// Cleared: an operator removed the node from the restore journal
	// (raftdrill state clear); it is no longer restored.
	Cleared bool
}

type nodeEvent struct {
	o        NodeOutage
	restored bool
	down     time.Duration
}

// fact is a finished run or a node outage event.
type fact struct {
	run  *run.Run
	node *nodeEvent
}

// firing is one open alert.
type firing struct {
	id       string
	kind     string
	lastSent time.Time
	alert    Alert
	// announced: its opening message was sent (by this process or, for
	// a node outage, an earlier one). A firing that opened while the
	// engine was quiet is not, until the engine leads.
	announced bool
	// onAnnounce, when set, hears the firing's id once it is announced.
	onAnnounce func(id string)
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
		facts:   make(chan fact, 64),
		sets:    make(chan Settings, 1),
		leads:   make(chan bool, 1),
		done:    make(chan struct{}),
		boot:    strconv.FormatInt(time.Now().Unix(), 36),
		drills:  map[string]*drillState{},
		notes:   map[string]*plannedNote{},
		left:    map[int32]*firing{},
		started: time.Now(),
	}
}

// SetSettings replaces the thresholds (a config reload); firings stay.
func (e *Engine) SetSettings(set Settings) {
	if set.QuorumLostAfter < 1 {
		set.QuorumLostAfter = 1
	}
	select {
	case <-e.sets: // an older reload not applied yet
	default:
	}
	select {
	case e.sets <- set:
	case <-e.done:
	}
}

// SetLeading says whether this replica leads and so sends (the engine
// starts leading, unless the service made it quiet). The latest call wins.
func (e *Engine) SetLeading(lead bool) {
	select {
	case <-e.leads: // an older change not applied yet
	default:
	}
	select {
	case e.leads <- lead:
	case <-e.done:
	}
}

// NodeNotRestored is called by the restore loop after each failed attempt
// to bring back a node a drill left down, and at shutdown for every node
// still down: the first opens node-not-restored at once, the others update
// it. It waits for the engine, like RunFinished: this is not to be lost.
func (e *Engine) NodeNotRestored(o NodeOutage) { e.nodeEvent(nodeEvent{o: o}) }

// NodeRestored is called when such a node serves Kafka again: it resolves
// node-not-restored, once.
func (e *Engine) NodeRestored(o NodeOutage, down time.Duration) {
	e.nodeEvent(nodeEvent{o: o, restored: true, down: down})
}

func (e *Engine) nodeEvent(ev nodeEvent) {
	select {
	case e.facts <- fact{node: &ev}:
	case <-e.done:
		e.log.Error("alert engine stopped; node outage not alerted", "node", ev.o.Node, "run", ev.o.Run, "restored", ev.restored)
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
	case e.facts <- fact{run: &r}:
	case <-e.done:
		e.log.Error("alert engine stopped; run not evaluated", "run", r.ID, "drill", r.Drill, "status", r.Status)
	}
}

// Run evaluates until ctx ends. Runs and node outages handed over before
// then are evaluated before it returns: the daemon stops the engine only
// after the last drill has finished and restored what it could, so that
// drill's run and any node it left down still reach Slack.
func (e *Engine) Run(ctx context.Context) {
	defer close(e.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			e.drain()
			return
		case o := <-e.obs:
			e.onObservation(o, time.Now())
		case f := <-e.facts:
			e.onFact(f, time.Now())
		case set := <-e.sets:
			e.set = set
		case lead := <-e.leads:
			e.onLeading(lead, time.Now())
		case now := <-tick.C:
			e.onTick(now)
		}
	}
}

// drain evaluates what was handed over before the engine was told to stop.
func (e *Engine) drain() {
	for {
		select {
		case f := <-e.facts:
			e.onFact(f, time.Now())
		default:
			return
		}
	}
}

func (e *Engine) onFact(f fact, now time.Time) {
	if f.run != nil {
		e.onRunFinished(*f.run, now)
	}
	if f.node != nil {
		e.onNode(*f.node, now)
	}
}

func (e *Engine) nextID(kind string) string {
	e.seq++
	return fmt.Sprintf("%s#%s-%d", kind, e.boot, e.seq)
}

// open starts a firing and announces it (see announce); onAnnounce, when
// set, hears its id once it is announced.
func (e *Engine) open(kind string, a Alert, now time.Time, onAnnounce func(id string)) *firing {
	f := &firing{id: e.nextID(kind), kind: kind, alert: a, onAnnounce: onAnnounce}
	e.announce(f, now)
	return f
}

// announce sends f's opening message, unless the engine is quiet: then f
// stays open unannounced until the engine leads, or a later update finds
// it leading.
func (e *Engine) announce(f *firing, now time.Time) {
	if e.quiet {
		e.log.Debug("alert firing; not sent: this replica does not lead", "kind", f.kind, "firing", f.id, "title", f.alert.Title)
		return
	}
	f.announced, f.lastSent = true, now
	e.log.Info("alert firing", "kind", f.kind, "firing", f.id, "title", f.alert.Title)
	e.send(&Message{Firing: f.id, Op: OpOpen, Alert: f.alert, At: now, Resolvable: true})
	if f.onAnnounce != nil {
		f.onAnnounce(f.id)
	}
}

// update gives a firing its latest figures (repeats show them); one that
// is not announced yet is announced now, if the engine leads.
func (e *Engine) update(f *firing, a Alert, now time.Time) {
	f.alert = a
	if !f.announced {
		e.announce(f, now)
	}
}

// event sends a message that opens nothing: a data anomaly is a fact about
// one run, not a state that later resolves. A quiet engine logs it only.
func (e *Engine) event(a Alert, now time.Time) {
	id := e.nextID(a.Kind)
	if e.quiet {
		e.log.Warn("alert not sent: this replica does not lead", "kind", a.Kind, "firing", id, "title", a.Title)
		return
	}
	e.log.Info("alert", "kind", a.Kind, "firing", id, "title", a.Title)
	e.send(&Message{Firing: id, Op: OpOpen, Alert: a, At: now})
}

// resolve ends *fp, if it is firing, with a message saying why: only for
// a firing that was announced, and only while the engine leads.
func (e *Engine) resolve(fp **firing, now time.Time, why string) {
	f := *fp
	if f == nil {
		return
	}
	*fp = nil
	if !f.announced || e.quiet {
		e.log.Debug("alert resolved; not sent", "kind", f.kind, "firing", f.id, "announced", f.announced, "quiet", e.quiet)
		return
	}
	e.log.Info("alert resolved", "kind", f.kind, "firing", f.id)
	e.send(&Message{Firing: f.id, Op: OpResolve, Alert: f.alert, At: now, Resolution: why})
}

// onLeading makes the engine quiet (this replica follows) or lets it send
// again (it leads). A replica that starts to lead announces what fires
// unannounced, and starts the drills-stale clock afresh.
func (e *Engine) onLeading(lead bool, now time.Time) {
	if lead == !e.quiet {
		return
	}
	e.quiet = !lead
	if !lead {
		e.log.Info("alerts: this replica does not lead; evaluating, sending nothing")
		return
	}
	e.log.Info("alerts: this replica leads; sending")
	e.started, e.tookOver = now, true
	if e.stale != nil && !e.stale.announced {
		e.stale = nil
	}
	for _, f := range e.firings() {
		if !f.announced {
			e.announce(f, now)
		}
	}
}

// onTick repeats what still fires and checks the dead-man's switch.
func (e *Engine) onTick(now time.Time) {
	if e.set.StaleAfter > 0 {
		since := maxTime(e.started, e.lastPass)
		if now.Sub(since) >= e.set.StaleAfter {
			if e.stale == nil {
				e.stale = e.open(KindDrillsStale, e.staleAlert(now), now, nil)
			} else {
				e.update(e.stale, e.staleAlert(now), now)
			}
		}
	}
	if e.set.RepeatInterval <= 0 || e.quiet {
		return
	}
	for _, f := range e.firings() {
		if f.announced && now.Sub(f.lastSent) >= e.set.RepeatInterval {
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
	for _, id := range sortedIDs(e.left) {
		add(e.left[id])
	}
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
		e.update(q.firing, a, now)
	case q.bad >= e.set.QuorumLostAfter:
		q.firing = e.open(KindQuorumLost, a, now, nil)
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
	case r.Status == run.StatusError || r.Status == run.StatusInterrupted:
		a := runAlert(KindDrillError, r, notes)
		if ds.errored == nil {
			ds.errored = e.open(KindDrillError, a, now, nil)
			sent = true
		} else {
			e.update(ds.errored, a, now)
		}
	case r.Status == run.StatusFailed:
		e.resolve(&ds.errored, now, fmt.Sprintf("Drill *%s* runs again (run %s).", esc(r.Drill), esc(r.ID)))
		a := runAlert(KindThresholdMissed, r, notes)
		if ds.missed == nil {
			ds.missed = e.open(KindThresholdMissed, a, now, nil)
			sent = true
		} else {
			e.update(ds.missed, a, now)
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
		if r.Status == run.StatusInterrupted {
			a.Title = fmt.Sprintf("Drill %s was interrupted", r.Drill)
			a.Text = fmt.Sprintf("Drill *%s* was interrupted: raftdrill stopped during the run (killed, crashed or its host went down) "+
				"and found it unfinished when it started again. Any node it had down is restored by raftdrill (see node-not-restored). %s",
				esc(r.Drill), esc(r.Error))
		}
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
	if e.tookOver {
		last = "No drill has passed since this replica became the leader at " + stamp(e.started) + "."
	}
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

func sortedIDs[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// onNode is node-not-restored: one firing per node, opened at the first
// failed attempt to bring it back (or the shutdown that leaves it down),
// resolved once when it serves again.
func (e *Engine) onNode(ev nodeEvent, now time.Time) {
	o := ev.o
	f := e.left[o.Node]
	if ev.restored {
		if f == nil && o.Firing != "" {
			// Announced by an earlier raftdrill and restored before this
			// one failed an attempt: resolve that announcement.
			f = &firing{id: o.Firing, kind: KindNodeNotRestored, alert: nodeAlert(o, now), announced: true}
		}
		if f == nil {
			return // never announced: restored at the first attempt
		}
		delete(e.left, o.Node)
		why := fmt.Sprintf("Node *%d* serves Kafka again, %s after drill *%s* (run %s) took it down; restored by raftdrill after %d attempts.",
			o.Node, RoundDuration(ev.down), esc(o.Drill), esc(o.Run), o.Attempts+1)
		if o.Cleared {
			why = fmt.Sprintf("Node *%d* was cleared from the restore journal by an operator (raftdrill state clear): raftdrill no longer restores it.", o.Node)
		}
		e.resolve(&f, now, why)
		return
	}
	a := nodeAlert(o, now)
	switch {
	case f != nil:
		e.update(f, a, now) // repeats show the latest attempt
	case o.Firing != "":
		e.left[o.Node] = &firing{id: o.Firing, kind: KindNodeNotRestored, lastSent: now, alert: a, announced: true}
		e.log.Info("node-not-restored still firing from before the restart", "node", o.Node, "firing", o.Firing)
	default:
		e.left[o.Node] = e.open(KindNodeNotRestored, a, now, o.Announced)
	}
}

func nodeAlert(o NodeOutage, now time.Time) Alert {
	a := Alert{Kind: KindNodeNotRestored, Drill: o.Drill, RunID: o.Run, Since: o.Since,
		Title: fmt.Sprintf("Node %d left down by drill %s", o.Node, o.Drill),
		Figures: []Figure{
			{Name: "Node", Value: fmt.Sprint(o.Node)},
			{Name: "Down since", Value: stamp(o.Since) + " (" + RoundDuration(now.Sub(o.Since)).String() + ")"},
			{Name: "Restore attempts", Value: fmt.Sprint(o.Attempts)},
		}}
	var b strings.Builder
	fmt.Fprintf(&b, "Drill *%s* (run %s) took node *%d* down and raftdrill has not brought it back.", esc(o.Drill), esc(o.Run), o.Node)
	if o.LastError != "" {
		fmt.Fprintf(&b, " Last attempt: %s", esc(o.LastError))
	}
	fmt.Fprintf(&b, "\nraftdrill keeps trying, with backoff and no limit, until the node serves Kafka; no drill runs meanwhile. "+
		"If the node is gone for good, `raftdrill state clear --node %d` stops it.", o.Node)
	a.Text = b.String()
	return a
}
