package alerts

import (
	"slices"
	"sync"
	"time"
)

// Planner knows which nodes are down because a drill took them down on
// purpose, and until when that excuses quorum loss. It learns it first
// hand: Control wraps the node controller the drills use, so every kill and
// restart is recorded before it happens, with no drill having to report it.
//
// A node a drill killed excuses quorum loss until the drill's recovery
// deadline: grace after the drill restarts it (elections take a moment), or
// grace after the drill ends if it never restarted it, and in any case no
// longer than maxOutage after the kill.
type Planner struct {
	grace     time.Duration
	maxOutage time.Duration

	mu      sync.Mutex
	run     string // the running drill's run id, "" when none
	drill   string
	windows map[int32]*window
}

// window is one node's planned outage.
type window struct {
	run, drill  string
	killedAt    time.Time
	restartedAt time.Time // zero until the drill restarted it
	endedAt     time.Time // zero until the drill finished
}

func (w *window) deadline(grace, maxOutage time.Duration) time.Time {
	limit := w.killedAt.Add(maxOutage)
	switch {
	case !w.restartedAt.IsZero():
		return minTime(w.restartedAt.Add(grace), limit.Add(grace))
	case !w.endedAt.IsZero():
		return minTime(w.endedAt.Add(grace), limit)
	default:
		return limit
	}
}

// NewPlanner returns a planner with the drill recovery grace and the
// longest outage a drill may cause (alerts.drill_recovery_grace,
// alerts.drill_max_outage).
func NewPlanner(grace, maxOutage time.Duration) *Planner {
	return &Planner{grace: grace, maxOutage: maxOutage, windows: map[int32]*window{}}
}

// SetTimes replaces the grace and the longest outage (a config reload).
func (p *Planner) SetTimes(grace, maxOutage time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.grace, p.maxOutage = grace, maxOutage
}

// Begin records that a drill run started.
func (p *Planner) Begin(run, drill string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.run, p.drill = run, drill
}

// End records that a drill run finished: its recovery deadline starts for
// the nodes it did not restart.
func (p *Planner) End(run string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run == run {
		p.run, p.drill = "", ""
	}
	for _, w := range p.windows {
		if w.run == run && w.endedAt.IsZero() {
			w.endedAt = at
		}
	}
}

func (p *Planner) killing(id int32, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.windows[id] = &window{run: p.run, drill: p.drill, killedAt: at}
}

func (p *Planner) restarted(id int32, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.windows[id]; w != nil && w.restartedAt.IsZero() {
		w.restartedAt = at
	}
}

// Verdict is the planner's view of a quorum loss.
type Verdict struct {
	// Planned: every node down was killed by a drill and is within its
	// recovery deadline, so the loss is the drill's doing.
	Planned bool
	// The drill whose kills explain, or until Deadline explained, the
	// loss; empty when no drill had a hand in it.
	Run, Drill string
	Nodes      []int32 // the nodes it killed that are down
	Deadline   time.Time
}

// Explain judges a quorum loss seen at now with the given nodes down. A
// loss with no node down (partitions still electing after a restart)
// counts as planned while any drill window is open.
func (p *Planner) Explain(down []int32, now time.Time) Verdict {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneLocked(now)
	var v Verdict
	open := false
	var latest *window // the most recent drill activity, to name in a page
	var latestDL time.Time
	for id, w := range p.windows {
		dl := w.deadline(p.grace, p.maxOutage)
		if now.Before(dl) {
			open = true
		}
		if slices.Contains(down, id) || now.Before(dl) {
			if v.Run == "" || dl.After(v.Deadline) {
				v.Run, v.Drill, v.Deadline = w.run, w.drill, dl
			}
		}
		if slices.Contains(down, id) {
			v.Nodes = append(v.Nodes, id)
		}
		if latest == nil || dl.After(latestDL) {
			latest, latestDL = w, dl
		}
	}
	// Nodes back, quorum not: the drill that just ended its outage is
	// still the likely cause, worth naming.
	if v.Run == "" && latest != nil && now.Sub(latestDL) < p.maxOutage {
		v.Run, v.Drill, v.Deadline = latest.run, latest.drill, latestDL
	}
	slices.Sort(v.Nodes)
	v.Planned = open
	for _, id := range down {
		w := p.windows[id]
		if w == nil || !now.Before(w.deadline(p.grace, p.maxOutage)) {
			v.Planned = false
		}
	}
	return v
}

// pruneLocked forgets windows long past, so the map stays small.
func (p *Planner) pruneLocked(now time.Time) {
	for id, w := range p.windows {
		if now.Sub(w.deadline(p.grace, p.maxOutage)) > time.Hour {
			delete(p.windows, id)
		}
	}
}

// Killing is told of every kill before it happens: the drill's Restorer
// calls it (the planner is one of the drill's node observers).
func (p *Planner) Killing(id int32, at time.Time) { p.killing(id, at) }

// Restarted is told of every restart after it worked.
func (p *Planner) Restarted(id int32, at time.Time) { p.restarted(id, at) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
