package recovery

import (
	"math"
	"time"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/drill"
)

// Config is drills.failure-recovery, the end-to-end failure-recovery drill (the guide's
// "Test 1", done properly): produce, lose a follower, lose the leader,
// optionally lose the majority, recover, then read every partition back
// through every node and classify each message.
type Config struct {
	Schedule string `mapstructure:"schedule"`
	// Messages are produced, with Acks, before any node is killed.
	Messages int `mapstructure:"messages"`
	// Batch is how many writes each later step produces to show that
	// writes go on (or, with the majority down, that they are refused).
	Batch       int `mapstructure:"batch"`
	MessageSize int `mapstructure:"message_size"`
	// Acks is what each write asks for: "all" (the default: an ack means
	// a majority has it) or "1" (the leader alone has it, which the leader
	// kill can lose: the drill then shows that loss). "1" goes only with
	// steps.majority_loss off: a leader alone may ack acks=1 writes, so the
	// step's "writes refused without a majority" does not hold for them.
	Acks string `mapstructure:"acks"`
	// KillLoadRate is the rate, in msg/s, of the writes to the target
	// partition that run through the leader kill: from shortly before it
	// (once writes are acked) until a new leader is elected or the
	// election deadline passes. They are their own stream (run id with
	// the suffix -kill-load) and judged as every write is. 0: no load, the
	// leader is killed between batches, when no write is in flight.
	KillLoadRate float64 `mapstructure:"kill_load_rate"`
	// TargetPartition is the partition whose follower and leader are
	// killed; both are looked up in metadata, never assumed.
	TargetPartition int32 `mapstructure:"target_partition"`
	// PollInterval is how often metadata is read through every live node
	// while waiting for an election; it bounds the resolution of
	// election_seconds.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// ElectionDeadline: a new live leader must be elected this soon after
	// a leader is killed while a majority is up.
	ElectionDeadline time.Duration `mapstructure:"election_deadline"`
	// RecoveryDeadline: after the restarts, every partition must be led and
	// every node serving this soon.
	RecoveryDeadline time.Duration `mapstructure:"recovery_deadline"`
	// LeaderGrace is how long live nodes may name different leaders for a
	// partition, or name a dead node as its leader, before the leader watch
	// reports leader-disagreement or stale-leader.
	LeaderGrace time.Duration `mapstructure:"leader_grace"`
	// AllowDuplicates accepts a message read at two offsets. raftdrill's
	// producer never retries, so a duplicate is the cluster's doing: leave
	// this off unless the cluster is known to replay writes on purpose.
	AllowDuplicates bool `mapstructure:"allow_duplicates"`
	// ReadBack is how the writes are read back (drill.ReadBack).
	ReadBack   drill.ReadBack `mapstructure:"read_back"`
	Steps      Steps          `mapstructure:"steps"`
	Thresholds Thresholds     `mapstructure:"thresholds"`
}

// Steps turns optional steps on.
type Steps struct {
	// MajorityLoss kills one more node while the leader is still down, so
	// that a majority is down: writes must then be refused (the guide's
	// end-to-end test takes a majority down too). On by default; a cluster
	// where it must be off says so here, and the run then reports the step
	// and its criteria as not tested.
	MajorityLoss bool `mapstructure:"majority_loss"`
}

// Thresholds are the pass criteria.
type Thresholds struct {
	// MinBatchAckRatio: each step that writes with a quorum up must get at
	// least this share of its writes acked (the 90 %).
	MinBatchAckRatio float64 `mapstructure:"min_batch_ack_ratio"`
	// MinAckedRecoveredRatio: acked writes read back intact over acked
	// writes. Anything below 1 accepts losing acknowledged data.
	MinAckedRecoveredRatio float64 `mapstructure:"min_acked_recovered_ratio"`
	// MinSentRecoveredRatio is the guide's "at least 95 % of messages
	// recovered", over every write sent while a quorum was up.
	MinSentRecoveredRatio float64 `mapstructure:"min_sent_recovered_ratio"`
}

// Defaults are the settings of a key left unset.
func Defaults() *Config {
	return &Config{
		// Off: the drill kills two nodes in turn; run it on purpose
		// (raftdrill run failure-recovery, POST /trigger) or schedule it.
		Schedule:         "off",
		Messages:         1000,
		Batch:            100,
		MessageSize:      1024,
		Acks:             "all",
		KillLoadRate:     200,
		TargetPartition:  0,
		PollInterval:     10 * time.Millisecond,
		ElectionDeadline: 15 * time.Second,
		RecoveryDeadline: 60 * time.Second,
		LeaderGrace:      5 * time.Second,
		ReadBack:         drill.DefaultReadBack(),
		Steps:            Steps{MajorityLoss: true},
		Thresholds: Thresholds{
			MinBatchAckRatio:       0.9,
			MinAckedRecoveredRatio: 1,
			MinSentRecoveredRatio:  0.95,
		},
	}
}

// Validate checks drills.failure-recovery.
func (fr *Config) Validate(ch *config.Checker, root *config.Config) {
	fr.ReadBack.Validate(ch.At("read_back"))
	ch.Schedule("schedule", fr.Schedule)
	if fr.Messages < 1 {
		ch.Add("messages", "must be >= 1")
	}
	if fr.Batch < 1 {
		ch.Add("batch", "must be >= 1")
	}
	ch.MessageSize("message_size", fr.MessageSize)
	ch.Acks("acks", fr.Acks)
	if fr.Acks == "1" && fr.Steps.MajorityLoss {
		ch.Add("acks", `"1" cannot go with steps.majority_loss on: a leader alone answers acks=1 writes, so with the majority down it may rightly ack them and the step's "writes refused" does not apply; set drills.failure-recovery.steps.majority_loss: false, or acks: all`)
	}
	if !(fr.KillLoadRate >= 0) || math.IsInf(fr.KillLoadRate, 0) {
		ch.Add("kill_load_rate", "must be >= 0 msg/s (0: no writes through the leader kill)")
	}
	ch.Partition("target_partition", fr.TargetPartition, root)
	ch.Positive("poll_interval", fr.PollInterval)
	ch.Positive("election_deadline", fr.ElectionDeadline)
	ch.Positive("recovery_deadline", fr.RecoveryDeadline)
	ch.Positive("leader_grace", fr.LeaderGrace)
	if fr.PollInterval > 0 && fr.ElectionDeadline > 0 && fr.PollInterval >= fr.ElectionDeadline {
		ch.Add("poll_interval", "must be shorter than election_deadline (%s)", fr.ElectionDeadline)
	}
	th := fr.Thresholds
	ch.Fraction("thresholds.min_batch_ack_ratio", th.MinBatchAckRatio)
	ch.Fraction("thresholds.min_acked_recovered_ratio", th.MinAckedRecoveredRatio)
	ch.Fraction("thresholds.min_sent_recovered_ratio", th.MinSentRecoveredRatio)
}
