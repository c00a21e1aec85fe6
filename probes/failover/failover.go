package failover

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/check"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/run"
)

// Name is the drill's name.
const Name = "leader-failover"

// Spec registers the drill.
var Spec = drill.Spec{
	Name:     Name,
	Defaults: func() any { return Defaults() },
	New: func(c *config.Config) drill.Drill {
		return &leaderFailover{cfg: c, lf: config.Get[*Config](c, drill.SectionKey(Name))}
	},
	Measures: []run.Measure{
		run.ElectionSeconds, run.FailoverSeconds, run.SuccessRatio,
		run.MessagesSent, run.MessagesAcked, run.MessagesFailed, run.MessagesIndet,
		run.MessagesConsumed, run.MessagesLost, run.MessagesDup, run.MessagesCorrupt, run.IndetVisible,
		run.KillSeconds, run.KilledNode, run.NewLeader,
	},
}

// leaderFailover kills the target partition's leader under a steady load and
// measures, for that partition alone and at the resolution of the metadata
// poll, how long the cluster took to elect a new leader and to accept a
// write again; then it restores the node and reads everything back.
type leaderFailover struct {
	cfg *config.Config
	lf  *Config
}

func (d *leaderFailover) Schedule() string { return d.lf.Schedule }

func (d *leaderFailover) Criteria() []string {
	return []string{run.ElectionSeconds.Key, run.FailoverSeconds.Key, run.SuccessRatio.Key,
		run.MessagesLost.Key, run.MessagesCorrupt.Key, run.ClusterRecovered.Key}
}

// state is one run of the drill and what it learns on the way.
type state struct {
	lf    *Config
	topic config.Topic
	env   drill.Env
	res   *run.Result
	rs    *drill.Restorer
	watch *check.Watch

	from      map[int32]int64 // each partition's end before the drill wrote
	sends     map[int32][]kafka.Send
	reads     check.Reads
	loaded    bool // the load ran, with its kill: there are figures
	killed    int32
	killAt    time.Time
	electedAt time.Time
	newLeader int32
	recovered bool
}

func (d *leaderFailover) Run(ctx context.Context, env drill.Env) (res run.Result) {
	res.Measurements = run.Measurements{}
	defer res.Finish()
	s := &state{lf: d.lf, topic: env.Topic(), env: env, res: &res, killed: -1, newLeader: -1, recovered: true}
	s.rs = drill.NewRestorer(env, &res)
	defer s.cleanup(ctx)
	lf := d.lf
	drill.RunSteps(ctx, env, &res, []drill.Step{
		{Name: "preflight", Title: fmt.Sprintf("every node up and every partition of %q led", s.topic.Name), Do: s.preflight},
		{Name: "load-and-kill", Title: fmt.Sprintf("produce %.0f msg/s of %d B with acks=%s to %d partitions for %s; kill the leader of partition %d at %s",
			lf.Rate, lf.MessageSize, lf.Acks, s.topic.Partitions, lf.ProduceDuration, lf.TargetPartition, lf.KillAfter), Do: s.loadAndKill},
		{Name: "restore", Title: "restart the killed node; it must serve Kafka again", Do: s.restore},
		{Name: "recovery", Title: fmt.Sprintf("every partition led again within %s", lf.RecoveryTimeout), Do: s.recovery},
		{Name: "read-back", Title: "read every partition back through each node", Do: s.readBack},
		{Name: "classify", Title: "classify every message", Do: s.classify},
	})
	if s.loaded {
		s.figures()
	}
	return res
}

// cleanup stops the watch and brings back every node still down, however
// the drill ended.
func (s *state) cleanup(ctx context.Context) {
	if found := s.watch.Stop(); len(s.res.Anomalies) == 0 {
		// A drill that ended early still reports what the watch saw.
		s.res.Anomalies = found
	}
	drill.NoteRestoreError(s.res, s.rs.Restore(ctx, s.lf.RecoveryTimeout))
}

func (s *state) preflight(ctx context.Context) (string, bool, error) {
	if err := drill.Preflight(ctx, s.env); err != nil {
		return "", false, err
	}
	views := s.env.Client.Views(s.topic.Name)
	replicas := kafka.ReplicaSets(views)
	if err := drill.NeedReplicas(replicas, s.lf.TargetPartition); err != nil {
		return "", false, err
	}
	s.from = s.env.Client.EndOffsets(s.topic.Name, s.topic.Partitions)
	// The leader watch runs for the rest of the drill, through the kill,
	// the election and the restore.
	s.watch = check.NewWatch(s.env.Client, s.topic.Name, replicas,
		check.WatchSettings{Grace: s.lf.LeaderGrace, ElectionDeadline: s.lf.ElectionDeadline}, s.env.Log)
	s.watch.Start(ctx)
	s.rs.Watch(s.watch)
	return fmt.Sprintf("all %d nodes up; leaders: %s", len(s.env.Client.Nodes()), kafka.DescribeLeaders(views, s.topic.Partitions)), true, nil
}

func (s *state) loadAndKill(ctx context.Context) (string, bool, error) {
	lf := s.lf
	perPartition := lf.Rate / float64(s.topic.Partitions)
	start := time.Now()
	loadCtx, stopLoad := context.WithDeadline(ctx, start.Add(lf.ProduceDuration))
	defer stopLoad()
	s.sends = make(map[int32][]kafka.Send, s.topic.Partitions)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for p := int32(0); p < s.topic.Partitions; p++ {
		pp := s.env.Client.NewProducer(kafka.ProducerOptions{Topic: s.topic.Name, Partition: p, Run: s.env.RunID,
			Size: lf.MessageSize, Acks: lf.RequiredAcks(), Leader: -1})
		wg.Go(func() {
			out := drill.ProduceAtRate(loadCtx, pp, start, perPartition)
			mu.Lock()
			s.sends[p] = out
			mu.Unlock()
		})
	}
	err := s.killAndWatch(ctx, start)
	wg.Wait()
	if err != nil {
		return "", false, err
	}
	if ctx.Err() != nil {
		return "", false, fmt.Errorf("drill cancelled: %w", ctx.Err())
	}
	s.loaded = true
	b := drill.Tally(s.sends)
	detail := fmt.Sprintf("killed node %d, the leader of partition %d", s.killed, lf.TargetPartition)
	if s.electedAt.IsZero() {
		detail += fmt.Sprintf("; no new leader within %s", lf.ElectionDeadline)
	} else {
		detail += fmt.Sprintf("; node %d elected after %.3fs", s.newLeader, s.electedAt.Sub(s.killAt).Seconds())
	}
	return detail + "; writes: " + b.String(), !s.electedAt.IsZero(), nil
}

// killAndWatch waits until kill_after, kills the target partition's leader,
// then polls every live node's metadata until one names a new live leader.
func (s *state) killAndWatch(ctx context.Context, start time.Time) error {
	lf := s.lf
	if !drill.Sleep(ctx, time.Until(start.Add(lf.KillAfter))) {
		return fmt.Errorf("drill cancelled: %w", ctx.Err())
	}
	killed := kafka.CurrentLeader(s.env.Client.Views(s.topic.Name), lf.TargetPartition)
	if killed < 0 {
		return fmt.Errorf("no node names a live leader of partition %d at kill time", lf.TargetPartition)
	}
	s.env.Progressf("killing node %d, leader of partition %d", killed, lf.TargetPartition)
	s.killed, s.killAt = killed, time.Now()
	if err := s.rs.Kill(context.WithoutCancel(ctx), killed); err != nil {
		return err
	}
	// How long the controller took to kill, timed from the same instant
	// as election_seconds: a slow kill inflates both.
	s.res.Measurements.Set(run.KillSeconds, run.RoundMs(time.Since(s.killAt).Seconds()))
	s.env.Record(s.res, run.NewEvent(s.killAt, "kill", killed, "killed the leader of partition %d", lf.TargetPartition))

	var live []int32
	for _, n := range s.env.Client.Nodes() {
		if n.ID != killed {
			live = append(live, n.ID)
		}
	}
	poll := s.env.Client.Pool()
	defer poll.Close()
	deadline := s.killAt.Add(lf.ElectionDeadline)
	tick := time.NewTicker(lf.PollInterval)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		for _, v := range poll.Views(live, s.topic.Name) {
			if v.Err != nil {
				continue
			}
			if l, ok := v.LiveLeader(lf.TargetPartition); ok && l != killed && (s.electedAt.IsZero() || v.At.Before(s.electedAt)) {
				s.electedAt, s.newLeader = v.At, l
			}
		}
		if !s.electedAt.IsZero() {
			s.env.Progressf("node %d elected leader of partition %d after %.3fs", s.newLeader, lf.TargetPartition, s.electedAt.Sub(s.killAt).Seconds())
			s.env.Record(s.res, run.NewEvent(s.electedAt, "elected", s.newLeader, "a live node's metadata names a new live leader"))
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	s.env.Progressf("no new leader of partition %d within %s", lf.TargetPartition, lf.ElectionDeadline)
	return nil
}

func (s *state) restore(ctx context.Context) (string, bool, error) {
	down := s.rs.Down()
	start := time.Now()
	if err := s.rs.Restore(ctx, s.lf.RecoveryTimeout); err != nil {
		return "", false, err
	}
	return fmt.Sprintf("node %v restarted and serving after %.3fs", down, time.Since(start).Seconds()), true, nil
}

func (s *state) recovery(ctx context.Context) (string, bool, error) {
	detail, led := drill.AllLed(ctx, s.env, s.topic, s.lf.RecoveryTimeout, s.res)
	s.recovered = led
	return detail, led, nil
}

func (s *state) readBack(ctx context.Context) (string, bool, error) {
	reads, detail, complete, err := s.lf.ReadBack.Read(ctx, s.env, "drills.leader-failover", s.topic, s.from, s.res)
	s.reads = reads
	return detail, complete, err
}

func (s *state) classify(context.Context) (string, bool, error) {
	rep := check.Check(check.Input{Run: s.env.RunID, Sends: s.sends, Parts: s.reads.Parts, QuorumLost: s.watch.QuorumLost})
	s.res.Anomalies = run.MergeAnomalies(rep.Anomalies, s.watch.Stop())
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

// figures fills the measurements and criteria once the load has run.
func (s *state) figures() {
	lf, m := s.lf, s.res.Measurements
	b := drill.Tally(s.sends)
	b.Measure(m)
	if _, ok := m.Get(run.MessagesAcked); !ok {
		m.Set(run.MessagesAcked, float64(b.Acked))
	}
	s.res.Latencies = drill.Latencies(s.sends)
	m.Set(run.KilledNode, float64(s.killed))
	m.Set(run.NewLeader, float64(s.newLeader))

	election, failover, first, ok := drill.Failover(s.sends[lf.TargetPartition], s.killAt, s.killed, s.electedAt)
	if ok {
		s.res.Events = append(s.res.Events, run.NewEvent(first.Done(), "first-ack", first.Node,
			"first acked write to partition %d after the kill (offset %d)", lf.TargetPartition, first.Offset))
	}
	if election >= 0 {
		m.Set(run.ElectionSeconds, run.RoundMs(election))
	}
	if failover >= 0 {
		m.Set(run.FailoverSeconds, run.RoundMs(failover))
	}
	recovered := 0.0
	if s.recovered {
		recovered = 1
	}
	th := lf.Thresholds
	s.res.Criteria = []run.Criterion{
		run.Judge(run.ElectionSeconds, "<", lf.ElectionDeadline.Seconds(), run.OrNotMeasured(run.RoundMs(election))),
		run.Judge(run.FailoverSeconds, "<", th.MaxFailoverSeconds, run.OrNotMeasured(run.RoundMs(failover))),
		run.Judge(run.SuccessRatio, ">", th.MinSuccessRatio, m.Value(run.SuccessRatio)),
		run.Judge(run.MessagesLost, "<=", float64(th.MaxLost), m.Value(run.MessagesLost)),
		run.Judge(run.MessagesCorrupt, "<=", float64(th.MaxCorrupted), m.Value(run.MessagesCorrupt)),
		run.Judge(run.ClusterRecovered, ">=", 1, recovered),
	}
}
