package benchmark

import (
	"slices"
	"strings"
	"time"

	"github.com/raftdrill/raftdrill/config"
)

// Benchmark modes.
const (
	// ModeThroughput produces as fast as the target takes the
	// messages: it measures capacity, and latency under saturation.
	ModeThroughput = "throughput"
	// ModeFixedRate produces at a fixed rate whatever the target
	// does (open loop) and measures each latency from the message's
	// intended send time, so a stall shows in the percentiles.
	ModeFixedRate = "fixed-rate"
)

// Modes are the modes drills.benchmark.mode accepts.
var Modes = []string{ModeThroughput, ModeFixedRate}

// Benchmark producers.
const (
	// ProducerBatch builds one record batch per partition itself
	// and sends it with sarama's low-level Broker.AsyncProduce: cheap enough
	// per message that the probe is not the bottleneck of its own
	// measurement (docs/benchmark.md, `make bench-compare`).
	ProducerBatch = "batch"
	// ProducerAsync is sarama's AsyncProducer, as applications
	// use it: a client-realistic figure, at about twice the CPU per message.
	ProducerAsync = "async"
)

// Producers are the producers drills.benchmark.producer.type accepts.
var Producers = []string{ProducerBatch, ProducerAsync}

// Compressions are the codecs drills.benchmark.producer.compression
// accepts (sarama's names).
var Compressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// Config is drills.benchmark, the benchmark probe: the same acks=all workload on the
// cluster and on a single-node baseline, one after the other, compared.
type Config struct {
	Schedule string `mapstructure:"schedule"`
	Mode     string `mapstructure:"mode"`
	// Messages is how many messages are measured per target.
	Messages    int `mapstructure:"messages"`
	MessageSize int `mapstructure:"message_size"`
	// Rate is the offered load in fixed-rate mode, messages per second.
	Rate float64 `mapstructure:"rate"`
	// WarmupMessages are produced and acked before the measurement starts,
	// so that connection set-up is not counted as latency or throughput.
	WarmupMessages int `mapstructure:"warmup_messages"`
	// Topic is created on each target with Partitions partitions (the
	// cluster's replication factor on the cluster, 1 on the baseline).
	Topic      string `mapstructure:"topic"`
	Partitions int32  `mapstructure:"partitions"`
	// DeleteTopic deletes the topic after each target's measurement, so
	// that a scheduled benchmark does not fill the cluster (the embedded
	// sandbox keeps everything in memory).
	DeleteTopic bool `mapstructure:"delete_topic"`
	// Timeout bounds each target's produce and consume.
	Timeout    time.Duration `mapstructure:"timeout"`
	Producer   Producer      `mapstructure:"producer"`
	Baseline   Baseline      `mapstructure:"baseline"`
	Thresholds Thresholds    `mapstructure:"thresholds"`
}

// Producer chooses the producer and configures its batching (the
// JVM producer's batch.size, linger.ms and
// max.in.flight.requests.per.connection), the same for both producers.
type Producer struct {
	// Type is ProducerBatch (the default) or ProducerAsync.
	Type string `mapstructure:"type"`
	// FlushBytes and FlushMessages send a batch once it is that large;
	// FlushFrequency sends it after that long at the latest (linger);
	// FlushMaxMessages caps the messages in one batch (0: no cap).
	// sarama's async producer counts them per request (all the partitions
	// a broker leads), the batch producer per partition, as the JVM
	// producer's batch.size does. All zero (async producer only): a batch
	// goes as soon as a request slot is free.
	FlushBytes       int           `mapstructure:"flush_bytes"`
	FlushMessages    int           `mapstructure:"flush_messages"`
	FlushFrequency   time.Duration `mapstructure:"flush_frequency"`
	FlushMaxMessages int           `mapstructure:"flush_max_messages"`
	// MaxInFlight is the number of unanswered requests per connection.
	MaxInFlight int    `mapstructure:"max_in_flight"`
	Compression string `mapstructure:"compression"`
}

// Baseline is the single-node, non-replicated target.
type Baseline struct {
	// Address is host:port of a single-node server. Empty: with the
	// embedded sandbox the drill starts a 1-node sandbox as the baseline;
	// otherwise the benchmark measures the cluster alone.
	Address string `mapstructure:"address"`
}

// Thresholds are the pass criteria; defaults are the guide's.
type Thresholds struct {
	// MinThroughputRatio: the cluster's produce throughput over the
	// baseline's must be at least this.
	MinThroughputRatio float64 `mapstructure:"min_throughput_ratio"`
	// MaxLatencyP99Ratio: the cluster's p99 over the baseline's must be
	// below this.
	MaxLatencyP99Ratio float64 `mapstructure:"max_latency_p99_ratio"`
	// MaxErrors: failed sends, consume errors, lost, duplicated and
	// corrupted messages, on both targets.
	MaxErrors int `mapstructure:"max_errors"`
}

// Defaults are the settings of a key left unset.
func Defaults() *Config {
	return &Config{
		Schedule:       "off",
		Mode:           ModeThroughput,
		Messages:       10000,
		MessageSize:    1024,
		Rate:           1000,
		WarmupMessages: 100,
		Topic:          "raftdrill-benchmark",
		Partitions:     3,
		DeleteTopic:    true,
		Timeout:        5 * time.Minute,
		Producer: Producer{
			Type: ProducerBatch,
			// Tuned with `make bench-compare` (docs/benchmark.md): batches
			// of up to 256 KiB keep the requests per message, and so the
			// server's cost per message, low; a 1 ms linger keeps the
			// batching delay small next to the latencies measured.
			FlushBytes:     256 << 10,
			FlushFrequency: time.Millisecond,
			MaxInFlight:    5,
			Compression:    "none",
		},
		Thresholds: Thresholds{
			MinThroughputRatio: 0.5,
			MaxLatencyP99Ratio: 3,
			MaxErrors:          0,
		},
	}
}

// Validate checks drills.benchmark.
func (b *Config) Validate(ch *config.Checker, root *config.Config) {
	ch.Schedule("schedule", b.Schedule)
	if !slices.Contains(Modes, b.Mode) {
		ch.Add("mode", "must be one of %s", strings.Join(Modes, ", "))
	}
	if b.Messages < 1 {
		ch.Add("messages", "must be >= 1")
	}
	ch.MessageSize("message_size", b.MessageSize)
	if b.Mode == ModeFixedRate && b.Rate <= 0 {
		ch.Add("rate", "must be > 0 in fixed-rate mode")
	}
	if b.WarmupMessages < 0 {
		ch.Add("warmup_messages", "must be >= 0")
	}
	switch {
	case b.Topic == "":
		ch.Add("topic", "must not be empty")
	case b.Topic == root.Cluster.Topic.Name:
		ch.Add("topic", "must differ from cluster.topic.name (the benchmark deletes its topic after each run)")
	}
	if b.Partitions < 1 {
		ch.Add("partitions", "must be >= 1")
	}
	ch.Positive("timeout", b.Timeout)
	p := b.Producer
	if !slices.Contains(Producers, p.Type) {
		ch.Add("producer.type", "must be one of %s", strings.Join(Producers, ", "))
	}
	for _, f := range []struct {
		key string
		v   int
	}{{"flush_bytes", p.FlushBytes}, {"flush_messages", p.FlushMessages}, {"flush_max_messages", p.FlushMaxMessages}} {
		if f.v < 0 {
			ch.Add("producer."+f.key, "must be >= 0")
		}
	}
	switch {
	case p.FlushFrequency < 0:
		ch.Add("producer.flush_frequency", "must be >= 0")
	case p.FlushFrequency == 0 && (p.FlushBytes > 0 || p.FlushMessages > 0):
		ch.Add("producer.flush_frequency", "must be > 0 when flush_bytes or flush_messages is set, or a partial batch waits for ever")
	case p.FlushFrequency == 0 && p.Type == ProducerBatch:
		// The batch producer sends a batch when it is full or has lingered;
		// it has no "whenever a request slot is free" of its own.
		ch.Add("producer.flush_frequency", "must be > 0 with the batch producer (how long a batch waits for more messages)")
	}
	if p.MaxInFlight < 1 {
		ch.Add("producer.max_in_flight", "must be >= 1")
	}
	if !slices.Contains(Compressions, p.Compression) {
		ch.Add("producer.compression", "must be one of %s", strings.Join(Compressions, ", "))
	}
	if a := b.Baseline.Address; a != "" {
		ch.HostPort("baseline.address", a)
	}
	th := b.Thresholds
	if th.MinThroughputRatio <= 0 {
		ch.Add("thresholds.min_throughput_ratio", "must be > 0")
	}
	if th.MaxLatencyP99Ratio <= 0 {
		ch.Add("thresholds.max_latency_p99_ratio", "must be > 0")
	}
	if th.MaxErrors < 0 {
		ch.Add("thresholds.max_errors", "must be >= 0")
	}
}
