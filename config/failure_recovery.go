package config

import (
	"fmt"
	"time"
)

// FailureRecovery is the end-to-end failure-recovery drill (the guide's
// "Test 1", done properly): produce, lose a follower, lose the leader,
// optionally lose the majority, recover, then read every partition back
// through every node and classify each message.
type FailureRecovery struct {
	Schedule string `mapstructure:"schedule"`
	// Messages are produced, acks=all, before any node is killed.
	Messages int `mapstructure:"messages"`
	// Batch is how many writes each later step produces to show that
	// writes go on (or, with the majority down, that they are refused).
	Batch       int `mapstructure:"batch"`
	MessageSize int `mapstructure:"message_size"`
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
	AllowDuplicates bool                      `mapstructure:"allow_duplicates"`
	Steps           FailureRecoverySteps      `mapstructure:"steps"`
	Thresholds      FailureRecoveryThresholds `mapstructure:"thresholds"`
}

// FailureRecoverySteps turns optional steps on.
type FailureRecoverySteps struct {
	// MajorityLoss kills one more node while the leader is still down, so
	// that a majority is down: writes must then be refused. Off by
	// default because it takes the cluster down for the step.
	MajorityLoss bool `mapstructure:"majority_loss"`
}

// FailureRecoveryThresholds are the pass criteria.
type FailureRecoveryThresholds struct {
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

func defaultFailureRecovery() FailureRecovery {
	return FailureRecovery{
		// Off: the drill kills two nodes in turn; run it on purpose
		// (raftdrill run failure-recovery, POST /trigger) or schedule it.
		Schedule:         "off",
		Messages:         1000,
		Batch:            100,
		MessageSize:      1024,
		TargetPartition:  0,
		PollInterval:     10 * time.Millisecond,
		ElectionDeadline: 15 * time.Second,
		RecoveryDeadline: 60 * time.Second,
		LeaderGrace:      5 * time.Second,
		Thresholds: FailureRecoveryThresholds{
			MinBatchAckRatio:       0.9,
			MinAckedRecoveredRatio: 1,
			MinSentRecoveredRatio:  0.95,
		},
	}
}

// validateFailureRecovery checks drills.failure-recovery.*.
func (c *Config) validateFailureRecovery() Problems {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{key, fmt.Sprintf(format, args...)})
	}
	const k = "drills.failure-recovery."
	fr := c.Drills.FailureRecovery
	validSchedule(k+"schedule", fr.Schedule, add)
	if fr.Messages < 1 {
		add(k+"messages", "must be >= 1")
	}
	if fr.Batch < 1 {
		add(k+"batch", "must be >= 1")
	}
	if fr.MessageSize < 64 || fr.MessageSize > 1<<20 {
		add(k+"message_size", "must be between 64 and 1048576 bytes")
	}
	// With no valid partition count, cluster.topic.partitions says so.
	if c.Cluster.Topic.Partitions >= 1 && (fr.TargetPartition < 0 || fr.TargetPartition >= c.Cluster.Topic.Partitions) {
		add(k+"target_partition", "must be a partition of the drill topic (0..%d)", c.Cluster.Topic.Partitions-1)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"poll_interval", fr.PollInterval},
		{"election_deadline", fr.ElectionDeadline},
		{"recovery_deadline", fr.RecoveryDeadline},
		{"leader_grace", fr.LeaderGrace},
	} {
		if d.v <= 0 {
			add(k+d.key, "must be > 0")
		}
	}
	if fr.PollInterval > 0 && fr.ElectionDeadline > 0 && fr.PollInterval >= fr.ElectionDeadline {
		add(k+"poll_interval", "must be shorter than election_deadline (%s)", fr.ElectionDeadline)
	}
	th := fr.Thresholds
	for _, r := range []struct {
		key string
		v   float64
	}{
		{"thresholds.min_batch_ack_ratio", th.MinBatchAckRatio},
		{"thresholds.min_acked_recovered_ratio", th.MinAckedRecoveredRatio},
		{"thresholds.min_sent_recovered_ratio", th.MinSentRecoveredRatio},
	} {
		if r.v < 0 || r.v > 1 {
			add(k+r.key, "must be between 0 and 1")
		}
	}
	return ps
}
