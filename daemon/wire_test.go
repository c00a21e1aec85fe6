package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/cluster/control/sandboxctl"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/sandbox"
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
func wiredDaemon(t *testing.T, tune func(*config.Config), opts ...func(*Options)) (*Daemon, *hookSink) {
	t.Helper()
	sink := &hookSink{}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	hook := filepath.Join(t.TempDir(), "webhook")
	if err := os.WriteFile(hook, []byte(srv.URL+"/services/T/B/secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := shortConfig(t)
	cfg.Probes.Quorum.Interval, cfg.Probes.Quorum.Timeout = 400*time.Millisecond, 350*time.Millisecond
	cfg.Alerts.RetryBackoff, cfg.Alerts.RetryBackoffMax = 20*time.Millisecond, 200*time.Millisecond
	cfg.Alerts.Slack.WebhookURLFile = hook
	if tune != nil {
		tune(cfg)
	}
	if ps := cfg.Validate(); len(ps) > 0 {
		t.Fatalf("config: %v", ps)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := Options{Registry: prometheus.NewRegistry()}
	for _, fn := range opts {
		fn(&o)
	}
	d, err := New(ctx, cfg, o)
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
	testutil.WaitFor(t, what, 60*time.Second, cond)
}

// embedded is the embedded sandbox a test daemon drills.
func embedded(d *Daemon) *sandbox.Cluster {
	return d.Cluster().Control.(*sandboxctl.Sandbox).Embedded()
}

func TestWiredServeFeedsQuorumMetricsAndAlerts(t *testing.T) {
	d, sink := wiredDaemon(t, nil)
	m := d.Metrics()
	if n := promtest.CollectAndCount(m.AlertsSent); n != len(alerts.Kinds)*len(alerts.Results) {
		t.Fatalf("%d alerts_sent_total series at start-up, want every kind × result", n)
	}
	waitUntilTrue(t, "quorum available", func() bool { return promtest.ToFloat64(m.QuorumAvailable) == 1 })
	ctx := context.Background()
	for _, id := range []int32{1, 2} {
		if err := embedded(d).Kill(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitUntilTrue(t, "quorum-lost message", func() bool { return sink.count("Quorum lost") == 1 })
	if promtest.ToFloat64(m.QuorumAvailable) != 0 || promtest.ToFloat64(m.NodeUp.WithLabelValues("1")) != 0 ||
		promtest.ToFloat64(m.NodeUp.WithLabelValues("3")) != 1 || promtest.ToFloat64(m.PartitionsLeaderless) == 0 {
		t.Fatal("quorum metrics do not show the loss")
	}
	for _, id := range []int32{1, 2} {
		if err := embedded(d).Restart(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitUntilTrue(t, "resolution", func() bool { return sink.count("Resolved") == 1 })
	waitUntilTrue(t, "quorum metric back", func() bool { return promtest.ToFloat64(m.QuorumAvailable) == 1 })
	if got := sink.messages(); len(got) != 2 {
		t.Fatalf("want one alert and its resolution, got %q", got)
	}
	// Counted once Slack's answer is back, a moment after the sink saw it.
	waitUntilTrue(t, "alerts_sent_total{quorum-lost,sent} = 2", func() bool {
		return promtest.ToFloat64(m.AlertsSent.WithLabelValues(alerts.KindQuorumLost, alerts.ResultSent)) == 2
	})
}

// A drill's run reaches the alerts: a missed threshold is a message naming
// the criterion; the leader it killed on purpose is not a quorum page.
func TestWiredDrillMissingAThresholdSendsOneMessage(t *testing.T) {
	d, sink := wiredDaemon(t, func(c *config.Config) {
		testenv.LF(c).Thresholds.MaxFailoverSeconds = 0.001 // no failover is that fast
	})
	waitUntilTrue(t, "quorum available", func() bool { return promtest.ToFloat64(d.Metrics().QuorumAvailable) == 1 })
	waitUntilTrue(t, "scheduler", func() bool { return d.ready.Load() })
	r, err := d.Trigger("leader-failover", run.TriggerAPI)
	if err != nil {
		t.Fatal(err)
	}
	waitUntilTrue(t, "threshold-missed message", func() bool { return sink.count("failover_seconds") == 1 })
	got := sink.messages()
	if len(got) != 1 || !strings.Contains(got[0], "leader-failover missed") || !strings.Contains(got[0], "threshold < 1 ms") {
		t.Fatalf("messages after run %s: %q", r.ID, got)
	}
}

// recordingObserver records what a node observer hears.
type recordingObserver struct {
	mu     sync.Mutex
	events []string
}

func (o *recordingObserver) Killing(id int32, _ time.Time)   { o.add(fmt.Sprintf("killing %d", id)) }
func (o *recordingObserver) Restarted(id int32, _ time.Time) { o.add(fmt.Sprintf("restarted %d", id)) }

func (o *recordingObserver) add(e string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, e)
}

// Every drill tells the daemon's node observers (the alert planner among
// them, which is what keeps a drill's own outage from paging) of each kill
// before it happens and of each restart after it worked.
func TestDrillsTellNodeObserversOfKillsAndRestarts(t *testing.T) {
	d, url := startDaemon(t, shortConfig(t))
	obs := &recordingObserver{}
	d.ObserveNodes(obs)
	code, _, body := post(t, url+"/trigger", `{"drill":"leader-failover"}`, nil)
	if code != http.StatusAccepted {
		t.Fatalf("trigger: %d %v", code, body)
	}
	var r run.Run
	waitUntilTrue(t, "the run to finish", func() bool {
		get(t, url+"/runs/"+body["id"], &r)
		return r.Status != run.StatusRunning
	})
	killed := int32(r.Measurements.Value(run.KilledNode))
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if want := []string{fmt.Sprintf("killing %d", killed), fmt.Sprintf("restarted %d", killed)}; killed < 1 || !slices.Equal(obs.events, want) {
		t.Fatalf("observer heard %q, want %q (run %+v)", obs.events, want, r)
	}
}
