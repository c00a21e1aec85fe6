package sandbox

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

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

// SetFaults replaces the active faults, and arms the counted ones afresh
// (N means the next N occurrences from now).
func (c *Cluster) SetFaults(f Faults) {
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.Lock()
	c.faults = f
	c.mu.Unlock()
	c.refreshQuorum()
	c.armFaults(f)
}

// armFaults arms the counted data faults. A timed-out append is kfake's own
// fault: it answers REQUEST_TIMED_OUT and still appends.
func (c *Cluster) armFaults(f Faults) {
	c.data.arm(f)
	if c.timeoutFault != nil {
		c.timeoutFault.Remove()
		c.timeoutFault = nil
	}
	if f.TimeoutAfterAppend > 0 {
		c.timeoutFault = c.kf.Fault(kfake.Fault{
			Keys:  []kmsg.Key{kmsg.Produce},
			Err:   kerr.RequestTimedOut,
			Count: f.TimeoutAfterAppend,
		})
	}
}

// loseOnKill loses the last K records of each partition the killed node
// led, while lose_acked_on_kill is set: its followers never had them, and
// one of those followers is the next leader. It runs after the node is
// marked down, so no append through it can come later.
func (c *Cluster) loseOnKill(node int32, topics []string, parts []int32) {
	c.mu.RLock()
	k := c.faults.LoseAckedOnKill
	c.mu.RUnlock()
	if k <= 0 {
		return
	}
	for i, t := range topics {
		info := c.kf.PartitionInfo(t, parts[i])
		if info == nil {
			continue
		}
		from := max(info.HighWatermark-int64(k), info.LogStartOffset)
		c.data.lose(tp{t, parts[i]}, from, info.HighWatermark)
		c.log.Warn("fault lose_acked_on_kill: records lost", "node", node, "topic", t, "partition", parts[i], "from", from, "to", info.HighWatermark)
	}
}

// Faults returns the active faults.
func (c *Cluster) Faults() Faults {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.faults
}
