package run

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Unit is what a measurement counts, and so how it is written.
type Unit int

// Units of measurements.
const (
	Count       Unit = iota // a number of things
	Seconds                 // a duration, in seconds
	Ratio                   // a fraction, written as a percentage
	MsgPerSec               // messages per second
	Bytes                   // a size, in bytes
	BytesPerSec             // bytes per second
	Percent                 // already a percentage (CPU: 100 = one core)
	NodeID                  // a node's id
)

func (u Unit) symbol() string {
	if u == Seconds {
		return "s"
	}
	return ""
}

// NotMeasured stands in for a figure a run could not measure; it fails
// every "<" criterion and is written "not measured".
const NotMeasured = 1e9

// OrNotMeasured returns v, or NotMeasured when v < 0 (the drills' "never
// measured").
func OrNotMeasured(v float64) float64 {
	if v < 0 {
		return NotMeasured
	}
	return v
}

// Measure is one kind of figure a drill produces: its key in the run's
// measurements (and criteria), its unit, its names for people, and whether
// it is a key figure (shown on the status page and in Slack).
type Measure struct {
	Key   string
	Unit  Unit
	Label string // in reports: "Failover time"
	Short string // in tables and messages: "failover"
	// KeyFigure marks the figures a person looks for first: the status
	// page's run rows and Slack messages show these.
	KeyFigure bool
	// Bad says when a value is a problem in itself (a lost message).
	Bad func(float64) bool
}

// Format writes v in the measurement's unit.
func (m Measure) Format(v float64) string { return m.Unit.Format(v) }

// Format writes v in unit u.
func (u Unit) Format(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= NotMeasured || math.IsInf(v, 0):
		return "not measured"
	}
	switch u {
	case Seconds:
		return formatSeconds(v)
	case Ratio:
		return strconv.FormatFloat(v*100, 'f', 1, 64) + " %"
	case Percent:
		return strconv.FormatFloat(v, 'f', 1, 64) + " %"
	case MsgPerSec:
		return strconv.FormatFloat(v, 'f', 0, 64) + " msg/s"
	case Bytes:
		if math.Abs(v) < 1<<20 {
			return strconv.FormatFloat(v, 'f', 0, 64) + " B"
		}
		return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + " MiB"
	case BytesPerSec:
		return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + " MiB/s"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// formatSeconds writes at most a millisecond's precision (a tenth below
// one second), without trailing zeros: "1.961 s", "15 s", "229.5 ms".
func formatSeconds(s float64) string {
	switch {
	case s < 1:
		return trim(strconv.FormatFloat(s*1000, 'f', 1, 64)) + " ms"
	case s < 100:
		return trim(strconv.FormatFloat(s, 'f', 3, 64)) + " s"
	default:
		return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
	}
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func positive(v float64) bool { return v > 0 }

// The measurement table. Every measurement key a drill writes is one of
// these (or derived from one with Baseline or ForNode).
var (
	ElectionSeconds  = define(Measure{Key: "election_seconds", Unit: Seconds, Label: "Election time", Short: "election", KeyFigure: true})
	FailoverSeconds  = define(Measure{Key: "failover_seconds", Unit: Seconds, Label: "Failover time (to the first acked write)", Short: "failover", KeyFigure: true})
	StepdownSeconds  = define(Measure{Key: "stepdown_seconds", Unit: Seconds, Label: "Step-down time of the old leader", Short: "step-down", KeyFigure: true})
	HealSeconds      = define(Measure{Key: "heal_seconds", Unit: Seconds, Label: "Heal time (every replica caught up)", Short: "heal"})
	RecoverySeconds  = define(Measure{Key: "recovery_seconds", Unit: Seconds, Label: "Recovery time", Short: "recovery", KeyFigure: true})
	KillSeconds      = define(Measure{Key: "kill_seconds", Unit: Seconds, Label: "Time the kill took", Short: "kill"})
	SuccessRatio     = define(Measure{Key: "success_ratio", Unit: Ratio, Label: "Success ratio (acked / sent)", Short: "success", KeyFigure: true})
	MessagesSent     = define(Measure{Key: "messages_sent", Unit: Count, Label: "Messages sent", Short: "sent", KeyFigure: true})
	MessagesAcked    = define(Measure{Key: "messages_acked", Unit: Count, Label: "Messages acked", Short: "acked", KeyFigure: true})
	MessagesFailed   = define(Measure{Key: "messages_failed", Unit: Count, Label: "Messages refused", Short: "failed"})
	MessagesIndet    = define(Measure{Key: "messages_indeterminate", Unit: Count, Label: "Messages without an answer", Short: "indeterminate"})
	MessagesConsumed = define(Measure{Key: "messages_consumed", Unit: Count, Label: "Messages read back", Short: "consumed"})
	MessagesLost     = define(Measure{Key: "messages_lost", Unit: Count, Label: "Messages lost", Short: "lost", KeyFigure: true, Bad: positive})
	MessagesDup      = define(Measure{Key: "messages_duplicated", Unit: Count, Label: "Messages duplicated", Short: "duplicated", KeyFigure: true, Bad: positive})
	MessagesCorrupt  = define(Measure{Key: "messages_corrupted", Unit: Count, Label: "Messages corrupted", Short: "corrupted", KeyFigure: true, Bad: positive})
	IndetVisible     = define(Measure{Key: "messages_indeterminate_visible", Unit: Count, Label: "Unanswered messages read back", Short: "indeterminate read back"})
	AckedRecovered   = define(Measure{Key: "acked_recovered_ratio", Unit: Ratio, Label: "Acked messages recovered", Short: "acked recovered", KeyFigure: true})
	SentRecovered    = define(Measure{Key: "sent_recovered_ratio", Unit: Ratio, Label: "Sent messages recovered (quorum up)", Short: "sent recovered"})
	NodesRecovered   = define(Measure{Key: "nodes_recovered", Unit: Count, Label: "Nodes serving after recovery", Short: "nodes recovered"})
	ClusterRecovered = define(Measure{Key: "cluster_recovered", Unit: Count, Label: "Cluster recovered (1 yes, 0 no)", Short: "cluster recovered"})
	AnomalyCount     = define(Measure{Key: "anomalies", Unit: Count, Label: "Anomalies", Short: "anomalies", Bad: positive})
	KilledNode       = define(Measure{Key: "killed_node", Unit: NodeID, Label: "Killed node", Short: "killed"})
	KilledFollower   = define(Measure{Key: "killed_follower", Unit: NodeID, Label: "Killed follower", Short: "killed follower"})
	KilledLeader     = define(Measure{Key: "killed_leader", Unit: NodeID, Label: "Killed leader", Short: "killed leader"})
	NewLeader        = define(Measure{Key: "new_leader", Unit: NodeID, Label: "New leader", Short: "new leader"})
	OldLeader        = define(Measure{Key: "old_leader", Unit: NodeID, Label: "Old leader", Short: "old leader"})
	MinorityAcks     = define(Measure{Key: "minority_acks", Unit: Count, Label: "Writes acked by the minority after its step-down deadline", Short: "minority acks", Bad: positive})

	InitialAckRatio      = define(Measure{Key: "initial_ack_ratio", Unit: Ratio, Label: "Acked, before any kill", Short: "initial acked"})
	FollowerLossAckRatio = define(Measure{Key: "follower_loss_ack_ratio", Unit: Ratio, Label: "Acked, a follower down", Short: "follower-loss acked"})
	LeaderLossAckRatio   = define(Measure{Key: "leader_loss_ack_ratio", Unit: Ratio, Label: "Acked, the leader down", Short: "leader-loss acked"})
	RecoveryAckRatio     = define(Measure{Key: "recovery_ack_ratio", Unit: Ratio, Label: "Acked, after recovery", Short: "recovery acked"})
	MajorityLossAcked    = define(Measure{Key: "majority_loss_acked", Unit: Count, Label: "Acked with the majority down", Short: "acked without majority", Bad: positive})
	QuorumLossObserved   = define(Measure{Key: "quorum_loss_observed", Unit: Count, Label: "Quorum loss observed (1 yes, 0 no)", Short: "quorum loss observed"})

	MessageBytes      = define(Measure{Key: "message_bytes", Unit: Bytes, Label: "Message size", Short: "message size"})
	OfferedRate       = define(Measure{Key: "offered_rate_mps", Unit: MsgPerSec, Label: "Offered rate", Short: "offered"})
	Nodes             = define(Measure{Key: "nodes", Unit: Count, Label: "Nodes", Short: "nodes"})
	ProduceThroughput = define(Measure{Key: "produce_throughput_mps", Unit: MsgPerSec, Label: "Produce throughput", Short: "produce", KeyFigure: true})
	ConsumeThroughput = define(Measure{Key: "consume_throughput_mps", Unit: MsgPerSec, Label: "Consume throughput", Short: "consume", KeyFigure: true})
	ProduceBytesRate  = define(Measure{Key: "produce_bytes_per_second", Unit: BytesPerSec, Label: "Produce bandwidth", Short: "produce bandwidth"})
	ConsumeBytesRate  = define(Measure{Key: "consume_bytes_per_second", Unit: BytesPerSec, Label: "Consume bandwidth", Short: "consume bandwidth"})
	ProduceSeconds    = define(Measure{Key: "produce_seconds", Unit: Seconds, Label: "Produce time", Short: "produce time"})
	ConsumeSeconds    = define(Measure{Key: "consume_seconds", Unit: Seconds, Label: "Consume time", Short: "consume time"})
	LatencyP50        = define(Measure{Key: "latency_p50_seconds", Unit: Seconds, Label: "Latency p50", Short: "p50"})
	LatencyP95        = define(Measure{Key: "latency_p95_seconds", Unit: Seconds, Label: "Latency p95", Short: "p95"})
	LatencyP99        = define(Measure{Key: "latency_p99_seconds", Unit: Seconds, Label: "Latency p99", Short: "p99", KeyFigure: true})
	LatencyP999       = define(Measure{Key: "latency_p999_seconds", Unit: Seconds, Label: "Latency p99.9", Short: "p99.9"})
	LatencyMax        = define(Measure{Key: "latency_max_seconds", Unit: Seconds, Label: "Latency max", Short: "max latency"})
	ConsumeErrors     = define(Measure{Key: "consume_errors", Unit: Count, Label: "Consumer errors", Short: "consumer errors", Bad: positive})
	Errors            = define(Measure{Key: "errors", Unit: Count, Label: "Errors (failed, lost, duplicated, corrupted)", Short: "errors", Bad: positive})
	ClientCPU         = define(Measure{Key: "client_cpu_seconds", Unit: Seconds, Label: "Client CPU (produce)", Short: "client CPU"})
	ClientCPUPer100k  = define(Measure{Key: "client_cpu_seconds_per_100k_messages", Unit: Seconds, Label: "Client CPU per 100k messages", Short: "client CPU per 100k"})
	NodeCPUAvg        = define(Measure{Key: "node_cpu_percent_avg", Unit: Percent, Label: "CPU (avg per node)", Short: "node CPU"})
	NodeRSSAvg        = define(Measure{Key: "node_rss_bytes_avg", Unit: Bytes, Label: "Memory RSS (avg per node)", Short: "node RSS"})
	NodeRSSTotal      = define(Measure{Key: "node_rss_bytes_total", Unit: Bytes, Label: "Memory RSS (all nodes)", Short: "RSS"})
	ThroughputRatio   = define(Measure{Key: "produce_throughput_ratio", Unit: Ratio, Label: "Produce throughput, cluster / baseline", Short: "throughput ratio", KeyFigure: true})
	ThroughputCost    = define(Measure{Key: "throughput_overhead_ratio", Unit: Ratio, Label: "Throughput overhead of replication", Short: "throughput overhead"})
	ConsumeRatio      = define(Measure{Key: "consume_throughput_ratio", Unit: Ratio, Label: "Consume throughput, cluster / baseline", Short: "consume ratio"})
	LatencyP99Ratio   = define(Measure{Key: "latency_p99_ratio", Unit: Ratio, Label: "Latency p99, cluster / baseline", Short: "p99 ratio", KeyFigure: true})

	// Per node of a benchmark target (ForNode).
	NodeCPU = define(Measure{Key: "node_%d_cpu_percent", Unit: Percent, Label: "CPU of node %d", Short: "node %d CPU"})
	NodeRSS = define(Measure{Key: "node_%d_rss_bytes", Unit: Bytes, Label: "Memory RSS of node %d", Short: "node %d RSS"})
)

var (
	table = map[string]Measure{}
	order []string // definition order: the order people read figures in
)

func define(m Measure) Measure {
	if _, dup := table[m.Key]; dup {
		panic("run: measurement " + m.Key + " defined twice")
	}
	table[m.Key] = m
	order = append(order, m.Key)
	return m
}

// KeyFigures are the key figures among ms, in table order.
func KeyFigures(ms Measurements) []Measure {
	var out []Measure
	for _, k := range order {
		if _, ok := ms[k]; ok && table[k].KeyFigure {
			out = append(out, table[k])
		}
	}
	return out
}

// Ordered lists the keys of ms in table order, then any others sorted.
func Ordered(ms Measurements) []string {
	out := make([]string, 0, len(ms))
	seen := map[string]bool{}
	for _, k := range order {
		if _, ok := ms[k]; ok {
			out = append(out, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range ms {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// BaselinePrefix starts the keys of the benchmark's baseline figures.
const BaselinePrefix = "baseline_"

// Baseline is the same measurement of the benchmark's baseline target.
func (m Measure) Baseline() Measure {
	m.Key = BaselinePrefix + m.Key
	m.KeyFigure = false
	return m
}

// ForNode is a per-node measurement (NodeCPU, NodeRSS) of node id.
func (m Measure) ForNode(id int32) Measure {
	m.Key = fmt.Sprintf(m.Key, id)
	m.Label = fmt.Sprintf(m.Label, id)
	m.Short = fmt.Sprintf(m.Short, id)
	return m
}

// Lookup returns the measurement a key names: one of the table, its
// baseline twin, or a per-node one. A key it does not know (a newer
// raftdrill's, read from the run store) is a plain count named after the
// key.
func Lookup(key string) Measure {
	if m, ok := lookup(key); ok {
		return m
	}
	name := strings.ReplaceAll(key, "_", " ")
	return Measure{Key: key, Unit: Count, Label: strings.ToUpper(name[:1]) + name[1:], Short: name}
}

func lookup(key string) (Measure, bool) {
	if m, ok := table[key]; ok {
		return m, true
	}
	if rest, ok := strings.CutPrefix(key, BaselinePrefix); ok {
		if m, ok := lookup(rest); ok {
			return m.Baseline(), true
		}
	}
	var id int32
	var what string
	if n, _ := fmt.Sscanf(key, "node_%d_%s", &id, &what); n == 2 {
		for _, m := range []Measure{NodeCPU, NodeRSS} {
			if m.ForNode(id).Key == key {
				return m.ForNode(id), true
			}
		}
	}
	return Measure{}, false
}

// Measurements are a run's figures by measurement key; as JSON, an object of
// numbers.
type Measurements map[string]float64

// Set records v for m.
func (ms Measurements) Set(m Measure, v float64) { ms[m.Key] = v }

// Get returns m's value and whether it was measured.
func (ms Measurements) Get(m Measure) (float64, bool) {
	v, ok := ms[m.Key]
	return v, ok
}

// Value returns m's value, 0 when it was not measured.
func (ms Measurements) Value(m Measure) float64 { return ms[m.Key] }

// RoundMs rounds seconds to the millisecond, the resolution drills measure at.
func RoundMs(s float64) float64 { return math.Round(s*1000) / 1000 }
