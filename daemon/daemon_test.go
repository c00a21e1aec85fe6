package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/exporters"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/run"
)

// shortConfig is a daemon on a free port, with every drill cut down to a
// few seconds, nothing scheduled and a state directory of its own.
func shortConfig(t testing.TB) *config.Config {
	c := testenv.ShortConfig()
	c.State.Dir = t.TempDir()
	c.Server.Listen = "127.0.0.1:0"
	lf := testenv.LF(c)
	lf.Schedule = "off"
	lf.ProduceDuration = 2500 * time.Millisecond
	lf.KillAfter = 800 * time.Millisecond
	return c
}

// startDaemon runs a daemon on the embedded sandbox and returns its URL.
func startDaemon(t *testing.T, cfg *config.Config) (*Daemon, string) {
	t.Helper()
	d, err := New(context.Background(), cfg, Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serving(t, d)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	url := "http://" + addr
	testutil.WaitFor(t, "ready", 5*time.Second, func() bool { return get(t, url+"/readyz", nil) == http.StatusOK })
	return d, url
}

// serving opens d's listener and runs Serve until stop, which returns
// Serve's error (the same to every call); the test's end stops it too.
func serving(t *testing.T, d *Daemon) (addr string, stop func() error) {
	t.Helper()
	a, err := d.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	var once sync.Once
	var serr error
	stop = func() error {
		once.Do(func() { cancel(); serr = <-done })
		return serr
	}
	t.Cleanup(func() { stop() })
	return a.String(), stop
}

func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

func post(t *testing.T, url, body string, header map[string]string) (int, http.Header, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

func TestTriggerRunsDrillAndMetricsCarryItsFigures(t *testing.T) {
	d, url := startDaemon(t, shortConfig(t))
	code, hdr, body := post(t, url+"/trigger", `{"drill":"leader-failover"}`, nil)
	if code != http.StatusAccepted || body["status"] != "running" || hdr.Get("Location") != "/runs/"+body["id"] {
		t.Fatalf("trigger: %d %v %v", code, hdr, body)
	}
	id := body["id"]
	code, _, busy := post(t, url+"/trigger?drill=leader-failover", "", nil)
	if code != http.StatusConflict || busy["running"] != id {
		t.Fatalf("second trigger while running: %d %v, want 409 naming %s", code, busy, id)
	}

	var r run.Run
	testutil.WaitFor(t, "run to finish", 30*time.Second, func() bool {
		get(t, url+"/runs/"+id, &r)
		return r.Status != "running"
	})
	if r.Status != "passed" || r.Trigger != run.TriggerAPI || r.FinishedAt == nil {
		t.Fatalf("run: %+v", r)
	}
	// The run store says "passed" a moment before the metrics have the
	// run: wait for its count.
	testutil.WaitFor(t, "the run counted in the metrics", 10*time.Second, func() bool {
		return promtest.ToFloat64(d.metrics.RunsTotal.WithLabelValues("leader-failover", run.StatusPassed)) == 1
	})
	m := r.Measurements
	for _, k := range []string{"failover_seconds", "election_seconds", "success_ratio"} {
		if m[k] <= 0 {
			t.Fatalf("%s missing or zero: %v", k, m)
		}
	}
	if m["messages_lost"] != 0 {
		t.Fatalf("lost %v", m["messages_lost"])
	}

	got := promtest.ToFloat64(d.metrics.LastFailover.WithLabelValues("leader-failover", "write_recovery"))
	if got != m["failover_seconds"] {
		t.Fatalf("last_failover_duration_seconds{write_recovery} = %v, run says %v", got, m["failover_seconds"])
	}
	if got := promtest.ToFloat64(d.metrics.LastSuccessRatio.WithLabelValues("leader-failover")); got != m["success_ratio"] {
		t.Fatalf("last_success_ratio = %v, run says %v", got, m["success_ratio"])
	}
	if got := promtest.ToFloat64(d.metrics.RunsTotal.WithLabelValues("leader-failover", "passed")); got != 1 {
		t.Fatalf("drill_runs_total{passed} = %v", got)
	}
	if got := promtest.ToFloat64(d.metrics.Messages.WithLabelValues("leader-failover", "acked")); got != m["messages_acked"] {
		t.Fatalf("messages_total{acked} = %v, run says %v", got, m["messages_acked"])
	}

	var runs []run.Run
	get(t, url+"/runs", &runs)
	if len(runs) != 1 || runs[0].ID != id {
		t.Fatalf("runs: %+v", runs)
	}
	// The exposition carries the figure too, as Prometheus would scrape it.
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(text, []byte(`raftdrill_last_success_ratio{drill="leader-failover"}`)) {
		t.Fatal("/metrics lacks raftdrill_last_success_ratio")
	}
}

func TestSeriesExistFromStartUp(t *testing.T) {
	d, _ := startDaemon(t, shortConfig(t))
	for _, name := range []string{
		"raftdrill_drill_runs_total", "raftdrill_failover_duration_seconds", "raftdrill_anomalies_total",
		"raftdrill_criterion_passed", "raftdrill_node_up", "raftdrill_messages_total", "raftdrill_build_info",
		"raftdrill_nodes_awaiting_restore", "raftdrill_node_restore_attempts_total",
		"raftdrill_config_last_reload_successful", "raftdrill_config_last_reload_success_timestamp_seconds",
	} {
		if n, err := promtest.GatherAndCount(d.reg, name); err != nil || n == 0 {
			t.Errorf("%s: %d series at start-up (%v)", name, n, err)
		}
	}
	if n, _ := promtest.GatherAndCount(d.reg, "raftdrill_drill_runs_total"); n < 3 {
		t.Errorf("drill_runs_total has %d series, want one per result", n)
	}
}

func TestScheduledRunSkippedWhileOneRuns(t *testing.T) {
	cfg := shortConfig(t)
	testenv.LF(cfg).Schedule = "@every 1s"
	d, url := startDaemon(t, cfg)
	testutil.WaitFor(t, "a skipped scheduled run", 20*time.Second, func() bool {
		return promtest.ToFloat64(d.metrics.SkippedRuns.WithLabelValues("leader-failover", exporters.SkipBusy)) >= 1
	})
	var runs []run.Run
	get(t, url+"/runs", &runs)
	if len(runs) == 0 || runs[len(runs)-1].Trigger != run.TriggerSchedule {
		t.Fatalf("runs: %+v", runs)
	}
	running := 0
	for _, r := range runs {
		if r.Status == "running" {
			running++
		}
	}
	if running > 1 {
		t.Fatalf("%d drills running at once", running)
	}
}

func TestTriggerRequestErrors(t *testing.T) {
	_, url := startDaemon(t, shortConfig(t))
	cases := []struct {
		name, query, body string
		want              int
		mention           string
	}{
		{"unknown drill", "", `{"drill":"nope"}`, 400, "unknown drill"},
		{"no drill", "", ``, 400, "no drill named"},
		{"bad json", "", `{"drill":`, 400, "bad body"},
		{"unknown field", "", `{"drill":"leader-failover","force":true}`, 400, "unknown field"},
		{"disagreeing", "?drill=leader-failover", `{"drill":"other"}`, 400, "disagree"},
		{"too big", "", `{"drill":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "over"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := post(t, url+"/trigger"+tc.query, tc.body, nil)
			if code != tc.want || !strings.Contains(body["error"], tc.mention) {
				t.Fatalf("got %d %q, want %d mentioning %q", code, body["error"], tc.want, tc.mention)
			}
		})
	}
	if code := get(t, url+"/runs/nope", nil); code != http.StatusNotFound {
		t.Fatalf("unknown run: %d", code)
	}
}

func TestTriggerAuth(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := shortConfig(t)
	cfg.Server.AuthTokenFile = tokenFile
	_, url := startDaemon(t, cfg)
	const body = `{"drill":"nope"}` // authorised requests stop at 400, starting nothing
	if code, _, _ := post(t, url+"/trigger", body, nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code, _, _ := post(t, url+"/trigger", body, map[string]string{"Authorization": "Bearer wrong"}); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _, _ := post(t, url+"/trigger", body, map[string]string{"Authorization": "Bearer s3cret"}); code != http.StatusBadRequest {
		t.Fatalf("right token: %d, want to get past auth", code)
	}
	// Rotation needs no restart.
	if err := os.WriteFile(tokenFile, []byte("n3w"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := post(t, url+"/trigger", body, map[string]string{"Authorization": "Bearer s3cret"}); code != http.StatusUnauthorized {
		t.Fatalf("old token after rotation: %d", code)
	}
	if code, _, _ := post(t, url+"/trigger", body, map[string]string{"Authorization": "Bearer n3w"}); code != http.StatusBadRequest {
		t.Fatalf("rotated token: %d", code)
	}
	// Read-only endpoints need no token.
	if code := get(t, url+"/metrics", nil); code != http.StatusOK {
		t.Fatalf("/metrics with a token configured: %d", code)
	}
}

func TestNonLoopbackWithoutTokenDisablesTrigger(t *testing.T) {
	cfg := shortConfig(t)
	cfg.Server.Listen = "0.0.0.0:9479" // never bound: the handler alone is tested
	cfg.Server.AllowedHosts = []string{"raftdrill.example.com"}
	d, err := New(context.Background(), cfg, Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := d.Handler()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "http://raftdrill.example.com:9479/trigger", strings.NewReader(`{"drill":"leader-failover"}`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "auth_token_file") {
		t.Fatalf("trigger on a non-loopback address without a token: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics must stay open for Prometheus: %d", rec.Code)
	}
}
