package sandbox_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/sandbox"
)

// rec is one record as a client reads it back.
type rec struct {
	offset int64
	value  string
}

// produceTo writes one record with acks=all and returns what the node said.
func produceTo(t *testing.T, b *sarama.Broker, partition int32, value string) (int64, sarama.KError) {
	t.Helper()
	off, kerr, err := produceOne(b, partition, []byte(value), sarama.WaitForAll, 2*time.Second)
	if err != nil {
		t.Fatalf("produce %q: %v", value, err)
	}
	return off, kerr
}

// readAll reads a partition from offset 0 to the high watermark through one
// node, as raftdrill's reader does (sarama checks every batch CRC).
func readAll(t *testing.T, b *sarama.Broker, partition int32) ([]rec, int64) {
	t.Helper()
	out, hwm, err := readUpTo(b, partition, 0, 50)
	if err != nil {
		t.Fatalf("read partition %d: %v", partition, err)
	}
	return out, hwm
}

// readFrom reads partition records from offset from to the high watermark,
// reporting failure instead of failing.
func readFrom(b *sarama.Broker, partition int32, from int64) ([]rec, error) {
	out, _, err := readUpTo(b, partition, from, 1000)
	return out, err
}

// readUpTo fetches from offset from until the high watermark, giving up
// after tries fetches.
func readUpTo(b *sarama.Broker, partition int32, from int64, tries int) ([]rec, int64, error) {
	var out []rec
	offset, hwm := from, int64(-1)
	for n := 0; hwm < 0 || offset < hwm; n++ {
		if n > tries {
			return out, hwm, fmt.Errorf("read stuck at %d below %d", offset, hwm)
		}
		req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 10, MinBytes: 1, MaxBytes: 1 << 20}
		req.AddBlock(topic, partition, offset, 1<<20, -1)
		resp, err := b.Fetch(req)
		if err != nil {
			return out, hwm, err
		}
		blk := resp.GetBlock(topic, partition)
		if blk.Err != sarama.ErrNoError {
			return out, hwm, blk.Err
		}
		hwm = blk.HighWaterMarkOffset
		for _, rs := range blk.RecordsSet {
			for _, r := range rs.RecordBatch.Records {
				if off := rs.RecordBatch.FirstOffset + r.OffsetDelta; off >= offset {
					out = append(out, rec{off, string(r.Value)})
					offset = off + 1
				}
			}
		}
	}
	return out, hwm, nil
}

// setup is a 3-node cluster with the faults on; partition p's leader is
// node p+1 (the sandbox places the first leaders so).
func setup(t *testing.T, f sandbox.Faults) *sandbox.Cluster {
	t.Helper()
	c := newCluster(t)
	c.SetFaults(f)
	return c
}

func mustAck(t *testing.T, b *sarama.Broker, p int32, value string) int64 {
	t.Helper()
	off, kerr := produceTo(t, b, p, value)
	if kerr != sarama.ErrNoError || off < 0 {
		t.Fatalf("produce %q: offset %d, %v", value, off, kerr)
	}
	return off
}

// everyNodeServes waits until every node serves want: a follower learns
// that records are committed a moment after the leader acked them.
func everyNodeServes(t *testing.T, c *sandbox.Cluster, p int32, want []rec) {
	t.Helper()
	for _, n := range c.Nodes() {
		b := dial(t, n.Address)
		var got []rec
		deadline := time.Now().Add(5 * time.Second)
		for {
			if got, _ = readAll(t, b, p); slices.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d serves %v, want %v", n.ID, got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func TestFaultLoseAckedOnKillLosesTheTailEverywhere(t *testing.T) {
	c := setup(t, sandbox.Faults{LoseAckedOnKill: 2})
	lb := dial(t, addrOf(c, 1))
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		mustAck(t, lb, 0, v)
	}
	if err := c.Kill(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	// The log ends where the loss begins, as a truncated log would.
	got, hwm := readAll(t, dial(t, addrOf(c, 2)), 0)
	if hwm != 3 || !slices.Equal(got, []rec{{0, "a"}, {1, "b"}, {2, "c"}}) {
		t.Fatalf("after the kill: hwm %d, %v", hwm, got)
	}
	waitFor(t, "election", 3*time.Second, func() bool { l, _, _ := c.Leader(topic, 0); return l > 0 })
	l, _, _ := c.Leader(topic, 0)
	off := mustAck(t, dial(t, addrOf(c, l)), 0, "f")
	if err := c.Restart(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	everyNodeServes(t, c, 0, []rec{{0, "a"}, {1, "b"}, {2, "c"}, {off, "f"}})
}

func TestFaultCorruptWritesStoresDamage(t *testing.T) {
	c := setup(t, sandbox.Faults{CorruptWrites: 1})
	lb := dial(t, addrOf(c, 1))
	mustAck(t, lb, 0, "hello")
	mustAck(t, lb, 0, "world")
	got, _ := readAll(t, lb, 0)
	if len(got) != 2 || got[0].value == "hello" || len(got[0].value) != 5 || got[0].value[:4] != "hell" || got[1].value != "world" {
		t.Fatalf("want the first record's last byte flipped, the second intact: %v", got)
	}
	everyNodeServes(t, c, 0, got)
}

func TestFaultDuplicateWritesAppendsTwice(t *testing.T) {
	c := setup(t, sandbox.Faults{DuplicateWrites: 1})
	lb := dial(t, addrOf(c, 1))
	if off := mustAck(t, lb, 0, "once"); off != 0 {
		t.Fatalf("first write acked at %d", off)
	}
	if off := mustAck(t, lb, 0, "next"); off != 2 {
		t.Fatalf("second write acked at %d, want 2 (after the copy)", off)
	}
	everyNodeServes(t, c, 0, []rec{{0, "once"}, {1, "once"}, {2, "next"}})
}

func TestFaultAckOffsetMinusOne(t *testing.T) {
	c := setup(t, sandbox.Faults{AckOffsetMinusOne: 1})
	lb := dial(t, addrOf(c, 1))
	if off, kerr := produceTo(t, lb, 0, "x"); off != -1 || kerr != sarama.ErrNoError {
		t.Fatalf("got offset %d, %v; want -1 with no error", off, kerr)
	}
	mustAck(t, lb, 0, "y")
	everyNodeServes(t, c, 0, []rec{{0, "x"}, {1, "y"}})
}

func TestFaultRefuseButAppend(t *testing.T) {
	c := setup(t, sandbox.Faults{RefuseButAppend: 1})
	lb := dial(t, addrOf(c, 1))
	if _, kerr := produceTo(t, lb, 0, "refused"); kerr != sarama.ErrNotEnoughReplicas {
		t.Fatalf("got %v, want NOT_ENOUGH_REPLICAS", kerr)
	}
	everyNodeServes(t, c, 0, []rec{{0, "refused"}})
}

func TestFaultTimeoutAfterAppend(t *testing.T) {
	c := setup(t, sandbox.Faults{TimeoutAfterAppend: 1})
	lb := dial(t, addrOf(c, 1))
	if _, kerr := produceTo(t, lb, 0, "maybe"); kerr != sarama.ErrRequestTimedOut {
		t.Fatalf("got %v, want REQUEST_TIMED_OUT", kerr)
	}
	mustAck(t, lb, 0, "sure")
	everyNodeServes(t, c, 0, []rec{{0, "maybe"}, {1, "sure"}})
}

func TestFaultDivergentWritesOneReplicaDiffers(t *testing.T) {
	c := setup(t, sandbox.Faults{DivergentWrites: 1})
	lb := dial(t, addrOf(c, 1))
	mustAck(t, lb, 0, "real")
	for _, n := range c.Nodes() {
		got, _ := readAll(t, dial(t, n.Address), 0)
		// Node 3: the highest-numbered replica other than the leader.
		if diverges := n.ID == 3; (got[0].value != "real") != diverges || len(got) != 1 {
			t.Fatalf("node %d serves %v", n.ID, got)
		}
	}
}

func TestFaultReorderWritesSwapsAPair(t *testing.T) {
	c := setup(t, sandbox.Faults{ReorderWrites: 1})
	lb := dial(t, addrOf(c, 1))
	for _, v := range []string{"first", "second", "third"} {
		mustAck(t, lb, 0, v)
	}
	everyNodeServes(t, c, 0, []rec{{0, "second"}, {1, "first"}, {2, "third"}})
}

func TestFaultPhantomWritesMisroutesARecord(t *testing.T) {
	c := setup(t, sandbox.Faults{PhantomWrites: 1})
	mustAck(t, dial(t, addrOf(c, 2)), 1, "for partition 1")
	if off := mustAck(t, dial(t, addrOf(c, 1)), 0, "for partition 0"); off != 0 {
		t.Fatalf("acked at %d", off)
	}
	everyNodeServes(t, c, 0, []rec{{0, "for partition 0"}, {1, "for partition 1"}})
	everyNodeServes(t, c, 1, []rec{{0, "for partition 1"}})
}

// With no fault set, the tap changes nothing a client can see.
func TestNoFaultsNoDamage(t *testing.T) {
	c := newCluster(t)
	lb := dial(t, addrOf(c, 1))
	for i, v := range []string{"a", "b", "c"} {
		if off := mustAck(t, lb, 0, v); off != int64(i) {
			t.Fatalf("acked at %d", off)
		}
	}
	everyNodeServes(t, c, 0, []rec{{0, "a"}, {1, "b"}, {2, "c"}})
}

func TestControlAPISetsDataFaults(t *testing.T) {
	c := newCluster(t)
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	put := func(body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/faults", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := put(`{"duplicate_writes": 1, "lose_acked_on_kill": 2}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /faults: %s", resp.Status)
	}
	if f := c.Faults(); f.DuplicateWrites != 1 || f.LoseAckedOnKill != 2 {
		t.Fatalf("faults %+v", f)
	}
	lb := dial(t, addrOf(c, 1))
	mustAck(t, lb, 0, "twice")
	everyNodeServes(t, c, 0, []rec{{0, "twice"}, {1, "twice"}})
	if resp := put(`{"duplicate_write": 1}`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("misspelt fault: %s, want 400", resp.Status)
	}
}

// Per-node faults hold only on the nodes named: here only node 2 claims
// leadership it does not have.
func TestFaultsLimitedToNodes(t *testing.T) {
	c := setup(t, sandbox.Faults{SplitLeader: true, Nodes: []int32{2}})
	for _, tc := range []struct {
		node, names int32
	}{{1, 1}, {2, 2}, {3, 1}} {
		if pm := metadata(t, dial(t, addrOf(c, tc.node))); pm.Leader != tc.names {
			t.Errorf("node %d names %d leader of partition 0, want %d", tc.node, pm.Leader, tc.names)
		}
	}
}

// ack_without_quorum lies only where the truth is "not enough replicas":
// with its majority up the leader answers an acks=all write once it is
// committed (a slow link makes an ack on append show: the commit would
// come a round trip later); with its majority down it answers on append,
// and the acked record is in no committed log.
func TestFaultAckWithoutQuorumLiesOnlyWithoutAMajority(t *testing.T) {
	c := newRaftCluster(t, sandbox.Options{LinkDelay: 150 * time.Millisecond})
	c.SetFaults(sandbox.Faults{AckWithoutQuorum: true})
	leader := leaderOf(t, c)
	lb := dial(t, addrOf(c, leader))
	for _, v := range []string{"a", "b", "c"} {
		off, kerr, err := produceOne(lb, 0, []byte(v), sarama.WaitForAll, 5*time.Second)
		if err != nil || kerr != sarama.ErrNoError {
			t.Fatalf("acks=all %q with the majority up: %v %v", v, kerr, err)
		}
		// The high watermark only grows: committed before the ack means
		// in the committed log now.
		if got := committed(t, c, leader); !slices.Contains(got, rec{off, v}) {
			t.Fatalf("%q acked at offset %d before it was committed (leader's committed log %v)", v, off, got)
		}
	}
	for _, n := range c.Nodes() {
		if n.ID != leader {
			if err := c.Kill(context.Background(), n.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Writes proposed while the leader still believed its followers alive
	// wait for a commit that cannot come; once it knows them down it lies.
	var off int64 = -1
	waitFor(t, "an ack without quorum", 20*time.Second, func() bool {
		o, kerr, err := produceOne(lb, 0, []byte("alone"), sarama.WaitForAll, time.Second)
		if err == nil && kerr == sarama.ErrNoError {
			off = o
			return true
		}
		return false
	})
	if got := committed(t, c, leader); slices.ContainsFunc(got, func(r rec) bool { return r.offset >= off }) {
		t.Fatalf("acked at offset %d with the majority down, yet committed: %v", off, got)
	}
}
