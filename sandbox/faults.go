package sandbox

// Faults make the sandbox misbehave on purpose. They are test equipment: they
// exist so that every checker of raftdrill can be shown to catch the anomaly
// it names. All are off by default and none belongs near a real cluster.
type Faults struct {
	// AckWithoutQuorum lets a leader accept writes with its majority down
	// (split brain): the ack-without-quorum anomaly.
	AckWithoutQuorum bool `json:"ack_without_quorum" mapstructure:"ack_without_quorum"`
	// NeverElect leaves partitions of a killed leader leaderless for good:
	// the no-election anomaly.
	NeverElect bool `json:"never_elect" mapstructure:"never_elect"`
	// StaleLeader keeps naming a dead leader in metadata instead of
	// reporting the partition leaderless: the stale-leader anomaly.
	StaleLeader bool `json:"stale_leader" mapstructure:"stale_leader"`
	// SplitLeader makes every live replica claim leadership in the
	// metadata it serves: the leader-disagreement anomaly.
	SplitLeader bool `json:"split_leader" mapstructure:"split_leader"`
}

// metadataLeader is the leader a node names for a partition in the metadata
// it serves, after the faults have had their say.
func (f Faults) metadataLeader(asker int32, _ string, _ int32, leader, last int32) int32 {
	if leader == -1 && f.StaleLeader && last != -1 {
		return last
	}
	if f.SplitLeader && leader != -1 && asker != leader {
		return asker
	}
	return leader
}

// SetFaults replaces the active faults.
func (c *Cluster) SetFaults(f Faults) {
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.Lock()
	c.faults = f
	c.mu.Unlock()
	c.refreshQuorum()
}

// Faults returns the active faults.
func (c *Cluster) Faults() Faults {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.faults
}
