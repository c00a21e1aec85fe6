package sandbox

// Faults make the sandbox misbehave on purpose. They are test
// equipment: they exist so that every checker of raftdrill can be shown to
// catch the anomaly it names (docs/anomalies.md pairs each fault with the
// anomaly it proves). All are off by default; none belongs near a real
// cluster. The sandbox control API sets them too (PUT /faults).
//
// A count N arms the fault for the next N occurrences after it is set (at
// start-up, or by each PUT /faults), so that a test knows how many
// anomalies to expect; the damage done stays done. lose_acked_on_kill is
// the exception: it is a number of records, lost at every leader kill
// while it is set.
type Faults struct {
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

	// LoseAckedOnKill K: when a node is killed, the last K records of each
	// partition it led are lost, as when a leader acks before its
	// followers have the entries and a follower without them is elected.
	// No node serves them again: the lost-write anomaly.
	LoseAckedOnKill int `mapstructure:"lose_acked_on_kill" json:"lose_acked_on_kill"`
	// CorruptWrites N: the next N records produced are stored with one
	// payload byte flipped; the batch CRC is computed over the damage, so
	// only an end-to-end checksum notices: the corrupt anomaly.
	CorruptWrites int `mapstructure:"corrupt_writes" json:"corrupt_writes"`
	// DuplicateWrites N: the next N produce requests are applied twice,
	// as a retry after a lost answer would be: the duplicate anomaly.
	DuplicateWrites int `mapstructure:"duplicate_writes" json:"duplicate_writes"`
	// AckOffsetMinusOne N: the next N successful produces are answered
	// with no error but base offset -1, as Chronik answers when
	// replication timed out: the bogus-ack anomaly.
	AckOffsetMinusOne int `mapstructure:"ack_offset_minus_one" json:"ack_offset_minus_one"`
	// RefuseButAppend N: the next N successful produces are answered
	// NOT_ENOUGH_REPLICAS (a refusal: Kafka sends it before appending)
	// although the record was appended: the unacked-visible anomaly.
	RefuseButAppend int `mapstructure:"refuse_but_append" json:"refuse_but_append"`
	// TimeoutAfterAppend N: the next N produces are appended and answered
	// REQUEST_TIMED_OUT. The outcome is indeterminate, so reading the
	// record back is fine: indeterminate-visible, counted, no anomaly.
	TimeoutAfterAppend int `mapstructure:"timeout_after_append" json:"timeout_after_append"`
	// DivergentWrites N: the next N records produced are served by one
	// follower replica as a different record at the same offset (a replica
	// that kept an old term's entry): the inconsistent-offsets anomaly.
	DivergentWrites int `mapstructure:"divergent_writes" json:"divergent_writes"`
	// ReorderWrites N: the next N pairs of records produced to a partition
	// are served, by every node, each at the other's offset: the
	// nonmonotonic anomaly.
	ReorderWrites int `mapstructure:"reorder_writes" json:"reorder_writes"`
	// PhantomWrites N: the next N produce requests also append the last
	// record produced to another partition, as a misrouted write would:
	// the phantom anomaly.
	PhantomWrites int `mapstructure:"phantom_writes" json:"phantom_writes"`
}

// Counts lists the counted faults by key, for validation and for the
// sandbox's bookkeeping.
func (f Faults) Counts() []FaultCount {
	return []FaultCount{
		{"lose_acked_on_kill", f.LoseAckedOnKill},
		{"corrupt_writes", f.CorruptWrites},
		{"duplicate_writes", f.DuplicateWrites},
		{"ack_offset_minus_one", f.AckOffsetMinusOne},
		{"refuse_but_append", f.RefuseButAppend},
		{"timeout_after_append", f.TimeoutAfterAppend},
		{"divergent_writes", f.DivergentWrites},
		{"reorder_writes", f.ReorderWrites},
		{"phantom_writes", f.PhantomWrites},
	}
}

// FaultCount is one counted fault and its count.
type FaultCount struct {
	Key string
	N   int
}
