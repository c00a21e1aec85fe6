package probes

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/raftdrill/raftdrill/config"
)

// failureRecovery is the guide's end-to-end failure-recovery test done
// properly. The original assumed node 1 led and node 3 followed, expected
// writes to work with one node of three alive, and never called its
// consistency check. This drill looks every victim up in metadata, expects
// writes to be refused without a majority (any ack then is
// ack-without-quorum), reads every partition back through every node and
// classifies each message it sent.
type failureRecovery struct {
	cfg *config.Config
	fr  config.FailureRecovery
}

func newFailureRecovery(c *config.Config) Drill {
	return &failureRecovery{cfg: c, fr: c.Drills.FailureRecovery}
}

func (d *failureRecovery) Schedule() string { return d.fr.Schedule }

// Criteria of failure-recovery, in the order the report shows them.
var (
	recoveryCriteria = []string{
		"anomalies", "acked_recovered_ratio", "sent_recovered_ratio", "nodes_recovered",
		"election_seconds", "recovery_seconds",
		"initial_ack_ratio", "follower_loss_ack_ratio", "leader_loss_ack_ratio", "recovery_ack_ratio",
	}
	majorityLossCriteria = []string{"majority_loss_acked", "quorum_loss_observed"}
)

func (d *failureRecovery) Criteria() []string {
	names := slices.Clone(recoveryCriteria)
	if d.fr.Steps.MajorityLoss {
		names = append(names, majorityLossCriteria...)
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

// stepFunc does one step. err means the drill cannot go on (a node could not
// be killed or restarted, the cluster was unfit to start with, the drill was
// cancelled); a step that merely failed returns passed=false and the drill
// goes on, so that the data is still read back and classified.
type stepFunc func(ctx context.Context) (detail string, passed bool, err error)

// recoveryRun is one run of the drill and everything it learns on the way.
type recoveryRun struct {
	from     map[int32]int64 // each partition's end before the drill wrote
	fr       config.FailureRecovery
	topic    config.Topic
	env      Env
	res      *Result
	rs       *restorer
	watch    *leaderWatch
	replicas map[int32][]int32
	prods    []*partProducer
	sends    [][]Send // per partition, indexed by sequence number
	reads    map[int32]map[int32][]Record

	ratios         map[string]float64 // criterion name → a step's ack ratio
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

func (d *failureRecovery) Run(ctx context.Context, env Env) (res Result) {
	res.Measurements = map[string]float64{}
	defer res.finish()
	r := &recoveryRun{
		fr: d.fr, topic: d.cfg.Cluster.Topic, env: env, res: &res,
		ratios: map[string]float64{}, electionSecs: -1, recoverySecs: -1,
		killedFollower: -1, killedLeader: -1, newLeader: -1,
	}
	r.rs = &restorer{env: env, res: &res}
	for p := int32(0); p < r.topic.Partitions; p++ {
		r.prods = append(r.prods, env.Client.newPartProducer(r.topic.Name, p, env.RunID, d.fr.MessageSize))
	}
	r.sends = make([][]Send, r.topic.Partitions)
	defer r.cleanup(ctx)
	r.run(ctx)
	return res
}

func (r *recoveryRun) run(ctx context.Context) {
	steps := []struct {
		name, title string
		fn          stepFunc
	}{
		{stepPreflight, "preflight: every node up, every partition led, quorum present", r.preflight},
		{stepProduce, fmt.Sprintf("produce %d messages with acks=all", r.fr.Messages), r.produceInitial},
		{stepFollowerLoss, fmt.Sprintf("kill a follower of partition %d; writes must go on", r.fr.TargetPartition), r.followerLoss},
		{stepLeaderLoss, fmt.Sprintf("kill the leader of partition %d; a new leader within %s", r.fr.TargetPartition, r.fr.ElectionDeadline), r.leaderLoss},
		{stepMajorityLoss, "kill one more node so that a majority is down; writes must be refused", r.majorityLoss},
		{stepRecovery, fmt.Sprintf("restart the nodes in order; everything led and serving within %s", r.fr.RecoveryDeadline), r.recovery},
		{stepReadBack, "read every partition back through each node", r.readBack},
		{stepClassify, "classify every message", r.classify},
	}
	for _, s := range steps {
		if s.name == stepMajorityLoss && !r.fr.Steps.MajorityLoss {
			continue
		}
		if !r.step(ctx, s.name, s.title, s.fn) {
			return
		}
	}
}

// step runs one step, records it in the result and reports whether the
// drill can go on.
func (r *recoveryRun) step(ctx context.Context, name, title string, fn stepFunc) bool {
	r.env.progress("STEP %d: %s", len(r.res.Steps)+1, title)
	started := time.Now()
	detail, passed, err := fn(ctx)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("drill cancelled: %w", ctx.Err())
	}
	st := Step{Name: name, StartedAt: started, Seconds: roundMs(time.Since(started).Seconds()), Outcome: StepPassed, Detail: detail}
	if err != nil || !passed {
		st.Outcome = StepFailed
	}
	if err != nil {
		st.Detail = strings.TrimPrefix(detail+"; "+err.Error(), "; ")
		r.res.Error = err.Error()
	}
	r.res.Steps = append(r.res.Steps, st)
	r.env.progress("[%s] %s", strings.ToUpper(st.Outcome), st.Detail)
	return err == nil
}

// cleanup stops the watch and brings back every node still down, however
// the drill ended.
func (r *recoveryRun) cleanup(ctx context.Context) {
	if found := r.watch.stop(); len(r.res.Anomalies) == 0 && len(found) > 0 {
		r.res.Anomalies = found // the drill stopped before classifying
	}
	for _, pp := range r.prods {
		pp.close()
	}
	if err := r.rs.restore(ctx, r.fr.RecoveryDeadline, r.topic.Name); err != nil && r.res.Error == "" {
		r.res.Error = err.Error()
	}
}

func (r *recoveryRun) preflight(ctx context.Context) (string, bool, error) {
	if err := preflight(ctx, r.env); err != nil {
		return "", false, err
	}
	views := r.env.Client.Views(ctx, r.topic.Name)
	r.replicas = replicaSets(views)
	r.from = r.env.Client.EndOffsets(ctx, r.topic.Name, r.topic.Partitions)
	if n := len(r.replicas[r.fr.TargetPartition]); n < 3 {
		return "", false, fmt.Errorf("cluster unfit for this drill: partition %d has %d replicas; it needs at least 3, so that losing its leader leaves a majority", r.fr.TargetPartition, n)
	}
	if probs := quorumProblems(views, r.topic.Partitions); len(probs) > 0 {
		return "", false, fmt.Errorf("cluster unhealthy before drill: %s", strings.Join(probs, "; "))
	}
	r.watch = newLeaderWatch(r.env.Client, r.topic.Name, r.replicas,
		watchSettings{Grace: r.fr.LeaderGrace, ElectionDeadline: r.fr.ElectionDeadline}, r.env.Log)
	r.watch.start(ctx)
	r.rs.watch = r.watch
	return fmt.Sprintf("all %d nodes up; leaders: %s; every partition has its majority in sync",
		len(r.env.Client.Nodes()), describeLeaders(views, r.topic.Partitions)), true, nil
}

func (r *recoveryRun) produceInitial(ctx context.Context) (string, bool, error) {
	b := r.produce(ctx, r.fr.Messages)
	r.ratios["initial_ack_ratio"] = b.ratio()
	return fmt.Sprintf("%d partitions: %s", r.topic.Partitions, b), r.ackedEnough(b), nil
}

func (r *recoveryRun) followerLoss(ctx context.Context) (string, bool, error) {
	target := r.fr.TargetPartition
	leader := currentLeader(r.liveViews(ctx), target)
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
	r.res.event("kill", follower, "killed a follower of partition %d (its leader: node %d)", target, leader)
	parts := []string{fmt.Sprintf("killed node %d, a follower of partition %d (leader: node %d)", follower, target, leader)}
	led, ledAfter := r.waitAllLed(ctx, r.fr.ElectionDeadline)
	parts = append(parts, describeLed(led, ledAfter, r.fr.ElectionDeadline))
	b := r.produce(ctx, r.fr.Batch)
	r.ratios["follower_loss_ack_ratio"] = b.ratio()
	parts = append(parts, "writes: "+b.String())
	serving, err := r.restoreAll(ctx)
	if err != nil {
		return strings.Join(parts, "; "), false, err
	}
	parts = append(parts, serving)
	return strings.Join(parts, "; "), led && r.ackedEnough(b) && r.allServing(ctx), nil
}

func (r *recoveryRun) leaderLoss(ctx context.Context) (string, bool, error) {
	target := r.fr.TargetPartition
	leader := currentLeader(r.liveViews(ctx), target)
	if leader < 0 {
		return fmt.Sprintf("no live node names a live leader of partition %d", target), false, nil
	}
	killAt := time.Now()
	if err := r.kill(ctx, leader); err != nil {
		return "", false, err
	}
	r.killedLeader = leader
	r.res.Events = append(r.res.Events, Event{At: killAt, What: "kill", Node: leader, Detail: fmt.Sprintf("killed the leader of partition %d", target)})
	parts := []string{fmt.Sprintf("killed node %d, the leader of partition %d", leader, target)}
	electedAt, newLeader := r.waitElected(ctx, leader, killAt)
	elected := !electedAt.IsZero()
	if elected {
		r.electionSecs, r.newLeader = roundMs(electedAt.Sub(killAt).Seconds()), newLeader
		r.res.Events = append(r.res.Events, Event{At: electedAt, What: "elected", Node: newLeader, Detail: fmt.Sprintf("a live node names node %d leader of partition %d", newLeader, target)})
		parts = append(parts, fmt.Sprintf("node %d elected after %.3fs", newLeader, r.electionSecs))
	} else {
		parts = append(parts, fmt.Sprintf("no new leader within %s", r.fr.ElectionDeadline))
	}
	// The dead node may have led other partitions too: a batch is only a
	// fair test of "writes go on" once each of them has had its election.
	led, ledAfter := r.waitAllLed(ctx, max(r.fr.ElectionDeadline-time.Since(killAt), 0))
	parts = append(parts, describeLed(led, ledAfter, r.fr.ElectionDeadline))
	b := r.produce(ctx, r.fr.Batch)
	r.ratios["leader_loss_ack_ratio"] = b.ratio()
	parts = append(parts, "writes: "+b.String())
	return strings.Join(parts, "; "), elected && led && r.ackedEnough(b), nil
}

// majorityLoss kills live followers of the target partition's leader until
// a majority of its replicas is down. The leader is spared on purpose: a
// lone leader that still acks is split brain, which only a leader left
// alive can show.
func (r *recoveryRun) majorityLoss(ctx context.Context) (string, bool, error) {
	target := r.fr.TargetPartition
	leader := currentLeader(r.liveViews(ctx), target)
	var killed []int32
	for r.watch.quorumUp(target) {
		victim := r.pickVictim(leader)
		if victim < 0 {
			break
		}
		if err := r.kill(ctx, victim); err != nil {
			return "", false, err
		}
		killed = append(killed, victim)
		r.res.event("kill", victim, "killed to take the majority of partition %d down", target)
	}
	reps := r.replicas[target]
	parts := []string{fmt.Sprintf("killed node %s too: %d of %d replicas of partition %d down",
		joinIDs(killed), r.downCount(reps), len(reps), target)}
	if r.watch.quorumUp(target) {
		return parts[0] + "; could not take the majority down", false, nil
	}
	// A cluster that answers writes without a quorum with timeouts (as
	// Chronik does) would make a full batch take batch × request timeout:
	// the step writes for at most the election deadline.
	pctx, cancel := context.WithTimeout(ctx, r.fr.ElectionDeadline)
	b := r.produce(pctx, r.fr.Batch)
	cancel()
	r.majoritySent, r.majorityAcked = b.sent, b.acked
	parts = append(parts, "writes: "+b.String())
	leaderless := currentLeader(r.liveViews(ctx), target) < 0
	// Refused, timed out or with no leader to go to: what matters is that
	// not one write was acked.
	r.quorumObserved = b.sent > 0 && b.acked == 0
	switch {
	case b.acked > 0:
		parts = append(parts, fmt.Sprintf("%d writes acked without a quorum", b.acked))
	case r.quorumObserved:
		parts = append(parts, "quorum loss observed: "+quorumEvidence(b, leaderless))
	default:
		parts = append(parts, "quorum loss not observed: no write was attempted")
	}
	return strings.Join(parts, "; "), r.quorumObserved, nil
}

func (r *recoveryRun) recovery(ctx context.Context) (string, bool, error) {
	start := time.Now()
	down := slices.Clone(r.rs.killed)
	serving, err := r.restoreAll(ctx)
	if err != nil {
		return "", false, err
	}
	led, _ := r.waitAllLed(ctx, max(r.fr.RecoveryDeadline-time.Since(start), 0))
	r.nodesRecovered = r.countServing(ctx)
	all := len(r.env.Client.Nodes())
	parts := []string{fmt.Sprintf("restarted node %s in order; %s", joinIDs(down), serving)}
	if led && r.nodesRecovered == all {
		r.recoverySecs = roundMs(time.Since(start).Seconds())
		parts = append(parts, fmt.Sprintf("every partition led and all %d nodes serving after %.3fs", all, r.recoverySecs))
	} else {
		parts = append(parts, fmt.Sprintf("after %s: %d of %d nodes serving, every partition led: %t", r.fr.RecoveryDeadline, r.nodesRecovered, all, led))
	}
	b := r.produce(ctx, r.fr.Batch)
	r.ratios["recovery_ack_ratio"] = b.ratio()
	parts = append(parts, "writes: "+b.String())
	return strings.Join(parts, "; "), r.recoverySecs >= 0 && r.ackedEnough(b), nil
}

func (r *recoveryRun) readBack(ctx context.Context) (string, bool, error) {
	reads, errs := readThroughEveryNode(ctx, r.env, r.topic.Name, r.topic.Partitions, r.from)
	r.reads = reads
	cmp := compareViews(reads, r.env.RunID)
	var parts []string
	for _, n := range r.env.Client.Nodes() {
		if err := errs[n.ID]; err != nil {
			parts = append(parts, fmt.Sprintf("node %d: not read (%v)", n.ID, err))
			continue
		}
		parts = append(parts, fmt.Sprintf("node %d: %d records of this run", n.ID, cmp.ours[n.ID]))
	}
	if cmp.differing > 0 {
		parts = append(parts, fmt.Sprintf("views differ at %d offsets", cmp.differing))
	} else {
		parts = append(parts, "no two nodes serve different records at one offset")
	}
	return strings.Join(parts, "; "), len(errs) == 0 && cmp.differing == 0, nil
}

func (r *recoveryRun) classify(context.Context) (string, bool, error) {
	found := r.watch.stop()
	rep := Check(CheckInput{
		Run: r.env.RunID, Sends: r.sendMap(), Reads: r.reads,
		AllowDuplicates: r.fr.AllowDuplicates, QuorumLost: r.watch.QuorumLost,
	})
	r.res.Anomalies = MergeAnomalies(rep.Anomalies, found)
	r.measure(rep)
	r.res.Criteria = r.criteria()
	m := r.res.Measurements
	detail := fmt.Sprintf("%d sent, %d acked; %d of %d acked recovered intact (%.1f %%); %.1f %% of sent recovered; %d indeterminate sends read back",
		int(m["messages_sent"]), rep.Acked, rep.AckedRecovered, rep.Acked, m["acked_recovered_ratio"]*100,
		m["sent_recovered_ratio"]*100, rep.IndeterminateVisible)
	if len(r.res.Anomalies) == 0 {
		return detail + "; no anomaly", true, nil
	}
	return detail + "; anomalies: " + Summary(r.res.Anomalies), false, nil
}

// measure fills the run's measurements from the checker's report and what
// the steps saw.
func (r *recoveryRun) measure(rep Report) {
	m := r.res.Measurements
	var sent, failed, indet int
	for _, ss := range r.sends {
		for _, s := range ss {
			sent++
			switch s.Outcome {
			case Acked:
				r.res.Latencies = append(r.res.Latencies, s.Latency)
			case Failed:
				failed++
			case Indeterminate:
				indet++
			}
		}
	}
	m["messages_sent"] = float64(sent)
	m["messages_acked"] = float64(rep.Acked)
	m["messages_failed"] = float64(failed)
	m["messages_indeterminate"] = float64(indet)
	m["messages_indeterminate_visible"] = float64(rep.IndeterminateVisible)
	m["messages_consumed"] = float64(rep.Consumed)
	m["messages_lost"] = float64(rep.Lost)
	m["messages_duplicated"] = float64(rep.Duplicated)
	m["messages_corrupted"] = float64(rep.Corrupted)
	m["success_ratio"] = ratio(rep.Acked, sent)
	m["acked_recovered_ratio"] = ratio(rep.AckedRecovered, rep.Acked)
	// The guide's "95 % of messages recovered" counts what was sent while
	// a quorum was up: writes refused for want of one are refused rightly.
	m["sent_recovered_ratio"] = min(ratio(rep.Consumed, sent-(r.majoritySent-r.majorityAcked)), 1)
	m["nodes_recovered"] = float64(r.nodesRecovered)
	if r.electionSecs >= 0 {
		m["election_seconds"] = r.electionSecs
	}
	if r.recoverySecs >= 0 {
		m["recovery_seconds"] = r.recoverySecs
	}
	for k, v := range map[string]int32{"killed_follower": r.killedFollower, "killed_leader": r.killedLeader, "new_leader": r.newLeader} {
		if v >= 0 {
			m[k] = float64(v)
		}
	}
}

func (r *recoveryRun) criteria() []Criterion {
	m, th := r.res.Measurements, r.fr.Thresholds
	total := 0
	for _, a := range r.res.Anomalies {
		total += a.Count
	}
	out := []Criterion{
		criterion("anomalies", "<=", 0, float64(total), ""),
		criterion("acked_recovered_ratio", ">=", th.MinAckedRecoveredRatio, m["acked_recovered_ratio"], ""),
		criterion("sent_recovered_ratio", ">=", th.MinSentRecoveredRatio, m["sent_recovered_ratio"], ""),
		criterion("nodes_recovered", ">=", float64(len(r.env.Client.Nodes())), m["nodes_recovered"], ""),
		criterion("election_seconds", "<", r.fr.ElectionDeadline.Seconds(), orInf(r.electionSecs), "s"),
		criterion("recovery_seconds", "<", r.fr.RecoveryDeadline.Seconds(), orInf(r.recoverySecs), "s"),
	}
	for _, name := range recoveryCriteria[6:] {
		out = append(out, criterion(name, ">=", th.MinBatchAckRatio, r.ratios[name], ""))
	}
	if r.fr.Steps.MajorityLoss {
		observed := 0.0
		if r.quorumObserved {
			observed = 1
		}
		out = append(out,
			criterion("majority_loss_acked", "<=", 0, float64(r.majorityAcked), ""),
			criterion("quorum_loss_observed", ">=", 1, observed, ""))
	}
	return out
}

func ratio(a, b int) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// batch sums up the outcomes of the sends of one step.
type batch struct {
	sent, acked, failed, indet int
	reasons                    map[string]int // why sends failed
}

func (b *batch) add(s Send) {
	b.sent++
	switch s.Outcome {
	case Acked:
		b.acked++
	case Failed:
		b.failed++
		if b.reasons == nil {
			b.reasons = map[string]int{}
		}
		if s.Err != nil {
			b.reasons[s.Err.Error()]++
		}
	case Indeterminate:
		b.indet++
	}
}

func (b batch) ratio() float64 { return ratio(b.acked, b.sent) }

func (b batch) String() string {
	return fmt.Sprintf("%d sent, %d acked (%.1f %%), %d failed, %d indeterminate", b.sent, b.acked, b.ratio()*100, b.failed, b.indet)
}

func (r *recoveryRun) ackedEnough(b batch) bool {
	return b.sent > 0 && b.ratio() >= r.fr.Thresholds.MinBatchAckRatio
}

// quorumEvidence says how the drill saw the quorum gone.
func quorumEvidence(b batch, leaderless bool) string {
	var parts []string
	if b.indet > 0 {
		parts = append(parts, fmt.Sprintf("%d writes without an answer", b.indet))
	}
	if b.failed > 0 {
		reasons := make([]string, 0, len(b.reasons))
		for why, n := range b.reasons {
			reasons = append(reasons, fmt.Sprintf("%s ×%d", why, n))
		}
		sort.Strings(reasons)
		parts = append(parts, fmt.Sprintf("%d writes not accepted (%s)", b.failed, strings.Join(reasons, ", ")))
	}
	if leaderless {
		parts = append(parts, "no live leader named")
	}
	return strings.Join(parts, "; ")
}

// produce sends n messages, spread evenly over the partitions, one at a time
// per partition and the partitions concurrently, continuing each
// partition's sequence numbers.
func (r *recoveryRun) produce(ctx context.Context, n int) batch {
	parts := len(r.prods)
	out := make([][]Send, parts)
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
				out[p] = append(out[p], r.prods[p].send(next+int64(i)))
			}
		}()
	}
	wg.Wait()
	var b batch
	for p, ss := range out {
		r.sends[p] = append(r.sends[p], ss...)
		for _, s := range ss {
			b.add(s)
		}
	}
	return b
}

func (r *recoveryRun) sendMap() map[int32][]Send {
	m := make(map[int32][]Send, len(r.sends))
	for p, ss := range r.sends {
		m[int32(p)] = ss
	}
	return m
}

// kill kills a node unless the drill has been cancelled: a drill told to
// stop must not take one more node down on its way out.
func (r *recoveryRun) kill(ctx context.Context, id int32) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("drill cancelled: %w", err)
	}
	return r.rs.kill(ctx, id)
}

// liveViews reads metadata through every node the drill has not killed.
func (r *recoveryRun) liveViews(ctx context.Context) []View {
	c := r.env.Client.newConn()
	defer c.close()
	return c.views(ctx, r.watch.liveNodes(), r.topic.Name)
}

// pickVictim returns a live replica of the target partition other than
// spare, lowest id first; -1 if there is none.
func (r *recoveryRun) pickVictim(spare int32) int32 {
	for _, id := range r.replicas[r.fr.TargetPartition] {
		if id != spare && !r.watch.isDown(id) {
			return id
		}
	}
	return -1
}

func (r *recoveryRun) downCount(ids []int32) int {
	n := 0
	for _, id := range ids {
		if r.watch.isDown(id) {
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
	c := r.env.Client.newConn()
	defer c.close()
	deadline := killAt.Add(r.fr.ElectionDeadline)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var at time.Time
		leader := int32(-1)
		for _, v := range c.views(ctx, r.watch.liveNodes(), r.topic.Name) {
			if v.Err != nil {
				continue
			}
			if l, ok := v.LiveLeader(target); ok && l != killed && !r.watch.isDown(l) && (at.IsZero() || v.At.Before(at)) {
				at, leader = v.At, l
			}
		}
		if leader >= 0 {
			return at, leader
		}
		sleepCtx(ctx, r.fr.PollInterval)
	}
	return time.Time{}, -1
}

// waitAllLed waits until every partition has a live leader, and says
// whether that happened and after how long.
func (r *recoveryRun) waitAllLed(ctx context.Context, timeout time.Duration) (bool, time.Duration) {
	start := time.Now()
	_, err := waitLed(ctx, r.env, r.topic.Name, r.topic.Partitions, timeout)
	return err == nil, time.Since(start)
}

// restoreAll restarts every node the drill has down and waits until each
// serves. A restart the controller could not do is an error (the drill
// cannot go on); a node slow to serve is a finding, told in the text.
func (r *recoveryRun) restoreAll(ctx context.Context) (string, error) {
	ids := slices.Clone(r.rs.killed)
	start := time.Now()
	err := r.rs.restore(ctx, r.fr.RecoveryDeadline, r.topic.Name)
	if len(r.rs.killed) > 0 {
		return "", err
	}
	if err != nil {
		return fmt.Sprintf("node %s restarted but not serving within %s: %v", joinIDs(ids), r.fr.RecoveryDeadline, err), nil
	}
	return fmt.Sprintf("node %s restarted and serving after %.3fs", joinIDs(ids), time.Since(start).Seconds()), nil
}

func (r *recoveryRun) allServing(ctx context.Context) bool {
	return r.countServing(ctx) == len(r.env.Client.Nodes())
}

func (r *recoveryRun) countServing(ctx context.Context) int {
	n := 0
	for _, node := range r.env.Client.Nodes() {
		if r.env.Client.Serving(ctx, node.ID) == nil {
			n++
		}
	}
	return n
}

// readThroughEveryNode reads every partition from its start through each
// node in turn (follower fetching lets every replica serve), so that the
// checker can compare what each node holds. Nodes are read concurrently.
func readThroughEveryNode(ctx context.Context, env Env, topic string, partitions int32, from map[int32]int64) (map[int32]map[int32][]Record, map[int32]error) {
	nodes := env.Client.Nodes()
	views := make([]map[int32][]Record, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			views[i] = map[int32][]Record{}
			for p := int32(0); p < partitions; p++ {
				recs, err := env.Client.ReadPartition(ctx, n.ID, topic, p, from[p])
				if err != nil {
					errs[i] = err
					return
				}
				views[i][p] = recs
			}
		}()
	}
	wg.Wait()
	reads := map[int32]map[int32][]Record{}
	failed := map[int32]error{}
	for i, n := range nodes {
		if errs[i] != nil {
			failed[n.ID] = errs[i]
			continue
		}
		reads[n.ID] = views[i]
	}
	return reads, failed
}

// viewComparison is what reading through each node showed.
type viewComparison struct {
	ours      map[int32]int // node → records of this run it served
	differing int           // offsets at which two nodes served different records
}

// compareViews walks each node's view of each partition against the first
// node's, offset by offset.
func compareViews(reads map[int32]map[int32][]Record, run string) viewComparison {
	cmp := viewComparison{ours: map[int32]int{}}
	nodes := make([]int32, 0, len(reads))
	for n := range reads {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		for _, recs := range reads[n] {
			for _, rec := range recs {
				if !rec.Foreign && rec.Msg.Run == run {
					cmp.ours[n]++
				}
			}
		}
	}
	if len(nodes) < 2 {
		return cmp
	}
	for p, base := range reads[nodes[0]] {
		for _, n := range nodes[1:] {
			cmp.differing += diffView(base, reads[n][p])
		}
	}
	return cmp
}

// diffView counts the offsets both views have at which they differ.
func diffView(a, b []Record) int {
	diff, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].Offset < b[j].Offset:
			i++
		case a[i].Offset > b[j].Offset:
			j++
		default:
			if a[i] != b[j] {
				diff++
			}
			i++
			j++
		}
	}
	return diff
}

// replicaSets takes each partition's replicas from the first node that
// describes it.
func replicaSets(views []View) map[int32][]int32 {
	out := map[int32][]int32{}
	for _, v := range views {
		if v.Err != nil {
			continue
		}
		for p, ps := range v.Partitions {
			if _, ok := out[p]; !ok && len(ps.Replicas) > 0 {
				out[p] = slices.Clone(ps.Replicas)
			}
		}
	}
	return out
}

// quorumProblems lists partitions whose in-sync replicas are not a majority
// of their replicas, as the first node describing each says.
func quorumProblems(views []View, partitions int32) []string {
	var out []string
	seen := map[int32]bool{}
	for _, v := range views {
		if v.Err != nil {
			continue
		}
		for p := int32(0); p < partitions; p++ {
			ps, ok := v.Partitions[p]
			if !ok || seen[p] {
				continue
			}
			seen[p] = true
			if len(ps.ISR)*2 <= len(ps.Replicas) {
				out = append(out, fmt.Sprintf("partition %d: %d of %d replicas in sync, not a majority", p, len(ps.ISR), len(ps.Replicas)))
			}
		}
	}
	return out
}

func describeLeaders(views []View, partitions int32) string {
	parts := make([]string, 0, partitions)
	for p := int32(0); p < partitions; p++ {
		parts = append(parts, fmt.Sprintf("partition %d → node %d", p, currentLeader(views, p)))
	}
	return strings.Join(parts, ", ")
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

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
