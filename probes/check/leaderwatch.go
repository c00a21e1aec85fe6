package check

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/run"
)

// Watch reads the drill topic's metadata through every live node for
// as long as a drill runs, and reports what a client would trip over:
//
//   - stale-leader: a live node names, as a partition's leader, a node the
//     drill killed: after another live leader has been named (the election
//     is over, beyond a short settling time), or longer than the grace
//     period after the kill, or, for an outage shorter than the grace
//     period, in its second half;
//   - leader-disagreement: live nodes name different live leaders for a
//     partition for longer than the grace period (naming a dead node is
//     stale-leader's finding, not this one's);
//   - no-election: no live node names a live leader for a partition for
//     longer than the election deadline while a majority of its replicas
//     is up (the clock stops while the majority is down, and while a dead
//     node is named: that is stale-leader).
//
// It also remembers when the drill had each node down, so that the checker
// can tell an ack given while a partition's majority was down
// (ack-without-quorum). The drill tells it of every kill and restart (the
// restorer does); it does not guess liveness from metadata, which is what
// it is checking.
type Watch struct {
	client   *kafka.Client
	topic    string
	grace    time.Duration
	deadline time.Duration
	interval time.Duration
	log      *slog.Logger

	mu       sync.Mutex
	nodes    []int32
	replicas map[int32][]int32 // per partition; nil: every node
	started  time.Time
	down     map[int32]time.Time // node → when the kill completed
	upAt     map[int32]time.Time // node → when its last restart completed
	outages  []outage
	parts    map[int32]*partWatch
	t        *run.Tally

	stopOnce sync.Once
	running  atomic.Bool
	stopCh   chan struct{}
	done     chan struct{}
}

// outage is one stretch of a node being down, as far as the drill knows:
// from the end of its kill to the start of its restart (zero: still down).
// Both ends are taken on the side that makes the window shorter, so that
// an ack is blamed on a missing quorum only if it surely had none.
type outage struct {
	node     int32
	from, to time.Time
}

// partWatch is what the watch remembers about one partition.
type partWatch struct {
	disagreeSince    time.Time
	disagreeReported bool
	// stale holds, per node the drill has down, what was seen of the
	// partition since its kill.
	stale         map[int32]*staleEpisode
	lastLed       time.Time // last observation with a live leader
	namedDead     time.Time // last observation naming a dead node
	leaderless    time.Time // start of the current leaderless spell with a majority up
	noElectionRep bool
}

// staleEpisode is one outage of one node as one partition's metadata showed
// it.
type staleEpisode struct {
	since     time.Time // the kill
	electedAt time.Time // first observation naming a live leader after it
	lastNamed time.Time // last observation in which a live node named the dead node
	namedBy   int32
	reported  bool
}

// settle is how long after another live leader is first named a node may
// still name the dead one: metadata reaches the nodes one by one.
func (w *Watch) settle() time.Duration { return min(w.grace/2, time.Second) }

// WatchSettings shapes a leader watch.
type WatchSettings struct {
	Grace            time.Duration
	ElectionDeadline time.Duration
}

// newLeaderWatch returns a watch that observes nothing until started.
// replicas gives each partition's replica set (nil or missing: every node).
func NewWatch(client *kafka.Client, topic string, replicas map[int32][]int32, s WatchSettings, log *slog.Logger) *Watch {
	nodes := make([]int32, 0, len(client.Nodes()))
	for _, n := range client.Nodes() {
		nodes = append(nodes, n.ID)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watch{
		client: client, topic: topic, grace: s.Grace, deadline: s.ElectionDeadline,
		interval: watchInterval(s), log: log,
		nodes: nodes, replicas: replicas, started: time.Now(),
		down: map[int32]time.Time{}, upAt: map[int32]time.Time{},
		parts: map[int32]*partWatch{}, t: run.NewTally(),
		stopCh: make(chan struct{}), done: make(chan struct{}),
	}
}

// watchInterval polls twenty times per grace period (or election deadline,
// if shorter): fine enough that a report comes at most 5 % late, coarse
// enough that the watch does not load the cluster it is watching.
func watchInterval(s WatchSettings) time.Duration {
	d := s.Grace
	if s.ElectionDeadline > 0 && s.ElectionDeadline < d {
		d = s.ElectionDeadline
	}
	return min(max(d/20, 20*time.Millisecond), 250*time.Millisecond)
}

// Start polls in the background until stop.
func (w *Watch) Start(ctx context.Context) {
	w.running.Store(true)
	go func() {
		defer close(w.done)
		conn := w.client.Pool()
		defer conn.Close()
		tick := time.NewTicker(w.interval)
		defer tick.Stop()
		for {
			w.observe(conn.Views(w.LiveNodes(), w.topic))
			select {
			case <-ctx.Done():
				return
			case <-w.stopCh:
				return
			case <-tick.C:
			}
		}
	}()
}

// Stop ends the polling and returns what the watch found.
func (w *Watch) Stop() []run.Anomaly {
	if w == nil {
		return nil
	}
	w.stopOnce.Do(func() { close(w.stopCh) })
	if w.running.Load() {
		<-w.done
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t.Anomalies(nil)
}

// NodeDown records that the drill killed node; at is when the kill was done.
func (w *Watch) NodeDown(node int32, at time.Time) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.down[node]; ok {
		return
	}
	w.down[node] = at
	w.outages = append(w.outages, outage{node: node, from: at})
}

// NodeUp records a restart that began at began and was done at done.
func (w *Watch) NodeUp(node int32, began, done time.Time) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.staleAtRestart(node, began)
	delete(w.down, node)
	w.upAt[node] = done
	for i := range w.outages {
		if o := &w.outages[i]; o.node == node && o.to.IsZero() {
			o.to = began
		}
	}
}

// IsDown reports whether the drill has node down now.
func (w *Watch) IsDown(node int32) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.down[node]
	return ok
}

// LiveNodes are the nodes the drill has not killed.
func (w *Watch) LiveNodes() []int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int32
	for _, n := range w.nodes {
		if _, ok := w.down[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

func (w *Watch) replicasOf(p int32) []int32 {
	if r, ok := w.replicas[p]; ok && len(r) > 0 {
		return r
	}
	return w.nodes
}

// QuorumUp reports whether more than half of p's replicas are up now.
func (w *Watch) QuorumUp(p int32) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.majorityUp(p)
}

// majorityUp is quorumUp for callers that hold mu.
func (w *Watch) majorityUp(p int32) bool {
	reps := w.replicasOf(p)
	up := 0
	for _, r := range reps {
		if _, ok := w.down[r]; !ok {
			up++
		}
	}
	return up*2 > len(reps)
}

// QuorumLost reports whether a majority of p's replicas was down for the
// whole of [start, done]: then no ack can have been a committed write.
func (w *Watch) QuorumLost(p int32, start, done time.Time) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	reps := w.replicasOf(p)
	if len(reps) == 0 {
		return false
	}
	downThroughout := 0
	for _, r := range reps {
		for _, o := range w.outages {
			if o.node == r && !o.from.After(start) && (o.to.IsZero() || !o.to.Before(done)) {
				downThroughout++
				break
			}
		}
	}
	return (len(reps)-downThroughout)*2 <= len(reps)
}

// observe takes one round of views (one per live node asked) and updates
// every partition's state. Its clock is the views' own arrival times, so
// tests can drive it with made-up views.
func (w *Watch) observe(views []kafka.View) {
	var at time.Time
	byPart := map[int32]map[int32]int32{} // partition → asker → named leader
	for _, v := range views {
		if v.Err != nil || v.Partitions == nil {
			continue
		}
		if v.At.After(at) {
			at = v.At
		}
		for p, ps := range v.Partitions {
			if byPart[p] == nil {
				byPart[p] = map[int32]int32{}
			}
			byPart[p][v.Node] = ps.Leader
		}
	}
	if at.IsZero() {
		return // no node answered: nothing to judge
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, named := range byPart {
		pw := w.parts[p]
		if pw == nil {
			pw = &partWatch{stale: map[int32]*staleEpisode{}}
			w.parts[p] = pw
		}
		w.checkDisagreement(p, pw, named, at)
		w.checkStale(p, pw, named, at)
		w.checkElection(p, pw, named, at)
	}
}

// checkDisagreement: live nodes naming different live leaders. A node that
// names none is not counted: during an election that is expected, and a
// partition no one leads is no-election's business; a node that names a
// dead one is stale-leader's.
func (w *Watch) checkDisagreement(p int32, pw *partWatch, named map[int32]int32, at time.Time) {
	distinct := map[int32]bool{}
	for _, l := range named {
		if _, dead := w.down[l]; l >= 0 && !dead {
			distinct[l] = true
		}
	}
	if len(distinct) < 2 {
		pw.disagreeSince, pw.disagreeReported = time.Time{}, false
		return
	}
	if pw.disagreeSince.IsZero() {
		pw.disagreeSince = at
	}
	if lasted := at.Sub(pw.disagreeSince); lasted > w.grace && !pw.disagreeReported {
		pw.disagreeReported = true
		w.t.Add(run.KindLeaderDisagreement, run.Example{Partition: p, Offset: -1, Seq: -1, Node: firstAsker(named)},
			"live nodes named different leaders for longer than the %s grace period (%s)", w.grace, describeNamed(named))
	}
}

// checkStale: a live node names a node the drill killed after another live
// leader has been named (beyond the settling time), or past the grace
// period since the kill. Each outage is reported once per partition.
func (w *Watch) checkStale(p int32, pw *partWatch, named map[int32]int32, at time.Time) {
	liveLed := false
	for _, l := range named {
		if _, dead := w.down[l]; l >= 0 && !dead {
			liveLed = true
		}
	}
	for node, since := range w.down {
		ep := pw.stale[node]
		if ep == nil || !ep.since.Equal(since) {
			ep = &staleEpisode{since: since}
			pw.stale[node] = ep
		}
		if liveLed && ep.electedAt.IsZero() {
			ep.electedAt = at
		}
	}
	for _, asker := range slices.Sorted(maps.Keys(named)) {
		l := named[asker]
		since, dead := w.down[l]
		if l < 0 || !dead {
			continue
		}
		ep := pw.stale[l]
		ep.lastNamed, ep.namedBy = at, asker
		pw.namedDead = at
		if ep.reported {
			continue
		}
		switch {
		case !ep.electedAt.IsZero() && at.Sub(ep.electedAt) > w.settle():
			ep.reported = true
			w.t.Add(run.KindStaleLeader, run.Example{Partition: p, Offset: -1, Seq: -1, Node: asker},
				"live node %d still named node %d leader %.1fs after it was killed and %.1fs after another live leader was named",
				asker, l, at.Sub(since).Seconds(), at.Sub(ep.electedAt).Seconds())
		case at.Sub(since) > w.grace:
			ep.reported = true
			w.t.Add(run.KindStaleLeader, run.Example{Partition: p, Offset: -1, Seq: -1, Node: asker},
				"live node %d still named node %d leader %.1fs after it was killed (grace %s)", asker, l, at.Sub(since).Seconds(), w.grace)
		}
	}
}

// staleAtRestart judges an outage shorter than the grace period when it
// ends: a dead node named in its second half (or later than the settling
// time, for a very short one) was named stale. Callers hold mu.
func (w *Watch) staleAtRestart(node int32, began time.Time) {
	since, dead := w.down[node]
	if !dead {
		return
	}
	outage := began.Sub(since)
	if outage >= w.grace {
		return
	}
	limit := max(outage/2, w.settle())
	for _, p := range slices.Sorted(maps.Keys(w.parts)) {
		ep := w.parts[p].stale[node]
		if ep == nil || ep.reported || !ep.since.Equal(since) || ep.lastNamed.IsZero() || ep.lastNamed.Sub(since) <= limit {
			continue
		}
		ep.reported = true
		w.t.Add(run.KindStaleLeader, run.Example{Partition: p, Offset: -1, Seq: -1, Node: ep.namedBy},
			"live node %d still named node %d leader %.1fs into its %.1fs outage (shorter than the %s grace: judged against half of it)",
			ep.namedBy, node, ep.lastNamed.Sub(since).Seconds(), outage.Seconds(), w.grace)
	}
}

// checkElection: no live leader named by anyone while a majority is up.
func (w *Watch) checkElection(p int32, pw *partWatch, named map[int32]int32, at time.Time) {
	led := false
	for _, l := range named {
		if _, dead := w.down[l]; l >= 0 && !dead {
			led = true
		}
	}
	switch {
	case led:
		pw.lastLed, pw.leaderless, pw.noElectionRep = at, time.Time{}, false
		return
	case pw.namedDead.Equal(at):
		pw.leaderless = time.Time{} // a dead node is named: stale-leader's finding
		return
	case !w.majorityUp(p):
		pw.leaderless = time.Time{} // nothing can be elected: the clock stops
		return
	case pw.leaderless.IsZero():
		pw.leaderless = w.leaderlessFrom(p, pw)
	}
	if lasted := at.Sub(pw.leaderless); lasted > w.deadline && !pw.noElectionRep {
		pw.noElectionRep = true
		w.t.Add(run.KindNoElection, run.Example{Partition: p, Offset: -1, Seq: -1},
			"no live leader for %.1fs while a majority of replicas was up (deadline %s)", lasted.Seconds(), w.deadline)
	}
}

// leaderlessFrom is the earliest moment the current leaderless spell can
// be said to have begun with a majority up: the last time the partition was
// seen led, the watch's start, or the last restart of one of its replicas
// (which may be what brought the majority back), whichever is latest.
func (w *Watch) leaderlessFrom(p int32, pw *partWatch) time.Time {
	from := w.started
	for _, t := range []time.Time{pw.lastLed, pw.namedDead} {
		if t.After(from) {
			from = t
		}
	}
	for _, r := range w.replicasOf(p) {
		if t := w.upAt[r]; t.After(from) {
			from = t
		}
	}
	return from
}

func firstAsker(named map[int32]int32) int32 {
	askers := make([]int32, 0, len(named))
	for a := range named {
		askers = append(askers, a)
	}
	slices.Sort(askers)
	if len(askers) == 0 {
		return 0
	}
	return askers[0]
}

// describeNamed renders who named whom, in node order: "node 1 → 2, node 2 → 3".
func describeNamed(named map[int32]int32) string {
	askers := make([]int32, 0, len(named))
	for a := range named {
		askers = append(askers, a)
	}
	slices.Sort(askers)
	out := ""
	for i, a := range askers {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("node %d → %d", a, named[a])
	}
	return out
}
