package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/config"
)

// hookSink is a Slack incoming webhook that keeps the text of each message.
type hookSink struct {
	mu   sync.Mutex
	text []string
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.text = append(h.text, m.Text)
	h.mu.Unlock()
	w.Write([]byte("ok"))
}

func (h *hookSink) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.text...)
}

func (h *hookSink) count(substr string) int {
	n := 0
	for _, m := range h.messages() {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// wiredDaemon serves a daemon on the embedded sandbox with the quorum probe
// and alerts wired as `raftdrill serve` does, delivering to a webhook.
func wiredDaemon(t *testing.T, tune func(*config.Config)) (*Daemon, *hookSink) {
	t.Helper()
	sink := &hookSink{}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	hook := filepath.Join(t.TempDir(), "webhook")
	if err := os.WriteFile(hook, []byte(srv.URL+"/services/T/B/secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Server.Listen = "127.0.0.1:0"
	lf := &cfg.Drills.LeaderFailover
	lf.Schedule = "off"
	lf.ProduceDuration, lf.KillAfter, lf.Rate, lf.RecoveryTimeout = 2500*time.Millisecond, 800*time.Millisecond, 150, 10*time.Second
	cfg.Sandbox.ElectionTimeoutMin, cfg.Sandbox.ElectionTimeoutMax = 150*time.Millisecond, 300*time.Millisecond
	cfg.Cluster.RequestTimeout = 3 * time.Second
	cfg.Probes.Quorum.Interval, cfg.Probes.Quorum.Timeout = 400*time.Millisecond, 350*time.Millisecond
	cfg.Alerts.RetryBackoff, cfg.Alerts.RetryBackoffMax = 20*time.Millisecond, 200*time.Millisecond
	cfg.Alerts.Slack.WebhookURLFile = hook
	if tune != nil {
		tune(&cfg)
	}
	if ps := cfg.Validate(); len(ps) > 0 {
		t.Fatalf("config: %v", ps)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, &cfg, Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := WireAlerts(ctx, d, d.log); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return d, sink
}

func waitUntilTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWiredServeFeedsQuorumMetricsAndAlerts(t *testing.T) {
	d, sink := wiredDaemon(t, nil)
	m := d.Metrics()
	if n := testutil.CollectAndCount(m.AlertsSent); n != len(alerts.Kinds)*len(alerts.Results) {
		t.Fatalf("%d alerts_sent_total series at start-up, want every kind × result", n)
	}
	waitUntilTrue(t, "quorum available", func() bool { return testutil.ToFloat64(m.QuorumAvailable) == 1 })
	ctx := context.Background()
	for _, id := range []int32{1, 2} {
		if err := d.Cluster().Sandbox.Kill(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitUntilTrue(t, "quorum-lost message", func() bool { return sink.count("Quorum lost") == 1 })
	if testutil.ToFloat64(m.QuorumAvailable) != 0 || testutil.ToFloat64(m.NodeUp.WithLabelValues("1")) != 0 ||
		testutil.ToFloat64(m.NodeUp.WithLabelValues("3")) != 1 || testutil.ToFloat64(m.PartitionsLeaderless) == 0 {
		t.Fatal("quorum metrics do not show the loss")
	}
	for _, id := range []int32{1, 2} {
		if err := d.Cluster().Sandbox.Restart(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitUntilTrue(t, "resolution", func() bool { return sink.count("Resolved") == 1 })
	waitUntilTrue(t, "quorum metric back", func() bool { return testutil.ToFloat64(m.QuorumAvailable) == 1 })
	if got := sink.messages(); len(got) != 2 {
		t.Fatalf("want one alert and its resolution, got %q", got)
	}
	if v := testutil.ToFloat64(m.AlertsSent.WithLabelValues(alerts.KindQuorumLost, alerts.ResultSent)); v != 2 {
		t.Fatalf("alerts_sent_total{quorum-lost,sent} = %v", v)
	}
}

// A drill's run reaches the alerts: a missed threshold is a message naming
// the criterion; the leader it killed on purpose is not a quorum page.
func TestWiredDrillMissingAThresholdSendsOneMessage(t *testing.T) {
	d, sink := wiredDaemon(t, func(c *config.Config) {
		c.Drills.LeaderFailover.Thresholds.MaxFailoverSeconds = 0.001 // no failover is that fast
	})
	waitUntilTrue(t, "quorum available", func() bool { return testutil.ToFloat64(d.Metrics().QuorumAvailable) == 1 })
	waitUntilTrue(t, "scheduler", func() bool { return d.ready.Load() })
	run, err := d.Trigger("leader-failover", TriggerAPI)
	if err != nil {
		t.Fatal(err)
	}
	waitUntilTrue(t, "threshold-missed message", func() bool { return sink.count("failover_seconds") == 1 })
	got := sink.messages()
	if len(got) != 1 || !strings.Contains(got[0], "leader-failover missed") || !strings.Contains(got[0], "threshold < 0.001 s") {
		t.Fatalf("messages after run %s: %q", run.ID, got)
	}
}

// Kills through the drills' node controller are known to be on purpose.
func TestWiredNodeControllerIsDrillAware(t *testing.T) {
	d, sink := wiredDaemon(t, nil)
	waitUntilTrue(t, "quorum available", func() bool { return testutil.ToFloat64(d.Metrics().QuorumAvailable) == 1 })
	ctx := context.Background()
	ctl := d.Cluster().Control
	for _, id := range []int32{2, 3} {
		if err := ctl.Kill(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitUntilTrue(t, "quorum metric shows the loss", func() bool { return testutil.ToFloat64(d.Metrics().QuorumAvailable) == 0 })
	time.Sleep(5 * d.cfg.Probes.Quorum.Interval) // several checks: long enough to page if it were going to
	for _, id := range []int32{2, 3} {
		if err := ctl.Restart(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitUntilTrue(t, "quorum back", func() bool { return testutil.ToFloat64(d.Metrics().QuorumAvailable) == 1 })
	if got := sink.messages(); len(got) != 0 {
		t.Fatalf("kills through the drills' controller paged: %q", got)
	}
}
