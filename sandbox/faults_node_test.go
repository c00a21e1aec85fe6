package sandbox_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/cluster/message"
	"github.com/raftdrill/raftdrill/sandbox"
)

const nfRun = "node-faults"

// nodeReads reads partition 0 through every node as raftdrill's checker
// does (raw batches, each CRC checked, each drill message decoded), once
// each node has reached hwm or, for a node that may not, as it stands.
func nodeReads(t *testing.T, c *sandbox.Cluster, hwm int64, behind ...int32) map[int32]*kafka.LogRead {
	t.Helper()
	var nodes []kafka.Node
	for _, n := range c.Nodes() {
		nodes = append(nodes, kafka.Node{ID: n.ID, Address: n.Address})
	}
	cl := kafka.NewClient(nodes, kafka.Options{Version: sarama.V3_6_0_0, Timeout: 3 * time.Second}, nil)
	out := map[int32]*kafka.LogRead{}
	for _, n := range nodes {
		waitFor(t, fmt.Sprintf("node %d to serve up to the last write", n.ID), 10*time.Second, func() bool {
			out[n.ID] = cl.ReadLog(context.Background(), n.ID, topic, 0, 0, nfRun)
			return out[n.ID].HighWatermark >= hwm || slices.Contains(behind, n.ID)
		})
	}
	return out
}

// served is what one read shows at each offset: the sequence number of an
// intact drill message, "bad" (a batch failing its CRC), "damaged" (a drill
// message failing its checksum or with a damaged header), "foreign", or
// nothing (a gap).
func served(lr *kafka.LogRead) map[int64]string {
	out := map[int64]string{}
	for _, b := range lr.Bad {
		for off := b.First; off <= b.Last; off++ {
			out[off] = "bad"
		}
	}
	for _, r := range lr.Records {
		switch {
		case r.Foreign:
			out[r.Offset] = "foreign"
		case !r.Valid || r.Damaged:
			out[r.Offset] = "damaged"
		default:
			out[r.Offset] = fmt.Sprintf("seq %d", r.Msg.Seq)
		}
	}
	return out
}

var intact = map[int64]string{0: "seq 0", 1: "seq 1", 2: "seq 2", 3: "seq 3"}

// nodeFaultCluster is a 3-node sandbox with partition 0 of the test
// topic, elections after 1–2 s (so that the leader stays put while a test
// reads), and its leader and follower (the highest-numbered replica that
// does not lead).
func nodeFaultCluster(t *testing.T) (c *sandbox.Cluster, leader, follower int32) {
	t.Helper()
	c = newRaftCluster(t, sandbox.Options{ElectionTimeoutMin: time.Second})
	leader = leaderOf(t, c)
	follower = 3
	if leader == 3 {
		follower = 2
	}
	return c, leader, follower
}

// Each per-node fault changes what one node serves of the next acked
// records (here the first two of four) and nothing else: the others serve
// them intact, and the log itself holds them intact.
func TestNodeFaultsChangeWhatOneNodeServes(t *testing.T) {
	cases := []struct {
		name   string
		key    string // node_faults key: a role, or "other" for a node that does not lead
		faults sandbox.NodeFaults
		want   map[int64]string // what that node serves; nil: as every other
	}{
		{"bad_crc_batches on the follower", "follower", sandbox.NodeFaults{BadCRCBatches: 2},
			map[int64]string{0: "bad", 1: "bad", 2: "seq 2", 3: "seq 3"}},
		{"flipped_bytes on the follower", "follower", sandbox.NodeFaults{FlippedBytes: 2},
			map[int64]string{0: "damaged", 1: "damaged", 2: "seq 2", 3: "seq 3"}},
		{"damaged_headers on the leader", "leader", sandbox.NodeFaults{DamagedHeaders: 2},
			map[int64]string{0: "damaged", 1: "damaged", 2: "seq 2", 3: "seq 3"}},
		{"drop_acked on the leader", "leader", sandbox.NodeFaults{DropAcked: 2},
			map[int64]string{2: "seq 2", 3: "seq 3"}},
		// Offset 0 has no record before it: an older entry stands there.
		{"stale_records on the follower", "follower", sandbox.NodeFaults{StaleRecords: 2},
			map[int64]string{0: "foreign", 1: "seq 0", 2: "seq 2", 3: "seq 3"}},
		{"drop_acked on a node that does not lead", "other", sandbox.NodeFaults{DropAcked: 2}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, leader, follower := nodeFaultCluster(t)
			node := map[string]int32{"leader": leader, "follower": follower, "other": follower}[tc.key]
			key := tc.key
			if key == "other" {
				key = fmt.Sprint(follower)
			}
			c.SetFaults(sandbox.Faults{NodeFaults: map[string]sandbox.NodeFaults{key: tc.faults}})
			lb := dial(t, addrOf(c, leader))
			for seq := range int64(4) {
				if off, kerr, err := produceOne(lb, 0, message.Encode(message.Message{Run: nfRun, Seq: seq}, 100), sarama.WaitForAll, 2*time.Second); err != nil || kerr != sarama.ErrNoError || off != seq {
					t.Fatalf("write %d: offset %d, %v %v", seq, off, kerr, err)
				}
			}
			for id, lr := range nodeReads(t, c, 4) {
				want := intact
				if id == node && tc.want != nil {
					want = tc.want
				}
				if got := served(lr); lr.Err != nil || lr.HighWatermark != 4 || !maps.Equal(got, want) {
					t.Fatalf("node %d serves %v (high watermark %d, %v), want %v", id, got, lr.HighWatermark, lr.Err, want)
				}
			}
			// What is served changed, not what is stored: off, every node
			// serves the log intact again.
			c.SetFaults(sandbox.Faults{})
			for id, lr := range nodeReads(t, c, 4) {
				if got := served(lr); !maps.Equal(got, intact) {
					t.Fatalf("with the fault off, node %d serves %v", id, got)
				}
			}
		})
	}
}

// ack_offset_shift answers the next N successful produces with the base
// offset plus D; the records are where they were written.
func TestNodeFaultAckOffsetShift(t *testing.T) {
	c, leader, _ := nodeFaultCluster(t)
	c.SetFaults(sandbox.Faults{NodeFaults: map[string]sandbox.NodeFaults{"leader": {AckOffsetShift: 5, AckOffsetShiftCount: 2}}})
	lb := dial(t, addrOf(c, leader))
	var acks []int64
	for _, v := range []string{"a", "b", "c"} {
		acks = append(acks, mustAck(t, lb, 0, v))
	}
	if !slices.Equal(acks, []int64{5, 6, 2}) {
		t.Fatalf("acks %v, want 5 6 2 (offsets 0 and 1 shifted by 5)", acks)
	}
	everyNodeServes(t, c, 0, []rec{{0, "a"}, {1, "b"}, {2, "c"}})
}

// refuse_fetch makes one node answer every Fetch NOT_LEADER_OR_FOLLOWER.
func TestNodeFaultRefuseFetch(t *testing.T) {
	c, leader, _ := nodeFaultCluster(t)
	c.SetFaults(sandbox.Faults{NodeFaults: map[string]sandbox.NodeFaults{"2": {RefuseFetch: true}}})
	mustAck(t, dial(t, addrOf(c, leader)), 0, "x")
	for id, lr := range nodeReads(t, c, 1, 2) {
		if id == 2 {
			if lr.Err == nil || !strings.Contains(lr.Err.Error(), "NOT_LEADER") {
				t.Fatalf("node 2's fetch: %v, want NOT_LEADER_OR_FOLLOWER", lr.Err)
			}
			continue
		}
		if lr.Err != nil || lr.HighWatermark != 1 {
			t.Fatalf("node %d: high watermark %d, %v", id, lr.HighWatermark, lr.Err)
		}
	}
}

// never_catch_up freezes what a node serves and reports where it was when
// the fault was set, and the node, behind for good, hands over what it
// led and stands for no election, but still votes.
func TestNodeFaultNeverCatchUp(t *testing.T) {
	c, old, _ := nodeFaultCluster(t)
	mustAck(t, dial(t, addrOf(c, old)), 0, "before")
	everyNodeServes(t, c, 0, []rec{{0, "before"}})
	c.SetFaults(sandbox.Faults{NodeFaults: map[string]sandbox.NodeFaults{fmt.Sprint(old): {NeverCatchUp: true}}})
	var leader int32
	waitFor(t, "the frozen leader to hand partition 0 over", 10*time.Second, func() bool {
		leader, _, _ = c.Leader(topic, 0)
		return leader > 0 && leader != old
	})
	mustAck(t, dial(t, addrOf(c, leader)), 0, "after")
	reads := nodeReads(t, c, 2, old)
	if lr := reads[old]; lr.HighWatermark != 1 || lr.End != 1 {
		t.Fatalf("node %d serves up to %d with high watermark %d, want both frozen at 1", old, lr.End, lr.HighWatermark)
	}
	req := &sarama.OffsetRequest{Version: 1}
	req.AddBlock(topic, 0, sarama.OffsetNewest, 1)
	resp, err := dial(t, addrOf(c, old)).GetAvailableOffsets(req)
	if err != nil || resp.GetBlock(topic, 0).Offset != 1 {
		t.Fatalf("node %d lists its latest offset as %+v (%v), want 1", old, resp.GetBlock(topic, 0), err)
	}
	// Without the new leader, the third node is elected with the frozen
	// node's vote; the frozen node itself never stands.
	third := other(c, old, leader)
	if err := c.Kill(context.Background(), leader); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fmt.Sprintf("node %d elected", third), 20*time.Second, func() bool {
		l, _, _ := c.Leader(topic, 0)
		return l == third
	})
}

// The control API takes node_faults and refuses keys that name no node or
// role, unknown fields, and faults that could never act where they are set.
func TestControlAPISetsNodeFaults(t *testing.T) {
	c := newCluster(t)
	api := httptest.NewServer(c.Handler())
	defer api.Close()
	for _, tc := range []struct {
		body string
		code int
	}{
		{`{"node_faults": {"follower": {"stale_records": 2}, "3": {"refuse_fetch": true}}}`, http.StatusOK},
		{`{"node_faults": {"4": {"refuse_fetch": true}}}`, http.StatusBadRequest},
		{`{"node_faults": {"followers": {"refuse_fetch": true}}}`, http.StatusBadRequest},
		{`{"node_faults": {"03": {"refuse_fetch": true}}}`, http.StatusBadRequest},
		{`{"node_faults": {"leader": {"refuse_fetches": true}}}`, http.StatusBadRequest},
		{`{"node_faults": {"leader": {"never_catch_up": true}}}`, http.StatusBadRequest},
		{`{"node_faults": {"leader": {"ack_offset_shift": 1}}}`, http.StatusBadRequest},
		{`{"node_faults": {"leader": {"flipped_bytes": -1}}}`, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(http.MethodPut, api.URL+"/faults", strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("PUT /faults %s: %s, want %d", tc.body, resp.Status, tc.code)
		}
	}
	var got sandbox.Faults
	getJSON(t, api.URL+"/faults", &got)
	if got.NodeFaults["follower"].StaleRecords != 2 || !got.NodeFaults["3"].RefuseFetch || len(got.NodeFaults) != 2 {
		t.Fatalf("GET /faults: %+v", got.NodeFaults)
	}
}
