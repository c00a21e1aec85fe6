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

// Waiting is how many writes a node's replica of a partition holds
// unanswered (proposed and not yet in its log, or in it and not yet
// committed), for tests that need a write in flight.
func (c *Cluster) Waiting(node int32, topic string, partition int32) int {
	ctl, err := c.running(node)
	if err != nil {
		return 0
	}
	lm, ok := ctl.(*localMember)
	if !ok {
		return 0
	}
	p := lm.n.partition(topic, partition)
	if p == nil {
		return 0
	}
	n := make(chan int, 1)
	if !p.g.do(func() { n <- len(p.g.pending) + len(p.g.byIndex) }) {
		return 0
	}
	select {
	case v := <-n:
		return v
	case <-p.g.done:
		return 0
	}
}
