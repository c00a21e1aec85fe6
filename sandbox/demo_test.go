package sandbox_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/cluster/message"
	"github.com/raftdrill/raftdrill/probes/check"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/sandbox"
)

// The demo: a leader cut off from its followers acks writes, then dies.
// With acks=1 raftdrill's checker reports those writes lost, and they are
// exactly the entries the sandbox's Raft log shows the old leader held and
// never committed; with acks=all the same kill loses nothing.
func TestCheckerFindsExactlyTheUncommittedWrites(t *testing.T) {
	for _, tc := range []struct {
		name     string
		acks     sarama.RequiredAcks
		wantLost int
	}{
		{"acks=1", sarama.WaitForLocal, 5},
		{"acks=all", sarama.WaitForAll, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRaftCluster(t, sandbox.Options{ElectionTimeoutMin: 500 * time.Millisecond})
			const runID = "demo"
			var sends []kafka.Send
			send := func(node int32, acks sarama.RequiredAcks) {
				seq := int64(len(sends))
				s := kafka.Send{Seq: seq, Offset: -1, Node: node, Start: time.Now()}
				off, kerr, err := produceOne(dial(t, addrOf(c, node)), 0, message.Encode(message.Message{Run: runID, Seq: seq}, 200), acks, 300*time.Millisecond)
				s.Latency = time.Since(s.Start)
				switch {
				case err == nil && kerr == sarama.ErrNoError:
					s.Outcome, s.Offset = kafka.Acked, off
				case err == nil && kerr != sarama.ErrRequestTimedOut && kerr != sarama.ErrNotLeaderForPartition:
					// As raftdrill's producer: a deposed leader answers the
					// writes it was waiting on NOT_LEADER_OR_FOLLOWER, and
					// their fate is open.
					s.Outcome = kafka.Failed
				default:
					s.Outcome = kafka.Indeterminate
				}
				sends = append(sends, s)
			}
			old := leaderOf(t, c)
			for i := 0; i < 5; i++ {
				send(old, sarama.WaitForAll)
			}
			if err := c.Partition([][]int32{{old}}); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5; i++ {
				send(old, tc.acks)
			}
			if err := c.Kill(context.Background(), old); err != nil {
				t.Fatal(err)
			}
			c.Heal()
			var leader int32
			waitFor(t, "a new leader", 10*time.Second, func() bool { leader, _, _ = c.Leader(topic, 0); return leader > 0 && leader != old })
			for i := 0; i < 5; i++ {
				send(leader, sarama.WaitForAll)
			}
			if err := c.Restart(context.Background(), old); err != nil {
				t.Fatal(err)
			}

			var nodes []kafka.Node
			for _, n := range c.Nodes() {
				nodes = append(nodes, kafka.Node{ID: n.ID, Address: n.Address})
			}
			cl := kafka.NewClient(nodes, kafka.Options{Version: sarama.V3_6_0_0, Timeout: 3 * time.Second}, nil)
			reads := check.ReadBack(context.Background(), cl, check.ReadOptions{Topic: topic, Partitions: 1, From: map[int32]int64{0: 0},
				Run: runID, FollowerReads: true, CatchUp: 10 * time.Second})
			rep := check.Check(check.Input{Run: runID, Sends: map[int32][]kafka.Send{0: sends}, Parts: reads.Parts})
			if rep.Lost != tc.wantLost {
				t.Fatalf("checker: %d lost, want %d; anomalies %+v", rep.Lost, tc.wantLost, rep.Anomalies)
			}
			// The lost writes are the acked ones the old leader's log
			// held and Raft truncated.
			trunc, err := c.Truncated(old, topic, 0)
			if err != nil {
				t.Fatal(err)
			}
			var truncated []int64
			for _, r := range trunc {
				if m, err := message.Decode(r.Value); err == nil && m.Valid && m.Run == runID {
					truncated = append(truncated, m.Seq)
				}
			}
			// With acks=1 the new leader's acks reuse the lost writes'
			// offsets, which the checker also names (bogus-ack).
			var lost []int64
			for _, a := range rep.Anomalies {
				if tc.wantLost == 0 || (a.Kind != run.KindLostWrite && a.Kind != run.KindBogusAck) {
					t.Fatalf("unexpected anomaly %+v", a)
				}
			}
			for _, s := range sends {
				if s.Outcome == kafka.Acked && !readBack(reads, runID, s.Seq) {
					lost = append(lost, s.Seq)
				}
			}
			for _, seq := range lost {
				if !slices.Contains(truncated, seq) {
					t.Fatalf("lost write %d is not among the old leader's truncated entries %v", seq, truncated)
				}
			}
			var kinds []string
			for _, a := range rep.Anomalies {
				kinds = append(kinds, a.Kind)
			}
			t.Logf("%s: checker found %d lost writes %v (anomalies %v); the old leader's truncated entries hold %v", tc.name, rep.Lost, lost, kinds, truncated)
		})
	}
}

// readBack says whether any node served message seq of the run.
func readBack(reads check.Reads, runID string, seq int64) bool {
	for _, lr := range reads.Parts[0].Logs {
		for _, r := range lr.Records {
			if r.Valid && r.Msg.Run == runID && r.Msg.Seq == seq {
				return true
			}
		}
	}
	return false
}
