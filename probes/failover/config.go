package failover

import (
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/drill"
)

// Config is drills.leader-failover: kill the target partition's leader
// under a steady load and measure election and write recovery.
type Config struct {
	Schedule        string        `mapstructure:"schedule"`
	ProduceDuration time.Duration `mapstructure:"produce_duration"`
	KillAfter       time.Duration `mapstructure:"kill_after"`
	Rate            float64       `mapstructure:"rate"`
	MessageSize     int           `mapstructure:"message_size"`
	TargetPartition int32         `mapstructure:"target_partition"`
	// Acks is what each write asks for: "all" (the default: an ack means
	// a majority has it) or "1" (the leader alone has it, which a leader
	// kill can lose: the drill then shows that loss).
	Acks string `mapstructure:"acks"`
	// PollInterval is how often metadata is read through every live node
	// after the kill; it bounds the resolution of election_seconds.
	PollInterval     time.Duration `mapstructure:"poll_interval"`
	ElectionDeadline time.Duration `mapstructure:"election_deadline"`
	RecoveryTimeout  time.Duration `mapstructure:"recovery_timeout"`
	// LeaderGrace is how long live nodes may name different leaders, or a
	// dead one, before the leader watch reports it.
	LeaderGrace time.Duration `mapstructure:"leader_grace"`
	// ReadBack is how the writes are read back (drill.ReadBack).
	ReadBack   drill.ReadBack `mapstructure:"read_back"`
	Thresholds Thresholds     `mapstructure:"thresholds"`
}

// Thresholds are the pass criteria; defaults are the guide's.
type Thresholds struct {
	MaxFailoverSeconds float64 `mapstructure:"max_failover_seconds"`
	MinSuccessRatio    float64 `mapstructure:"min_success_ratio"`
	MaxLost            int     `mapstructure:"max_lost"`
	MaxCorrupted       int     `mapstructure:"max_corrupted"`
}

// Defaults are the settings of a key left unset.
func Defaults() *Config {
	return &Config{
		Schedule:         "@every 15m",
		ProduceDuration:  30 * time.Second,
		KillAfter:        10 * time.Second,
		Rate:             100,
		MessageSize:      1024,
		TargetPartition:  0,
		Acks:             "all",
		PollInterval:     10 * time.Millisecond,
		ElectionDeadline: 15 * time.Second,
		RecoveryTimeout:  60 * time.Second,
		LeaderGrace:      5 * time.Second,
		ReadBack:         drill.DefaultReadBack(),
		Thresholds: Thresholds{
			MaxFailoverSeconds: 15,
			MinSuccessRatio:    0.80,
			MaxLost:            0,
			MaxCorrupted:       0,
		},
	}
}

// Validate checks drills.leader-failover.
func (lf *Config) Validate(ch *config.Checker, root *config.Config) {
	lf.ReadBack.Validate(ch.At("read_back"))
	ch.Schedule("schedule", lf.Schedule)
	ch.Positive("produce_duration", lf.ProduceDuration)
	ch.Positive("kill_after", lf.KillAfter)
	if lf.KillAfter > 0 && lf.ProduceDuration > 0 && lf.KillAfter >= lf.ProduceDuration {
		ch.Add("kill_after", "must be shorter than produce_duration (%s), or nothing is measured after the kill", lf.ProduceDuration)
	}
	if lf.Rate <= 0 {
		ch.Add("rate", "must be > 0")
	}
	ch.MessageSize("message_size", lf.MessageSize)
	ch.Partition("target_partition", lf.TargetPartition, root)
	ch.Acks("acks", lf.Acks)
	ch.Positive("poll_interval", lf.PollInterval)
	ch.Positive("election_deadline", lf.ElectionDeadline)
	ch.Positive("recovery_timeout", lf.RecoveryTimeout)
	ch.Positive("leader_grace", lf.LeaderGrace)
	th := lf.Thresholds
	if th.MaxFailoverSeconds <= 0 {
		ch.Add("thresholds.max_failover_seconds", "must be > 0")
	}
	ch.Fraction("thresholds.min_success_ratio", th.MinSuccessRatio)
	if th.MaxLost < 0 {
		ch.Add("thresholds.max_lost", "must be >= 0")
	}
	if th.MaxCorrupted < 0 {
		ch.Add("thresholds.max_corrupted", "must be >= 0")
	}
}

// RequiredAcks is Acks for the producer.
func (lf *Config) RequiredAcks() sarama.RequiredAcks { return config.RequiredAcks(lf.Acks) }
