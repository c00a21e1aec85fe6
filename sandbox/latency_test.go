package sandbox_test

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// timedProduce produces one acks=all message to partition 0 and returns
// how long the answer took.
func timedProduce(t *testing.T, b *sarama.Broker) time.Duration {
	t.Helper()
	start := time.Now()
	kerr, err := produce(b, "x")
	if err != nil || kerr != sarama.ErrNoError {
		t.Fatalf("produce: %v %v", err, kerr)
	}
	return time.Since(start)
}

// The lower bounds are exact (a held request cannot be answered sooner);
// the upper bounds are the delay itself, which a local produce is far
// below even under the race detector.
func TestProduceDelayHoldsTheProduceRequestsOfItsNode(t *testing.T) {
	c := newCluster(t)
	leader, _, _ := c.Leader(topic, 0)
	b := dial(t, addrOf(c, leader))
	const d = 300 * time.Millisecond

	if err := c.SetProduceDelay(other(c, leader), d); err != nil {
		t.Fatal(err)
	}
	if took := timedProduce(t, b); took >= d {
		t.Errorf("another node's delay held this node's produce for %v", took)
	}
	if err := c.SetProduceDelay(leader, d); err != nil {
		t.Fatal(err)
	}
	if took := timedProduce(t, b); took < d {
		t.Errorf("produce answered after %v despite a %v delay", took, d)
	}
	start := time.Now()
	metadata(t, b)
	if took := time.Since(start); took >= d {
		t.Errorf("a metadata request was held %v: only produce requests are delayed", took)
	}

	// Node 0 means every node; 0 removes a delay.
	for _, id := range []int32{1, 2, 3} {
		if err := c.SetProduceDelay(id, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetProduceDelay(0, d); err != nil {
		t.Fatal(err)
	}
	if took := timedProduce(t, b); took < d {
		t.Errorf("cluster-wide delay: produce answered after %v", took)
	}
	if err := c.SetProduceDelay(0, 0); err != nil {
		t.Fatal(err)
	}
	if took := timedProduce(t, b); took >= d {
		t.Errorf("delay removed, produce still took %v", took)
	}

	if err := c.SetProduceDelay(9, d); err == nil {
		t.Error("a delay for a node that does not exist was accepted")
	}
	if err := c.SetProduceDelay(1, -d); err == nil {
		t.Error("a negative delay was accepted")
	}
}

func TestStallHoldsProduceUntilItEndsThenNeverAgain(t *testing.T) {
	c := newCluster(t)
	leader, _, _ := c.Leader(topic, 0)
	b := dial(t, addrOf(c, leader))
	const d = 400 * time.Millisecond

	start := time.Now()
	c.Stall(d)
	timedProduce(t, b)
	if took := time.Since(start); took < d {
		t.Errorf("produce answered %v into a %v stall", took, d)
	}
	if took := timedProduce(t, b); took >= d {
		t.Errorf("the stall is one-shot, yet the next produce took %v", took)
	}
}
