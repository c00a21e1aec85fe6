package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
)

// CanaryRun is the run id the quorum probe's canary messages carry, so a
// drill's checker recognises them as not its own.
const CanaryRun = "quorum-canary"

// Probe is the continuous `quorum` probe. Each check asks every node,
// concurrently, for ApiVersions (is it up?) and for metadata of the watched
// topics (does every partition have a live leader?), then writes one acks=all
// canary message to each partition of the drill topic (can the cluster
// commit?). It returns what it saw as a value; it never touches metrics or
// Slack, and it keeps checking through every failure it exists to see.
type Probe struct {
	client   *kafka.Client // its own, so every request is bounded by the probe's timeout
	interval time.Duration
	timeout  time.Duration
	canary   bool
	drill    config.Topic
	topics   []string // watched: the drill topic first
	log      *slog.Logger

	// Touched only by the goroutine running the checks.
	seq     int64
	known   map[string]int32 // partitions per topic, remembered for when no node can tell
	ensure  bool             // create the drill topic before the next check
	missing string           // last missing-topics line logged
	refused string           // last refusal logged
}

// New returns a probe of the cluster client c reaches, configured by
// cfg.probes.quorum; the drill topic (cluster.topic.name) is always watched.
func New(c *kafka.Client, cfg *config.Config, log *slog.Logger) *Probe {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := cfg.Probes.Quorum
	return &Probe{
		client:   c.WithTimeout(q.Timeout),
		interval: q.Interval,
		timeout:  q.Timeout,
		canary:   q.Canary,
		drill:    cfg.Cluster.Topic,
		topics:   append([]string{cfg.Cluster.Topic.Name}, q.Topics...),
		log:      log.With("probe", "quorum"),
		known:    map[string]int32{},
		ensure:   true,
	}
}

// NodeStatus is one node as a check saw it.
type NodeStatus struct {
	ID  int32
	Up  bool
	Err string // why it is counted down
	// Refused: the node refused raftdrill on TLS or SASL grounds (a
	// wrong password, an untrusted certificate), or raftdrill refused
	// the node's certificate; it is counted down, but it may well run.
	Refused bool
}

// TopicPartition names one watched partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Canary is the outcome of one check's canary writes.
type Canary struct {
	Enabled  bool
	Attempts int      // partitions written to
	Acked    int      // of those, acked
	Failures []string // one line per partition that did not ack
}

// OK reports whether every partition of the drill topic acked its write.
func (c Canary) OK() bool { return len(c.Failures) == 0 && c.Attempts > 0 && c.Acked == c.Attempts }

// Observation is what one check saw.
type Observation struct {
	At         time.Time
	Took       time.Duration
	Nodes      []NodeStatus // every configured node, in configured order
	Up         int
	Majority   bool // more than half of the configured nodes up
	Partitions int  // watched partitions known
	// Leaderless are the watched partitions no answering node names a
	// live leader for (a leader counts as live only if it answered
	// ApiVersions in this same check: metadata can name a dead node).
	Leaderless    []TopicPartition
	MissingTopics []string
	Canary        Canary
	// Available is the verdict: a majority up, every watched partition
	// led by a live node, the drill topic present and, with the canary
	// on, every canary write acked.
	Available bool
}

// Down lists the nodes that did not answer.
func (o Observation) Down() []int32 {
	var out []int32
	for _, n := range o.Nodes {
		if !n.Up {
			out = append(out, n.ID)
		}
	}
	return out
}

// Reasons says, one line each, why quorum is not available; empty when it is.
func (o Observation) Reasons() []string {
	var out []string
	if !o.Majority {
		line := fmt.Sprintf("%d of %d nodes up, %d needed for a majority", o.Up, len(o.Nodes), len(o.Nodes)/2+1)
		// A refusal is a configuration to fix, not a node to restart:
		// the reason says which.
		for _, n := range o.Nodes {
			if n.Refused {
				line += ": " + n.Err
				break
			}
		}
		out = append(out, line)
	}
	if n := len(o.Leaderless); n > 0 {
		names := make([]string, 0, n)
		for _, tp := range o.Leaderless {
			names = append(names, tp.String())
		}
		out = append(out, fmt.Sprintf("%d of %d watched partitions without a live leader: %s", n, o.Partitions, strings.Join(names, ", ")))
	}
	if o.Canary.Enabled && !o.Canary.OK() {
		out = append(out, fmt.Sprintf("canary writes acked %d of %d: %s", o.Canary.Acked, o.Canary.Attempts, strings.Join(o.Canary.Failures, "; ")))
	}
	return out
}

// Run checks now and then every interval, handing each observation to sink,
// until ctx ends. A check that overruns the interval delays the next one
// rather than piling up.
func (q *Probe) Run(ctx context.Context, sink func(Observation)) {
	tick := time.NewTicker(q.interval)
	defer tick.Stop()
	for {
		o := q.Check(ctx)
		if ctx.Err() != nil {
			return
		}
		sink(o)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Check runs one check. It takes at most about two timeouts (the nodes,
// then the canary), however many nodes hang.
func (q *Probe) Check(ctx context.Context) Observation {
	o := Observation{At: time.Now()}
	if q.ensure {
		q.ensureDrillTopic()
	}
	answers := q.askNodes(ctx)
	up := map[int32]bool{}
	refused := ""
	for _, a := range answers {
		st := NodeStatus{ID: a.id, Up: a.err == nil}
		if a.err != nil {
			st.Err = a.err.Error()
			var ae *kafka.AuthError
			st.Refused = errors.As(a.err, &ae)
			if st.Refused && refused == "" {
				refused = st.Err
			}
		} else {
			up[a.id] = true
			o.Up++
		}
		o.Nodes = append(o.Nodes, st)
	}
	q.noteRefused(refused)
	o.Majority = o.Up*2 > len(o.Nodes)
	leaders, missing := q.leaders(answers, up)
	o.Partitions = len(leaders)
	for tp, l := range leaders {
		if l < 0 {
			o.Leaderless = append(o.Leaderless, tp)
		}
	}
	sortTPs(o.Leaderless)
	o.MissingTopics = missing
	q.noteMissing(missing)
	drillMissing := slices.Contains(missing, q.drill.Name)
	if drillMissing {
		q.ensure = true
	}
	if q.canary {
		o.Canary = q.writeCanary(ctx, leaders, drillMissing)
	}
	o.Available = o.Majority && len(o.Leaderless) == 0 && !drillMissing && (!q.canary || o.Canary.OK())
	o.Took = time.Since(o.At)
	q.log.Debug("quorum check", "available", o.Available, "up", o.Up, "leaderless", len(o.Leaderless),
		"canary_acked", o.Canary.Acked, "took", o.Took)
	return o
}

// ensureDrillTopic creates the drill topic as the drills would, so that a
// fresh cluster (the sandbox starts empty) is not reported leaderless until
// the first drill runs.
func (q *Probe) ensureDrillTopic() {
	if err := q.client.EnsureTopic(q.drill.Name, q.drill.Partitions, q.drill.ReplicationFactor); err != nil {
		q.log.Debug("drill topic not created yet", "topic", q.drill.Name, "err", err)
		return
	}
	q.ensure = false
}

// noteRefused logs a refusal on TLS or SASL grounds when it first appears
// or changes: a check every few seconds would otherwise repeat it.
func (q *Probe) noteRefused(refusal string) {
	if refusal != q.refused && refusal != "" {
		q.log.Warn("a node refuses raftdrill's connections; fix cluster.tls or cluster.sasl", "err", refusal)
	}
	q.refused = refusal
}

func (q *Probe) noteMissing(missing []string) {
	line := strings.Join(missing, ",")
	if line != q.missing && line != "" {
		q.log.Warn("watched topics missing", "topics", missing)
	}
	q.missing = line
}

// nodeAnswer is what one node said in one check.
type nodeAnswer struct {
	id    int32
	err   error                 // no ApiVersions answer: the node is down
	views map[string]kafka.View // per watched topic
}

// askNodes asks every node concurrently and waits one timeout at most: a
// node that has not answered by then is down for this check, and its
// goroutine finishes on its own when sarama's timeouts fire.
func (q *Probe) askNodes(ctx context.Context) []nodeAnswer {
	nodes := q.client.Nodes()
	chans := make([]chan nodeAnswer, len(nodes))
	for i, n := range nodes {
		ch := make(chan nodeAnswer, 1) // buffered: an abandoned answer never blocks
		chans[i] = ch
		go func() { ch <- q.askNode(n.ID) }()
	}
	wait, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	out := make([]nodeAnswer, len(nodes))
	for i, ch := range chans {
		a, ok := awaitAnswer(wait, ch)
		if !ok {
			a = nodeAnswer{id: nodes[i].ID, err: fmt.Errorf("no answer within %s", q.timeout)}
		}
		out[i] = a
	}
	return out
}

// awaitAnswer prefers an answer that has arrived over an expired wait.
func awaitAnswer[T any](wait context.Context, ch <-chan T) (T, bool) {
	select {
	case a := <-ch:
		return a, true
	default:
	}
	select {
	case a := <-ch:
		return a, true
	case <-wait.Done():
		var zero T
		return zero, false
	}
}

func (q *Probe) askNode(id int32) nodeAnswer {
	a := nodeAnswer{id: id, views: map[string]kafka.View{}}
	pool := q.client.Pool()
	defer pool.Close()
	b, err := pool.Broker(id)
	if err != nil {
		a.err = err
		return a
	}
	resp, err := b.ApiVersions(&sarama.ApiVersionsRequest{})
	if err == nil && resp.ErrorCode != int16(sarama.ErrNoError) {
		err = sarama.KError(resp.ErrorCode)
	}
	if err != nil {
		a.err = fmt.Errorf("ApiVersions: %w", err)
		return a
	}
	for _, t := range q.topics {
		a.views[t] = pool.Metadata(id, t)
	}
	return a
}

// leaders maps every watched partition to a live leader, or -1 when no
// answering node names one that is up. Topics every answering node says
// it does not know are returned as missing.
func (q *Probe) leaders(answers []nodeAnswer, up map[int32]bool) (map[TopicPartition]int32, []string) {
	out := map[TopicPartition]int32{}
	var missing []string
	for _, topic := range q.topics {
		answered, unknown := 0, 0
		for _, a := range answers {
			v, ok := a.views[topic]
			if a.err != nil || !ok || v.Err != nil {
				continue
			}
			answered++
			if v.Topic == sarama.ErrUnknownTopicOrPartition {
				unknown++
				continue
			}
			for p := range v.Partitions {
				tp := TopicPartition{topic, p}
				if _, seen := out[tp]; !seen {
					out[tp] = -1
				}
				if l, live := v.LiveLeader(p); live && up[l] {
					out[tp] = l
				}
				q.known[topic] = max(q.known[topic], p+1)
			}
		}
		if answered > 0 && unknown == answered {
			missing = append(missing, topic)
			continue
		}
		// Partitions learnt earlier stay counted when no node can say
		// anything about them now (every node down): they are leaderless.
		for p := int32(0); p < q.known[topic]; p++ {
			if _, seen := out[TopicPartition{topic, p}]; !seen {
				out[TopicPartition{topic, p}] = -1
			}
		}
	}
	return out, missing
}

type canaryAnswer struct {
	partition int32
	send      kafka.Send
}

// writeCanary sends one acks=all message to each partition of the drill
// topic through its leader, concurrently, waiting one timeout at most.
func (q *Probe) writeCanary(ctx context.Context, leaders map[TopicPartition]int32, drillMissing bool) Canary {
	c := Canary{Enabled: true}
	if drillMissing {
		c.Failures = append(c.Failures, fmt.Sprintf("drill topic %q does not exist", q.drill.Name))
		return c
	}
	q.seq++
	seq := q.seq // goroutines outlive a check that gave up on them: no shared reads
	type target struct{ partition, leader int32 }
	var parts []TopicPartition
	for tp := range leaders {
		if tp.Topic == q.drill.Name {
			parts = append(parts, tp)
		}
	}
	sortTPs(parts)
	var targets []target
	for _, tp := range parts {
		if l := leaders[tp]; l >= 0 {
			targets = append(targets, target{tp.Partition, l})
		} else {
			c.Failures = append(c.Failures, fmt.Sprintf("partition %d: no live leader to write to", tp.Partition))
		}
	}
	if len(parts) == 0 {
		c.Failures = append(c.Failures, fmt.Sprintf("no partition of %q known", q.drill.Name))
	}
	chans := make([]chan canaryAnswer, len(targets))
	for i, t := range targets {
		ch := make(chan canaryAnswer, 1)
		chans[i] = ch
		go func() {
			pp := q.client.NewProducer(kafka.ProducerOptions{Topic: q.drill.Name, Partition: t.partition, Run: CanaryRun, Leader: t.leader})
			defer pp.Close()
			ch <- canaryAnswer{t.partition, pp.Send(seq)}
		}()
	}
	wait, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	c.Attempts = len(targets)
	for i, ch := range chans {
		a, ok := awaitAnswer(wait, ch)
		switch {
		case !ok:
			c.Failures = append(c.Failures, fmt.Sprintf("partition %d via node %d: no answer within %s", targets[i].partition, targets[i].leader, q.timeout))
		case a.send.Outcome != kafka.Acked:
			c.Failures = append(c.Failures, fmt.Sprintf("partition %d via node %d: %s: %v", a.partition, a.send.Node, a.send.Outcome, a.send.Err))
		default:
			c.Acked++
		}
	}
	return c
}

func sortTPs(tps []TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}
