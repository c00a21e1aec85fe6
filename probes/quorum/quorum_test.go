package quorum_test

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/quorum"
	"github.com/raftdrill/raftdrill/sandbox"
)

// quorumConfig is a test config with a fast quorum probe.
func quorumConfig() *config.Config {
	cfg := testenv.Config()
	cfg.Probes.Quorum.Interval = 500 * time.Millisecond
	cfg.Probes.Quorum.Timeout = 400 * time.Millisecond
	return cfg
}

func newTestProbe(t *testing.T, cfg *config.Config, nodes []kafka.Node) *quorum.Probe {
	t.Helper()
	c := testenv.Client(t, cfg).WithNodes(nodes)
	return quorum.New(c, cfg, testutil.Log())
}

// checkUntil checks until cond holds, so tests wait for elections without
// guessing how long they take on a busy machine.
func checkUntil(t *testing.T, q *quorum.Probe, what string, cond func(quorum.Observation) bool) quorum.Observation {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o := q.Check(context.Background())
		if cond(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last observation %+v (reasons %v)", what, o, o.Reasons())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func available(o quorum.Observation) bool { return o.Available }

func TestQuorumHealthyClusterIsAvailable(t *testing.T) {
	cfg := quorumConfig()
	_, env := testenv.Env(t, cfg)
	q := newTestProbe(t, cfg, env.Client.Nodes())
	o := checkUntil(t, q, "quorum", available)
	if o.Up != 3 || !o.Majority || len(o.Leaderless) != 0 || o.Partitions != 3 {
		t.Fatalf("healthy cluster seen as %+v", o)
	}
	if !o.Canary.Enabled || o.Canary.Attempts != 3 || o.Canary.Acked != 3 {
		t.Fatalf("canary: %+v", o.Canary)
	}
	if len(o.Reasons()) != 0 {
		t.Fatalf("reasons on a healthy cluster: %v", o.Reasons())
	}
}

func TestQuorumMajorityLossAndBack(t *testing.T) {
	cfg := quorumConfig()
	sb, env := testenv.Env(t, cfg)
	q := newTestProbe(t, cfg, env.Client.Nodes())
	checkUntil(t, q, "quorum", available)
	ctx := context.Background()
	for _, id := range []int32{1, 2} {
		if err := sb.Kill(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	o := q.Check(ctx)
	if o.Available || o.Majority || o.Up != 1 || !slices.Equal(o.Down(), []int32{1, 2}) {
		t.Fatalf("majority down seen as %+v", o)
	}
	// Partitions led by the dead nodes cannot elect; the survivor's own
	// partition keeps its leader but cannot commit: the canary says so.
	if len(o.Leaderless) == 0 || o.Partitions != 3 {
		t.Fatalf("leaderless %v of %d", o.Leaderless, o.Partitions)
	}
	if o.Canary.OK() || o.Canary.Acked != 0 {
		t.Fatalf("canary acked without a majority: %+v", o.Canary)
	}
	if len(o.Reasons()) < 3 {
		t.Fatalf("reasons should name nodes, partitions and canary: %v", o.Reasons())
	}
	for _, id := range []int32{1, 2} {
		if err := sb.Restart(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	checkUntil(t, q, "quorum back", available)
}

// A minority down is not quorum loss once the survivors elect.
func TestQuorumMinorityLossStaysAvailable(t *testing.T) {
	cfg := quorumConfig()
	sb, env := testenv.Env(t, cfg)
	q := newTestProbe(t, cfg, env.Client.Nodes())
	checkUntil(t, q, "quorum", available)
	if err := sb.Kill(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	o := checkUntil(t, q, "re-election", available)
	if o.Up != 2 || !slices.Equal(o.Down(), []int32{1}) {
		t.Fatalf("after killing node 1: %+v", o)
	}
}

// Metadata that keeps naming a dead leader must not count as led: the
// probe trusts its own ApiVersions answer over what metadata claims.
func TestQuorumDoesNotTrustMetadataNamingADeadLeader(t *testing.T) {
	cfg := quorumConfig()
	testenv.Sandbox(cfg).Faults = sandbox.Faults{StaleLeader: true, NeverElect: true}
	sb, client := testenv.Cluster(t, cfg)
	q := newTestProbe(t, cfg, client.Nodes())
	checkUntil(t, q, "quorum", available)
	leader, _, _ := sb.Leader(cfg.Cluster.Topic.Name, 0)
	if err := sb.Kill(context.Background(), leader); err != nil {
		t.Fatal(err)
	}
	o := q.Check(context.Background())
	if o.Available || !slices.Contains(o.Leaderless, quorum.TopicPartition{Topic: cfg.Cluster.Topic.Name, Partition: 0}) {
		t.Fatalf("a partition led by dead node %d counted as led: %+v", leader, o)
	}
}

// A node that accepts connections and never answers costs one timeout,
// not a stuck probe.
func TestQuorumHungNodeCostsOneTimeout(t *testing.T) {
	cfg := quorumConfig()
	_, env := testenv.Env(t, cfg)
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn // kept open, never answered
	t.Cleanup(func() {
		hung.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	nodes := append(slices.Clone(env.Client.Nodes()), kafka.Node{ID: 4, Address: hung.Addr().String()})
	q := newTestProbe(t, cfg, nodes)
	o := checkUntil(t, q, "quorum with 3 of 4", available)
	if o.Up != 3 || !slices.Equal(o.Down(), []int32{4}) {
		t.Fatalf("hung node: %+v", o)
	}
	start := time.Now()
	o = q.Check(context.Background())
	// One timeout for the nodes; the canary goes to live leaders only.
	if took := time.Since(start); took > cfg.Probes.Quorum.Timeout+time.Second {
		t.Fatalf("check took %s with one hung node (timeout %s)", took, cfg.Probes.Quorum.Timeout)
	}
	if !o.Available {
		t.Fatalf("3 of 4 up is a majority: %v", o.Reasons())
	}
}

// With every node down the probe still reports: every known partition
// leaderless, nothing available, and no error to stop it.
func TestQuorumEveryNodeDown(t *testing.T) {
	cfg := quorumConfig()
	sb, env := testenv.Env(t, cfg)
	q := newTestProbe(t, cfg, env.Client.Nodes())
	checkUntil(t, q, "quorum", available)
	for _, id := range []int32{1, 2, 3} {
		if err := sb.Kill(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	o := q.Check(context.Background())
	if o.Available || o.Up != 0 || o.Partitions != 3 || len(o.Leaderless) != 3 {
		t.Fatalf("every node down seen as %+v", o)
	}
	for _, n := range o.Nodes {
		if n.Up || n.Err == "" {
			t.Fatalf("node %+v should be down with a reason", n)
		}
	}
}

// Starting while a node is down is not a start-up failure: the probe
// reports what it sees and catches up when the node returns.
func TestQuorumStartsWithANodeDown(t *testing.T) {
	cfg := quorumConfig()
	sb, env := testenv.Env(t, cfg)
	if err := sb.Kill(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	q := newTestProbe(t, cfg, env.Client.Nodes())
	o := q.Check(context.Background())
	if o.Up != 2 || !o.Majority || !slices.Equal(o.Down(), []int32{3}) {
		t.Fatalf("first check with node 3 down: %+v", o)
	}
	if err := sb.Restart(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	checkUntil(t, q, "quorum after node 3 returned", available)
}

func TestQuorumWatchesConfiguredTopics(t *testing.T) {
	cfg := quorumConfig()
	cfg.Probes.Quorum.Topics = []string{"orders", "nonexistent"}
	sb, env := testenv.Env(t, cfg)
	if err := sb.CreateTopic("orders", 4, 3); err != nil {
		t.Fatal(err)
	}
	q := newTestProbe(t, cfg, env.Client.Nodes())
	o := checkUntil(t, q, "quorum", available)
	if o.Partitions != 7 || !slices.Equal(o.MissingTopics, []string{"nonexistent"}) {
		t.Fatalf("watched partitions %d, missing %v", o.Partitions, o.MissingTopics)
	}
	// Kill the leader of orders/1 with elections off: that partition, a
	// configured topic's, makes quorum unavailable.
	sb.SetFaults(sandbox.Faults{NeverElect: true})
	if err := sb.Kill(context.Background(), mustLeader(t, sb, "orders", 1)); err != nil {
		t.Fatal(err)
	}
	o = q.Check(context.Background())
	if !slices.Contains(o.Leaderless, quorum.TopicPartition{"orders", 1}) || o.Available {
		t.Fatalf("orders/1 leaderless not seen: %+v", o)
	}
}

func mustLeader(t *testing.T, sb *sandbox.Cluster, topic string, p int32) int32 {
	t.Helper()
	l, _, ok := sb.Leader(topic, p)
	if !ok || l < 0 {
		t.Fatalf("no leader for %s/%d", topic, p)
	}
	return l
}

func TestQuorumRunReportsEveryIntervalUntilCancelled(t *testing.T) {
	cfg := quorumConfig()
	cfg.Probes.Quorum.Interval = 100 * time.Millisecond
	cfg.Probes.Quorum.Timeout = 90 * time.Millisecond
	_, env := testenv.Env(t, cfg)
	q := newTestProbe(t, cfg, env.Client.Nodes())
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan quorum.Observation, 100)
	done := make(chan struct{})
	go func() { q.Run(ctx, func(o quorum.Observation) { got <- o }); close(done) }()
	for i := 0; i < 3; i++ {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("no observation")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop on cancel")
	}
}
