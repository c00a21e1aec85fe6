package config

// SandboxFaults make the sandbox misbehave on purpose. They are test
// equipment: they exist so that every checker of raftdrill can be shown to
// catch the anomaly it names. All are off by default; none belongs near a
// real cluster. The sandbox control API sets them too (PUT /faults).
type SandboxFaults struct {
	// AckWithoutQuorum lets a leader accept writes with its majority down
	// (split brain): the ack-without-quorum anomaly.
	AckWithoutQuorum bool `mapstructure:"ack_without_quorum" json:"ack_without_quorum"`
	// NeverElect leaves partitions of a killed leader leaderless for good:
	// the no-election anomaly.
	NeverElect bool `mapstructure:"never_elect" json:"never_elect"`
	// StaleLeader keeps naming a dead leader in metadata instead of
	// reporting the partition leaderless: the stale-leader anomaly.
	StaleLeader bool `mapstructure:"stale_leader" json:"stale_leader"`
	// SplitLeader makes every live replica claim leadership in the
	// metadata it serves: the leader-disagreement anomaly.
	SplitLeader bool `mapstructure:"split_leader" json:"split_leader"`
}
