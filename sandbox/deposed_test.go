package sandbox_test

import (
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/sandbox"
)

// A leader cut off from its peers stops serving when its lease runs out and answers the
// acks=all write it was waiting to commit with NOT_LEADER_OR_FOLLOWER as it
// does, as Kafka completes its delayed produces on a leadership change,
// rather than leaving it to the request timeout. A write sent to it once it
// has stepped down, while it knows no new leader, gets the same: never an
// ack. The timeline names the step-down, stamped by the node itself.
func TestDeposedLeaderAnswersItsPendingWritesAtOnce(t *testing.T) {
	// A long election timeout: CheckQuorum gives up on the followers no
	// sooner than about one timeout after the cut, by when the write has
	// long been proposed (Waiting below says so).
	c := newRaftCluster(t, sandbox.Options{ElectionTimeoutMin: 2 * time.Second})
	old := leaderOf(t, c)
	_, epoch, _ := c.Leader(topic, 0)
	conf := saramaConf()
	conf.Net.ReadTimeout = 2 * time.Minute
	ob := sarama.NewBroker(addrOf(c, old))
	if err := ob.Open(conf); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	mustAck(t, ob, 0, "before")
	if err := c.Partition([][]int32{{old}}); err != nil {
		t.Fatal(err)
	}

	const requestTimeout = time.Minute
	type answer struct {
		kerr sarama.KError
		err  error
		at   time.Time
	}
	answered := make(chan answer, 1)
	go func() {
		_, kerr, err := produceOne(ob, 0, []byte("in flight"), sarama.WaitForAll, requestTimeout)
		answered <- answer{kerr, err, time.Now()}
	}()
	waitFor(t, "the write to wait for its commit at the cut-off leader", 10*time.Second, func() bool {
		if len(answered) > 0 {
			t.Fatal("the write was answered before it waited for its commit: the leader stepped down first")
		}
		return c.Waiting(old, topic, 0) == 1
	})
	var a answer
	waitFor(t, "the answer to the write in flight (its request timeout is "+requestTimeout.String()+")", 20*time.Second, func() bool {
		select {
		case a = <-answered:
			return true
		default:
			return false
		}
	})
	if a.err != nil || a.kerr != sarama.ErrNotLeaderForPartition {
		t.Fatalf("the write in flight: %v %v, want NOT_LEADER_OR_FOLLOWER", a.kerr, a.err)
	}
	down := steppedDown(c, old)
	if down == nil {
		t.Fatalf("no stepped-down event of node %d in the timeline %+v", old, c.Timeline())
	}
	if a.at.Before(down.At) {
		t.Fatalf("answered at %v, before the step-down at %v", a.at, down.At)
	}
	if *down.Epoch != epoch || down.Reason != "lease" {
		t.Fatalf("step-down %+v (epoch %d): want epoch %d (the term it led), reason lease", down, *down.Epoch, epoch)
	}

	// Cut off, it cannot have heard of a successor: it names no leader.
	if pm := metadata(t, ob); pm.Leader != -1 {
		t.Fatalf("the cut-off node names leader %d", pm.Leader)
	}
	if _, kerr, err := produceOne(ob, 0, []byte("after the step-down"), sarama.WaitForAll, requestTimeout); err != nil || kerr != sarama.ErrNotLeaderForPartition {
		t.Fatalf("a write to the stepped-down node: %v %v, want NOT_LEADER_OR_FOLLOWER", kerr, err)
	}

	// Back with the majority once it has a successor (healed sooner, it
	// would simply serve again: Raft keeps it in office, and so would its
	// lease once answers come back), its uncommitted entry gives way to
	// the successor's: the write answered so was not committed this time.
	waitFor(t, "the majority to elect a successor", 20*time.Second, func() bool {
		l, _, _ := c.Leader(topic, 0)
		return l > 0 && l != old
	})
	c.Heal()
	waitFor(t, "the old leader to follow", 20*time.Second, func() bool {
		l, _, _ := c.Leader(topic, 0)
		return l > 0 && l != old && c.RaftState(old, topic, 0) == "StateFollower"
	})
	waitFor(t, "the in-flight write among the old leader's truncated entries", 20*time.Second, func() bool {
		trunc, err := c.Truncated(old, topic, 0)
		return err == nil && slices.ContainsFunc(trunc, func(r sandbox.LogRecord) bool { return string(r.Value) == "in flight" })
	})
}
