package probes

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/raftdrill/raftdrill/config"
)

// leaderFailover kills the target partition's leader under a steady acks=all
// load and measures, for that partition alone and at the resolution of the
// metadata poll, how long the cluster took to elect a new leader and to
// accept a write again; then it restores the node and reads everything back.
type leaderFailover struct {
	cfg *config.Config
	lf  config.LeaderFailover
}

func newLeaderFailover(c *config.Config) Drill {
	return &leaderFailover{cfg: c, lf: c.Drills.LeaderFailover}
}

func (d *leaderFailover) Schedule() string { return d.lf.Schedule }

func (d *leaderFailover) Criteria() []string {
	return []string{"election_seconds", "failover_seconds", "success_ratio", "messages_lost", "messages_corrupted", "cluster_recovered"}
}

func (d *leaderFailover) Run(ctx context.Context, env Env) (res Result) {
	res.Measurements = map[string]float64{}
	defer res.finish()
	topic := d.cfg.Cluster.Topic
	lf := d.lf

	env.progress("preflight: checking every node is up and every partition of %q is led", topic.Name)
	if err := preflight(ctx, env); err != nil {
		res.Error = err.Error()
		return res
	}
	if n := len(replicaSets(env.Client.Views(ctx, topic.Name))[lf.TargetPartition]); n < 3 {
		res.Error = fmt.Sprintf("cluster unfit for this drill: partition %d has %d replicas; it needs at least 3, so that losing its leader leaves a majority", lf.TargetPartition, n)
		return res
	}
	from := env.Client.EndOffsets(ctx, topic.Name, topic.Partitions)
	// The leader watch runs for the rest of the drill, through the kill,
	// the election and the restore.
	watch := newLeaderWatch(env.Client, topic.Name, replicaSets(env.Client.Views(ctx, topic.Name)),
		watchSettings{Grace: lf.LeaderGrace, ElectionDeadline: lf.ElectionDeadline}, env.Log)
	watch.start(ctx)
	defer func() {
		// A drill that ends early (no recovery, say) still reports what
		// the watch saw; stop returns the same findings however often
		// it is called.
		if found := watch.stop(); len(res.Anomalies) == 0 {
			res.Anomalies = found
		}
	}()
	rs := &restorer{env: env, res: &res, watch: watch}
	defer func() {
		if err := rs.restore(ctx, lf.RecoveryTimeout, topic.Name); err != nil && res.Error == "" {
			res.Error = err.Error()
		}
	}()

	perPartition := lf.Rate / float64(topic.Partitions)
	env.progress("producing %.0f msg/s of %d B with acks=all to %d partitions for %s; killing the leader of partition %d at %s",
		lf.Rate, lf.MessageSize, topic.Partitions, lf.ProduceDuration, lf.TargetPartition, lf.KillAfter)

	start := time.Now()
	loadCtx, stopLoad := context.WithDeadline(ctx, start.Add(lf.ProduceDuration))
	defer stopLoad()
	sends := make(map[int32][]Send, topic.Partitions)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for p := int32(0); p < topic.Partitions; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := produceAtRate(loadCtx, env.Client.newPartProducer(topic.Name, p, env.RunID, lf.MessageSize), start, perPartition)
			mu.Lock()
			sends[p] = out
			mu.Unlock()
		}()
	}

	killed, killAt, electedAt, newLeader, killErr := d.killAndWatch(ctx, env, rs, &res, start)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		res.Error = fmt.Sprintf("drill cancelled: %v", err)
		return res
	}
	if killErr != nil {
		res.Error = killErr.Error()
		return res
	}

	if err := rs.restore(ctx, lf.RecoveryTimeout, topic.Name); err != nil {
		res.Error = err.Error()
		return res
	}
	if _, err := waitLed(ctx, env, topic.Name, topic.Partitions, lf.RecoveryTimeout); err != nil {
		// The node is back and the cluster still has leaderless
		// partitions: a failure of the cluster, not an error of the drill.
		res.event("not-recovered", 0, "%v", err)
		res.Criteria = append(res.Criteria, criterion("cluster_recovered", ">=", 1, 0, ""))
		return res
	}
	env.progress("reading every partition back through each node")
	reads, readErrs := readThroughEveryNode(ctx, env, topic.Name, topic.Partitions, from)
	for _, n := range env.Client.Nodes() {
		if err := readErrs[n.ID]; err != nil {
			// A cluster without follower fetching serves a partition
			// from its leader only: that node's view is missing, which
			// is no fault of the cluster, as long as some node served.
			res.event("not-read", n.ID, "could not read back through this node: %v", err)
		}
	}
	if len(reads) == 0 {
		res.Error = fmt.Sprintf("read back: no node served the topic: %v", readErrs)
		return res
	}
	rep := Check(CheckInput{Run: env.RunID, Sends: sends, Reads: reads, QuorumLost: watch.QuorumLost})
	res.Anomalies = MergeAnomalies(rep.Anomalies, watch.stop())

	// Figures.
	var sent, acked, failed, indet int
	for _, ss := range sends {
		for _, s := range ss {
			sent++
			switch s.Outcome {
			case Acked:
				acked++
				res.Latencies = append(res.Latencies, s.Latency)
			case Failed:
				failed++
			case Indeterminate:
				indet++
			}
		}
	}
	m := res.Measurements
	m["messages_sent"] = float64(sent)
	m["messages_acked"] = float64(acked)
	m["messages_failed"] = float64(failed)
	m["messages_indeterminate"] = float64(indet)
	m["messages_consumed"] = float64(rep.Consumed)
	m["messages_lost"] = float64(rep.Lost)
	m["messages_duplicated"] = float64(rep.Duplicated)
	m["messages_corrupted"] = float64(rep.Corrupted)
	m["success_ratio"] = 0
	if sent > 0 {
		m["success_ratio"] = float64(acked) / float64(sent)
	}
	m["killed_node"] = float64(killed)
	m["new_leader"] = float64(newLeader)

	failover := -1.0
	for _, s := range sends[lf.TargetPartition] {
		// Only an ack from another node proves a new leader: a slow kill
		// (ssh, systemctl) leaves the old one acking for a while.
		if s.Outcome == Acked && s.Start.After(killAt) && s.Node != killed {
			failover = s.Done().Sub(killAt).Seconds()
			res.Events = append(res.Events, Event{At: s.Done(), What: "first-ack", Node: s.Node,
				Detail: fmt.Sprintf("first acked write to partition %d after the kill (offset %d)", lf.TargetPartition, s.Offset)})
			break
		}
	}
	// An acked write to the partition proves a leader was elected by then,
	// so it bounds the election time too when it came before the poller
	// saw the new leader.
	if failover >= 0 && killErr == nil {
		if ack := killAt.Add(time.Duration(failover * float64(time.Second))); electedAt.IsZero() || ack.Before(electedAt) {
			electedAt = ack
		}
	}
	election := -1.0
	if !electedAt.IsZero() {
		election = electedAt.Sub(killAt).Seconds()
	}
	if election >= 0 {
		m["election_seconds"] = roundMs(election)
	}
	if failover >= 0 {
		m["failover_seconds"] = roundMs(failover)
	}
	th := lf.Thresholds
	res.Criteria = []Criterion{
		criterion("election_seconds", "<", lf.ElectionDeadline.Seconds(), orInf(election), "s"),
		criterion("failover_seconds", "<", th.MaxFailoverSeconds, orInf(failover), "s"),
		criterion("success_ratio", ">", th.MinSuccessRatio, m["success_ratio"], ""),
		criterion("messages_lost", "<=", float64(th.MaxLost), m["messages_lost"], ""),
		criterion("messages_corrupted", "<=", float64(th.MaxCorrupted), m["messages_corrupted"], ""),
		criterion("cluster_recovered", ">=", 1, 1, ""),
	}
	return res
}

func roundMs(s float64) float64 { return float64(int64(s*1000+0.5)) / 1000 }

// orInf stands in for a figure never measured: it fails every "<" criterion.
func orInf(v float64) float64 {
	if v < 0 {
		return 1e9
	}
	return v
}

// killAndWatch waits until kill_after, kills the target partition's leader,
// then polls every live node's metadata until one names a new live leader.
func (d *leaderFailover) killAndWatch(ctx context.Context, env Env, rs *restorer, res *Result, start time.Time) (killed int32, killAt, electedAt time.Time, newLeader int32, err error) {
	lf := d.lf
	topic := d.cfg.Cluster.Topic.Name
	select {
	case <-ctx.Done():
		return -1, killAt, electedAt, -1, nil
	case <-time.After(time.Until(start.Add(lf.KillAfter))):
	}
	killed = currentLeader(env.Client.Views(ctx, topic), lf.TargetPartition)
	if killed < 0 {
		return -1, killAt, electedAt, -1, fmt.Errorf("no node names a live leader of partition %d at kill time", lf.TargetPartition)
	}
	env.progress("killing node %d, leader of partition %d", killed, lf.TargetPartition)
	killAt = time.Now()
	if err := rs.kill(context.WithoutCancel(ctx), killed); err != nil {
		return killed, killAt, electedAt, -1, err
	}
	// How long the controller took to kill, timed from the same instant
	// as election_seconds: a slow kill inflates both.
	res.Measurements["kill_seconds"] = roundMs(time.Since(killAt).Seconds())
	res.Events = append(res.Events, Event{At: killAt, What: "kill", Node: killed, Detail: fmt.Sprintf("killed the leader of partition %d", lf.TargetPartition)})

	var live []int32
	for _, n := range env.Client.Nodes() {
		if n.ID != killed {
			live = append(live, n.ID)
		}
	}
	poll := env.Client.newConn()
	defer poll.close()
	deadline := killAt.Add(lf.ElectionDeadline)
	tick := time.NewTicker(lf.PollInterval)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		for _, v := range poll.views(ctx, live, topic) {
			if v.Err != nil {
				continue
			}
			if l, ok := v.LiveLeader(lf.TargetPartition); ok && l != killed && (electedAt.IsZero() || v.At.Before(electedAt)) {
				electedAt, newLeader = v.At, l
			}
		}
		if !electedAt.IsZero() {
			env.progress("node %d elected leader of partition %d after %.3fs", newLeader, lf.TargetPartition, electedAt.Sub(killAt).Seconds())
			res.Events = append(res.Events, Event{At: electedAt, What: "elected", Node: newLeader, Detail: "a live node's metadata names a new live leader"})
			return killed, killAt, electedAt, newLeader, nil
		}
		select {
		case <-ctx.Done():
			return killed, killAt, electedAt, -1, nil
		case <-tick.C:
		}
	}
	env.progress("no new leader of partition %d within %s", lf.TargetPartition, lf.ElectionDeadline)
	return killed, killAt, electedAt, -1, nil
}

// currentLeader is the live leader most answering nodes name for partition.
func currentLeader(views []View, partition int32) int32 {
	votes := map[int32]int{}
	best, bestN := int32(-1), 0
	for _, v := range views {
		if v.Err != nil {
			continue
		}
		if l, ok := v.LiveLeader(partition); ok {
			votes[l]++
			if votes[l] > bestN {
				best, bestN = l, votes[l]
			}
		}
	}
	return best
}

// waitLed waits until every partition has a live leader and returns them.
func waitLed(ctx context.Context, env Env, topic string, partitions int32, timeout time.Duration) (map[int32]int32, error) {
	deadline := time.Now().Add(timeout)
	for {
		views := env.Client.Views(ctx, topic)
		leaders := map[int32]int32{}
		for p := int32(0); p < partitions; p++ {
			if l := currentLeader(views, p); l >= 0 {
				leaders[p] = l
			}
		}
		if int32(len(leaders)) == partitions {
			return leaders, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("cluster did not recover within %s: only %d of %d partitions led", timeout, len(leaders), partitions)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// produceAtRate sends one message at a time at rate msg/s until ctx ends.
// If a send overruns its slot the schedule moves on rather than bursting
// to catch up, so a stall does not turn into a flood afterwards.
func produceAtRate(ctx context.Context, pp *partProducer, start time.Time, rate float64) []Send {
	defer pp.close()
	interval := time.Duration(float64(time.Second) / rate)
	var out []Send
	next := start
	for seq := int64(0); ; seq++ {
		if wait := time.Until(next); wait > 0 {
			select {
			case <-ctx.Done():
				return out
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			return out
		}
		out = append(out, pp.send(seq))
		next = next.Add(interval)
		if behind := time.Since(next); behind > interval {
			next = time.Now()
		}
	}
}
