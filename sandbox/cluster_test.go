package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/sandbox"
)

const topic = "t"

func newCluster(t *testing.T) *sandbox.Cluster {
	t.Helper()
	c, err := sandbox.New(sandbox.Options{Nodes: 3, ElectionTimeoutMin: 100 * time.Millisecond, ElectionTimeoutMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.CreateTopic(topic, 3, 3); err != nil {
		t.Fatal(err)
	}
	return c
}

func saramaConf() *sarama.Config {
	conf := sarama.NewConfig()
	conf.Version = sarama.V3_6_0_0
	conf.Net.DialTimeout = 2 * time.Second
	conf.Net.ReadTimeout = 2 * time.Second
	conf.Net.WriteTimeout = 2 * time.Second
	return conf
}

func dial(t *testing.T, addr string) *sarama.Broker {
	t.Helper()
	b := sarama.NewBroker(addr)
	if err := b.Open(saramaConf()); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Connected(); !ok {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func metadata(t *testing.T, b *sarama.Broker) *sarama.PartitionMetadata {
	t.Helper()
	resp, err := b.GetMetadata(sarama.NewMetadataRequest(sarama.V3_6_0_0, []string{topic}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range resp.Topics {
		for _, pm := range tm.Partitions {
			if pm.ID == 0 {
				return pm
			}
		}
	}
	t.Fatal("partition 0 missing from metadata")
	return nil
}

// produceOne writes one record to a partition and returns what the node
// answered: the base offset and the partition's error code.
func produceOne(b *sarama.Broker, partition int32, value []byte, acks sarama.RequiredAcks, timeout time.Duration) (int64, sarama.KError, error) {
	req := &sarama.ProduceRequest{RequiredAcks: acks, Timeout: int32(timeout / time.Millisecond), Version: 7}
	now := time.Now()
	req.AddBatch(topic, partition, &sarama.RecordBatch{Version: 2, FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		Records: []*sarama.Record{{Value: value}}})
	resp, err := b.Produce(req)
	if err != nil {
		return -1, 0, err
	}
	blk := resp.GetBlock(topic, partition)
	return blk.Offset, blk.Err, nil
}

// produce writes one record to partition 0 with acks=all.
func produce(b *sarama.Broker, value string) (sarama.KError, error) {
	_, kerr, err := produceOne(b, 0, []byte(value), sarama.WaitForAll, 2*time.Second)
	return kerr, err
}

func addrOf(c *sandbox.Cluster, id int32) string { return c.Addrs()[id-1] }

func other(c *sandbox.Cluster, not ...int32) int32 {
	for _, n := range c.Nodes() {
		skip := false
		for _, x := range not {
			skip = skip || n.ID == x
		}
		if !skip {
			return n.ID
		}
	}
	return -1
}

// leaderOf waits for partition 0 to have a leader and returns it.
func leaderOf(t *testing.T, c *sandbox.Cluster) int32 {
	t.Helper()
	var l int32
	waitFor(t, "a leader of partition 0", 5*time.Second, func() bool { l, _, _ = c.Leader(topic, 0); return l > 0 })
	return l
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, timeout, cond)
}

func TestKillDropsOpenConnectionsAndRefusesNewOnes(t *testing.T) {
	c := newCluster(t)
	b := dial(t, addrOf(c, 1))
	if _, err := b.ApiVersions(&sarama.ApiVersionsRequest{}); err != nil {
		t.Fatalf("before kill: %v", err)
	}
	if err := c.Kill(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ApiVersions(&sarama.ApiVersionsRequest{}); err == nil {
		t.Fatal("an open connection to a killed node still answered")
	}
	_, err := net.DialTimeout("tcp", addrOf(c, 1), time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a killed node: want connection refused, got %v", err)
	}
	if err := c.Restart(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	b2 := dial(t, addrOf(c, 1))
	if _, err := b2.ApiVersions(&sarama.ApiVersionsRequest{}); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestLeaderKillLeavesPartitionLeaderlessThenElectsWithHigherEpoch(t *testing.T) {
	c := newCluster(t)
	leader, epoch, _ := c.Leader(topic, 0)
	survivor := other(c, leader)
	b := dial(t, addrOf(c, survivor))
	if pm := metadata(t, b); pm.Leader != leader || pm.LeaderEpoch != epoch {
		t.Fatalf("metadata leader %d epoch %d, cluster says %d/%d", pm.Leader, pm.LeaderEpoch, leader, epoch)
	}
	if err := c.Kill(context.Background(), leader); err != nil {
		t.Fatal(err)
	}
	// The survivors noticed the dead node's connections close: they name
	// no leader they cannot reach, and drop it from the ISR.
	pm := metadata(t, b)
	if pm.Leader != -1 || pm.Err != sarama.ErrLeaderNotAvailable {
		t.Fatalf("right after the kill: leader %d err %v, want -1 LEADER_NOT_AVAILABLE", pm.Leader, pm.Err)
	}
	for _, r := range pm.Isr {
		if r == leader {
			t.Fatalf("killed node %d still in ISR %v", leader, pm.Isr)
		}
	}
	waitFor(t, "election", 3*time.Second, func() bool { return metadata(t, b).Leader != -1 })
	pm = metadata(t, b)
	if pm.Leader == leader || pm.LeaderEpoch <= epoch {
		t.Fatalf("elected leader %d epoch %d; want a live node and an epoch above %d", pm.Leader, pm.LeaderEpoch, epoch)
	}
	if kerr, err := produce(dial(t, addrOf(c, pm.Leader)), "after election"); err != nil || kerr != sarama.ErrNoError {
		t.Fatalf("produce to the new leader: %v %v", kerr, err)
	}

	// Ground truth from Raft: kill, then leaderless, then elected with a
	// higher term, after about one election timeout.
	var kill, leaderless, elected time.Time
	var electedEpoch int32
	for _, e := range c.Timeline() {
		switch {
		case e.Kind == sandbox.EventKill && e.Node == leader:
			kill = e.At
		case e.Kind == sandbox.EventLeaderless && e.Topic == topic && *e.Partition == 0:
			leaderless = e.At
		case e.Kind == sandbox.EventElected && e.Topic == topic && *e.Partition == 0:
			elected, electedEpoch = e.At, *e.Epoch
		}
	}
	if kill.IsZero() || leaderless.Before(kill) || !elected.After(leaderless) || electedEpoch <= epoch {
		t.Fatalf("timeline out of order: kill %v leaderless %v elected %v (epoch %d, was %d)", kill, leaderless, elected, electedEpoch, epoch)
	}
	// Election timeout 100 ms: a follower campaigns 100–200 ms after it
	// last heard from the leader (slack for a busy machine).
	if d := elected.Sub(kill); d < 50*time.Millisecond || d > 3*time.Second {
		t.Fatalf("election took %v, outside the configured 100–200ms timeout", d)
	}
}

func TestNoMajorityNoElectionAndNoWrites(t *testing.T) {
	c := newCluster(t)
	leader, _, _ := c.Leader(topic, 0)
	f1 := other(c, leader)
	f2 := other(c, leader, f1)

	// Both followers down: the leader lives but cannot commit, so the
	// write is not acked (it times out, or is refused once CheckQuorum
	// made the leader step down).
	for _, id := range []int32{f1, f2} {
		if err := c.Kill(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	lb := dial(t, addrOf(c, leader))
	if _, kerr, err := produceOne(lb, 0, []byte("no quorum"), sarama.WaitForAll, 500*time.Millisecond); err != nil || (kerr != sarama.ErrRequestTimedOut && kerr != sarama.ErrNotLeaderForPartition) {
		t.Fatalf("acks=all write without a majority: got %v %v, want REQUEST_TIMED_OUT or NOT_LEADER_OR_FOLLOWER", kerr, err)
	}
	if err := c.Restart(context.Background(), f1); err != nil {
		t.Fatal(err)
	}
	l := leaderOf(t, c)
	if kerr, err := produce(dial(t, addrOf(c, l)), "quorum back"); err != nil || kerr != sarama.ErrNoError {
		t.Fatalf("write with the majority back: %v %v", kerr, err)
	}

	// Two of three down: the survivor stands for election (pre-vote) and
	// cannot win it.
	for _, id := range []int32{leader, f1} {
		if err := c.Kill(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Restart(context.Background(), f2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lone node to stand for election", 5*time.Second, func() bool {
		return c.RaftState(f2, topic, 0) == "StatePreCandidate"
	})
	b := dial(t, addrOf(c, f2))
	if pm := metadata(t, b); pm.Leader != -1 {
		t.Fatalf("a leader (%d) was elected with a minority up", pm.Leader)
	}
	if kerr, err := produce(b, "minority"); err == nil && kerr == sarama.ErrNoError {
		t.Fatal("a write was acked by a minority")
	}
	// Majority back: an election happens.
	if err := c.Restart(context.Background(), f1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "election after the majority returned", 5*time.Second, func() bool { return metadata(t, b).Leader != -1 })
}

func TestCommittedDataSurvivesKillsAndRestarts(t *testing.T) {
	c := newCluster(t)
	leader, _, _ := c.Leader(topic, 0)
	lb := dial(t, addrOf(c, leader))
	for i := 0; i < 10; i++ {
		if kerr, err := produce(lb, "m"); err != nil || kerr != sarama.ErrNoError {
			t.Fatalf("produce: %v %v", kerr, err)
		}
	}
	if err := c.Kill(context.Background(), leader); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "election", 3*time.Second, func() bool { l, _, _ := c.Leader(topic, 0); return l != -1 })
	if err := c.Restart(context.Background(), leader); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := c.Leader(topic, 0); l == leader {
		t.Fatalf("restarted node %d took leadership back; it must rejoin as a follower", leader)
	}
	// Every replica serves the data (follower fetching), the old leader too.
	for _, n := range c.Nodes() {
		req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 10, MinBytes: 1, MaxBytes: 1 << 20}
		req.AddBlock(topic, 0, 0, 1<<20, -1)
		resp, err := dial(t, n.Address).Fetch(req)
		if err != nil {
			t.Fatal(err)
		}
		blk := resp.GetBlock(topic, 0)
		if blk.Err != sarama.ErrNoError || blk.HighWaterMarkOffset != 10 {
			t.Fatalf("node %d: err %v high watermark %d, want 10 records", n.ID, blk.Err, blk.HighWaterMarkOffset)
		}
	}
}

func TestControlAPI(t *testing.T) {
	c := newCluster(t)
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	post := func(path string) int {
		resp, err := http.Post(srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/nodes/2/kill"); code != http.StatusOK {
		t.Fatalf("kill: %d", code)
	}
	if code := post("/nodes/9/kill"); code != http.StatusNotFound {
		t.Fatalf("kill of an unknown node: %d, want 404", code)
	}
	var nodes []sandbox.NodeInfo
	getJSON(t, srv.URL+"/nodes", &nodes)
	if len(nodes) != 3 || nodes[1].Up || !nodes[0].Up {
		t.Fatalf("nodes after killing 2: %+v", nodes)
	}
	if code := post("/nodes/2/restart"); code != http.StatusOK {
		t.Fatalf("restart: %d", code)
	}
	var tl []map[string]any
	getJSON(t, srv.URL+"/timeline", &tl)
	var kinds []any
	for _, e := range tl {
		if k := e["kind"]; k == "kill" || k == "restart" {
			kinds = append(kinds, k)
		}
		if _, err := time.Parse(time.RFC3339Nano, e["at"].(string)); err != nil {
			t.Fatalf("timeline time is not RFC 3339: %v", err)
		}
	}
	if len(kinds) != 2 || kinds[0] != "kill" || kinds[1] != "restart" {
		t.Fatalf("timeline: %v", tl)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
