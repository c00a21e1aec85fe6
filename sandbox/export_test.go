package sandbox

// RaftState is the Raft state (StateFollower, StatePreCandidate, …) of a
// node's replica of a partition, for tests that wait on it; "" when the
// node is down or holds no replica.
func (c *Cluster) RaftState(node int32, topic string, partition int32) string {
	ctl, err := c.running(node)
	if err != nil {
		return ""
	}
	lm, ok := ctl.(*localMember)
	if !ok {
		return ""
	}
	p := lm.n.partition(topic, partition)
	if p == nil {
		return ""
	}
	return p.g.state().state.String()
}
