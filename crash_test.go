package main

// The daemon's own safety, tried as an operator would on a separate
// `raftdrill sandbox` process: SIGKILL at random moments, SIGTERM with a
// restart that fails, SIGHUP mid-drill, a lying `up` command, a closed log
// pipe. The tests use the sandbox's control API only (GET /nodes, POST
// /nodes/{id}/kill|restart, GET /timeline), which the real-Raft sandbox
// keeps.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/alerts/slack"
	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/fakeslack"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

var crashCases = flag.Int("crash.cases", 4, "SIGKILLs of serve in TestCrashChaos (make bench-crash: 50)")

// lockedBuffer collects a process's output for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(l.b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveProc is one `raftdrill serve` process.
type serveProc struct {
	cmd     *exec.Cmd
	url     string
	logs    *lockedBuffer
	started time.Time
	done    chan struct{}
	code    int
}

// startServe starts `raftdrill serve --config cfg` listening on listen and
// waits until it is ready.
func startServe(t *testing.T, cfg, listen string) *serveProc {
	t.Helper()
	p := &serveProc{url: "http://" + listen, logs: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, "serve", "--config", cfg)
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("serve exited (%d) before it was ready:\n%s", p.code, p.logs.tail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 60s:\n%s", p.logs.tail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childEnv is the test's environment without RAFTDRILL_* overrides, which
// would change the run.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix+"_") {
			env = append(env, kv)
		}
	}
	return env
}

// kill SIGKILLs the process and waits until it is gone.
func (p *serveProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and returns the exit code.
func (p *serveProc) stop(t *testing.T, timeout time.Duration) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("serve still running %s after SIGTERM:\n%s", timeout, p.logs.tail(40))
	}
	return p.code
}

func (p *serveProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *serveProc) trigger(t *testing.T, drill string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.url+"/trigger", strings.NewReader(fmt.Sprintf(`{"drill":%q}`, drill)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger: %s %v\n%s", resp.Status, out, p.logs.tail(30))
	}
	return out["id"]
}

func (p *serveProc) run(t *testing.T, id string) (run.Run, bool) {
	t.Helper()
	resp, err := http.Get(p.url + "/runs/" + id)
	if err != nil {
		return run.Run{}, false
	}
	defer resp.Body.Close()
	var r run.Run
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&r) != nil {
		return run.Run{}, false
	}
	return r, true
}

func (p *serveProc) runs(t *testing.T) []run.Run {
	t.Helper()
	var rs []run.Run
	getJSON(t, p.url+"/runs", &rs)
	return rs
}

// metric reads one sample of the exposition ("" labels: the bare name).
func (p *serveProc) metric(t *testing.T, series string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

// nodes is GET /nodes of the sandbox.
func (sp sandboxProc) nodesUp(t *testing.T) map[int32]bool {
	t.Helper()
	var nodes []struct {
		ID int32 `json:"id"`
		Up bool  `json:"up"`
	}
	getJSON(t, sp.control+"/nodes", &nodes)
	out := map[int32]bool{}
	for _, n := range nodes {
		out[n.ID] = n.Up
	}
	return out
}

// client is a Kafka client of the sandbox's nodes.
func (sp sandboxProc) client(t *testing.T) *kafka.Client {
	t.Helper()
	v, err := config.ParseKafkaVersion("3.6.0")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []kafka.Node
	for i, a := range sp.nodes {
		nodes = append(nodes, kafka.Node{ID: int32(i + 1), Address: a})
	}
	return kafka.NewClient(nodes, kafka.Options{Version: v, Timeout: 2 * time.Second}, testutil.Log())
}

// allServing reports whether every node serves Kafka (ApiVersions).
func allServing(c *kafka.Client) bool {
	for _, n := range c.Nodes() {
		if c.Serving(n.ID) != nil {
			return false
		}
	}
	return true
}

func (sp sandboxProc) lastKill(t *testing.T) (int32, time.Time) {
	t.Helper()
	var node int32
	var at time.Time
	for _, e := range sp.timeline(t) {
		if e.Kind == "kill" {
			node, at = e.Node, e.At
		}
	}
	return node, at
}

// chaosConfig is a config drilling sp with short drills, Slack through
// hook, fast restore retries and a state directory of its own.
func chaosConfig(t *testing.T, sp sandboxProc, listen, stateDir, hookFile string) string {
	t.Helper()
	return sp.configIn(t, stateDir, fmt.Sprintf(`server:
  listen: %q
  shutdown_timeout: 20s
alerts:
  retry_backoff: 100ms
  retry_backoff_max: 500ms
  slack:
    webhook_url_file: %q
probes:
  quorum:
    interval: 1s
    timeout: 500ms
`, listen, hookFile))
}

// edit replaces old with new in the file at path, once; old must be there.
func edit(t *testing.T, path string, pairs ...string) {
	t.Helper()
	text := readFile(t, path)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("%s lacks %q:\n%s", path, pairs[i], text)
		}
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// configIn is sp.config with the state directory given.
func (sp sandboxProc) configIn(t *testing.T, stateDir, extra string) string {
	t.Helper()
	path := sp.config(t, extra)
	text := readFile(t, path)
	i := strings.Index(text, "cluster:")
	text = fmt.Sprintf("state:\n  dir: %q\n", stateDir) + text[i:]
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sentAlert identifies a message as the webhook receives it: its text and
// the run it is about (two interrupted runs found in the same second have
// the same text).
type sentAlert struct{ text, run string }

// outboxTexts reads the outbox of a state directory nobody holds and
// renders each message as the webhook receives it.
func outboxTexts(t *testing.T, dir string, r slack.Renderer) []sentAlert {
	t.Helper()
	st, err := state.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	items, err := st.Outbox().List()
	if err != nil {
		t.Fatal(err)
	}
	var out []sentAlert
	for _, it := range items {
		var m alerts.Message
		if err := json.Unmarshal(it.Data, &m); err != nil {
			t.Fatalf("outbox item %d: %v", it.Seq, err)
		}
		text, _ := r.Render(&m)
		out = append(out, sentAlert{text, m.Alert.RunID})
	}
	return out
}

func journal(t *testing.T, dir string) []state.Outage {
	t.Helper()
	st, err := state.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	j, err := st.Journal().List()
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// count counts the deliveries of a.
func (a sentAlert) count(msgs []fakeslack.Msg) int {
	n := 0
	for _, m := range msgs {
		if m.Text == a.text && strings.Contains(m.Blocks, "Run "+a.run+" ") {
			n++
		}
	}
	return n
}

// The daemon's chaos test: `raftdrill serve` drilling a separate sandbox is
// SIGKILLed at random moments of a drill (during the load, right after the
// kill, during the restart, during the read-back) and started again. Every
// time every node serves again within 30 s of the new start with no human
// action, the interrupted run is in /runs as interrupted, no run id is
// lost, and alerts queued before the kill reach Slack after the restart,
// each once. `make bench-crash` runs 50 cases and prints the figures.
func TestCrashChaos(t *testing.T) {
	sp := startSandbox(t)
	fs := fakeslack.New(t)
	hook := testutil.SecretFile(t, "webhook", fs.HookURL())
	stateDir := t.TempDir()
	listen := freeAddr(t)
	cfg := chaosConfig(t, sp, listen, stateDir, hook)
	// Restore retries fast; the failover drill takes about four seconds.
	edit(t, cfg, "    sandbox_url:", "    restore_backoff: 100ms\n    restore_backoff_max: 1s\n    sandbox_url:",
		"produce_duration: 3s", "produce_duration: 4s", "kill_after: 1s", "kill_after: 1500ms", "rate: 150", "rate: 400")
	renderer := slack.Renderer{Cluster: "separate-sandbox", RunbookURL: config.DefaultRunbookURL}
	client := sp.client(t)
	moments := []string{"load", "after-kill", "restart", "read-back"}

	var ids []string
	queued := map[sentAlert]bool{}              // alerts queued at some kill
	var restoreTimes, downTimes []time.Duration // the latter: a node was down at the restart
	finishedFirst, leftDown := 0, 0
	slackDown := true
	fs.SetDown(slackDown)
	proc := startServe(t, cfg, listen)
	for i := 0; i < *crashCases; i++ {
		moment := moments[i%len(moments)]
		if i >= len(moments) {
			moment = moments[rand.N(len(moments))]
		}
		// Slack up: the life must deliver what it started with before it
		// is killed, so that no delivery is in flight at the kill.
		if !slackDown {
			testutil.WaitFor(t, "the outbox to drain", 60*time.Second, func() bool {
				v, ok := proc.metric(t, "raftdrill_alerts_queue_length")
				return ok && v == 0
			})
		}
		id := proc.trigger(t, "leader-failover")
		ids = append(ids, id)
		killAt := chaosMoment(t, sp, proc, id, moment)
		proc.kill()
		t.Logf("case %d: SIGKILL %s (run %s)", i+1, moment, id)

		// Before the kill, the journal held every node down.
		entries := journal(t, stateDir)
		anyDown := false
		for node, up := range sp.nodesUp(t) {
			anyDown = anyDown || !up
			if !up && !slices.ContainsFunc(entries, func(o state.Outage) bool { return o.Node == node }) {
				t.Fatalf("case %d: node %d is down and not in the restore journal %+v", i+1, node, entries)
			}
		}
		for _, a := range outboxTexts(t, stateDir, renderer) {
			queued[a] = true
		}

		// Start again, Slack alternately down and up.
		slackDown = !slackDown
		fs.SetDown(slackDown)
		proc = startServe(t, cfg, listen)
		if ok := testutil.Eventually(30*time.Second-time.Since(proc.started), func() bool { return allServing(client) }); !ok {
			leftDown++
			t.Errorf("case %d: nodes not serving 30 s after the restart: %v\n%s", i+1, sp.nodesUp(t), proc.logs.tail(30))
		} else {
			restoreTimes = append(restoreTimes, time.Since(proc.started))
			if anyDown {
				downTimes = append(downTimes, restoreTimes[len(restoreTimes)-1])
			}
		}
		testutil.WaitFor(t, "an empty restore journal", 30*time.Second, func() bool {
			v, ok := proc.metric(t, "raftdrill_nodes_awaiting_restore")
			return ok && v == 0
		})
		runs := proc.runs(t)
		for _, want := range ids {
			if !slices.ContainsFunc(runs, func(r run.Run) bool { return r.ID == want }) {
				t.Fatalf("case %d: run %s lost after the restart; /runs: %d runs", i+1, want, len(runs))
			}
		}
		r, _ := proc.run(t, id)
		switch {
		case r.Status == run.StatusInterrupted:
		case r.FinishedAt != nil && r.FinishedAt.Before(killAt):
			finishedFirst++ // the drill ended before the SIGKILL landed
		default:
			t.Fatalf("case %d: run %s is %s after the restart, want interrupted (%s)", i+1, id, r.Status, r.Error)
		}
		if !slackDown {
			testutil.WaitFor(t, "the alerts queued before the kill", 60*time.Second, func() bool {
				msgs := fs.Messages()
				for a := range queued {
					if a.count(msgs) == 0 {
						return false
					}
				}
				return true
			})
		}
	}
	// A last life with Slack up delivers whatever is still queued.
	proc.kill()
	for _, a := range outboxTexts(t, stateDir, renderer) {
		queued[a] = true
	}
	fs.SetDown(false)
	proc = startServe(t, cfg, listen)
	testutil.WaitFor(t, "every alert queued before a kill", 60*time.Second, func() bool {
		msgs := fs.Messages()
		for a := range queued {
			if a.count(msgs) == 0 {
				return false
			}
		}
		return true
	})
	testutil.WaitFor(t, "the outbox to drain", 60*time.Second, func() bool {
		v, ok := proc.metric(t, "raftdrill_alerts_queue_length")
		return ok && v == 0
	})
	msgs := fs.Messages()
	dup := 0
	for a := range queued {
		if n := a.count(msgs); n != 1 {
			dup++
			t.Errorf("alert about run %s delivered %d times: %.120q", a.run, n, a.text)
		}
	}
	if code := proc.stop(t, 30*time.Second); code != 0 {
		t.Errorf("last serve exited %d:\n%s", code, proc.logs.tail(20))
	}

	stats := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "none"
		}
		slices.Sort(ds)
		return fmt.Sprintf("median %s, max %s", ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	}
	summary := fmt.Sprintf("crash chaos: %d SIGKILLs of serve; restart (process start) → all nodes serving: %s; "+
		"in the %d cases with a node down at the restart: %s; nodes left down: %d; run ids lost: 0 of %d; "+
		"alerts queued at a kill: %d, each delivered once: %v; runs that finished before the SIGKILL landed: %d",
		*crashCases, stats(restoreTimes), len(downTimes), stats(downTimes), leftDown, len(ids), len(queued), dup == 0, finishedFirst)
	t.Log(summary)
	if testing.Verbose() {
		fmt.Println(summary)
	}
}

// chaosMoment waits for the moment of the drill run id to SIGKILL serve
// and returns when it is.
func chaosMoment(t *testing.T, sp sandboxProc, proc *serveProc, id, moment string) time.Time {
	t.Helper()
	_, before := sp.lastKill(t)
	switch moment {
	case "load":
		// Somewhere in the load before the kill (kill_after 1.5 s).
		time.Sleep(time.Duration(rand.N(1400)) * time.Millisecond)
	case "after-kill":
		testutil.WaitFor(t, "the drill's kill", 30*time.Second, func() bool {
			_, at := sp.lastKill(t)
			return at.After(before)
		})
	case "restart", "read-back":
		// Polled without a pause: the step may last a few tens of
		// milliseconds.
		step := map[string]string{"restart": "restore", "read-back": "read-back"}[moment]
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, ok := proc.run(t, id)
			if ok && (r.Status != run.StatusRunning || (r.Current != nil && r.Current.Name == step)) {
				break // at the step, or too late: it finished
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s never reached step %s", id, step)
			}
		}
	}
	return time.Now()
}

// A restart that fails while raftdrill is told to stop: it exits non-zero,
// Slack has heard which node is down and why, the journal keeps the node,
// and the next start brings it back without a human.
func TestSIGTERMWithAFailingRestart(t *testing.T) {
	testutil.RequireTool(t, "curl")
	sp := startSandbox(t)
	fs := fakeslack.New(t)
	hook := testutil.SecretFile(t, "webhook", fs.HookURL())
	stateDir, listen, dir := t.TempDir(), freeAddr(t), t.TempDir()
	broken := filepath.Join(dir, "restart-broken")
	if err := os.WriteFile(broken, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := chaosConfig(t, sp, listen, stateDir, hook)
	edit(t, cfg, "produce_duration: 3s", "produce_duration: 60s",
		"    type: sandbox\n    sandbox_url: "+sp.control+"\n",
		execController(sp, broken, `curl -fsS `+sp.control+`/nodes | tr -d ' \n' | grep -q '"id":{{.ID}},[^}]*"up":true'`))
	proc := startServe(t, cfg, listen)
	id := proc.trigger(t, "leader-failover")
	var killed int32
	testutil.WaitFor(t, "the drill's kill", 30*time.Second, func() bool { killed, _ = sp.lastKill(t); return killed > 0 })
	if code := proc.stop(t, 60*time.Second); code != exitNodesLeftDown {
		t.Fatalf("exit %d after SIGTERM with node %d left down, want %d:\n%s", code, killed, exitNodesLeftDown, proc.logs.tail(30))
	}
	if up := sp.nodesUp(t)[killed]; up {
		t.Fatal("test setup: the node should still be down")
	}
	msgs := fs.Messages()
	named := fmt.Sprintf("Node %d left down by drill leader-failover", killed)
	if !slices.ContainsFunc(msgs, func(m fakeslack.Msg) bool {
		return strings.Contains(m.Text, named) && strings.Contains(m.Text, "restart broken")
	}) {
		t.Fatalf("no Slack message naming node %d and the restart error; got %d messages: %+v", killed, len(msgs), msgs)
	}
	j := journal(t, stateDir)
	if len(j) != 1 || j[0].Node != killed || j[0].Run != id || j[0].Action != state.ActionKill {
		t.Fatalf("journal after the shutdown: %+v", j)
	}

	// The restart command is fixed; the next start restores the node.
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	proc = startServe(t, cfg, listen)
	client := sp.client(t)
	testutil.WaitFor(t, "every node serving", 30*time.Second, func() bool { return allServing(client) })
	testutil.WaitFor(t, "the resolution in Slack", 30*time.Second, func() bool {
		return slices.ContainsFunc(fs.Messages(), func(m fakeslack.Msg) bool { return strings.Contains(m.Text, "Resolved: "+named) })
	})
	r, _ := proc.run(t, id)
	if r.Status != run.StatusError || !strings.Contains(r.Error, fmt.Sprintf("node %d left down", killed)) || !strings.Contains(r.Error, "restart broken") {
		t.Fatalf("run %s: %s %q", id, r.Status, r.Error)
	}
	if code := proc.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d with every node back", code)
	}
	if j := journal(t, stateDir); len(j) != 0 {
		t.Fatalf("journal: %+v", j)
	}
}

// execController is an exec controller section driving sp through curl; the
// restart fails while the file broken exists.
func execController(sp sandboxProc, broken, up string) string {
	return fmt.Sprintf(`    type: exec
    down_timeout: 2s
    restore_backoff: 200ms
    restore_backoff_max: 1s
    exec:
      kill: "curl -fsS -X POST %s/nodes/{{.ID}}/kill"
      restart: "if [ -e '%s' ]; then echo 'restart broken: unit not found' >&2; exit 1; fi; curl -fsS -X POST %s/nodes/{{.ID}}/restart"
      up: %q
      timeout: 10s
`, sp.control, broken, sp.control, up)
}

// An `up` command that always exits 0 cannot hide a kill that "did not
// work": the drill ends as an error naming the kill command, and the node
// is back afterwards (restored because it does not serve, whatever up says).
func TestUpThatAlwaysSaysUp(t *testing.T) {
	testutil.RequireTool(t, "curl")
	sp := startSandbox(t)
	stateDir := t.TempDir()
	cfg := sp.configIn(t, stateDir, "")
	edit(t, cfg, "    type: sandbox\n    sandbox_url: "+sp.control+"\n", execController(sp, filepath.Join(t.TempDir(), "never"), "true"))
	stdout, stderr, code := runCLI("run", "leader-failover", "--config", cfg, "--json")
	var r run.Run
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if code != exitCannotRun || r.Status != run.StatusError || !strings.Contains(r.Error, "the kill command did not stop node") ||
		!strings.Contains(r.Error, "/kill") {
		t.Fatalf("exit %d, run %s: %q", code, r.Status, r.Error)
	}
	for id, up := range sp.nodesUp(t) {
		if !up {
			t.Fatalf("node %d left down", id)
		}
	}
	if !allServing(sp.client(t)) {
		t.Fatal("a node does not serve")
	}
	if j := journal(t, stateDir); len(j) != 0 {
		t.Fatalf("journal: %+v", j)
	}
}

// SIGHUP during a drill reloads without touching it: the drill completes,
// the new schedule applies after it. SIGHUP with an invalid file keeps the
// old configuration and says so in the metric.
func TestSIGHUPReloads(t *testing.T) {
	sp := startSandbox(t)
	stateDir, listen := t.TempDir(), freeAddr(t)
	cfg := sp.configIn(t, stateDir, fmt.Sprintf("server:\n  listen: %q\n", listen))
	original := readFile(t, cfg)
	proc := startServe(t, cfg, listen)
	id := proc.trigger(t, "leader-failover")
	testutil.WaitFor(t, "the drill's kill", 30*time.Second, func() bool { n, _ := sp.lastKill(t); return n > 0 })
	scheduled := strings.Replace(original, `schedule: "off"`, `schedule: "@every 1s"`, 1)
	if err := os.WriteFile(cfg, []byte(scheduled), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var first run.Run
	testutil.WaitFor(t, "the drill to finish", 60*time.Second, func() bool {
		first, _ = proc.run(t, id)
		return first.Status != run.StatusRunning && first.Status != ""
	})
	if !proc.alive() || first.Status != run.StatusPassed {
		t.Fatalf("after SIGHUP mid-drill: alive %v, run %s %q\n%s", proc.alive(), first.Status, first.Error, proc.logs.tail(30))
	}
	scheduledAfter := func(after time.Time) bool {
		for _, r := range proc.runs(t) {
			if r.Trigger == run.TriggerSchedule && r.StartedAt.After(after) {
				return true
			}
		}
		return false
	}
	testutil.WaitFor(t, "a scheduled run after the drill", 30*time.Second, func() bool { return scheduledAfter(*first.FinishedAt) })
	for _, r := range proc.runs(t) {
		if r.Trigger == run.TriggerSchedule && r.StartedAt.Before(*first.FinishedAt) {
			t.Fatalf("the new schedule applied during the drill: %s started %s, the drill ended %s", r.ID, r.StartedAt, first.FinishedAt)
		}
	}

	if err := os.WriteFile(cfg, []byte(strings.Replace(scheduled, "rate: 150", "rate: -5", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	failedAt := time.Now()
	if err := proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the metric to say the reload failed", 30*time.Second, func() bool {
		v, ok := proc.metric(t, "raftdrill_config_last_reload_successful")
		return ok && v == 0
	})
	if !strings.Contains(proc.logs.String(), "drills.leader-failover.rate") {
		t.Errorf("the log does not name the bad key:\n%s", proc.logs.tail(20))
	}
	testutil.WaitFor(t, "the old schedule to go on", 60*time.Second, func() bool { return scheduledAfter(failedAt) })
	if code := proc.stop(t, 60*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, proc.logs.tail(20))
	}
}

// `raftdrill serve 2>&1 | head`: the reader goes away, raftdrill lives on
// and drills. And a second raftdrill on the same state directory is
// refused, naming the one that holds it.
func TestClosedLogPipeAndOneOwner(t *testing.T) {
	sp := startSandbox(t)
	stateDir, listen := t.TempDir(), freeAddr(t)
	cfg := sp.configIn(t, stateDir, fmt.Sprintf("server:\n  listen: %q\n", listen))
	cmd := exec.Command(binary, "serve", "--config", cfg)
	cmd.Env = childEnv()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	// Read the first line, as head -1 would, then go away.
	buf := make([]byte, 1)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	r.Close()
	proc := &serveProc{cmd: cmd, url: "http://" + listen, logs: &lockedBuffer{}}
	testutil.WaitFor(t, "ready", 60*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve died writing its log to a closed pipe: %v", err)
		default:
		}
		resp, err := http.Get(proc.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	id := proc.trigger(t, "leader-failover")
	var rr run.Run
	testutil.WaitFor(t, "the drill to finish", 60*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve died writing to a closed pipe: %v", err)
		default:
		}
		rr, _ = proc.run(t, id)
		return rr.Status != run.StatusRunning && rr.Status != ""
	})
	if rr.Status != run.StatusPassed {
		t.Fatalf("run %s: %q", rr.Status, rr.Error)
	}

	_, stderr, code := runCLI("run", "leader-failover", "--config", cfg)
	if code != exitCannotRun || !strings.Contains(stderr, "in use by raftdrill serve (pid "+fmt.Sprint(cmd.Process.Pid)) {
		t.Fatalf("raftdrill run beside serve: exit %d\n%s", code, stderr)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve exit after SIGTERM: %v", err)
	}
	done <- nil // for the cleanup
}

// `raftdrill state clear` removes what an operator says is gone for good.
func TestStateClear(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(dir, state.Me("test", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int32{2, 3} {
		if err := st.Journal().Record(state.Outage{Run: "r1", Drill: "leader-failover", Node: n, Action: state.ActionKill, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("state:\n  dir: %q\n", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runCLI("state", "clear", "--config", cfg); code != exitCannotRun || !strings.Contains(stderr, "--node") {
		t.Fatalf("clear without a target: %d %s", code, stderr)
	}
	stdout, stderr, code := runCLI("state", "clear", "--config", cfg, "--node", "2")
	if code != 0 || !strings.Contains(stdout, "cleared: node 2") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if j := journal(t, dir); len(j) != 1 || j[0].Node != 3 {
		t.Fatalf("journal: %+v", j)
	}
}
