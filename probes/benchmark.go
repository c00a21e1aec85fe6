package probes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/sandbox"
)

// Benchmark label values, so the exporters create every series at start-up.
var (
	BenchmarkTargets   = []string{"cluster", "baseline"}
	BenchmarkOps       = []string{"produce", "consume"}
	BenchmarkQuantiles = []string{"0.5", "0.95", "0.99"}
)

// TargetFigures are the headline figures of one target of a drill that
// measures several (the benchmark's cluster and baseline), for the gauge
// raftdrill_benchmark_throughput_messages_per_second and the summary
// raftdrill_benchmark_latency_seconds.
type TargetFigures struct {
	Target     string             // "cluster" or "baseline"
	Throughput map[string]float64 // messages per second, by op ("produce", "consume")
	Latency    map[string]float64 // seconds, by quantile ("0.5", "0.95", "0.99")
	// LatencyCount and LatencySum are the number of acked messages and the
	// sum of their latencies in seconds: the summary's _count and _sum.
	LatencyCount uint64
	LatencySum   float64
}

// Criteria of the benchmark.
const (
	critThroughputRatio = "produce_throughput_ratio"
	critP99Ratio        = "latency_p99_ratio"
	critErrors          = "errors"
)

// benchmark runs the same acks=all workload on a single-node baseline and
// then on the cluster, and compares them: the guide's performance test,
// with every latency timed on its own (not one synchronous send after
// another), CPU and memory read from the servers' own processes, and the
// criteria enforced.
type benchmark struct {
	cfg *config.Config
	b   config.Benchmark
}

func newBenchmark(c *config.Config) Drill {
	return &benchmark{cfg: c, b: c.Drills.Benchmark}
}

func (d *benchmark) Schedule() string { return d.b.Schedule }

func (d *benchmark) Criteria() []string {
	return []string{critThroughputRatio, critP99Ratio, critErrors}
}

// benchTarget is one system the benchmark measures.
type benchTarget struct {
	name  string // "cluster" or "baseline"
	desc  string // for people: "3-node sandbox", "1 node at host:port"
	nodes []Node
	rf    int16
	// inProcess: the target runs inside this process (the embedded
	// sandbox), so this process's CPU time is not the client's alone.
	inProcess bool
	pids      pidSource // nil: the nodes' processes are not known
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

func (d *benchmark) Run(ctx context.Context, env Env) (res Result) {
	res.Measurements = map[string]float64{}
	defer res.finish()

	env.progress("preflight: checking every node is up and every partition of %q is led", d.cfg.Cluster.Topic.Name)
	if err := preflight(ctx, env); err != nil {
		res.Error = err.Error()
		return res
	}
	version, err := config.ParseKafkaVersion(d.cfg.Cluster.KafkaVersion)
	if err != nil {
		res.Error = fmt.Sprintf("cluster.kafka_version: %v", err)
		return res
	}
	env.progress("workload on each target: %s", d.describe())
	// In the report too: the figures depend on the producer and its batching.
	res.event("workload", 0, "%s", d.describe())

	base, err := d.measureBaseline(ctx, env, version, &res)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	ct := benchTarget{
		name: "cluster", desc: fmt.Sprintf("%d nodes", len(env.Client.Nodes())),
		nodes: env.Client.Nodes(), rf: d.cfg.Cluster.Topic.ReplicationFactor,
		inProcess: d.cfg.UsesSandbox(),
	}
	if ps, ok := env.Control.(pidSource); ok {
		ct.pids = ps
	}
	clus, err := d.measure(ctx, env, version, ct, &res)
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
func (d *benchmark) measureBaseline(ctx context.Context, env Env, version sarama.KafkaVersion, res *Result) (*targetFigures, error) {
	bt, release, err := d.baselineTarget(env)
	if err != nil {
		return nil, err
	}
	if bt == nil {
		env.progress("no baseline: set drills.benchmark.baseline.address to compare the cluster with a single node")
		return nil, nil
	}
	defer release()
	base, err := d.measure(ctx, env, version, *bt, res)
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
	if b.Mode == config.BenchmarkFixedRate {
		load = fmt.Sprintf("at %.0f msg/s (fixed-rate, open loop)", b.Rate)
	}
	p := b.Producer
	return fmt.Sprintf("%d messages of %d B, acks=all, %s; %s producer, batches flushed at %d B / %d msgs / %s, %d requests in flight, compression %s",
		b.Messages, b.MessageSize, load, p.Type, p.FlushBytes, p.FlushMessages, p.FlushFrequency, p.MaxInFlight, p.Compression)
}

// baselineTarget is the configured baseline; or, when the cluster is the
// embedded sandbox, a 1-node sandbox started for this run (closed by the
// returned function), so each run compares against a fresh, idle node in
// the same process as the cluster; or nil when there is neither.
func (d *benchmark) baselineTarget(env Env) (*benchTarget, func(), error) {
	if a := d.b.Baseline.Address; a != "" {
		// The baseline is addressed as node 1; only its address matters.
		return &benchTarget{name: "baseline", desc: "1 node at " + a, nodes: []Node{{ID: 1, Address: a}}, rf: 1}, func() {}, nil
	}
	if !d.cfg.UsesSandbox() {
		return nil, func() {}, nil
	}
	sb, err := sandbox.New(sandbox.Options{Nodes: 1, Logger: env.Log})
	if err != nil {
		return nil, nil, fmt.Errorf("start the baseline sandbox: %w", err)
	}
	n := sb.Nodes()[0]
	return &benchTarget{
		name: "baseline", desc: "1-node sandbox", nodes: []Node{{ID: n.ID, Address: n.Address}},
		rf: 1, inProcess: true,
	}, sb.Close, nil
}

func (d *benchmark) spec(run string) loadSpec {
	b := d.b
	s := loadSpec{
		run: run, topic: b.Topic, partitions: b.Partitions,
		messages: b.Messages, size: b.MessageSize, warmup: b.WarmupMessages,
		producer: b.Producer.Type, timeout: d.cfg.Cluster.RequestTimeout,
	}
	if b.Mode == config.BenchmarkFixedRate {
		s.rate = b.Rate
	}
	return s
}

// measure runs the workload on one target: topic, produce, consume.
func (d *benchmark) measure(ctx context.Context, env Env, version sarama.KafkaVersion, t benchTarget, res *Result) (*targetFigures, error) {
	ctx, cancel := context.WithTimeout(ctx, d.b.Timeout)
	defer cancel()
	timeout := d.cfg.Cluster.RequestTimeout
	client := env.Client
	if t.name != "cluster" {
		client = NewClient(t.nodes, version, timeout, env.Log)
		defer client.Close()
	}
	env.progress("%s (%s): preparing topic %q, %d partitions, replication factor %d", t.name, t.desc, d.b.Topic, d.b.Partitions, t.rf)
	if err := prepareTopic(ctx, client, d.b.Topic, d.b.Partitions, t.rf, timeout); err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	if d.b.DeleteTopic {
		defer d.dropTopic(ctx, env, client, t)
	}
	conf, err := benchSaramaConfig(d.b, version, timeout)
	if err != nil {
		return nil, err
	}
	sc, err := sarama.NewClient(t.addrs(), conf)
	if err != nil {
		return nil, fmt.Errorf("%s: connect: %w", t.name, err)
	}
	defer sc.Close()

	spec := d.spec(env.RunID)
	f := &targetFigures{target: t, size: d.b.MessageSize}
	sampler := startNodeSampler(t.pids, t.nodes, 250*time.Millisecond)
	env.progress("%s: producing", t.name)
	f.prod, err = produceLoad(ctx, sc, spec)
	if err != nil {
		sampler.finish()
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	res.event("produced", 0, "%s: %d of %d messages acked in %.3fs", t.name, f.prod.acked, f.prod.sent, f.prod.seconds())
	env.progress("%s: %d of %d acked in %.2fs (%.0f msg/s, p99 %.2f ms); reading them back",
		t.name, f.prod.acked, f.prod.sent, f.prod.seconds(), f.produceMPS(), f.quantile(99)*1000)
	f.cons, err = consumeBack(ctx, sc, spec, f.prod)
	f.nodes = sampler.finish()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	res.event("consumed", 0, "%s: %d messages read back in %.3fs", t.name, f.cons.read, f.cons.seconds())
	if errs := slices.Concat(f.prod.errs, f.cons.errs); len(errs) > 0 {
		res.event("errors", 0, "%s: %d failed sends, %d consumer errors; first: %s", t.name, f.prod.failed, f.cons.errors, strings.Join(errs, "; "))
	}
	env.progress("%s: %d read back in %.2fs (%.0f msg/s); %d lost, %d duplicated, %d corrupted",
		t.name, f.cons.read, f.cons.seconds(), f.consumeMPS(), f.cons.lost, f.cons.duplicated, f.cons.corrupted)
	return f, nil
}

// dropTopic deletes the benchmark topic; failing to is worth a log line,
// not a failed run (the next run reuses the topic).
func (d *benchmark) dropTopic(ctx context.Context, env Env, c *Client, t benchTarget) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Cluster.RequestTimeout)
	defer cancel()
	if err := c.deleteTopic(ctx, d.b.Topic); err != nil {
		env.Log.Warn("benchmark topic not deleted", "target", t.name, "topic", d.b.Topic, "err", err)
	}
}

// benchSaramaConfig is the producer and consumer configuration: acks=all,
// batching from the drill config, and no retries, so that every failed
// send is counted rather than hidden behind a retry.
func benchSaramaConfig(b config.Benchmark, version sarama.KafkaVersion, timeout time.Duration) (*sarama.Config, error) {
	c := sarama.NewConfig()
	c.ClientID = "raftdrill-benchmark"
	c.Version = version
	c.Net.DialTimeout, c.Net.ReadTimeout, c.Net.WriteTimeout = timeout, timeout, timeout
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
func prepareTopic(ctx context.Context, c *Client, topic string, partitions int32, rf int16, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := c.EnsureTopic(ctx, topic, partitions, rf)
		if err == nil {
			h := c.CheckHealth(ctx, topic, partitions)
			for _, v := range h.Views {
				if v.Err == nil && v.Topic == sarama.ErrNoError && int32(len(v.Partitions)) != partitions {
					return fmt.Errorf("topic %s exists with %d partitions, not %d: delete it or set drills.benchmark.partitions", topic, len(v.Partitions), partitions)
				}
			}
			probs := h.Problems()
			if len(probs) == 0 {
				return nil
			}
			err = errors.New(joinProblems(probs))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("topic %s not ready: %w", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deleteTopic deletes topic through the first node that can.
func (c *Client) deleteTopic(ctx context.Context, topic string) error {
	p := c.newConn()
	defer p.close()
	var errs []error
	for _, n := range c.nodes {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b, err := p.broker(n.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", n.ID, err))
			continue
		}
		resp, err := b.DeleteTopics(&sarama.DeleteTopicsRequest{Version: 1, Topics: []string{topic}, Timeout: c.timeout})
		if err != nil {
			p.drop(n.ID)
			errs = append(errs, fmt.Errorf("node %d: %w", n.ID, err))
			continue
		}
		switch ke := resp.TopicErrorCodes[topic]; ke {
		case sarama.ErrNoError, sarama.ErrUnknownTopicOrPartition:
			return nil
		case sarama.ErrNotController:
			continue
		default:
			return fmt.Errorf("delete topic %s: %w", topic, ke)
		}
	}
	return fmt.Errorf("delete topic %s: no node could: %w", topic, errors.Join(errs...))
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

// record writes the target's measurements under prefix ("" for the
// cluster, whose keys are the contract's; "baseline_" for the baseline).
func (f *targetFigures) record(m map[string]float64, prefix string) {
	put := func(k string, v float64) { m[prefix+k] = v }
	put("nodes", float64(len(f.target.nodes)))
	put("messages_sent", float64(f.prod.sent))
	put("messages_acked", float64(f.prod.acked))
	put("messages_failed", float64(f.prod.failed))
	put("messages_consumed", float64(f.cons.consumed))
	put("messages_lost", float64(f.cons.lost))
	put("messages_duplicated", float64(f.cons.duplicated))
	put("messages_corrupted", float64(f.cons.corrupted))
	put("consume_errors", float64(f.cons.errors))
	put("errors", float64(f.errors()))
	put("produce_seconds", roundUs(f.prod.seconds()))
	put("consume_seconds", roundUs(f.cons.seconds()))
	put("produce_throughput_mps", round1(f.produceMPS()))
	put("consume_throughput_mps", round1(f.consumeMPS()))
	put("produce_bytes_per_second", math.Round(f.produceMPS()*float64(f.size)))
	put("consume_bytes_per_second", math.Round(f.consumeMPS()*float64(f.size)))
	for _, q := range []struct {
		key string
		q   float64
	}{{"p50", 50}, {"p95", 95}, {"p99", 99}, {"p999", 99.9}, {"max", 100}} {
		put("latency_"+q.key+"_seconds", roundUs(f.quantile(q.q)))
	}
	// The client's own CPU cost only means something when the target runs
	// in another process: the embedded sandbox's CPU would be counted too.
	if !f.target.inProcess && f.prod.sent > 0 {
		cpu := f.prod.clientCPU.Seconds()
		put("client_cpu_seconds", roundUs(cpu))
		put("client_cpu_seconds_per_100k_messages", roundUs(cpu*100000/float64(f.prod.sent)))
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
		put(fmt.Sprintf("node_%d_cpu_percent", n.ID), round1(n.CPUPercent))
		put(fmt.Sprintf("node_%d_rss_bytes", n.ID), float64(n.RSSBytes))
	}
	if known > 0 {
		put("node_cpu_percent_avg", round1(cpuSum/float64(known)))
		put("node_rss_bytes_avg", math.Round(rssSum/float64(known)))
		put("node_rss_bytes_total", rssSum)
	}
}

func (f *targetFigures) figures() TargetFigures {
	return TargetFigures{
		Target:       f.target.name,
		Throughput:   map[string]float64{"produce": f.produceMPS(), "consume": f.consumeMPS()},
		Latency:      map[string]float64{"0.5": f.quantile(50), "0.95": f.quantile(95), "0.99": f.quantile(99)},
		LatencyCount: uint64(f.prod.acked),
		LatencySum:   f.prod.latencySum.Seconds(),
	}
}

// anomalies turns what the read-back found into the checker's anomaly kinds.
func (f *targetFigures) anomalies() []Anomaly {
	var out []Anomaly
	for _, a := range []struct {
		kind   string
		count  int
		detail string
	}{
		{KindLostWrite, f.cons.lost, "acked with acks=all but not read back"},
		{KindDuplicate, f.cons.duplicated, "read back more than once"},
		{KindCorrupt, f.cons.corrupted, "checksum mismatch, or found in the wrong partition"},
	} {
		if a.count > 0 {
			out = append(out, Anomaly{Kind: a.kind, Count: a.count, Detail: f.target.name + ": " + a.detail, Examples: f.cons.examples[a.kind]})
		}
	}
	return out
}

// report fills the result: each target's figures, the comparison, and the
// criteria (the ratios only when there is a baseline to compare with).
func (d *benchmark) report(res *Result, clus, base *targetFigures) {
	m := res.Measurements
	m["message_bytes"] = float64(d.b.MessageSize)
	if d.b.Mode == config.BenchmarkFixedRate {
		m["offered_rate_mps"] = d.b.Rate
	}
	clus.record(m, "")
	res.Targets = append(res.Targets, clus.figures())
	res.Anomalies = append(res.Anomalies, clus.anomalies()...)
	// Only the cluster's latencies feed raftdrill_produce_latency_seconds:
	// an SLO is about the cluster, not about the baseline.
	res.Latencies = clus.prod.latencies
	errs := clus.errors()
	th := d.b.Thresholds
	if base != nil {
		base.record(m, "baseline_")
		res.Targets = append(res.Targets, base.figures())
		res.Anomalies = append(res.Anomalies, base.anomalies()...)
		errs += base.errors()

		tr := clus.produceMPS() / base.produceMPS()
		m[critThroughputRatio] = round4(tr)
		m["throughput_overhead_ratio"] = round4(1 - tr)
		if c := base.consumeMPS(); c > 0 {
			m["consume_throughput_ratio"] = round4(clus.consumeMPS() / c)
		}
		p99 := math.Inf(1) // nothing acked on the cluster: no latency to compare
		if clus.prod.acked > 0 {
			p99 = clus.quantile(99) / base.quantile(99)
			m[critP99Ratio] = round4(p99)
		}
		res.Criteria = append(res.Criteria,
			criterion(critThroughputRatio, ">=", th.MinThroughputRatio, round4(tr), ""),
			criterion(critP99Ratio, "<", th.MaxLatencyP99Ratio, orInf(finiteOr(round4(p99), -1)), ""),
		)
	}
	m[critErrors] = float64(errs)
	res.Criteria = append(res.Criteria, criterion(critErrors, "<=", float64(th.MaxErrors), float64(errs), ""))
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
