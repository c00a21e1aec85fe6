package dashboards

// The end-to-end proof that the dashboards work: a real `raftdrill serve`
// on the embedded sandbox runs every drill, a real Prometheus (Debian's)
// scrapes it every second, and every panel, annotation and variable query of
// every committed dashboard is sent to that Prometheus as Grafana would send
// it. A query that errs, answers nothing, answers only NaN, lacks a label its
// legend names, or reads a metric the daemon does not export fails the test.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
)

// scrapeInterval is how often the test's Prometheus scrapes raftdrill, and
// so the datasource's timeInterval as Grafana would be told it.
const scrapeInterval = time.Second

// drillSettings shorten each drill so all of them run within the test's
// budget; a drill not listed here (a new one) runs with its defaults. Only
// keys that exist in config/ belong here: config.Load rejects any other.
var drillSettings = map[string]map[string]any{
	"leader-failover":  {"schedule": "@every 10s", "produce_duration": "3s", "kill_after": "1s"},
	"failure-recovery": {"schedule": "@every 13s", "messages": 300, "batch": 50},
	// The benchmark compares two targets in this one busy process: its
	// ratio criteria are loosened so that a noisy moment cannot fail the
	// run and leave the "passed" annotation with nothing to show.
	"benchmark": {"schedule": "@every 17s", "messages": 2000, "warmup_messages": 50,
		"thresholds": map[string]any{"min_throughput_ratio": 0.01, "max_latency_p99_ratio": 1000}},
}

func TestDashboardQueriesAgainstPrometheus(t *testing.T) {
	if testing.Short() && os.Getenv("REQUIRE_TEST_TOOLS") != "1" {
		t.Skip("end-to-end: builds raftdrill and starts Prometheus")
	}
	promBin := testutil.RequireTool(t, "prometheus")
	promtool := testutil.RequireTool(t, "promtool")
	boards := loadDashboards(t)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	bin := buildRaftdrill(t)
	daemon := startDaemon(t, bin)
	prom := startPrometheus(t, promBin, daemon.addr)
	promStart := time.Now()

	names := drills.Names()
	statuses := runEveryDrill(ctx, t, daemon, names)
	t.Logf("drills run: %v", statuses)
	waitScraped(ctx, t, prom, names)
	// A query with "offset $__interval" has a point only where both ends
	// have data: the range Grafana would ask for must hold two of the
	// longest step after Prometheus's first sample, or a correct query
	// answers nothing (as it did when the drills were quick).
	waitStored(ctx, t, prom, 2*annotationStep+scrapeInterval)
	// Drills ran, so some run annotation must mark one; on a busy machine
	// the runs that Prometheus saw the counter rise for may come late.
	waitAnnotated(ctx, t, prom, boards, promStart)

	exposition := fetch(t, "http://"+daemon.addr+"/metrics")
	t.Run("promtool check metrics", func(t *testing.T) {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(exposition)
		out, err := cmd.CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("promtool check metrics on /metrics: %v\n%s", err, out)
		}
	})
	exported := namesInExposition(t, exposition)
	stored := prom.labelValues(t, "__name__", `{job="raftdrill"}`, promStart, time.Now())

	var panels, annotations, variables, events int
	for _, d := range boards {
		env, n := boardEnv(t, prom, d, promStart)
		variables += n
		for _, q := range d.queries() {
			names, err := metricNames(q.Expr)
			if err != nil {
				t.Errorf("%s: %v", q.Where, err)
				continue
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("%s: reads %s, which raftdrill's /metrics does not export", q.Where, n)
				}
				if !slices.Contains(stored, n) {
					t.Errorf("%s: reads %s, which Prometheus has not stored from raftdrill", q.Where, n)
				}
			}
			resp, err := prom.answer(ctx, env, q)
			switch q.Kind {
			case "panel":
				panels++
			case "annotation":
				annotations++
				if err == nil && resp.positive() {
					events++
				}
			}
			if err != nil {
				t.Errorf("%s: %v\n  query: %s", q.Where, err, q.Expr)
			}
		}
	}
	// Drills ran, so some run annotation must mark one: a query that is
	// well-formed but never fires would pass every check above.
	if annotations > 0 && events == 0 {
		t.Errorf("no annotation query marked any of the drill runs")
	}
	total := panels + annotations + variables
	t.Run(fmt.Sprintf("executed %d queries", total), func(t *testing.T) {
		t.Logf("executed %d queries through Prometheus: %d panel, %d annotation, %d variable, over %d dashboards",
			total, panels, annotations, variables, len(boards))
	})
	if total == 0 {
		t.Fatal("no query executed")
	}
}

// buildRaftdrill builds the binary from the module root, as users run it.
func buildRaftdrill(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "raftdrill")
	cmd := exec.Command(goBin, "build", "-o", out, ".")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

type daemonProc struct {
	addr string
	log  *lockedBuffer
}

// lockedBuffer collects a child's output for a failure message.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.Split(strings.TrimRight(b.buf.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var servingRE = regexp.MustCompile(`msg="raftdrill serving".* listen=(\S+)`)

// startDaemon runs `raftdrill serve` on the embedded sandbox with short
// drills and fast elections. It listens on port 0 and the test learns the
// port from the start-up log line, so no port can be taken in between.
func startDaemon(t *testing.T, bin string) daemonProc {
	t.Helper()
	var cfg strings.Builder
	cfg.WriteString("server:\n  listen: 127.0.0.1:0\n")
	fmt.Fprintf(&cfg, "state:\n  dir: %q\n", t.TempDir())
	cfg.WriteString("log:\n  level: info\n")
	cfg.WriteString("sandbox:\n  election_timeout_min: 200ms\n  election_timeout_max: 400ms\n")
	cfg.WriteString("probes:\n  quorum:\n    interval: 1s\n    timeout: 500ms\n")
	cfg.WriteString("drills:\n")
	for _, name := range drills.Names() {
		settings := drillSettings[name]
		if settings == nil {
			settings = map[string]any{"schedule": "@every 20s"}
		}
		fmt.Fprintf(&cfg, "  %s:\n", name)
		writeYAML(&cfg, settings, "    ")
	}
	path := filepath.Join(t.TempDir(), "raftdrill.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// An invalid config makes serve exit at once with every problem named;
	// the failure below shows its output.
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Env = childEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	cmd.Stdout = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(log, line)
			if m := servingRE.FindStringSubmatch(line); m != nil {
				select {
				case addrCh <- m[1]:
				default:
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { stop(t, cmd, exited, "raftdrill", log) })

	select {
	case addr := <-addrCh:
		return daemonProc{addr: addr, log: log}
	case err := <-exited:
		t.Fatalf("raftdrill serve exited before serving: %v\n%s", err, log.tail(40))
	case <-time.After(60 * time.Second):
		t.Fatalf("raftdrill serve did not log that it serves within 60s\n%s", log.tail(40))
	}
	return daemonProc{}
}

// childEnv is the test's environment without RAFTDRILL_* variables: those
// are config overrides to raftdrill, and a developer's own must not change
// what the test runs.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix+"_") {
			env = append(env, kv)
		}
	}
	return env
}

// stop ends a child with SIGTERM, as an init system would, and kills it if
// it has not exited in time. A daemon that dies on its own before the end of
// the test is a failure worth seeing, so its output is logged then.
func stop(t *testing.T, cmd *exec.Cmd, exited chan error, name string, log *lockedBuffer) {
	select {
	case err := <-exited:
		t.Errorf("%s exited during the test: %v\n%s", name, err, log.tail(40))
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("%s did not stop within 30s of SIGTERM", name)
	}
	if t.Failed() {
		t.Logf("%s output (tail):\n%s", name, log.tail(60))
	}
}

type promProc struct {
	base string
}

// startPrometheus runs Debian's prometheus scraping the daemon every
// second, with its storage in the test's temporary directory.
func startPrometheus(t *testing.T, bin, target string) promProc {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
scrape_configs:
  - job_name: raftdrill
    static_configs:
      - targets: [%[2]q]
`, scrapeInterval, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// Prometheus cannot be told to pick its own port and report it, so
	// take a free one and try again should another process grab it first.
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		log := &lockedBuffer{}
		cmd := exec.Command(bin,
			"--config.file="+cfgPath,
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data%d", attempt)),
			"--web.listen-address=127.0.0.1:"+port,
			"--log.level=warn",
		)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatalf("start prometheus: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		base := "http://127.0.0.1:" + port
		if err := waitReady(base+"/-/ready", exited, 30*time.Second); err != nil {
			_ = cmd.Process.Kill()
			if attempt < 3 {
				continue
			}
			t.Fatalf("prometheus not ready: %v\n%s", err, log.tail(40))
		}
		t.Cleanup(func() { stop(t, cmd, exited, "prometheus", log) })
		return promProc{base: base}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func waitReady(u string, exited chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("timed out")
}

type runSummary struct {
	ID     string `json:"id"`
	Drill  string `json:"drill"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// runEveryDrill waits until each drill has finished a run. The schedules
// start them; when the daemon is idle and a drill has still not run (its
// schedule keeps losing to the others'), the test triggers it, as an
// operator would. It returns each drill's first result.
func runEveryDrill(ctx context.Context, t *testing.T, d daemonProc, drills []string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(150 * time.Second)
	done := map[string]string{}
	for {
		var runs []runSummary
		if err := json.Unmarshal(fetch(t, "http://"+d.addr+"/runs"), &runs); err != nil {
			t.Fatalf("GET /runs: %v", err)
		}
		busy := false
		for _, r := range runs {
			if r.Status == run.StatusRunning {
				busy = true
			} else if _, ok := done[r.Drill]; !ok {
				done[r.Drill] = r.Status
				if r.Error != "" {
					t.Logf("%s run %s: %s: %s", r.Drill, r.ID, r.Status, r.Error)
				}
			}
		}
		var missing []string
		for _, name := range drills {
			if _, ok := done[name]; !ok {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			return done
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("drills %v did not finish a run in time; runs: %+v\n%s", missing, runs, d.log.tail(40))
		}
		if !busy {
			body := strings.NewReader(fmt.Sprintf(`{"drill":%q}`, missing[0]))
			resp, err := http.Post("http://"+d.addr+"/trigger", "application/json", body)
			if err != nil {
				t.Fatalf("POST /trigger: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusConflict {
				t.Fatalf("POST /trigger %s: %s", missing[0], resp.Status)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// annotationStep is the step of the run annotations (dashboards/common.go).
const annotationStep = 15 * time.Second

// waitStored waits until Prometheus has held raftdrill's samples for span,
// counted from the first sample it stored.
func waitStored(ctx context.Context, t *testing.T, p promProc, span time.Duration) {
	t.Helper()
	now := time.Now()
	q := url.Values{"query": {`up{job="raftdrill"}`}, "start": {formatTime(now.Add(-10 * time.Minute))},
		"end": {formatTime(now)}, "step": {"1"}}
	var r promResponse
	if err := json.Unmarshal(fetch(t, p.base+"/api/v1/query_range?"+q.Encode()), &r); err != nil ||
		len(r.Data.Result) == 0 || len(r.Data.Result[0].Values) == 0 {
		t.Fatalf("first sample of raftdrill: %v %+v", err, r)
	}
	secs, ok := r.Data.Result[0].Values[0][0].(float64)
	if !ok {
		t.Fatalf("first sample time %v", r.Data.Result[0].Values[0])
	}
	until := time.UnixMilli(int64(secs * 1000)).Add(span)
	select {
	case <-time.After(time.Until(until)):
	case <-ctx.Done():
		t.Fatalf("waiting for %s of stored samples: %v", span, ctx.Err())
	}
}

// boardEnv is what Grafana would query a dashboard with over [start,
// now]: its query variables filled from Prometheus, every one of which
// must have values. n is the number of variables.
func boardEnv(t *testing.T, p promProc, d grafanaDashboard, start time.Time) (env grafanaEnv, n int) {
	t.Helper()
	env = grafanaEnv{From: start, To: time.Now(), Scrape: scrapeInterval, MaxDataPoints: 1000, Vars: map[string]variableValue{}}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue // the datasource variable is Grafana's own list
		}
		q, _ := v.Query.(string)
		series, label, err := parseLabelValues(q)
		if err != nil {
			t.Fatalf("%s: variable %s: %v", d.UID, v.Name, err)
		}
		series, err = env.interpolate(series, scrapeInterval)
		if err != nil {
			t.Fatalf("%s: variable %s: %v", d.UID, v.Name, err)
		}
		values := p.labelValues(t, label, series, start, time.Now())
		if len(values) == 0 {
			t.Errorf("%s: variable %s (%s) has no values", d.UID, v.Name, q)
		}
		env.Vars[v.Name] = variableValue{Values: values, Multi: v.Multi || v.IncludeAll}
		n++
	}
	return env, n
}

// waitAnnotated waits until some run annotation of some dashboard marks a
// drill run over [start, now], as Grafana would ask for it; the test then
// checks every query with the answer settled.
func waitAnnotated(ctx context.Context, t *testing.T, p promProc, boards []grafanaDashboard, start time.Time) {
	t.Helper()
	for {
		for _, d := range boards {
			env, _ := boardEnv(t, p, d, start)
			for _, q := range d.queries() {
				if q.Kind != "annotation" {
					continue
				}
				if resp, err := p.answer(ctx, env, q); err == nil && resp.positive() {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no run annotation marked a drill run before the deadline: %v", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// waitScraped waits until Prometheus has stored a finished run of every
// drill.
func waitScraped(ctx context.Context, t *testing.T, p promProc, drills []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r promResponse
		q := url.Values{"query": {`sum by (drill) (raftdrill_drill_runs_total{job="raftdrill"}) > 0`}}
		if err := json.Unmarshal(fetch(t, p.base+"/api/v1/query?"+q.Encode()), &r); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, s := range r.Data.Result {
			seen[s.Metric["drill"]] = true
		}
		if !slices.ContainsFunc(drills, func(d string) bool { return !seen[d] }) {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("Prometheus has not scraped a run of every drill (saw %v)", seen)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// answer sends q to Prometheus as Grafana would and checks the answer. A
// query is retried for a while when the answer falls short, because the
// data it needs (two samples after a run, for rate) may be a scrape away;
// a query that is wrong stays wrong and fails at the deadline.
func (p promProc) answer(ctx context.Context, env grafanaEnv, q promQuery) (promResponse, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		env.To = time.Now()
		interval, err := env.interval(q.MinInterval)
		if err != nil {
			return promResponse{}, err
		}
		expr, err := env.interpolate(q.Expr, interval)
		if err != nil {
			return promResponse{}, err
		}
		v := url.Values{"query": {expr}}
		path := "/api/v1/query"
		if q.Instant {
			v.Set("time", formatTime(env.To))
		} else {
			path = "/api/v1/query_range"
			// Grafana aligns the range to the step.
			v.Set("start", formatTime(env.From.Truncate(interval)))
			v.Set("end", formatTime(env.To.Truncate(interval)))
			v.Set("step", strconv.FormatFloat(interval.Seconds(), 'f', -1, 64))
		}
		var r promResponse
		body, err := get(ctx, p.base+path+"?"+v.Encode())
		if err == nil {
			err = json.Unmarshal(body, &r)
		}
		if err == nil {
			if err = r.check(q); err == nil {
				return r, nil
			}
			if r.Status != "success" {
				return r, fmt.Errorf("%w\n  sent: %s", err, expr)
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return r, fmt.Errorf("%w\n  sent: %s", err, expr)
		}
		time.Sleep(time.Second)
	}
}

// labelValues asks Prometheus for the values of label on the series
// matching match, as Grafana's label_values() does.
func (p promProc) labelValues(t *testing.T, label, match string, from, to time.Time) []string {
	t.Helper()
	v := url.Values{"match[]": {match}, "start": {formatTime(from)}, "end": {formatTime(to)}}
	var r struct {
		Status string   `json:"status"`
		Error  string   `json:"error"`
		Data   []string `json:"data"`
	}
	if err := json.Unmarshal(fetch(t, p.base+"/api/v1/label/"+label+"/values?"+v.Encode()), &r); err != nil || r.Status != "success" {
		t.Fatalf("label values of %s for %s: %v %s", label, match, err, r.Error)
	}
	return r.Data
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

func get(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func fetch(t *testing.T, u string) []byte {
	t.Helper()
	b, err := get(context.Background(), u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return b
}

// namesInExposition lists the metric names in a /metrics answer, with the
// series suffixes of histograms and summaries.
func namesInExposition(t *testing.T, body []byte) map[string]bool {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		addFamily(names, mf)
	}
	return names
}

// writeYAML writes a settings map as YAML at the given indent.
func writeYAML(w io.Writer, m map[string]any, indent string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch v := m[k].(type) {
		case string:
			fmt.Fprintf(w, "%s%s: %q\n", indent, k, v)
		case map[string]any:
			fmt.Fprintf(w, "%s%s:\n", indent, k)
			writeYAML(w, v, indent+"  ")
		default:
			fmt.Fprintf(w, "%s%s: %v\n", indent, k, v)
		}
	}
}
