package daemon

// The status page in a real browser: Debian's Chromium, headless, driven
// over the DevTools protocol. A page that renders in Go's tests can still
// break in a browser (a CSP violation, malformed inline SVG, a request for
// /favicon.ico that 404s); this test is where that shows, and it leaves
// screenshots under artifacts/ for people to look at.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
)

// artifactsDir is artifacts/ at the repository root (gitignored).
const artifactsDir = "../artifacts"

func TestStatusPageInChromium(t *testing.T) {
	if testing.Short() && os.Getenv("REQUIRE_TEST_TOOLS") != "1" {
		t.Skip("browser test: builds raftdrill and starts Chromium")
	}
	chromium := statusRequireBrowser(t)
	browser := newStatusBrowser(t, chromium)

	t.Run("daemon after drills", func(t *testing.T) {
		addr := statusStartServe(t, statusBuild(t))
		// A few short drills of every kind, the failover drill more than
		// once so its charts have a line to draw.
		plan := []string{"leader-failover", "leader-failover"}
		for _, name := range drills.Names() {
			if name != "leader-failover" {
				plan = append(plan, name)
			}
		}
		plan = append(plan, "leader-failover")
		for _, name := range plan {
			r := statusRunDrill(t, addr, name)
			t.Logf("%s run %s: %s %s", name, r.ID, r.Status, r.Error)
		}
		// The last drill restarted the node it killed; give the quorum
		// probe a moment to see it back, so the screenshot shows the
		// cluster at rest rather than the probe's last look mid-drill.
		statusWaitSettled(t, addr, 20*time.Second)
		page := browser.load(t, "http://"+addr+"/", "status-page.png")
		if !strings.HasPrefix(page.title, "raftdrill · sandbox") {
			t.Errorf("title %q", page.title)
		}
		if page.rows != len(plan) {
			t.Errorf("runs table has %d rows, want %d", page.rows, len(plan))
		}
		if page.points < 2*3 { // write recovery and election of three failover runs
			t.Errorf("charts have %d points, want at least 6", page.points)
		}
	})

	t.Run("incident", func(t *testing.T) {
		f := newStatusFixture(t)
		f.incident()
		srv := httptest.NewServer(f.d.Handler())
		defer srv.Close()
		page := browser.load(t, srv.URL+"/", "status-page-incident.png")
		if !strings.Contains(page.title, "QUORUM LOST") {
			t.Errorf("title %q does not say quorum is lost", page.title)
		}
		if page.badPoints < 2 {
			t.Errorf("%d failed-run points drawn red, want the two failed runs'", page.badPoints)
		}
	})
}

func statusRequireBrowser(t *testing.T) string {
	t.Helper()
	return testutil.RequireTool(t, "chromium", "chromium-browser", "google-chrome")
}

type statusBrowser struct {
	ctx context.Context
}

// newStatusBrowser starts one headless Chromium for the whole test, with
// the flags this machine needs: no sandbox (root), no GPU, and no
// background connections (the network is closed; Chromium would log each
// refused one).
func newStatusBrowser(t *testing.T, path string) *statusBrowser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return &statusBrowser{ctx: ctx}
}

type statusPageFacts struct {
	title                   string
	rows, points, badPoints int
}

// load opens url in a new tab, waits for it to load, fails the test on any
// console error or warning, exception, or request that leaves the page's
// origin, and saves a full-page screenshot under artifacts/.
func (b *statusBrowser) load(t *testing.T, url, shot string) statusPageFacts {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx) // a tab of the running browser
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	var mu sync.Mutex
	var problems, requests []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, fmt.Sprintf("console.%s: %v", e.Type, e.Args))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("%s %s: %s (%s)", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		}
	}); err != nil {
		t.Fatalf("listen: %v", err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady("footer")); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	var facts statusPageFacts
	var err error
	if facts.title, err = chromedp.Run(ctx, chromedp.Title()); err != nil {
		t.Fatal(err)
	}
	count := func(sel string) int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}
	facts.rows = count("main > table:last-of-type tr") - 1 // less the header
	facts.points = count("svg circle")
	facts.badPoints = count("svg circle.bad")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(artifactsDir, shot)
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(out)
	t.Logf("screenshot of %s: %s (%d bytes)", url, abs, len(png))

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
	origin := strings.TrimSuffix(url, "/")
	for _, r := range requests {
		if !strings.HasPrefix(r, origin+"/") && r != origin && !strings.HasPrefix(r, "data:") {
			t.Errorf("page requested %s, outside %s", r, origin)
		}
	}
	if len(requests) != 1 {
		t.Errorf("page made %d requests %v, want only itself", len(requests), requests)
	}
	return facts
}

// statusBuild builds raftdrill as users run it.
func statusBuild(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	out := filepath.Join(t.TempDir(), "raftdrill")
	cmd := exec.Command(goBin, "build", "-o", out, ".")
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

var statusServingRE = regexp.MustCompile(`msg="raftdrill serving".* listen=(\S+)`)

// statusStartServe starts `raftdrill serve` on the embedded sandbox with
// fast elections and short drills that run only when triggered, and
// returns its address, read from its start-up log line (it listens on
// port 0, so no other process can take the port in between).
func statusStartServe(t *testing.T, bin string) string {
	t.Helper()
	cfgText := `server:
  listen: 127.0.0.1:0
state:
  dir: ` + strconv.Quote(t.TempDir()) + `
sandbox:
  election_timeout_min: 200ms
  election_timeout_max: 400ms
probes:
  quorum:
    interval: 1s
    timeout: 500ms
drills:
  leader-failover:
    schedule: "off"
    produce_duration: 3s
    kill_after: 1s
  failure-recovery:
    schedule: "off"
    messages: 300
    batch: 50
  benchmark:
    schedule: "off"
    messages: 2000
    warmup_messages: 50
`
	path := filepath.Join(t.TempDir(), "raftdrill.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	// An invalid config makes serve exit at once with every problem named;
	// the failure below shows its output. RAFTDRILL_* variables are config
	// overrides to raftdrill: a developer's must not change the run.
	cmd := exec.Command(bin, "serve", "--config", path)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix+"_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var logLines []string
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logLines = append(logLines, sc.Text())
			logMu.Unlock()
			if m := statusServingRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addrCh <- m[1]:
				default:
				}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tail := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.Join(logLines[max(0, len(logLines)-30):], "\n")
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("raftdrill did not stop within 30s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("raftdrill log (tail):\n%s", tail())
		}
	})
	select {
	case addr := <-addrCh:
		return addr
	case err := <-exited:
		t.Fatalf("raftdrill serve exited: %v\n%s", err, tail())
	case <-time.After(60 * time.Second):
		t.Fatalf("raftdrill serve did not start serving within 60s\n%s", tail())
	}
	return ""
}

// statusRunDrill triggers a drill and waits for its run to finish.
func statusRunDrill(t *testing.T, addr, drill string) run.Run {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/trigger", "application/json", strings.NewReader(fmt.Sprintf(`{"drill":%q}`, drill)))
	if err != nil {
		t.Fatal(err)
	}
	var started struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger %s: %s %v", drill, resp.Status, err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/runs/" + started.ID)
		if err != nil {
			t.Fatal(err)
		}
		var r run.Run
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET /runs/%s: %v", started.ID, err)
		}
		if r.Status != run.StatusRunning {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s run %s still running after 90s", drill, started.ID)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// statusWaitSettled waits until the daemon's quorum gauges say every node is
// up and quorum is available. It does not fail the test when they never
// do: that is the quorum probe's business, and the page must render either
// way.
func statusWaitSettled(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		text := string(body)
		if strings.Contains(text, "\nraftdrill_quorum_available 1\n") && !regexp.MustCompile(`(?m)^raftdrill_node_up\{[^}]*\} 0$`).MatchString(text) {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("quorum gauges did not show every node up within %s; the screenshot shows them as they are", timeout)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}
