package recovery

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/check"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/run"
)

// failureRecovery is the guide's end-to-end failure-recovery test done
// properly. The original assumed node 1 led and node 3 followed, expected
// writes to work with one node of three alive, and never called its
// consistency check. This drill looks every victim up in metadata, expects
// writes to be refused without a majority (any ack then is
// ack-without-quorum), reads every partition back through every node and
// classifies each message it sent.
type failureRecovery struct {
	fr *Config
}

// Name is the drill's name.
const Name = "failure-recovery"

// Spec registers the drill.
var Spec = drill.Spec{
	Name:     Name,
	Defaults: func() any { return Defaults() },
	New: func(c *config.Config) drill.Drill {
		return &failureRecovery{fr: config.Get[*Config](c, drill.SectionKey(Name))}
	},
	Measures: []run.Measure{
		run.ElectionSeconds, run.RecoverySeconds, run.SuccessRatio, run.AckedRecovered, run.SentRecovered, run.NodesRecovered,
		run.MessagesSent, run.MessagesAcked, run.MessagesFailed, run.MessagesIndet,
		run.MessagesConsumed, run.MessagesLost, run.MessagesDup, run.MessagesCorrupt, run.IndetVisible,
		run.KilledFollower, run.KilledLeader, run.NewLeader,
	},
}

func (d *failureRecovery) Schedule() string { return d.fr.Schedule }

// batchCriteria are the criteria on each writing step's ack ratio, in step
// order.
var batchCriteria = []run.Measure{run.InitialAckRatio, run.FollowerLossAckRatio, run.LeaderLossAckRatio, run.RecoveryAckRatio}

// Criteria of failure-recovery, in the order the report shows them.
func (d *failureRecovery) Criteria() []string {
	ms := []run.Measure{run.AnomalyCount, run.AckedRecovered, run.SentRecovered, run.NodesRecovered, run.ElectionSeconds, run.RecoverySeconds}
	ms = append(ms, batchCriteria...)
	if d.fr.Steps.MajorityLoss {
		ms = append(ms, run.MajorityLossAcked, run.QuorumLossObserved)
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Key
	}
	return names
}

// Step names, as the run's steps array shows them.
const (
	stepPreflight    = "preflight"
	stepProduce      = "produce"
	stepFollowerLoss = "follower-loss"
	stepLeaderLoss   = "leader-loss"
	stepMajorityLoss = "majority-loss"
	stepRecovery     = "recovery"
	stepReadBack     = "read-back"
	stepClassify     = "classify"
)

// recoveryRun is one run of the drill and everything it learns on the way.
type recoveryRun struct {
	from     map[int32]int64 // each partition's end before the drill wrote
	fr       *Config
	topic    config.Topic
	env      drill.Env
	res      *run.Result
	rs       *drill.Restorer
	watch    *check.Watch
	replicas map[int32][]int32
	prods    []*kafka.Producer
	sends    [][]kafka.Send // per partition, indexed by sequence number
	// load holds the writes through the leader kill, their own stream on
	// the target partition (run id with killLoadSuffix), indexed by
	// sequence number.
	load  []kafka.Send
	reads check.Reads

	ratios         map[string]float64 // measurement key → a step's ack ratio
	electionSecs   float64            // -1: not measured
	recoverySecs   float64            // -1: not measured
	nodesRecovered int
	majoritySent   int
	majorityAcked  int
	quorumObserved bool
	killedFollower int32
	killedLeader   int32
	newLeader      int32
}

func (d *failureRecovery) Run(ctx context.Context, env drill.Env) (res run.Result) {
	res.Measurements = run.Measurements{}
	defer res.Finish()
	r := &recoveryRun{
		fr: d.fr, topic: env.Topic(), env: env, res: &res,
		ratios: map[string]float64{}, electionSecs: -1, recoverySecs: -1,
		killedFollower: -1, killedLeader: -1, newLeader: -1,
	}
	r.rs = drill.NewRestorer(env, &res)
	for p := int32(0); p < r.topic.Partitions; p++ {
		r.prods = append(r.prods, env.Client.NewProducer(kafka.ProducerOptions{Topic: r.topic.Name, Partition: p, Run: env.RunID,
			Size: d.fr.MessageSize, Acks: config.RequiredAcks(d.fr.Acks), Leader: -1}))
	}
	r.sends = make([][]kafka.Send, r.topic.Partitions)
	defer r.cleanup(ctx)
	fr := r.fr
	majority := drill.Step{Name: stepMajorityLoss, Title: "kill one more node so that a majority is down; writes must be refused", Do: r.majorityLoss}
	if !fr.Steps.MajorityLoss {
		majority.Skip = "drills.failure-recovery.steps.majority_loss is off"
		res.NotTested = append(res.NotTested, run.NotTested{
			What: "majority loss: writes refused and no ack without a quorum (criteria majority_loss_acked, quorum_loss_observed)",
			Why:  majority.Skip})
	}
	drill.RunSteps(ctx, env, &res, []drill.Step{
		{Name: stepPreflight, Title: "preflight: every node up, every partition led, quorum present", Do: r.preflight},
		{Name: stepProduce, Title: fmt.Sprintf("produce %d messages with acks=%s", fr.Messages, fr.Acks), Do: r.produceInitial},
		{Name: stepFollowerLoss, Title: fmt.Sprintf("kill a follower of partition %d; writes must go on", fr.TargetPartition), Do: r.followerLoss},
		{Name: stepLeaderLoss, Title: leaderLossTitle(fr), Do: r.leaderLoss},
		majority,
		{Name: stepRecovery, Title: fmt.Sprintf("restart the nodes in order; everything led and serving within %s", fr.RecoveryDeadline), Do: r.recovery},
		{Name: stepReadBack, Title: "read every partition back through each node", Do: r.readBack},
		{Name: stepClassify, Title: "classify every message", Do: r.classify},
	})
	return res
}

// cleanup stops the watch and brings back every node still down, however
// the drill ended.
func (r *recoveryRun) cleanup(ctx context.Context) {
	if found := r.watch.Stop(); len(r.res.Anomalies) == 0 && len(found) > 0 {
		r.res.Anomalies = found // the drill stopped before classifying
	}
	for _, pp := range r.prods {
		pp.Close()
	}
	drill.NoteRestoreError(r.res, r.rs.Restore(ctx, r.fr.RecoveryDeadline))
}

func (r *recoveryRun) preflight(ctx context.Context) (string, bool, error) {
	if err := drill.Preflight(ctx, r.env); err != nil {
		return "", false, err
	}
	views := r.env.Client.Views(r.topic.Name)
	r.replicas = kafka.ReplicaSets(views)
	r.from = r.env.Client.EndOffsets(r.topic.Name, r.topic.Partitions)
	if err := drill.NeedReplicas(r.replicas, r.fr.TargetPartition); err != nil {
		return "", false, err
	}
	r.watch = check.NewWatch(r.env.Client, r.topic.Name, r.replicas,
		check.WatchSettings{Grace: r.fr.LeaderGrace, ElectionDeadline: r.fr.ElectionDeadline}, r.env.Log)
	r.watch.Start(ctx)
	r.rs.Watch(r.watch)
	return fmt.Sprintf("all %d nodes up; leaders: %s; every partition has its majority in sync",
		len(r.env.Client.Nodes()), kafka.DescribeLeaders(views, r.topic.Partitions)), true, nil
}

func (r *recoveryRun) produceInitial(ctx context.Context) (string, bool, error) {
	b := r.produce(ctx, r.fr.Messages)
	r.ratios[run.InitialAckRatio.Key] = b.Ratio()
	return fmt.Sprintf("%d partitions: %s", r.topic.Partitions, b), r.ackedEnough(b), nil
}

func (r *recoveryRun) followerLoss(ctx context.Context) (string, bool, error) {
	target := r.fr.TargetPartition
	leader := kafka.CurrentLeader(r.liveViews(), target)
	if leader < 0 {
		return fmt.Sprintf("no live node names a live leader of partition %d, so no follower can be told apart", target), false, nil
	}
	follower := r.pickVictim(leader)
	if follower < 0 {
		return fmt.Sprintf("partition %d has no live follower (leader: node %d)", target, leader), false, nil
	}
	if err := r.kill(ctx, follower); err != nil {
		return "", false, err
	}
	r.killedFollower = follower
	r.env.Record(r.res, run.NewEvent(time.Now(), "kill", follower, "killed a follower of partition %d (its leader: node %d)", target, leader))
	parts := []string{fmt.Sprintf("killed node %d, a follower of partition %d (leader: node %d)", follower, target, leader)}
	led, ledAfter := r.waitAllLed(ctx, r.fr.ElectionDeadline)
	parts = append(parts, describeLed(led, ledAfter, r.fr.ElectionDeadline))
	b := r.produce(ctx, r.fr.Batch)
	r.ratios[run.FollowerLossAckRatio.Key] = b.Ratio()
	parts = append(parts, "writes: "+b.String())
	serving, err := r.restoreAll(ctx)
	if err != nil {
		return strings.Join(parts, "; "), false, err
	}
	parts = append(parts, serving)
	return strings.Join(parts, "; "), led && r.ackedEnough(b) && r.allServing(), nil
}

// killLoadSuffix marks the run id of the writes through the leader kill:
// a second producer on the target partition, with its own sequence
// numbers, judged as its own stream (as split-brain's pinned writes).
const killLoadSuffix = "-kill-load"

// killLoadLead is how long, at least, the load through the leader kill runs
// before the kill: with a write acked by then, writes are flowing when the
// leader dies.
const killLoadLead = 300 * time.Millisecond

func leaderLossTitle(fr *Config) string {
	if fr.KillLoadRate <= 0 {
		return fmt.Sprintf("kill the leader of partition %d; a new leader within %s", fr.TargetPartition, fr.ElectionDeadline)
	}
	return fmt.Sprintf("kill the leader of partition %d while writing %g msg/s to it with acks=%s; a new leader within %s",
		fr.TargetPartition, fr.KillLoadRate, fr.Acks, fr.ElectionDeadline)
}

func (r *recoveryRun) leaderLoss(ctx context.Context) (string, bool, error) {
	target := r.fr.TargetPartition
	var load *drill.Load
	var flowing bool
	if r.fr.KillLoadRate > 0 {
		load = drill.StartLoad(ctx, r.env.Client.NewProducer(kafka.ProducerOptions{Topic: r.topic.Name, Partition: target,
			Run: r.env.RunID + killLoadSuffix, Size: r.fr.MessageSize, Acks: config.RequiredAcks(r.fr.Acks), Leader: -1}), r.fr.KillLoadRate)
		flowing = r.warmUp(ctx, load)
	}
	var killAt time.Time
	stopLoad := func() string {
		if load == nil {
			return ""
		}
		r.load = load.Stop()
		return r.describeLoad(flowing, killAt)
	}
	leader := kafka.CurrentLeader(r.liveViews(), target)
	if leader < 0 {
		return joinParts(fmt.Sprintf("no live node names a live leader of partition %d", target), stopLoad()), false, nil
	}
	killAt = time.Now()
	if err := r.kill(ctx, leader); err != nil {
		return stopLoad(), false, err
	}
	r.killedLeader = leader
	r.env.Record(r.res, run.NewEvent(killAt, "kill", leader, "killed the leader of partition %d", target))
	parts := []string{fmt.Sprintf("killed node %d, the leader of partition %d", leader, target)}
	electedAt, newLeader := r.waitElected(ctx, leader, killAt)
	loaded := stopLoad()
	elected := !electedAt.IsZero()
	if elected {
		r.electionSecs, r.newLeader = run.RoundMs(electedAt.Sub(killAt).Seconds()), newLeader
		r.env.Record(r.res, run.NewEvent(electedAt, "elected", newLeader, "a live node names node %d leader of partition %d", newLeader, target))
		parts = append(parts, fmt.Sprintf("node %d elected after %.3fs", newLeader, r.electionSecs))
	} else {
		parts = append(parts, fmt.Sprintf("no new leader within %s", r.fr.ElectionDeadline))
	}
	if loaded != "" {
		parts = append(parts, loaded)
	}
	// The dead node may have led other partitions too: a batch is only a
	// fair test of "writes go on" once each of them has had its election.
	led, ledAfter := r.waitAllLed(ctx, max(r.fr.ElectionDeadline-time.Since(killAt), 0))
	parts = append(parts, describeLed(led, ledAfter, r.fr.ElectionDeadline))
	b := r.produce(ctx, r.fr.Batch)
	r.ratios[run.LeaderLossAckRatio.Key] = b.Ratio()
	parts = append(parts, "writes: "+b.String())
	return strings.Join(parts, "; "), elected && led && r.ackedEnough(b), nil
}

// warmUp waits until the load through the kill has run killLoadLead and
// had a write acked, for at most the election deadline; it reports whether
// writes were flowing.
func (r *recoveryRun) warmUp(ctx context.Context, l *drill.Load) bool {
	start := time.Now()
	for {
		waited := time.Since(start)
		if l.Acked() > 0 && waited >= killLoadLead {
			return true
		}
		if waited >= max(killLoadLead, r.fr.ElectionDeadline) || !drill.Sleep(ctx, r.fr.PollInterval) {
			return false
		}
	}
}

// describeLoad gives the figures of the load through the kill.
func (r *recoveryRun) describeLoad(flowing bool, killAt time.Time) string {
	var b drill.Batch
	before := 0
	for _, s := range r.load {
		b.Add(s)
		if s.Outcome == kafka.Acked && !killAt.IsZero() && s.Done().Before(killAt) {
			before++
		}
	}
	out := fmt.Sprintf("writes through the kill (%g msg/s, run %s%s): %s", r.fr.KillLoadRate, r.env.RunID, killLoadSuffix, b)
	if !flowing {
		return out + fmt.Sprintf("; none acked within %s before the kill", max(killLoadLead, r.fr.ElectionDeadline))
	}
	if !killAt.IsZero() {
		out += fmt.Sprintf(", %d of the acks before the kill", before)
	}
	return out
}

// streams are the writes of the run's other producers: the load through
// the kill.
func (r *recoveryRun) streams() []check.Stream {
	if len(r.load) == 0 {
		return nil
	}
	return []check.Stream{{Run: r.env.RunID + killLoadSuffix, Sends: map[int32][]kafka.Send{r.fr.TargetPartition: r.load}}}
}

func joinParts(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// majorityLoss kills live followers of the target partition's leader until
// a majority of its replicas is down. The leader is spared on purpose: a
// lone leader that still acks is split brain, which only a leader left
// alive can show.
func (r *recoveryRun) majorityLoss(ctx context.Context) (string, bool, error) {
	target := r.fr.TargetPartition
	leader := kafka.CurrentLeader(r.liveViews(), target)
	var killed []int32
	for r.watch.QuorumUp(target) {
		victim := r.pickVictim(leader)
		if victim < 0 {
			break
		}
		if err := r.kill(ctx, victim); err != nil {
			return "", false, err
		}
		killed = append(killed, victim)
		r.env.Record(r.res, run.NewEvent(time.Now(), "kill", victim, "killed to take the majority of partition %d down", target))
	}
	reps := r.replicas[target]
	parts := []string{fmt.Sprintf("killed node %s too: %d of %d replicas of partition %d down",
		joinIDs(killed), r.downCount(reps), len(reps), target)}
	if r.watch.QuorumUp(target) {
		return parts[0] + "; could not take the majority down", false, nil
	}
	// A cluster that answers writes without a quorum with timeouts (as
	// Chronik does) would make a full batch take batch × request timeout:
	// the step writes for at most the election deadline.
	pctx, cancel := context.WithTimeout(ctx, r.fr.ElectionDeadline)
	b := r.produce(pctx, r.fr.Batch)
	cancel()
	r.majoritySent, r.majorityAcked = b.Sent, b.Acked
	parts = append(parts, "writes: "+b.String())
	leaderless := kafka.CurrentLeader(r.liveViews(), target) < 0
	// Refused, timed out or with no leader to go to: what matters is that
	// not one write was acked.
	r.quorumObserved = b.Sent > 0 && b.Acked == 0
	switch {
	case b.Acked > 0:
		parts = append(parts, fmt.Sprintf("%d writes acked without a quorum", b.Acked))
	case r.quorumObserved:
		parts = append(parts, "quorum loss observed: "+quorumEvidence(b, leaderless))
	default:
		parts = append(parts, "quorum loss not observed: no write was attempted")
	}
	return strings.Join(parts, "; "), r.quorumObserved, nil
}

func (r *recoveryRun) recovery(ctx context.Context) (string, bool, error) {
	start := time.Now()
	down := r.rs.Down()
	serving, err := r.restoreAll(ctx)
	if err != nil {
		return "", false, err
	}
	led, _ := r.waitAllLed(ctx, max(r.fr.RecoveryDeadline-time.Since(start), 0))
	r.nodesRecovered = r.countServing()
	all := len(r.env.Client.Nodes())
	parts := []string{fmt.Sprintf("restarted node %s in order; %s", joinIDs(down), serving)}
	if led && r.nodesRecovered == all {
		r.recoverySecs = run.RoundMs(time.Since(start).Seconds())
		parts = append(parts, fmt.Sprintf("every partition led and all %d nodes serving after %.3fs", all, r.recoverySecs))
	} else {
		parts = append(parts, fmt.Sprintf("after %s: %d of %d nodes serving, every partition led: %t", r.fr.RecoveryDeadline, r.nodesRecovered, all, led))
	}
	b := r.produce(ctx, r.fr.Batch)
	r.ratios[run.RecoveryAckRatio.Key] = b.Ratio()
	parts = append(parts, "writes: "+b.String())
	return strings.Join(parts, "; "), r.recoverySecs >= 0 && r.ackedEnough(b), nil
}

func (r *recoveryRun) readBack(ctx context.Context) (string, bool, error) {
	reads, detail, complete, err := r.fr.ReadBack.Read(ctx, r.env, "drills.failure-recovery", r.topic, r.from, r.res)
	r.reads = reads
	return detail, complete, err
}

func (r *recoveryRun) classify(context.Context) (string, bool, error) {
	found := r.watch.Stop()
	rep := check.Check(check.Input{
		Run: r.env.RunID, Sends: r.sendMap(), Parts: r.reads.Parts,
		AllowDuplicates: r.fr.AllowDuplicates, QuorumLost: r.watch.QuorumLost,
		Streams: r.streams(),
	})
	r.res.Anomalies = run.MergeAnomalies(rep.Anomalies, found)
	r.measure(rep)
	r.res.Criteria = r.criteria()
	m := r.res.Measurements
	detail := fmt.Sprintf("%d sent, %d acked; %d of %d acked intact at their offsets in the committed log (%.1f %%); %.1f %% of sent recovered; %d indeterminate sends read back",
		int(m["messages_sent"]), rep.Acked, rep.AckedRecovered, rep.Acked, m["acked_recovered_ratio"]*100,
		m["sent_recovered_ratio"]*100, rep.IndeterminateVisible)
	if rep.Unjudged > 0 {
		detail += fmt.Sprintf("; %d acks not judged: no committed log could be read there", rep.Unjudged)
	}
	if len(r.res.Anomalies) == 0 {
		return detail + "; no anomaly", rep.Unjudged == 0, nil
	}
	return detail + "; anomalies: " + run.Summary(r.res.Anomalies), false, nil
}

// measure fills the run's measurements from the checker's report and what
// the steps saw.
func (r *recoveryRun) measure(rep check.Report) {
	m := r.res.Measurements
	sends := r.sendMap()
	b := drill.Tally(sends)
	batches := b.Sent
	// Every write of the run counts, the load through the kill's too: the
	// checker's acked, consumed and lost figures count them.
	for _, s := range r.load {
		b.Add(s)
	}
	b.Measure(m)
	rep.Measure(m)
	r.res.Latencies = append(drill.Latencies(sends), drill.Latencies(map[int32][]kafka.Send{r.fr.TargetPartition: r.load})...)
	m.Set(run.SuccessRatio, drill.Ratio(rep.Acked, b.Sent))
	m.Set(run.AckedRecovered, drill.Ratio(rep.AckedRecovered, rep.Acked))
	// The guide's "95 % of messages recovered" counts what the batches sent
	// while a quorum was up: writes refused for want of one are refused
	// rightly. The load through the kill writes into a leaderless
	// partition on purpose; its acks are judged, its refusals not counted.
	m.Set(run.SentRecovered, min(drill.Ratio(rep.Consumed-rep.StreamsConsumed, batches-(r.majoritySent-r.majorityAcked)), 1))
	m.Set(run.NodesRecovered, float64(r.nodesRecovered))
	if r.electionSecs >= 0 {
		m.Set(run.ElectionSeconds, r.electionSecs)
	}
	if r.recoverySecs >= 0 {
		m.Set(run.RecoverySeconds, r.recoverySecs)
	}
	for _, v := range []struct {
		m  run.Measure
		id int32
	}{{run.KilledFollower, r.killedFollower}, {run.KilledLeader, r.killedLeader}, {run.NewLeader, r.newLeader}} {
		if v.id >= 0 {
			m.Set(v.m, float64(v.id))
		}
	}
}

func (r *recoveryRun) criteria() []run.Criterion {
	m, th := r.res.Measurements, r.fr.Thresholds
	total := 0
	for _, a := range r.res.Anomalies {
		total += a.Count
	}
	out := []run.Criterion{
		run.Judge(run.AnomalyCount, "<=", 0, float64(total)),
		run.Judge(run.AckedRecovered, ">=", th.MinAckedRecoveredRatio, m.Value(run.AckedRecovered)),
		run.Judge(run.SentRecovered, ">=", th.MinSentRecoveredRatio, m.Value(run.SentRecovered)),
		run.Judge(run.NodesRecovered, ">=", float64(len(r.env.Client.Nodes())), m.Value(run.NodesRecovered)),
		run.Judge(run.ElectionSeconds, "<", r.fr.ElectionDeadline.Seconds(), run.OrNotMeasured(r.electionSecs)),
		run.Judge(run.RecoverySeconds, "<", r.fr.RecoveryDeadline.Seconds(), run.OrNotMeasured(r.recoverySecs)),
	}
	for _, c := range batchCriteria {
		out = append(out, run.Judge(c, ">=", th.MinBatchAckRatio, r.ratios[c.Key]))
	}
	if r.fr.Steps.MajorityLoss {
		observed := 0.0
		if r.quorumObserved {
			observed = 1
		}
		out = append(out,
			run.Judge(run.MajorityLossAcked, "<=", 0, float64(r.majorityAcked)),
			run.Judge(run.QuorumLossObserved, ">=", 1, observed))
	}
	return out
}

func (r *recoveryRun) ackedEnough(b drill.Batch) bool {
	return b.Sent > 0 && b.Ratio() >= r.fr.Thresholds.MinBatchAckRatio
}

// quorumEvidence says how the drill saw the quorum gone.
func quorumEvidence(b drill.Batch, leaderless bool) string {
	var parts []string
	if b.Indet > 0 {
		parts = append(parts, fmt.Sprintf("%d writes without an answer", b.Indet))
	}
	if b.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d writes not accepted (%s)", b.Failed, b.Reasons()))
	}
	if leaderless {
		parts = append(parts, "no live leader named")
	}
	return strings.Join(parts, "; ")
}

// produce sends n messages, spread evenly over the partitions, one at a time
// per partition and the partitions concurrently, continuing each
// partition's sequence numbers.
func (r *recoveryRun) produce(ctx context.Context, n int) drill.Batch {
	parts := len(r.prods)
	out := make([][]kafka.Send, parts)
	var wg sync.WaitGroup
	for p := range parts {
		count := n / parts
		if p < n%parts {
			count++
		}
		next := int64(len(r.sends[p]))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < count && ctx.Err() == nil; i++ {
				out[p] = append(out[p], r.prods[p].Send(next+int64(i)))
			}
		}()
	}
	wg.Wait()
	var b drill.Batch
	for p, ss := range out {
		r.sends[p] = append(r.sends[p], ss...)
		for _, s := range ss {
			b.Add(s)
		}
	}
	return b
}

func (r *recoveryRun) sendMap() map[int32][]kafka.Send {
	m := make(map[int32][]kafka.Send, len(r.sends))
	for p, ss := range r.sends {
		m[int32(p)] = ss
	}
	return m
}

// kill kills a node unless the drill has been cancelled: a drill told to
// stop must not take one more node down on its way out.
func (r *recoveryRun) kill(ctx context.Context, id int32) error {
	return r.rs.Kill(ctx, id)
}

// liveViews reads metadata through every node the drill has not killed.
func (r *recoveryRun) liveViews() []kafka.View {
	c := r.env.Client.Pool()
	defer c.Close()
	return c.Views(r.watch.LiveNodes(), r.topic.Name)
}

// pickVictim returns a live replica of the target partition other than
// spare, lowest id first; -1 if there is none.
func (r *recoveryRun) pickVictim(spare int32) int32 {
	for _, id := range r.replicas[r.fr.TargetPartition] {
		if id != spare && !r.watch.IsDown(id) {
			return id
		}
	}
	return -1
}

func (r *recoveryRun) downCount(ids []int32) int {
	n := 0
	for _, id := range ids {
		if r.watch.IsDown(id) {
			n++
		}
	}
	return n
}

// waitElected polls the live nodes' metadata until one names a live leader
// of the target partition other than the killed node, and returns when its
// answer came and whom it named; zero time if none did by the deadline.
func (r *recoveryRun) waitElected(ctx context.Context, killed int32, killAt time.Time) (time.Time, int32) {
	target := r.fr.TargetPartition
	c := r.env.Client.Pool()
	defer c.Close()
	deadline := killAt.Add(r.fr.ElectionDeadline)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var at time.Time
		leader := int32(-1)
		for _, v := range c.Views(r.watch.LiveNodes(), r.topic.Name) {
			if v.Err != nil {
				continue
			}
			if l, ok := v.LiveLeader(target); ok && l != killed && !r.watch.IsDown(l) && (at.IsZero() || v.At.Before(at)) {
				at, leader = v.At, l
			}
		}
		if leader >= 0 {
			return at, leader
		}
		drill.Sleep(ctx, r.fr.PollInterval)
	}
	return time.Time{}, -1
}

// waitAllLed waits until every partition has a live leader, and says
// whether that happened and after how long.
func (r *recoveryRun) waitAllLed(ctx context.Context, timeout time.Duration) (bool, time.Duration) {
	start := time.Now()
	_, err := r.env.Client.WaitLed(ctx, r.topic.Name, r.topic.Partitions, timeout)
	return err == nil, time.Since(start)
}

// restoreAll restarts every node the drill has down and waits until each
// serves. A restart the controller could not do is an error (the drill
// cannot go on); a node slow to serve is a finding, told in the text.
func (r *recoveryRun) restoreAll(ctx context.Context) (string, error) {
	ids := r.rs.Down()
	start := time.Now()
	err := r.rs.Restore(ctx, r.fr.RecoveryDeadline)
	if len(r.rs.Down()) > 0 {
		return "", err
	}
	if err != nil {
		return fmt.Sprintf("node %s restarted but not serving within %s: %v", joinIDs(ids), r.fr.RecoveryDeadline, err), nil
	}
	return fmt.Sprintf("node %s restarted and serving after %.3fs", joinIDs(ids), time.Since(start).Seconds()), nil
}

func (r *recoveryRun) allServing() bool {
	return r.countServing() == len(r.env.Client.Nodes())
}

func (r *recoveryRun) countServing() int {
	n := 0
	for _, node := range r.env.Client.Nodes() {
		if r.env.Client.Serving(node.ID) == nil {
			n++
		}
	}
	return n
}

func describeLed(led bool, after, deadline time.Duration) string {
	if led {
		return fmt.Sprintf("quorum kept: every partition led %.3fs later", after.Seconds())
	}
	return fmt.Sprintf("not every partition led within %s", deadline)
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}
