package splitbrain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/check"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/run"
)

// Name is the drill's name.
const Name = "split-brain"

// Spec registers the drill.
var Spec = drill.Spec{
	Name:     Name,
	Defaults: func() any { return Defaults() },
	New: func(c *config.Config) drill.Drill {
		return &splitBrain{cfg: c, sb: config.Get[*Config](c, drill.SectionKey(Name))}
	},
	Measures: []run.Measure{
		run.StepdownSeconds, run.ElectionSeconds, run.FailoverSeconds, run.HealSeconds, run.SuccessRatio,
		run.MinorityAcks,
		run.MessagesSent, run.MessagesAcked, run.MessagesFailed, run.MessagesIndet,
		run.MessagesConsumed, run.MessagesLost, run.MessagesDup, run.MessagesCorrupt, run.IndetVisible,
		run.OldLeader, run.NewLeader,
	},
}

type splitBrain struct {
	cfg *config.Config
	sb  *Config
}

func (d *splitBrain) Schedule() string { return d.sb.Schedule }

func (d *splitBrain) Criteria() []string {
	out := []string{run.ElectionSeconds.Key, run.FailoverSeconds.Key}
	if d.sb.Thresholds.MaxStepdownSeconds > 0 {
		out = append(out, run.StepdownSeconds.Key)
	}
	return append(out, run.HealSeconds.Key, run.SuccessRatio.Key, run.MinorityAcks.Key,
		run.MessagesLost.Key, run.MessagesCorrupt.Key, run.ClusterRecovered.Key)
}

// pinnedSuffix marks the run id of the writes pinned to the old leader: a
// second producer on the target partition, with its own sequence numbers.
const pinnedSuffix = "-pinned"

// state is one run of the drill and what it learns on the way.
type state struct {
	sb    *Config
	topic config.Topic
	env   drill.Env
	res   *run.Result
	ds    *drill.Disruptor
	watch *check.Watch

	from   map[int32]int64
	sends  map[int32][]kafka.Send // the load, through whichever node leads
	pinned []kafka.Send           // the writes to the old leader alone
	reads  check.Reads

	loaded bool
	// mu guards what the watchers and the drill's own goroutine share:
	// actsAt and the step-down.
	mu        sync.Mutex
	old       int32 // the leader cut off
	peers     []int32
	disruptAt time.Time // the disruption began
	actsAt    time.Time // the old leader could act on its own again: disruptAt, or the resume
	healAt    time.Time
	electedAt time.Time
	newLeader int32
	// stepdownAt is when the old leader was first seen refusing to lead
	// (its metadata naming another leader or none, or a write refused as
	// not the leader's), at or after actsAt.
	stepdownAt  time.Time
	stepdownHow string
	// majority is what the other nodes named as leader over time.
	majority  []sighting
	caughtUp  time.Time
	behind    string // who had not caught up at heal_timeout
	recovered bool
}

// sighting is the leader the majority side named at a moment (-1: none).
type sighting struct {
	at     time.Time
	leader int32
}

func (d *splitBrain) Run(ctx context.Context, env drill.Env) (res run.Result) {
	res.Measurements = run.Measurements{}
	defer res.Finish()
	s := &state{sb: d.sb, topic: env.Topic(), env: env, res: &res, old: -1, newLeader: -1, recovered: true}
	s.ds = drill.NewDisruptor(env, &res)
	defer s.cleanup(ctx)
	sb := d.sb
	what := "cut off from its peers (clients still reach it)"
	if sb.Mode == control.Pause {
		what = "frozen"
	}
	drill.RunSteps(ctx, env, &res, []drill.Step{
		{Name: "preflight", Title: fmt.Sprintf("every node up, every partition of %q led, and the controller can %s a node", s.topic.Name, sb.Mode), Do: s.preflight},
		{Name: "load-and-disrupt", Title: fmt.Sprintf("produce %.0f msg/s of %d B with acks=%s through every node and %.0f msg/s to the leader alone; after %s the leader of partition %d is %s for %s, then writes go on for %s",
			sb.Rate, sb.MessageSize, sb.Acks, sb.PinnedRate, sb.DisruptAfter, sb.TargetPartition, what, sb.Duration, sb.After), Do: s.loadAndDisrupt},
		{Name: "recovery", Title: fmt.Sprintf("every partition led again within %s", sb.RecoveryTimeout), Do: s.recovery},
		{Name: "read-back", Title: "read every partition back through each node", Do: s.readBack},
		{Name: "classify", Title: "judge every acked write, the old leader's among them, against the committed log", Do: s.classify},
	})
	if s.loaded {
		s.figures()
	}
	return res
}

// cleanup heals and resumes whatever is still disrupted, however the drill
// ended.
func (s *state) cleanup(ctx context.Context) {
	if s.watch != nil {
		if found := s.watch.Stop(); len(s.res.Anomalies) == 0 {
			s.res.Anomalies = found
		}
	}
	drill.NoteRestoreError(s.res, s.ds.Undo(ctx, s.sb.RecoveryTimeout))
}

func (s *state) preflight(ctx context.Context) (string, bool, error) {
	// Before anything else: a controller that cannot do the mode must not
	// get as far as disturbing the cluster.
	if err := control.Supports(s.env.Control, s.sb.Mode); err != nil {
		ctl := "node"
		if s.env.Config != nil {
			ctl = s.env.Config.Cluster.Controller.Type
		}
		return "", false, fmt.Errorf("drills.%s.mode %s: the %s controller: %w (docs/controllers.md, \"Cutting off and freezing nodes\", says which can)", Name, s.sb.Mode, ctl, err)
	}
	if err := drill.Preflight(ctx, s.env); err != nil {
		return "", false, err
	}
	views := s.env.Client.Views(s.topic.Name)
	replicas := kafka.ReplicaSets(views)
	if err := drill.NeedReplicas(replicas, s.sb.TargetPartition); err != nil {
		return "", false, err
	}
	s.from = s.env.Client.EndOffsets(s.topic.Name, s.topic.Partitions)
	s.watch = check.NewWatch(s.env.Client, s.topic.Name, replicas,
		check.WatchSettings{Grace: s.sb.LeaderGrace, ElectionDeadline: s.sb.ElectionDeadline}, s.env.Log)
	s.watch.Start(ctx)
	return fmt.Sprintf("all %d nodes up; leaders: %s", len(s.env.Client.Nodes()), kafka.DescribeLeaders(views, s.topic.Partitions)), true, nil
}

func (s *state) loadAndDisrupt(ctx context.Context) (string, bool, error) {
	sb := s.sb
	start := time.Now()
	end := start.Add(sb.DisruptAfter + sb.Duration + sb.After)
	loadCtx, stopLoad := context.WithDeadline(ctx, end)
	defer stopLoad()

	// Who leads the target partition now is who gets cut off; the pinned
	// writes go to it from the start, so that it is seen acking before.
	s.old = kafka.CurrentLeader(s.env.Client.Views(s.topic.Name), sb.TargetPartition)
	if s.old < 0 {
		return "", false, fmt.Errorf("no node names a live leader of partition %d", sb.TargetPartition)
	}
	for _, n := range s.env.Client.Nodes() {
		if n.ID != s.old {
			s.peers = append(s.peers, n.ID)
		}
	}

	s.sends = make(map[int32][]kafka.Send, s.topic.Partitions)
	var mu sync.Mutex
	var wg sync.WaitGroup
	perPartition := sb.Rate / float64(s.topic.Partitions)
	for p := int32(0); p < s.topic.Partitions; p++ {
		pp := s.env.Client.NewProducer(kafka.ProducerOptions{Topic: s.topic.Name, Partition: p, Run: s.env.RunID,
			Size: sb.MessageSize, Acks: sb.RequiredAcks(), Leader: -1})
		wg.Go(func() {
			out := drill.ProduceAtRate(loadCtx, pp, start, perPartition)
			mu.Lock()
			s.sends[p] = out
			mu.Unlock()
		})
	}
	pinned := s.env.Client.NewProducer(kafka.ProducerOptions{Topic: s.topic.Name, Partition: sb.TargetPartition,
		Run: s.env.RunID + pinnedSuffix, Size: sb.MessageSize, Acks: sb.RequiredAcks(), Leader: s.old, Pinned: true})
	wg.Go(func() { s.pinned = drill.ProduceAtRate(loadCtx, pinned, start, sb.PinnedRate) })

	err := s.disruptAndWatch(ctx, loadCtx, start)
	wg.Wait()
	if err != nil {
		return "", false, err
	}
	if ctx.Err() != nil {
		return "", false, fmt.Errorf("drill cancelled: %w", ctx.Err())
	}
	s.loaded = true
	b := drill.Tally(s.sends)
	var parts []string
	parts = append(parts, fmt.Sprintf("node %d, the leader of partition %d, %s for %s", s.old, sb.TargetPartition, s.verbed(), sb.Duration))
	if s.electedAt.IsZero() {
		parts = append(parts, fmt.Sprintf("no new leader within %s", sb.ElectionDeadline))
	} else {
		parts = append(parts, fmt.Sprintf("node %d elected after %.3fs", s.newLeader, s.electedAt.Sub(s.disruptAt).Seconds()))
	}
	if s.stepdownAt.IsZero() {
		parts = append(parts, "the old leader was never seen stepping down")
	} else {
		parts = append(parts, fmt.Sprintf("the old leader stepped down %.3fs after it %s (%s)", s.stepdownAt.Sub(s.actsAt).Seconds(), s.actsWhat(), s.stepdownHow))
	}
	parts = append(parts, "writes: "+b.String())
	return strings.Join(parts, "; "), !s.electedAt.IsZero(), nil
}

func (s *state) verbed() string {
	if s.sb.Mode == control.Pause {
		return "paused"
	}
	return "isolated"
}

// actsWhat says what actsAt is.
func (s *state) actsWhat() string {
	if s.sb.Mode == control.Pause {
		return "was resumed"
	}
	return "was cut off"
}

// disruptAndWatch disrupts the old leader at disrupt_after, watches both
// sides until the load ends, and undoes the disruption after duration.
func (s *state) disruptAndWatch(ctx, loadCtx context.Context, start time.Time) error {
	sb := s.sb
	if !drill.Sleep(ctx, time.Until(start.Add(sb.DisruptAfter))) {
		return fmt.Errorf("drill cancelled: %w", ctx.Err())
	}
	s.env.Progressf("%s node %d, leader of partition %d", map[string]string{control.Isolate: "isolating", control.Pause: "pausing"}[sb.Mode], s.old, sb.TargetPartition)
	s.disruptAt = time.Now()
	var err error
	if sb.Mode == control.Pause {
		err = s.ds.Pause(ctx, s.old)
	} else {
		err = s.ds.Isolate(ctx, s.old, s.peers)
	}
	if err != nil {
		return err
	}
	s.actsAt = s.disruptAt
	s.env.Record(s.res, run.NewEvent(s.disruptAt, s.sb.Mode, s.old, "%s the leader of partition %d (peers %v)", s.verbed(), sb.TargetPartition, s.peers))

	watchCtx, stopWatch := context.WithCancel(loadCtx)
	defer stopWatch()
	var wg sync.WaitGroup
	wg.Go(func() { s.watchMajority(watchCtx) })
	wg.Go(func() { s.watchOldLeader(watchCtx) })

	healErr := func() error {
		if !drill.Sleep(ctx, time.Until(s.disruptAt.Add(sb.Duration))) {
			return fmt.Errorf("drill cancelled: %w", ctx.Err())
		}
		s.env.Progressf("%s node %d", map[string]string{control.Isolate: "healing", control.Pause: "resuming"}[sb.Mode], s.old)
		s.healAt = time.Now()
		if sb.Mode == control.Pause {
			// The old leader acts again from here, with whatever it
			// believed when it was frozen.
			s.mu.Lock()
			s.actsAt = s.healAt
			s.mu.Unlock()
		}
		return s.ds.Undo(ctx, sb.RecoveryTimeout)
	}()
	if healErr == nil {
		s.waitCaughtUp(ctx)
	}
	if healErr == nil {
		<-loadCtx.Done()
	}
	stopWatch()
	wg.Wait()
	if !s.electedAt.IsZero() {
		s.env.Record(s.res, run.NewEvent(s.electedAt, "elected", s.newLeader, "a node of the majority names a new leader"))
	}
	return healErr
}

// watchMajority polls the old leader's peers for the target partition's
// leader until ctx ends: the first live leader other than the old one is
// the election; every answer is kept, to tell later whom the majority
// followed when the old leader acked.
func (s *state) watchMajority(ctx context.Context) {
	sb := s.sb
	poll := s.env.Client.Pool()
	defer poll.Close()
	tick := time.NewTicker(sb.PollInterval)
	defer tick.Stop()
	for {
		var named []int32
		var at time.Time
		for _, v := range poll.Views(s.peers, s.topic.Name) {
			if v.Err != nil {
				continue
			}
			at = v.At
			l, ok := v.LiveLeader(sb.TargetPartition)
			if !ok {
				l = -1
			}
			named = append(named, l)
			if ok && l != s.old && s.electedAt.IsZero() {
				s.mu.Lock()
				s.electedAt, s.newLeader = v.At, l
				s.mu.Unlock()
				s.env.Progressf("node %d elected leader of partition %d after %.3fs", l, sb.TargetPartition, v.At.Sub(s.disruptAt).Seconds())
			}
		}
		if len(named) > 0 {
			s.majority = append(s.majority, sighting{at: at, leader: agreed(named)})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// agreed is the leader most of the answers named (-1 when they split
// evenly or named none).
func agreed(named []int32) int32 {
	count := map[int32]int{}
	for _, l := range named {
		count[l]++
	}
	best, n := int32(-1), 0
	for l, c := range count {
		if c > n || (c == n && l < best) {
			best, n = l, c
		}
	}
	if n*2 <= len(named) {
		return -1
	}
	return best
}

// watchOldLeader asks the old leader itself whom it names as the leader,
// until it names another node or none (it has stepped down) or ctx ends.
// A frozen node answers nothing: its answers come once it is resumed.
func (s *state) watchOldLeader(ctx context.Context) {
	sb := s.sb
	poll := s.env.Client.Pool()
	defer poll.Close()
	tick := time.NewTicker(sb.PollInterval)
	defer tick.Stop()
	for {
		v := poll.Metadata(s.old, s.topic.Name)
		s.mu.Lock()
		acts := s.actsAt
		s.mu.Unlock()
		if v.Err == nil {
			if ps, ok := v.Partitions[sb.TargetPartition]; ok && ps.Leader != s.old && !v.At.Before(acts) {
				s.stepped(v.At, fmt.Sprintf("its metadata names %s", leaderName(ps.Leader)))
				return
			}
		} else {
			poll.Drop(s.old)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// stepped records the old leader's step-down at the earliest sign of it.
func (s *state) stepped(at time.Time, how string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stepdownAt.IsZero() || at.Before(s.stepdownAt) {
		s.stepdownAt, s.stepdownHow = at, how
	}
}

func leaderName(id int32) string {
	if id < 0 {
		return "no leader"
	}
	return fmt.Sprintf("node %d as leader", id)
}

// waitCaughtUp waits, up to heal_timeout, until every replica of the
// target partition has reached the high watermark the leader had at the
// heal, as each replica itself reports it.
func (s *state) waitCaughtUp(ctx context.Context) {
	sb := s.sb
	p := sb.TargetPartition
	replicas := kafka.ReplicaSets(s.env.Client.Views(s.topic.Name))[p]
	if len(replicas) == 0 {
		return
	}
	s.mu.Lock()
	leader := s.newLeader
	s.mu.Unlock()
	if leader < 0 {
		leader = kafka.CurrentLeader(s.env.Client.Views(s.topic.Name), p)
	}
	readers := map[int32]*kafka.LogReader{}
	reads := map[int32]*kafka.LogRead{}
	for _, n := range replicas {
		r, err := s.env.Client.NewLogReader(n)
		if err != nil {
			continue
		}
		defer r.Close()
		readers[n] = r
		reads[n] = kafka.NewLogRead(n, s.topic.Name, p, s.from[p], "")
	}
	target := int64(-1)
	deadline := s.healAt.Add(sb.HealTimeout)
	tick := time.NewTicker(max(sb.PollInterval, 50*time.Millisecond))
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if target < 0 && leader >= 0 && readers[leader] != nil {
			readers[leader].Read(ctx, reads[leader])
			if hw := reads[leader].HighWatermark; hw >= 0 {
				target = hw
			}
		}
		if target >= 0 {
			var behind []string
			for _, n := range replicas {
				lr := reads[n]
				if lr == nil {
					behind = append(behind, fmt.Sprintf("node %d unreadable", n))
					continue
				}
				if lr.HighWatermark < target {
					readers[n].Read(ctx, lr)
				}
				if lr.HighWatermark < target {
					behind = append(behind, fmt.Sprintf("node %d at %d", n, max(lr.HighWatermark, lr.End)))
				}
			}
			if len(behind) == 0 {
				s.caughtUp = time.Now()
				s.env.Progressf("every replica of partition %d caught up %.3fs after the heal", p, s.caughtUp.Sub(s.healAt).Seconds())
				s.env.Record(s.res, run.NewEvent(s.caughtUp, "caught-up", -1, "every replica of partition %d reached offset %d", p, target))
				return
			}
			s.behind = fmt.Sprintf("%s, short of %d", strings.Join(behind, ", "), target)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	if s.behind == "" {
		s.behind = "no leader's high watermark could be read"
	}
	s.env.Record(s.res, run.NewEvent(time.Now(), "not-caught-up", -1, "%s after %s", s.behind, sb.HealTimeout))
}

func (s *state) recovery(ctx context.Context) (string, bool, error) {
	detail, led := drill.AllLed(ctx, s.env, s.topic, s.sb.RecoveryTimeout, s.res)
	s.recovered = led
	return detail, led, nil
}

func (s *state) readBack(ctx context.Context) (string, bool, error) {
	reads, detail, complete, err := s.sb.ReadBack.Read(ctx, s.env, "drills.split-brain", s.topic, s.from, s.res)
	s.reads = reads
	return detail, complete, err
}

func (s *state) classify(context.Context) (string, bool, error) {
	in := check.Input{Run: s.env.RunID, Sends: s.sends, Parts: s.reads.Parts,
		Streams: []check.Stream{{Run: s.env.RunID + pinnedSuffix, Sends: map[int32][]kafka.Send{s.sb.TargetPartition: s.pinned}}}}
	rep := check.Check(in)
	found := rep.Anomalies
	if a, ok := s.minorityAcks(); ok {
		found = run.MergeAnomalies(found, []run.Anomaly{a})
	}
	s.res.Anomalies = run.MergeAnomalies(found, s.watch.Stop())
	rep.Measure(s.res.Measurements)
	detail := fmt.Sprintf("%d acked, %d intact at their offsets in the committed log", rep.Acked, rep.AckedRecovered)
	if rep.Unjudged > 0 {
		detail += fmt.Sprintf("; %d acks not judged: no committed log could be read there", rep.Unjudged)
	}
	if len(s.res.Anomalies) == 0 {
		return detail + "; no anomaly", rep.Unjudged == 0, nil
	}
	return detail + "; anomalies: " + run.Summary(s.res.Anomalies), false, nil
}

// deadline is when the old leader must have stopped acknowledging.
func (s *state) deadline() time.Time { return s.actsAt.Add(s.sb.StepdownDeadline) }

// isMinorityAck says whether a pinned write the old leader acked came
// from the minority: answered after its step-down deadline, while it was
// cut off, or while the majority named another node as leader. An old
// leader re-elected after the heal acks rightly again.
func (s *state) isMinorityAck(sd kafka.Send) bool {
	if sd.Outcome != kafka.Acked || sd.Done().Before(s.deadline()) {
		return false
	}
	if s.sb.Mode == control.Isolate && !s.healAt.IsZero() && sd.Done().Before(s.healAt) {
		return true
	}
	l := s.majorityAt(sd.Done())
	return l >= 0 && l != s.old
}

// majorityAt is the leader the majority last named at or before t.
func (s *state) majorityAt(t time.Time) int32 {
	i, _ := slices.BinarySearchFunc(s.majority, t, func(x sighting, t time.Time) int { return x.at.Compare(t) })
	// i is the first sighting at or after t; the one before it was in force.
	if i < len(s.majority) && s.majority[i].at.Equal(t) {
		return s.majority[i].leader
	}
	if i == 0 {
		return -1
	}
	return s.majority[i-1].leader
}

// minorityAcks lists the writes the minority acknowledged, as one
// ack-without-quorum anomaly.
func (s *state) minorityAcks() (run.Anomaly, bool) {
	if s.disruptAt.IsZero() {
		return run.Anomaly{}, false
	}
	var acked []kafka.Send
	for _, sd := range s.pinned {
		if s.isMinorityAck(sd) {
			acked = append(acked, sd)
		}
	}
	if len(acked) == 0 {
		return run.Anomaly{}, false
	}
	first, last := acked[0], acked[len(acked)-1]
	t := run.NewTally()
	for _, sd := range acked {
		t.Add(run.KindAckWithoutQuorum, run.Example{Partition: s.sb.TargetPartition, Offset: sd.Offset, Seq: sd.Seq, Node: sd.Node},
			"node %d, cut off from the majority, acknowledged %d writes past its step-down deadline (%s after it %s): "+
				"the writes sent to it alone (run id %s%s), seq %d–%d, acked at offsets %d–%d, %.3fs to %.3fs after it %s",
			s.old, len(acked), s.sb.StepdownDeadline, s.actsWhat(), s.env.RunID, pinnedSuffix, first.Seq, last.Seq, first.Offset, last.Offset,
			first.Done().Sub(s.actsAt).Seconds(), last.Done().Sub(s.actsAt).Seconds(), s.actsWhat())
	}
	return t.Anomalies(nil)[0], true
}

// figures fills the measurements and criteria once the load has run.
func (s *state) figures() {
	sb, m := s.sb, s.res.Measurements
	// Message counts cover both the load and the writes pinned to the old
	// leader, as the checker's do; the success ratio is the load's alone:
	// the old leader is meant to refuse the pinned writes.
	all := drill.Tally(s.sends)
	for _, sd := range s.pinned {
		all.Add(sd)
	}
	all.Measure(m)
	if _, ok := m.Get(run.MessagesAcked); !ok {
		m.Set(run.MessagesAcked, float64(all.Acked))
	}
	m.Set(run.SuccessRatio, drill.Tally(s.sends).Ratio())
	s.res.Latencies = drill.Latencies(s.sends)
	m.Set(run.OldLeader, float64(s.old))
	m.Set(run.NewLeader, float64(s.newLeader))

	// A write the old leader refused as no longer its own is a step-down
	// too, and may come before its metadata says so.
	for _, sd := range s.pinned {
		if sd.Outcome != kafka.Acked && !sd.Done().Before(s.actsAt) && notLeader(sd.Err) {
			s.stepped(sd.Done(), fmt.Sprintf("it refused a write: %v", sd.Err))
			break
		}
	}
	stepdown := -1.0
	if !s.stepdownAt.IsZero() {
		stepdown = s.stepdownAt.Sub(s.actsAt).Seconds()
		m.Set(run.StepdownSeconds, run.RoundMs(stepdown))
		s.env.Record(s.res, run.NewEvent(s.stepdownAt, "stepped-down", s.old, "%s", s.stepdownHow))
	}
	minority := 0
	for _, sd := range s.pinned {
		if s.isMinorityAck(sd) {
			minority++
		}
	}
	m.Set(run.MinorityAcks, float64(minority))

	election, failover, first, ok := drill.Failover(s.sends[sb.TargetPartition], s.disruptAt, s.old, s.electedAt)
	if ok {
		s.res.Events = append(s.res.Events, run.NewEvent(first.Done(), "first-ack", first.Node,
			"first write to partition %d acked by the majority side (offset %d)", sb.TargetPartition, first.Offset))
	}
	if election >= 0 {
		m.Set(run.ElectionSeconds, run.RoundMs(election))
	}
	if failover >= 0 {
		m.Set(run.FailoverSeconds, run.RoundMs(failover))
	}
	heal := -1.0
	if !s.caughtUp.IsZero() {
		heal = s.caughtUp.Sub(s.healAt).Seconds()
		m.Set(run.HealSeconds, run.RoundMs(heal))
	}
	recovered := 0.0
	if s.recovered {
		recovered = 1
	}
	th := sb.Thresholds
	cs := []run.Criterion{
		run.Judge(run.ElectionSeconds, "<", sb.ElectionDeadline.Seconds(), run.OrNotMeasured(run.RoundMs(election))),
		run.Judge(run.FailoverSeconds, "<", th.MaxFailoverSeconds, run.OrNotMeasured(run.RoundMs(failover))),
	}
	if th.MaxStepdownSeconds > 0 {
		cs = append(cs, run.Judge(run.StepdownSeconds, "<", th.MaxStepdownSeconds, run.OrNotMeasured(run.RoundMs(stepdown))))
	}
	s.res.Criteria = append(cs,
		run.Judge(run.HealSeconds, "<", sb.HealTimeout.Seconds(), run.OrNotMeasured(run.RoundMs(heal))),
		run.Judge(run.SuccessRatio, ">", th.MinSuccessRatio, m.Value(run.SuccessRatio)),
		run.Judge(run.MinorityAcks, "<=", float64(th.MaxMinorityAcks), float64(minority)),
		run.Judge(run.MessagesLost, "<=", float64(th.MaxLost), m.Value(run.MessagesLost)),
		run.Judge(run.MessagesCorrupt, "<=", float64(th.MaxCorrupted), m.Value(run.MessagesCorrupt)),
		run.Judge(run.ClusterRecovered, ">=", 1, recovered),
	)
}

// notLeader says whether a produce error is a node saying it does not
// lead the partition (any more).
func notLeader(err error) bool {
	return errors.Is(err, sarama.ErrNotLeaderForPartition) || errors.Is(err, sarama.ErrFencedLeaderEpoch) ||
		errors.Is(err, sarama.ErrLeaderNotAvailable)
}
