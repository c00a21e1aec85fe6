package benchmark

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/run"
)

// Name is the drill's name.
const Name = "benchmark"

// Spec registers the drill.
var Spec = drill.Spec{
	Name:     Name,
	Defaults: func() any { return Defaults() },
	New: func(c *config.Config) drill.Drill {
		return &benchmark{cfg: c, b: config.Get[*Config](c, drill.SectionKey(Name))}
	},
	Measures: []run.Measure{
		run.ProduceThroughput, run.ConsumeThroughput, run.LatencyP50, run.LatencyP95, run.LatencyP99, run.LatencyP999, run.LatencyMax,
		run.ThroughputRatio, run.LatencyP99Ratio, run.ThroughputCost, run.ConsumeRatio,
		run.MessagesSent, run.MessagesAcked, run.MessagesFailed, run.MessagesConsumed,
		run.MessagesLost, run.MessagesDup, run.MessagesCorrupt, run.ConsumeErrors, run.Errors,
	},
	Report: writeReport,
}

// benchmark runs the same acks=all workload on a single-node baseline and
// then on the cluster, and compares them: the guide's performance test,
// with every latency timed on its own (not one synchronous send after
// another), CPU and memory read from the servers' own processes, and the
// criteria enforced.
type benchmark struct {
	cfg *config.Config
	b   *Config
}

func (d *benchmark) Schedule() string { return d.b.Schedule }

func (d *benchmark) Criteria() []string {
	return []string{run.ThroughputRatio.Key, run.LatencyP99Ratio.Key, run.Errors.Key}
}

// benchTarget is one system the benchmark measures.
type benchTarget struct {
	name  string // "cluster" or "baseline"
	desc  string // for people: "3-node sandbox", "1 node at host:port"
	nodes []kafka.Node
	rf    int16
	// inProcess: the target runs inside this process (the embedded
	// sandbox), so this process's CPU time is not the client's alone.
	inProcess bool
	pids      control.PIDSource // nil: the nodes' processes are not known
}

func (t benchTarget) addrs() []string {
	out := make([]string, len(t.nodes))
	for i, n := range t.nodes {
		out[i] = n.Address
	}
	return out
}

// targetFigures is everything measured on one target.
type targetFigures struct {
	target benchTarget
	size   int
	prod   *produceStats
	cons   *consumeStats
	nodes  []nodeUsage
}

func (d *benchmark) Run(ctx context.Context, env drill.Env) (res run.Result) {
	res.Measurements = run.Measurements{}
	defer res.Finish()

	env.Progressf("preflight: checking every node is up and every partition of %q is led", env.Topic().Name)
	if err := drill.Preflight(ctx, env); err != nil {
		res.Error = err.Error()
		return res
	}
	env.Progressf("workload on each target: %s", d.describe())
	// In the report too: the figures depend on the producer and its batching.
	env.Record(&res, run.NewEvent(time.Now(), "workload", 0, "%s", d.describe()))

	base, err := d.measureBaseline(ctx, env, &res)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	ct := benchTarget{
		name: "cluster", desc: fmt.Sprintf("%d nodes", len(env.Client.Nodes())),
		nodes: env.Client.Nodes(), rf: d.cfg.Cluster.Topic.ReplicationFactor,
		inProcess: d.cfg.UsesSandbox(),
	}
	if ps, ok := env.Control.(control.PIDSource); ok {
		ct.pids = ps
	}
	clus, err := d.measure(ctx, env, ct, &res)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	d.report(&res, clus, base)
	return res
}

// measureBaseline measures the baseline first, as the guide does; nil
// figures mean there is no baseline. A baseline that acked nothing leaves
// nothing to compare with: the run cannot be judged.
func (d *benchmark) measureBaseline(ctx context.Context, env drill.Env, res *run.Result) (*targetFigures, error) {
	bt, release, err := d.baselineTarget(ctx, env)
	if err != nil {
		return nil, err
	}
	if bt == nil {
		env.Progressf("no baseline: set drills.benchmark.baseline.address to compare the cluster with a single node")
		return nil, nil
	}
	defer release()
	base, err := d.measure(ctx, env, *bt, res)
	if err != nil {
		return nil, err
	}
	if base.prod.acked == 0 {
		return nil, fmt.Errorf("baseline: %w (%s)", errNoAcks, strings.Join(base.prod.errs, "; "))
	}
	return base, nil
}

func (d *benchmark) describe() string {
	b := d.b
	load := "as fast as the target takes them (throughput mode)"
	if b.Mode == ModeFixedRate {
		load = fmt.Sprintf("at %.0f msg/s (fixed-rate, open loop)", b.Rate)
	}
	p := b.Producer
	return fmt.Sprintf("%d messages of %d B, acks=all, %s; %s producer, batches flushed at %d B / %d msgs / %s, %d requests in flight, compression %s",
		b.Messages, b.MessageSize, load, p.Type, p.FlushBytes, p.FlushMessages, p.FlushFrequency, p.MaxInFlight, p.Compression)
}

// baselineTarget is the configured baseline; or, when the node controller
// can start one (the embedded sandbox), a single node of the same code
// started for this run (stopped by the returned function), so each run
// compares against a fresh, idle node in the same process as the cluster;
// or nil when there is neither.
func (d *benchmark) baselineTarget(ctx context.Context, env drill.Env) (*benchTarget, func(), error) {
	if a := d.b.Baseline.Address; a != "" {
		// The baseline is addressed as node 1; only its address matters.
		return &benchTarget{name: "baseline", desc: "1 node at " + a, nodes: []kafka.Node{{ID: 1, Address: a}}, rf: 1}, func() {}, nil
	}
	bp, ok := env.Control.(control.BaselineProvider)
	if !ok {
		return nil, func() {}, nil
	}
	addr, stop, err := bp.Baseline(ctx)
	if err != nil || addr == "" {
		return nil, func() {}, err
	}
	return &benchTarget{
		name: "baseline", desc: "1-node sandbox", nodes: []kafka.Node{{ID: 1, Address: addr}},
		rf: 1, inProcess: true,
	}, stop, nil
}

func (d *benchmark) spec(run string) loadSpec {
	b := d.b
	s := loadSpec{
		run: run, topic: b.Topic, partitions: b.Partitions,
		messages: b.Messages, size: b.MessageSize, warmup: b.WarmupMessages,
		producer: b.Producer.Type, timeout: d.cfg.Cluster.RequestTimeout,
	}
	if b.Mode == ModeFixedRate {
		s.rate = b.Rate
	}
	return s
}

// measure runs the workload on one target: topic, produce, consume.
func (d *benchmark) measure(ctx context.Context, env drill.Env, t benchTarget, res *run.Result) (*targetFigures, error) {
	ctx, cancel := context.WithTimeout(ctx, d.b.Timeout)
	defer cancel()
	timeout := d.cfg.Cluster.RequestTimeout
	client := env.Client
	if t.name != "cluster" {
		client = client.WithNodes(t.nodes)
	}
	env.Progressf("%s (%s): preparing topic %q, %d partitions, replication factor %d", t.name, t.desc, d.b.Topic, d.b.Partitions, t.rf)
	if err := prepareTopic(ctx, client, d.b.Topic, d.b.Partitions, t.rf, timeout); err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	if d.b.DeleteTopic {
		defer d.dropTopic(env, client, t)
	}
	conf, err := benchSaramaConfig(d.b, client)
	if err != nil {
		return nil, err
	}
	if t.name != "cluster" {
		// The client keeps max_in_flight requests open to each partition
		// leader: to the cluster's leaders together, as many times more
		// than to one node. The baseline gets the same in all, or the
		// comparison would measure client pipelining, not replication.
		conf.Net.MaxOpenRequests = d.b.Producer.MaxInFlight * max(1, min(len(env.Client.Nodes()), int(d.b.Partitions)))
	}
	sc, err := sarama.NewClient(t.addrs(), conf)
	if err != nil {
		return nil, fmt.Errorf("%s: connect: %w", t.name, err)
	}
	defer sc.Close()

	spec := d.spec(env.RunID)
	f := &targetFigures{target: t, size: d.b.MessageSize}
	sampler := startNodeSampler(t.pids, t.nodes, 250*time.Millisecond)
	env.Progressf("%s: producing", t.name)
	f.prod, err = produceLoad(ctx, sc, spec)
	if err != nil {
		sampler.finish()
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	env.Record(res, run.NewEvent(time.Now(), "produced", 0, "%s: %d of %d messages acked in %.3fs", t.name, f.prod.acked, f.prod.sent, f.prod.seconds()))
	env.Progressf("%s: %d of %d acked in %.2fs (%.0f msg/s, p99 %.2f ms); reading them back",
		t.name, f.prod.acked, f.prod.sent, f.prod.seconds(), f.produceMPS(), f.quantile(99)*1000)
	f.cons, err = consumeBack(ctx, sc, spec, f.prod)
	f.nodes = sampler.finish()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	env.Record(res, run.NewEvent(time.Now(), "consumed", 0, "%s: %d messages read back in %.3fs", t.name, f.cons.read, f.cons.seconds()))
	if errs := slices.Concat(f.prod.errs, f.cons.errs); len(errs) > 0 {
		env.Record(res, run.NewEvent(time.Now(), "errors", 0, "%s: %d failed sends, %d consumer errors; first: %s", t.name, f.prod.failed, f.cons.errors, strings.Join(errs, "; ")))
	}
	env.Progressf("%s: %d read back in %.2fs (%.0f msg/s); %d lost, %d duplicated, %d corrupted",
		t.name, f.cons.read, f.cons.seconds(), f.consumeMPS(), f.cons.lost, f.cons.duplicated, f.cons.corrupted)
	return f, nil
}

// dropTopic deletes the benchmark topic; failing to is worth a log line,
// not a failed run (the next run reuses the topic).
func (d *benchmark) dropTopic(env drill.Env, c *kafka.Client, t benchTarget) {
	if err := c.DeleteTopic(d.b.Topic); err != nil {
		env.Log.Warn("benchmark topic not deleted", "target", t.name, "topic", d.b.Topic, "err", err)
	}
}

// benchSaramaConfig is the producer and consumer configuration: acks=all,
// batching from the drill config, and no retries, so that every failed
// send is counted rather than hidden behind a retry.
func benchSaramaConfig(b *Config, client *kafka.Client) (*sarama.Config, error) {
	timeout := client.Timeout()
	c, err := client.SaramaConfig()
	if err != nil {
		return nil, err
	}
	c.ClientID = "raftdrill-benchmark"
	c.Net.MaxOpenRequests = b.Producer.MaxInFlight
	c.Metadata.Full = false
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Timeout = timeout
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Retry.Max = 0
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Flush.Bytes = b.Producer.FlushBytes
	c.Producer.Flush.Messages = b.Producer.FlushMessages
	c.Producer.Flush.Frequency = b.Producer.FlushFrequency
	c.Producer.Flush.MaxMessages = b.Producer.FlushMaxMessages
	c.Producer.MaxMessageBytes = max(c.Producer.MaxMessageBytes, b.MessageSize+1024)
	if err := c.Producer.Compression.UnmarshalText([]byte(b.Producer.Compression)); err != nil {
		return nil, fmt.Errorf("drills.benchmark.producer.compression: %w", err)
	}
	c.Consumer.Return.Errors = true
	c.Consumer.Fetch.Default = 8 << 20
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("benchmark client configuration: %w", err)
	}
	return c, nil
}

// prepareTopic creates the topic if needed and waits until every partition
// has a live leader.
func prepareTopic(ctx context.Context, c *kafka.Client, topic string, partitions int32, rf int16, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := c.EnsureTopic(topic, partitions, rf)
		if err == nil {
			h := c.CheckHealth(topic, partitions)
			for _, v := range h.Views {
				if v.Err == nil && v.Topic == sarama.ErrNoError && int32(len(v.Partitions)) != partitions {
					return fmt.Errorf("topic %s exists with %d partitions, not %d: delete it or set drills.benchmark.partitions", topic, len(v.Partitions), partitions)
				}
			}
			probs := h.Problems()
			if len(probs) == 0 {
				return nil
			}
			err = errors.New(strings.Join(probs, "; "))
		}
		if time.Now().After(deadline) || !drill.Sleep(ctx, 100*time.Millisecond) {
			return fmt.Errorf("topic %s not ready: %w", topic, err)
		}
	}
}

func (f *targetFigures) produceMPS() float64 { return rate(f.prod.acked, f.prod.seconds()) }
func (f *targetFigures) consumeMPS() float64 { return rate(f.cons.read, f.cons.seconds()) }

func rate(n int, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

// quantile is the latency at percentile q (0..100), in seconds.
func (f *targetFigures) quantile(q float64) float64 {
	return float64(f.prod.hist.ValueAtQuantile(q)) / 1e6
}

// errors counts what the guide's "no errors" forbids: failed sends,
// consumer errors, and acked messages lost, duplicated or corrupted.
func (f *targetFigures) errors() int {
	n := f.prod.failed
	if f.cons != nil {
		n += f.cons.errors + f.cons.lost + f.cons.duplicated + f.cons.corrupted
	}
	return n
}

// record writes the target's measurements: the cluster's under the
// table's keys, the baseline's under their baseline twins.
func (f *targetFigures) record(m run.Measurements, baseline bool) {
	put := func(ms run.Measure, v float64) {
		if baseline {
			ms = ms.Baseline()
		}
		m.Set(ms, v)
	}
	put(run.Nodes, float64(len(f.target.nodes)))
	put(run.MessagesSent, float64(f.prod.sent))
	put(run.MessagesAcked, float64(f.prod.acked))
	put(run.MessagesFailed, float64(f.prod.failed))
	put(run.MessagesConsumed, float64(f.cons.consumed))
	put(run.MessagesLost, float64(f.cons.lost))
	put(run.MessagesDup, float64(f.cons.duplicated))
	put(run.MessagesCorrupt, float64(f.cons.corrupted))
	put(run.ConsumeErrors, float64(f.cons.errors))
	put(run.Errors, float64(f.errors()))
	put(run.ProduceSeconds, roundUs(f.prod.seconds()))
	put(run.ConsumeSeconds, roundUs(f.cons.seconds()))
	put(run.ProduceThroughput, round1(f.produceMPS()))
	put(run.ConsumeThroughput, round1(f.consumeMPS()))
	put(run.ProduceBytesRate, math.Round(f.produceMPS()*float64(f.size)))
	put(run.ConsumeBytesRate, math.Round(f.consumeMPS()*float64(f.size)))
	for _, q := range []struct {
		m run.Measure
		q float64
	}{{run.LatencyP50, 50}, {run.LatencyP95, 95}, {run.LatencyP99, 99}, {run.LatencyP999, 99.9}, {run.LatencyMax, 100}} {
		put(q.m, roundUs(f.quantile(q.q)))
	}
	// The client's own CPU cost only means something when the target runs
	// in another process: the embedded sandbox's CPU would be counted too.
	if !f.target.inProcess && f.prod.sent > 0 {
		cpu := f.prod.clientCPU.Seconds()
		put(run.ClientCPU, roundUs(cpu))
		put(run.ClientCPUPer100k, roundUs(cpu*100000/float64(f.prod.sent)))
	}
	var known int
	var cpuSum, rssSum float64
	for _, n := range f.nodes {
		if !n.Known {
			continue
		}
		known++
		cpuSum += n.CPUPercent
		rssSum += float64(n.RSSBytes)
		put(run.NodeCPU.ForNode(n.ID), round1(n.CPUPercent))
		put(run.NodeRSS.ForNode(n.ID), float64(n.RSSBytes))
	}
	if known > 0 {
		put(run.NodeCPUAvg, round1(cpuSum/float64(known)))
		put(run.NodeRSSAvg, math.Round(rssSum/float64(known)))
		put(run.NodeRSSTotal, rssSum)
	}
}

func (f *targetFigures) figures() run.TargetFigures {
	return run.TargetFigures{
		Target:       f.target.name,
		Throughput:   map[string]float64{"produce": f.produceMPS(), "consume": f.consumeMPS()},
		Latency:      map[string]float64{"0.5": f.quantile(50), "0.95": f.quantile(95), "0.99": f.quantile(99)},
		LatencyCount: uint64(f.prod.acked),
		LatencySum:   f.prod.latencySum.Seconds(),
	}
}

// anomalies turns what the read-back found into the checker's anomaly kinds.
func (f *targetFigures) anomalies() []run.Anomaly {
	var out []run.Anomaly
	for _, a := range []struct {
		kind   string
		count  int
		detail string
	}{
		{run.KindLostWrite, f.cons.lost, "acked with acks=all but not read back"},
		{run.KindDuplicate, f.cons.duplicated, "read back more than once"},
		{run.KindCorrupt, f.cons.corrupted, "checksum mismatch, or found in the wrong partition"},
	} {
		if a.count > 0 {
			out = append(out, run.Anomaly{Kind: a.kind, Count: a.count, Detail: f.target.name + ": " + a.detail, Examples: f.cons.examples[a.kind]})
		}
	}
	return out
}

// report fills the result: each target's figures, the comparison, and the
// criteria (the ratios only when there is a baseline to compare with).
func (d *benchmark) report(res *run.Result, clus, base *targetFigures) {
	m := res.Measurements
	m.Set(run.MessageBytes, float64(d.b.MessageSize))
	if d.b.Mode == ModeFixedRate {
		m.Set(run.OfferedRate, d.b.Rate)
	}
	clus.record(m, false)
	res.Targets = append(res.Targets, clus.figures())
	res.Anomalies = append(res.Anomalies, clus.anomalies()...)
	// Only the cluster's latencies feed raftdrill_produce_latency_seconds:
	// an SLO is about the cluster, not about the baseline.
	res.Latencies = clus.prod.latencies
	errs := clus.errors()
	th := d.b.Thresholds
	if base != nil {
		base.record(m, true)
		res.Targets = append(res.Targets, base.figures())
		res.Anomalies = append(res.Anomalies, base.anomalies()...)
		errs += base.errors()

		tr := clus.produceMPS() / base.produceMPS()
		m.Set(run.ThroughputRatio, round4(tr))
		m.Set(run.ThroughputCost, round4(1-tr))
		if c := base.consumeMPS(); c > 0 {
			m.Set(run.ConsumeRatio, round4(clus.consumeMPS()/c))
		}
		p99 := math.Inf(1) // nothing acked on the cluster: no latency to compare
		if clus.prod.acked > 0 {
			p99 = clus.quantile(99) / base.quantile(99)
			m.Set(run.LatencyP99Ratio, round4(p99))
		}
		res.Criteria = append(res.Criteria,
			run.Judge(run.ThroughputRatio, ">=", th.MinThroughputRatio, round4(tr)),
			run.Judge(run.LatencyP99Ratio, "<", th.MaxLatencyP99Ratio, run.OrNotMeasured(finiteOr(round4(p99), -1))),
		)
	}
	m.Set(run.Errors, float64(errs))
	res.Criteria = append(res.Criteria, run.Judge(run.Errors, "<=", float64(th.MaxErrors), float64(errs)))
}

func finiteOr(v, alt float64) float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return alt
	}
	return v
}

func roundUs(s float64) float64 { return math.Round(s*1e6) / 1e6 }
func round1(v float64) float64  { return math.Round(v*10) / 10 }
func round4(v float64) float64  { return math.Round(v*1e4) / 1e4 }
