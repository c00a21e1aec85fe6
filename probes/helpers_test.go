package probes

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/sandbox"
)

// testLog is quiet unless TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// shortConfig is the default configuration with drill timings cut down so
// a drill takes a few seconds.
func shortConfig() *config.Config {
	c := config.Default()
	lf := &c.Drills.LeaderFailover
	lf.ProduceDuration = 3 * time.Second
	lf.KillAfter = time.Second
	lf.Rate = 150
	lf.ElectionDeadline = 5 * time.Second
	lf.RecoveryTimeout = 10 * time.Second
	c.Sandbox.ElectionTimeoutMin = 200 * time.Millisecond
	c.Sandbox.ElectionTimeoutMax = 400 * time.Millisecond
	c.Cluster.RequestTimeout = 3 * time.Second
	return &c
}

// startSandbox starts a sandbox for cfg and returns an Env that drills it.
func startSandbox(t testing.TB, cfg *config.Config) (*sandbox.Cluster, Env) {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{
		Nodes:              cfg.Sandbox.Nodes,
		ElectionTimeoutMin: cfg.Sandbox.ElectionTimeoutMin,
		ElectionTimeoutMax: cfg.Sandbox.ElectionTimeoutMax,
		Logger:             testLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	var nodes []Node
	for _, n := range sb.Nodes() {
		nodes = append(nodes, Node{ID: n.ID, Address: n.Address})
	}
	v, err := config.ParseKafkaVersion(cfg.Cluster.KafkaVersion)
	if err != nil {
		t.Fatal(err)
	}
	client := NewClient(nodes, v, cfg.Cluster.RequestTimeout, testLog())
	t.Cleanup(client.Close)
	return sb, Env{RunID: "test-" + t.Name(), Client: client, Control: sb, Config: cfg, Log: testLog()}
}
