package sandbox

import "github.com/raftdrill/raftdrill/config"

// Faults are the misbehaviours the sandbox can be told to show; see
// config.SandboxFaults for each. They are test equipment.
type Faults = config.SandboxFaults

// metadataLeader is the leader a node names for a partition in the metadata
// it serves, after the faults have had their say.
func metadataLeader(f Faults, asker int32, leader, last int32) int32 {
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
