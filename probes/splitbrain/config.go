package splitbrain

import (
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/drill"
)

// Config is drills.split-brain.
type Config struct {
	Schedule string `mapstructure:"schedule"`
	// Mode is partition (cut the leader's replication links; clients still
	// reach it) or pause (freeze its process, as a long GC pause or a
	// stalled VM does).
	Mode string `mapstructure:"mode"`
	// DisruptAfter is how long writes run before the leader is cut off;
	// Duration how long it stays cut off or frozen; After how long writes
	// go on once it is back.
	DisruptAfter time.Duration `mapstructure:"disrupt_after"`
	Duration     time.Duration `mapstructure:"duration"`
	After        time.Duration `mapstructure:"after"`
	Rate         float64       `mapstructure:"rate"`
	MessageSize  int           `mapstructure:"message_size"`
	// TargetPartition is the partition whose leader is cut off.
	TargetPartition int32  `mapstructure:"target_partition"`
	Acks            string `mapstructure:"acks"`
	// PinnedRate is the rate of the writes sent to the old leader alone,
	// whatever it answers: they show when it stops acknowledging.
	PinnedRate   float64       `mapstructure:"pinned_rate"`
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// StepdownDeadline is how long after it is cut off (partition) or
	// thawed (pause) the old leader may go on acknowledging: a Raft leader
	// with CheckQuorum steps down within an election timeout.
	StepdownDeadline time.Duration `mapstructure:"stepdown_deadline"`
	ElectionDeadline time.Duration `mapstructure:"election_deadline"`
	// HealTimeout bounds the wait, after the heal, for every replica to
	// catch up with the leader.
	HealTimeout     time.Duration  `mapstructure:"heal_timeout"`
	RecoveryTimeout time.Duration  `mapstructure:"recovery_timeout"`
	LeaderGrace     time.Duration  `mapstructure:"leader_grace"`
	ReadBack        drill.ReadBack `mapstructure:"read_back"`
	Thresholds      Thresholds     `mapstructure:"thresholds"`
}

// Thresholds are the pass criteria.
type Thresholds struct {
	MaxFailoverSeconds float64 `mapstructure:"max_failover_seconds"`
	// MaxStepdownSeconds, when above 0, makes stepdown_seconds a
	// criterion. Off by default: a cluster whose isolated leader never
	// says it stepped down (Kafka's brokers keep their stale metadata) is
	// safe as long as it acknowledges nothing, which max_minority_acks
	// checks.
	MaxStepdownSeconds float64 `mapstructure:"max_stepdown_seconds"`
	MinSuccessRatio    float64 `mapstructure:"min_success_ratio"`
	MaxLost            int     `mapstructure:"max_lost"`
	MaxCorrupted       int     `mapstructure:"max_corrupted"`
	MaxMinorityAcks    int     `mapstructure:"max_minority_acks"`
}

// Defaults are the settings of a key left unset.
func Defaults() *Config {
	return &Config{
		Schedule:         "off",
		Mode:             control.Isolate,
		DisruptAfter:     5 * time.Second,
		Duration:         20 * time.Second,
		After:            10 * time.Second,
		Rate:             100,
		MessageSize:      1024,
		Acks:             "all",
		PinnedRate:       20,
		PollInterval:     10 * time.Millisecond,
		StepdownDeadline: 10 * time.Second,
		ElectionDeadline: 15 * time.Second,
		HealTimeout:      60 * time.Second,
		RecoveryTimeout:  60 * time.Second,
		LeaderGrace:      5 * time.Second,
		ReadBack:         drill.DefaultReadBack(),
		Thresholds: Thresholds{
			MaxFailoverSeconds: 15,
			MinSuccessRatio:    0.80,
		},
	}
}

// Validate checks drills.split-brain.
func (c *Config) Validate(ch *config.Checker, root *config.Config) {
	ch.Schedule("schedule", c.Schedule)
	if c.Mode != control.Isolate && c.Mode != control.Pause {
		ch.Add("mode", "must be %s or %s", control.Isolate, control.Pause)
	}
	ch.Positive("disrupt_after", c.DisruptAfter)
	ch.Positive("duration", c.Duration)
	ch.Positive("after", c.After)
	if c.Rate <= 0 {
		ch.Add("rate", "must be > 0")
	}
	if c.PinnedRate <= 0 {
		ch.Add("pinned_rate", "must be > 0")
	}
	ch.MessageSize("message_size", c.MessageSize)
	ch.Partition("target_partition", c.TargetPartition, root)
	ch.Acks("acks", c.Acks)
	ch.Positive("poll_interval", c.PollInterval)
	ch.Positive("stepdown_deadline", c.StepdownDeadline)
	if c.Mode == control.Isolate && c.StepdownDeadline > 0 && c.Duration > 0 && c.StepdownDeadline >= c.Duration {
		ch.Add("stepdown_deadline", "must be shorter than duration (%s), or the isolated leader is never held to it", c.Duration)
	}
	ch.Positive("election_deadline", c.ElectionDeadline)
	ch.Positive("heal_timeout", c.HealTimeout)
	ch.Positive("recovery_timeout", c.RecoveryTimeout)
	ch.Positive("leader_grace", c.LeaderGrace)
	c.ReadBack.Validate(ch.At("read_back"))
	th := c.Thresholds
	if th.MaxFailoverSeconds <= 0 {
		ch.Add("thresholds.max_failover_seconds", "must be > 0")
	}
	if th.MaxStepdownSeconds < 0 {
		ch.Add("thresholds.max_stepdown_seconds", "must be >= 0 (0: not a criterion)")
	}
	ch.Fraction("thresholds.min_success_ratio", th.MinSuccessRatio)
	for _, kv := range []struct {
		key string
		v   int
	}{{"max_lost", th.MaxLost}, {"max_corrupted", th.MaxCorrupted}, {"max_minority_acks", th.MaxMinorityAcks}} {
		if kv.v < 0 {
			ch.Add("thresholds."+kv.key, "must be >= 0")
		}
	}
}

// RequiredAcks is Acks for the producer.
func (c *Config) RequiredAcks() sarama.RequiredAcks { return config.RequiredAcks(c.Acks) }
