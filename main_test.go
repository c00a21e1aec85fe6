package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests drive the real binary as a user would: a separate
// `raftdrill sandbox` process, `raftdrill run` and `raftdrill serve` against
// it, signals and exit codes.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "raftdrill-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "raftdrill")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type sandboxProc struct {
	control string
	nodes   []string
}

// startSandbox runs `raftdrill sandbox` on free ports and reads its
// addresses from its output.
func startSandbox(t *testing.T, extra ...string) sandboxProc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"sandbox", "--kafka-base-port", "0", "--control-listen", "127.0.0.1:0",
		"--election-timeout-min", "200ms", "--election-timeout-max", "400ms"}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	var sp sandboxProc
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && f[0] == "node":
			sp.nodes = append(sp.nodes, f[3])
		case len(f) == 2 && f[0] == "control":
			sp.control = f[1]
		}
		if sp.control != "" {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if sp.control == "" || len(sp.nodes) != 3 {
		t.Fatalf("sandbox output: control %q nodes %v", sp.control, sp.nodes)
	}
	return sp
}

func (sp sandboxProc) config(t *testing.T, extra string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "state:\n  dir: %q\n", t.TempDir())
	b.WriteString("cluster:\n  name: separate-sandbox\n  request_timeout: 3s\n  nodes:\n")
	for i, a := range sp.nodes {
		fmt.Fprintf(&b, "    - {id: %d, address: %q}\n", i+1, a)
	}
	fmt.Fprintf(&b, "  controller:\n    type: sandbox\n    sandbox_url: %s\n", sp.control)
	b.WriteString(`drills:
  leader-failover:
    schedule: "off"
    produce_duration: 3s
    kill_after: 1s
    rate: 150
`)
	b.WriteString(extra)
	path := filepath.Join(t.TempDir(), "raftdrill.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (sp sandboxProc) post(t *testing.T, path string) {
	t.Helper()
	resp, err := http.Post(sp.control+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

type event struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Node int32     `json:"node"`
}

func (sp sandboxProc) timeline(t *testing.T) []event {
	t.Helper()
	var tl []event
	getJSON(t, sp.control+"/timeline", &tl)
	return tl
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func runCLI(args ...string) (stdout, stderr string, code int) {
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return o.String(), e.String(), code
}

func TestRunLeaderFailoverAgainstSeparateSandbox(t *testing.T) {
	sp := startSandbox(t)
	cfg := sp.config(t, "")
	stdout, stderr, code := runCLI("run", "leader-failover", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "leader-failover drill PASSED") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Election time", "Failover time", "Success ratio", "CRITERIA", "ANOMALIES"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if !strings.Contains(stderr, "killing node") {
		t.Errorf("no live progress on stderr:\n%s", stderr)
	}
	// The drill killed through the control API and brought the node back.
	tl := sp.timeline(t)
	kills, restarts := 0, 0
	for _, e := range tl {
		switch e.Kind {
		case "kill":
			kills++
		case "restart":
			restarts++
		}
	}
	if kills != 1 || restarts != 1 {
		t.Fatalf("timeline: %d kills, %d restarts: %+v", kills, restarts, tl)
	}

	stdout, _, code = runCLI("run", "leader-failover", "--config", cfg, "--json")
	var runObj struct {
		ID       string             `json:"id"`
		Status   string             `json:"status"`
		Measures map[string]float64 `json:"measurements"`
		Criteria []map[string]any   `json:"criteria"`
	}
	if err := json.Unmarshal([]byte(stdout), &runObj); err != nil || code != 0 {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, stdout)
	}
	if runObj.Status != "passed" || runObj.Measures["failover_seconds"] <= 0 || len(runObj.Criteria) == 0 {
		t.Fatalf("--json run: %+v", runObj)
	}
}

func TestRunRefusesUnhealthyClusterAndKillsNothing(t *testing.T) {
	sp := startSandbox(t)
	sp.post(t, "/nodes/2/kill")
	stdout, stderr, code := runCLI("run", "leader-failover", "--config", sp.config(t, ""))
	if code != 2 || !strings.Contains(stdout, "cluster unhealthy before drill") {
		t.Fatalf("exit %d, want 2 with the reason\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	tl := sp.timeline(t)
	if len(tl) != 1 || tl[0].Kind != "kill" || tl[0].Node != 2 {
		t.Fatalf("the drill touched the cluster: %+v", tl)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestSIGTERMDuringDrillRestoresKilledNode(t *testing.T) {
	sp := startSandbox(t)
	listen := freeAddr(t)
	cfg := sp.config(t, fmt.Sprintf("server:\n  listen: %q\n", listen))
	// A long load, so the signal lands while the leader is down.
	cfg2 := strings.Replace(readFile(t, cfg), "produce_duration: 3s", "produce_duration: 60s", 1)
	if err := os.WriteFile(cfg, []byte(cfg2), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := exec.Command(binary, "serve", "--config", cfg)
	var logs bytes.Buffer
	serve.Stderr = &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	url := "http://" + listen
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Post(url+"/trigger", "application/json", strings.NewReader(`{"drill":"leader-failover"}`))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger: %v %v", resp, err)
	}
	resp.Body.Close()

	var killed int32
	deadline = time.Now().Add(15 * time.Second)
	for killed == 0 {
		for _, e := range sp.timeline(t) {
			if e.Kind == "kill" {
				killed = e.Node
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the drill never killed a node")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := serve.Wait(); err != nil {
		t.Fatalf("serve exit: %v\n%s", err, logs.String())
	}
	var nodes []struct {
		ID int32 `json:"id"`
		Up bool  `json:"up"`
	}
	getJSON(t, sp.control+"/nodes", &nodes)
	for _, n := range nodes {
		if !n.Up {
			t.Fatalf("node %d left down after SIGTERM:\n%s", n.ID, logs.String())
		}
	}
	tl := sp.timeline(t)
	if last := tl[len(tl)-1]; last.Kind != "restart" && last.Kind != "elected" {
		t.Fatalf("timeline does not end with the restore: %+v", tl)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("server:\n  listen: nowhere\ndrills:\n  leader-failover:\n    rate: -1\n    bogus: 1\n"), 0o600)
	_, stderr, code := runCLI("config", "check", "--config", bad)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"server.listen:", "drills.leader-failover.rate: must be > 0", "drills.leader-failover.bogus: unknown key"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("config check output lacks %q:\n%s", want, stderr)
		}
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("drills:\n  leader-failover:\n    rate: 50\n"), 0o600)
	if stdout, stderr, code := runCLI("config", "check", "--config", good); code != 0 {
		t.Fatalf("valid config: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := runCLI("run", "no-such-drill"); code != 2 || !strings.Contains(stderr, "unknown drill") {
		t.Fatalf("unknown drill: exit %d %s", code, stderr)
	}
}
