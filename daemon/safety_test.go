package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/cluster/control/sandboxctl"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

// rawPost sends a POST with exactly the headers given.
func rawPost(t *testing.T, url, body string, header map[string]string, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// A web page must not be able to make raftdrill kill nodes: a cross-site
// POST (another site's Origin, a text/plain body as a plain form sends) is
// refused, and so are a DNS-rebinding Host, a body that is not JSON and
// trailing data; nothing is killed.
func TestCrossSiteRequestsAreRefusedAndKillNothing(t *testing.T) {
	d, url := startDaemon(t, shortConfig(t))
	body := `{"drill":"leader-failover"}`
	for _, tc := range []struct {
		name   string
		header map[string]string
		host   string
		body   string
		want   int
		says   string
	}{
		{"cross-site form", map[string]string{"Origin": "https://evil.example", "Content-Type": "text/plain"}, "", body, 403, "cross-site"},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, "", body, 403, "cross-site"},
		{"other origin with JSON", map[string]string{"Origin": "http://evil.example:9479", "Content-Type": "application/json"}, "", body, 403, "cross-site"},
		{"DNS rebinding", map[string]string{"Content-Type": "application/json"}, "rebind.evil.example:9479", body, 403, "server.allowed_hosts"},
		{"text/plain same site", map[string]string{"Content-Type": "text/plain"}, "", body, 415, "Content-Type: application/json"},
		{"no content type", nil, "", body, 415, "Content-Type"},
		{"trailing data", map[string]string{"Content-Type": "application/json"}, "", body + `{"drill":"benchmark"}`, 400, "data after the JSON object"},
		{"reload cross-site", map[string]string{"Origin": "https://evil.example"}, "", "", 403, "cross-site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/trigger"
			if strings.HasPrefix(tc.name, "reload") {
				path = "/-/reload"
			}
			code, resp := rawPost(t, url+path, tc.body, tc.header, tc.host)
			if code != tc.want || !strings.Contains(resp, tc.says) {
				t.Fatalf("got %d %s, want %d saying %q", code, resp, tc.want, tc.says)
			}
		})
	}
	// Same origin, JSON: accepted (and the only run).
	code, resp := rawPost(t, url+"/trigger", body, map[string]string{"Origin": url, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json; charset=utf-8"}, "")
	if code != http.StatusAccepted {
		t.Fatalf("same-origin trigger: %d %s", code, resp)
	}
	if runs := d.store.list(); len(runs) != 1 {
		t.Fatalf("%d runs, want only the same-origin one", len(runs))
	}
	for _, e := range embedded(d).Timeline() {
		if e.Kind == "kill" && e.At.Before(d.store.list()[0].StartedAt) {
			t.Fatalf("a refused request killed a node: %+v", e)
		}
	}
}

func TestLongRunIDIsRefusedWithoutEcho(t *testing.T) {
	_, url := startDaemon(t, shortConfig(t))
	id := strings.Repeat("<script>", 17) // 136 bytes
	resp, err := http.Get(url + "/runs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(raw), "script") {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	cfg := shortConfig(t)
	cfg.Server.AuthTokenFile = testutil.SecretFile(t, "token", "s3cret")
	_, url := startDaemon(t, cfg)
	for _, auth := range []string{"Bearer s3cret", "bearer s3cret", "BEARER  s3cret"} {
		if code, _, _ := post(t, url+"/trigger", `{"drill":"nope"}`, map[string]string{"Authorization": auth}); code != http.StatusBadRequest {
			t.Errorf("%q: %d, want past auth", auth, code)
		}
	}
}

// serveOnce runs a daemon until stop is called, and returns its URL.
func serveOnce(t *testing.T, cfg *config.Config, opts Options) (d *Daemon, url string, stop func() error) {
	t.Helper()
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	d, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serving(t, d)
	url = "http://" + addr
	testutil.WaitFor(t, "ready", 10*time.Second, func() bool { return get(t, url+"/readyz", nil) == http.StatusOK })
	return d, url, stop
}

// The run history outlives the daemon: a restarted daemon serves the runs
// and the last-run gauges of the one before, and a run it finds unfinished
// is interrupted, with what it had recorded. While a drill runs, its events
// and steps so far are in /runs/{id}.
func TestRunHistorySurvivesRestartsAndShowsLiveProgress(t *testing.T) {
	cfg := shortConfig(t)
	d, url, stop := serveOnce(t, cfg, Options{})
	code, _, body := post(t, url+"/trigger", `{"drill":"leader-failover"}`, nil)
	if code != http.StatusAccepted {
		t.Fatalf("trigger: %d %v", code, body)
	}
	id := body["id"]
	var r run.Run
	testutil.WaitFor(t, "the kill in the running run", 30*time.Second, func() bool {
		get(t, url+"/runs/"+id, &r)
		for _, e := range r.Events {
			if e.What == "kill" && r.Status == run.StatusRunning && r.Current != nil && len(r.Steps) >= 1 {
				return true
			}
		}
		return r.Status != run.StatusRunning
	})
	if r.Status != run.StatusRunning {
		t.Fatalf("never saw the run's progress while it ran: %+v", r)
	}
	page := getBody(t, url+"/")
	if !strings.Contains(page, "preflight") || !strings.Contains(page, "kill node") {
		t.Errorf("status page does not show the running drill's steps and events")
	}
	testutil.WaitFor(t, "the run to finish", 30*time.Second, func() bool {
		get(t, url+"/runs/"+id, &r)
		return r.Status != run.StatusRunning
	})
	if r.Status != run.StatusPassed {
		t.Fatalf("run: %+v", r)
	}
	// The run store says "passed" a moment before the metrics have the
	// run: wait for its count.
	testutil.WaitFor(t, "the run counted in the metrics", 10*time.Second, func() bool {
		return promtest.ToFloat64(d.metrics.RunsTotal.WithLabelValues("leader-failover", run.StatusPassed)) == 1
	})
	ratio := promtest.ToFloat64(d.metrics.LastSuccessRatio.WithLabelValues("leader-failover"))
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A run left "running" by a process that died.
	st, err := state.Open(cfg.State.Dir, state.Me("test", ""))
	if err != nil {
		t.Fatal(err)
	}
	dead := run.New("failure-recovery", run.TriggerSchedule, time.Now().Add(-time.Minute))
	dead.Events = []run.Event{run.NewEvent(time.Now().Add(-50*time.Second), "kill", 2, "killed a follower")}
	if err := st.Runs().Put(dead); err != nil {
		t.Fatal(err)
	}
	st.Close()

	d, url, _ = serveOnce(t, cfg, Options{})
	var runs []run.Run
	get(t, url+"/runs", &runs)
	// Newest first by start: the run that died started before the other.
	if len(runs) != 2 || runs[1].ID != dead.ID || runs[1].Status != run.StatusInterrupted || runs[0].ID != id || runs[0].Status != run.StatusPassed {
		t.Fatalf("runs after the restart: %+v", runs)
	}
	get(t, url+"/runs/"+dead.ID, &r)
	if len(r.Events) != 1 || !strings.Contains(r.Error, "interrupted") {
		t.Fatalf("interrupted run: %+v", r)
	}
	if got := promtest.ToFloat64(d.metrics.LastSuccessRatio.WithLabelValues("leader-failover")); got != ratio || ratio == 0 {
		t.Fatalf("last_success_ratio after the restart %v, was %v", got, ratio)
	}
	if got := promtest.ToFloat64(d.metrics.RunsTotal.WithLabelValues("failure-recovery", run.StatusInterrupted)); got != 1 {
		t.Fatalf("interrupted runs counted: %v", got)
	}
	if page := getBody(t, url+"/"); !strings.Contains(page, id) || !strings.Contains(page, "interrupted") {
		t.Fatal("status page after the restart lacks the runs")
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// failingRestarts fails every restart for a while after the first one, as
// a restart command broken until someone fixes it.
type failingRestarts struct {
	control.Controller
	window time.Duration
	mu     sync.Mutex
	until  time.Time
}

func (f *failingRestarts) Restart(ctx context.Context, id int32) error {
	f.mu.Lock()
	if f.until.IsZero() {
		f.until = time.Now().Add(f.window)
	}
	failing := time.Now().Before(f.until)
	f.mu.Unlock()
	if failing {
		return fmt.Errorf(`restart node %d: exec "systemctl start chronik@%d": exit status 1: Job for chronik@%d.service failed`, id, id, id)
	}
	return f.Controller.Restart(ctx, id)
}

// envDuration is a test duration that a make bench-* target lengthens to
// the real one.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

// A restart that fails for a while (2 minutes in `make bench-restore`, a
// few seconds here) and then works: the drill ends as an error naming the
// node and the restart error, the restore loop brings the node back without
// a human, and node-not-restored goes to Slack once and resolves once.
func TestNodeComesBackAfterARestartFailingForAWhile(t *testing.T) {
	window := envDuration(t, "TEST_RESTART_FAILS_FOR", 4*time.Second)
	ctl := &failingRestarts{window: window}
	d, sink := wiredDaemon(t, func(c *config.Config) {
		c.Cluster.Controller.RestoreBackoff = 200 * time.Millisecond
		c.Cluster.Controller.RestoreBackoffMax = envDuration(t, "TEST_RESTORE_BACKOFF_MAX", time.Second)
		c.Cluster.Controller.ServeTimeout = 20 * time.Second
	}, func(o *Options) {
		o.WrapControl = func(c control.Controller) control.Controller { ctl.Controller = c; return ctl }
	})
	waitUntilTrue(t, "scheduler", func() bool { return d.ready.Load() })
	r, err := d.Trigger("leader-failover", run.TriggerAPI)
	if err != nil {
		t.Fatal(err)
	}
	var done run.Run
	waitUntilTrue(t, "the run to end", func() bool {
		done, _ = d.store.get(r.ID)
		return done.Status != run.StatusRunning
	})
	killed := int32(done.Measurements.Value(run.KilledNode))
	if done.Status != run.StatusError || !strings.Contains(done.Error, fmt.Sprintf("node %d left down", killed)) || !strings.Contains(done.Error, "exit status 1: Job for") {
		t.Fatalf("run: status %s, error %q", done.Status, done.Error)
	}
	deadline := 2*window + time.Minute
	testutil.WaitFor(t, "node-not-restored resolved", deadline, func() bool { return sink.count("Resolved: Node") >= 1 })
	if opens, resolves := sink.count(":rotating_light: Node"), sink.count("Resolved: Node"); opens != 1 || resolves != 1 {
		t.Fatalf("node-not-restored: %d messages, %d resolutions; want 1 and 1: %q", opens, resolves, sink.messages())
	}
	if up, _ := ctl.Controller.(*sandboxctl.Sandbox).Embedded().Up(context.Background(), killed); !up {
		t.Fatal("node still down")
	}
	if left, _ := d.st.Journal().List(); len(left) != 0 {
		t.Fatalf("journal: %+v", left)
	}
	waitUntilTrue(t, "gauge at 0", func() bool { return promtest.ToFloat64(d.metrics.NodesAwaitingRestore) == 0 })
	if promtest.ToFloat64(d.metrics.RestoreAttempts.WithLabelValues("restored")) != 1 {
		t.Fatal("restore attempts not counted")
	}
}

// An invalid file on POST /-/reload changes nothing: every problem named
// with its key, the metric at 0; a valid one applies.
func TestReloadKeepsTheOldConfigWhenTheNewOneIsInvalid(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "raftdrill.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := fmt.Sprintf("server: {listen: \"127.0.0.1:0\"}\nstate: {dir: %q}\ncluster: {request_timeout: 3s}\nsandbox: {election_timeout_min: 200ms, election_timeout_max: 400ms}\n", dir)
	write(base + "drills: {leader-failover: {schedule: \"off\"}}\n")
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	d, url, _ := serveOnce(t, cfg, Options{ConfigPath: file})
	write(base + "drills: {leader-failover: {schedule: \"every now and then\", rate: -1}}\n")
	code, resp := rawPost(t, url+"/-/reload", "", nil, "")
	if code != http.StatusInternalServerError || !strings.Contains(resp, "drills.leader-failover.schedule") || !strings.Contains(resp, "drills.leader-failover.rate") {
		t.Fatalf("invalid reload: %d %s", code, resp)
	}
	if promtest.ToFloat64(d.metrics.ReloadSuccessful) != 0 || d.config().Server.Listen != "127.0.0.1:0" || d.setup().drills["leader-failover"].Schedule() != "off" {
		t.Fatal("invalid config applied, or the metric does not say so")
	}
	write(base + "drills: {leader-failover: {schedule: \"@every 1h\"}}\nalerts: {quorum_lost_after: 5}\n")
	if code, resp := rawPost(t, url+"/-/reload", "", nil, ""); code != http.StatusOK || !strings.Contains(resp, "reloaded") {
		t.Fatalf("valid reload: %d %s", code, resp)
	}
	if promtest.ToFloat64(d.metrics.ReloadSuccessful) != 1 || d.setup().drills["leader-failover"].Schedule() != "@every 1h" || d.config().Alerts.QuorumLostAfter != 5 {
		t.Fatal("valid config not applied")
	}
	write(base + "server: {listen: \"127.0.0.1:1\"}\n")
	if code, resp := rawPost(t, url+"/-/reload", "", nil, ""); code != http.StatusInternalServerError {
		t.Fatalf("reload of a key that needs a restart: %d %s", code, resp)
	}
	for _, p := range []string{"/-/healthy", "/-/ready"} {
		if code := get(t, url+p, nil); code != http.StatusOK {
			t.Errorf("%s: %d", p, code)
		}
	}
}

// An operator tells raftdrill that a node is gone for good: POST
// /-/state/clear (what `raftdrill state clear` sends to a running daemon)
// removes it from the journal, the restore loop lets it be, and the
// node-not-restored alert resolves saying so.
func TestStateClearThroughTheAPI(t *testing.T) {
	ctl := &failingRestarts{window: time.Hour}
	d, sink := wiredDaemon(t, func(c *config.Config) {
		c.Cluster.Controller.RestoreBackoff = 200 * time.Millisecond
		c.Cluster.Controller.RestoreBackoffMax = time.Second
	}, func(o *Options) {
		o.WrapControl = func(c control.Controller) control.Controller { ctl.Controller = c; return ctl }
	})
	url := "http://" + d.listener.Addr().String()
	waitUntilTrue(t, "scheduler", func() bool { return d.ready.Load() })
	r, err := d.Trigger("leader-failover", run.TriggerAPI)
	if err != nil {
		t.Fatal(err)
	}
	waitUntilTrue(t, "node-not-restored", func() bool { return sink.count(":rotating_light: Node") == 1 })
	done, _ := d.store.get(r.ID)
	killed := int32(done.Measurements.Value(run.KilledNode))
	if code, resp := rawPost(t, url+"/-/state/clear", `{}`, map[string]string{"Content-Type": "application/json"}, ""); code != http.StatusBadRequest {
		t.Fatalf("clear without a target: %d %s", code, resp)
	}
	code, resp := rawPost(t, url+"/-/state/clear", fmt.Sprintf(`{"node":%d}`, killed), map[string]string{"Content-Type": "application/json"}, "")
	if code != http.StatusOK || !strings.Contains(resp, r.ID) {
		t.Fatalf("clear: %d %s", code, resp)
	}
	if left, _ := d.st.Journal().List(); len(left) != 0 {
		t.Fatalf("journal: %+v", left)
	}
	waitUntilTrue(t, "the resolution", func() bool { return sink.count("cleared from the restore journal") == 1 })
	waitUntilTrue(t, "gauge at 0", func() bool { return promtest.ToFloat64(d.metrics.NodesAwaitingRestore) == 0 })
	// Back by hand, as the operator would (or not: raftdrill no longer cares).
	if err := ctl.Controller.(*sandboxctl.Sandbox).Embedded().Restart(context.Background(), killed); err != nil {
		t.Fatal(err)
	}
}
