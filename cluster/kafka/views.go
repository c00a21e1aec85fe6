package kafka

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CurrentLeader is the live leader most answering nodes name for
// partition; -1 when none names one.
func CurrentLeader(views []View, partition int32) int32 {
	votes := map[int32]int{}
	best, bestN := int32(-1), 0
	for _, v := range views {
		if v.Err != nil {
			continue
		}
		if l, ok := v.LiveLeader(partition); ok {
			votes[l]++
			if votes[l] > bestN {
				best, bestN = l, votes[l]
			}
		}
	}
	return best
}

// ReplicaSets takes each partition's replicas from the first node that
// describes it.
func ReplicaSets(views []View) map[int32][]int32 {
	out := map[int32][]int32{}
	for _, v := range views {
		if v.Err != nil {
			continue
		}
		for p, ps := range v.Partitions {
			if _, ok := out[p]; !ok && len(ps.Replicas) > 0 {
				out[p] = slices.Clone(ps.Replicas)
			}
		}
	}
	return out
}

// QuorumProblems lists partitions whose in-sync replicas are not a majority
// of their replicas, as the first node describing each says.
func QuorumProblems(views []View, partitions int32) []string {
	var out []string
	seen := map[int32]bool{}
	for _, v := range views {
		if v.Err != nil {
			continue
		}
		for p := int32(0); p < partitions; p++ {
			ps, ok := v.Partitions[p]
			if !ok || seen[p] {
				continue
			}
			seen[p] = true
			if len(ps.ISR)*2 <= len(ps.Replicas) {
				out = append(out, fmt.Sprintf("partition %d: %d of %d replicas in sync, not a majority", p, len(ps.ISR), len(ps.Replicas)))
			}
		}
	}
	return out
}

// IDProblems finds configured node ids that the cluster gives to another
// address: with ids swapped in the config, a drill would kill a different
// machine than the leader it chose.
func IDProblems(views []View, nodes []Node) []string {
	var out []string
	seen := map[int32]bool{}
	for _, v := range views {
		for _, n := range nodes {
			for id, addr := range v.Brokers {
				if addr == n.Address && id != n.ID && !seen[n.ID] {
					seen[n.ID] = true
					out = append(out, fmt.Sprintf("cluster.nodes: node %d's address %s is broker %d's", n.ID, n.Address, id))
				}
			}
		}
	}
	return out
}

// DescribeLeaders writes each partition's current leader for people.
func DescribeLeaders(views []View, partitions int32) string {
	parts := make([]string, 0, partitions)
	for p := int32(0); p < partitions; p++ {
		parts = append(parts, fmt.Sprintf("partition %d → node %d", p, CurrentLeader(views, p)))
	}
	return strings.Join(parts, ", ")
}

// WaitLed waits until every partition of topic has a live leader, and
// returns them.
func (c *Client) WaitLed(ctx context.Context, topic string, partitions int32, timeout time.Duration) (map[int32]int32, error) {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		views := c.Views(topic)
		leaders := map[int32]int32{}
		for p := int32(0); p < partitions; p++ {
			if l := CurrentLeader(views, p); l >= 0 {
				leaders[p] = l
			}
		}
		if int32(len(leaders)) == partitions {
			return leaders, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("cluster did not recover within %s: only %d of %d partitions led", timeout, len(leaders), partitions)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for every partition to be led: %w", ctx.Err())
		case <-t.C:
		}
	}
}
