package process

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control/internal/nodecmd"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testutil"
)

// processCluster is three nodes run by the process controller from dir;
// node 2 overrides ROLE, which the shared env sets for everyone.
func processCluster(dir string, command ...string) testCluster {
	cl := testCluster{Nodes: []config.Node{
		{ID: 1, Address: "127.0.0.1:19092"},
		{ID: 2, Address: "127.0.0.1:19093", Env: map[string]string{"ROLE": "special"}},
		{ID: 3, Address: "127.0.0.1:19094"},
	}}
	cl.Controller.Process = Config{
		Command:      command,
		Dir:          dir,
		Env:          map[string]string{"ROLE": "plain", "SHARED": "cluster-{{.ID}}"},
		LogFile:      "logs/node{{.ID}}.log",
		StartTimeout: time.Second,
	}
	return cl
}

// testCluster is the part of the configuration the process controller reads.
type testCluster struct {
	Nodes      []config.Node
	Controller struct{ Process Config }
}

func newTestProcessController(t *testing.T, cl testCluster) *Controller {
	t.Helper()
	c, err := New(&cl.Controller.Process, cl.Nodes, "", slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// processTestCtx bounds a test's calls, so that a Kill that fails to kill
// fails the test instead of hanging it.
func processTestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, 5*time.Second, cond)
}

func mustUp(t *testing.T, c *Controller, id int32, want bool) {
	t.Helper()
	up, err := c.Up(context.Background(), id)
	if err != nil {
		t.Fatalf("Up(%d): %v", id, err)
	}
	if up != want {
		t.Fatalf("Up(%d) = %v, want %v", id, up, want)
	}
}

func TestProcessControllerLifecycle(t *testing.T) {
	ctx := processTestCtx(t)
	dir := t.TempDir()
	// $0 and $* show the rendered arguments; exec makes sleep the very
	// process raftdrill started, as a real server would be.
	script := `echo "start $0 $* role=$ROLE shared=$SHARED host={{.Host}} port={{.Port}}"; exec sleep 1000`
	c := newTestProcessController(t, processCluster(dir, "sh", "-c", script, "node{{.ID}}", "--config", "node{{.ID}}.toml"))

	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	logLine := map[int32]string{
		1: "start node1 --config node1.toml role=plain shared=cluster-1 host=127.0.0.1 port=19092\n",
		2: "start node2 --config node2.toml role=special shared=cluster-2 host=127.0.0.1 port=19093\n",
		3: "start node3 --config node3.toml role=plain shared=cluster-3 host=127.0.0.1 port=19094\n",
	}
	readLog := func(id int32) string {
		b, _ := os.ReadFile(filepath.Join(dir, "logs", fmt.Sprintf("node%d.log", id)))
		return string(b)
	}
	pids := map[int32]int{}
	for id, line := range logLine {
		mustUp(t, c, id, true)
		waitFor(t, fmt.Sprintf("node %d's log", id), func() bool { return readLog(id) == line })
		pid, ok := c.PID(id)
		if !ok || pid <= 0 {
			t.Fatalf("PID(%d) = %d, %v while running", id, pid, ok)
		}
		waitFor(t, fmt.Sprintf("node %d's pid to be the server", id), func() bool {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			return string(cmdline) == "sleep\x001000\x00"
		})
		pids[id] = pid
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if pid, _ := c.PID(1); pid != pids[1] {
		t.Fatalf("second Start replaced the running node 1 (pid %d, was %d)", pid, pids[1])
	}

	if err := c.Kill(ctx, 2); err != nil {
		t.Fatalf("Kill(2): %v", err)
	}
	mustUp(t, c, 2, false)
	mustUp(t, c, 1, true)
	if pid, ok := c.PID(2); ok {
		t.Fatalf("PID(2) = %d after Kill", pid)
	}
	if testutil.PIDAlive(pids[2]) {
		t.Fatalf("node 2 (pid %d) still alive after Kill returned", pids[2])
	}
	if err := c.Kill(ctx, 2); err != nil {
		t.Fatalf("Kill of a node that is down: %v", err)
	}

	if err := c.Restart(ctx, 2); err != nil {
		t.Fatalf("Restart(2): %v", err)
	}
	mustUp(t, c, 2, true)
	waitFor(t, "node 2's second start in its log", func() bool { return readLog(2) == logLine[2]+logLine[2] })
	if err := c.Restart(ctx, 2); err == nil || !strings.Contains(err.Error(), "restart node 2: already running (pid ") {
		t.Fatalf("Restart of a running node: err = %v", err)
	}
	pids[2], _ = c.PID(2)

	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for id, pid := range pids {
		mustUp(t, c, id, false)
		if testutil.PIDAlive(pid) {
			t.Errorf("node %d (pid %d) still alive after Close", id, pid)
		}
	}
	if err := c.Restart(ctx, 1); err == nil || err.Error() != "restart node 1: controller closed" {
		t.Fatalf("Restart after Close: err = %v", err)
	}
}

func TestProcessControllerKillsProcessGroup(t *testing.T) {
	ctx := processTestCtx(t)
	dir := t.TempDir()
	c := newTestProcessController(t, processCluster(dir, "sh", "-c", "sleep 1000 & echo $! > grandchild{{.ID}}.pid; wait"))
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatalf("Restart(1): %v", err)
	}
	var grandchild int
	waitFor(t, "the grandchild's pid file", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "grandchild1.pid"))
		grandchild, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return grandchild > 0
	})
	server, _ := c.PID(1)
	if !testutil.PIDAlive(grandchild) || !testutil.PIDAlive(server) {
		t.Fatalf("before Kill: server %d alive %v, grandchild %d alive %v", server, testutil.PIDAlive(server), grandchild, testutil.PIDAlive(grandchild))
	}

	if err := c.Kill(ctx, 1); err != nil {
		t.Fatalf("Kill(1): %v", err)
	}
	if testutil.PIDAlive(server) {
		t.Fatalf("server %d alive after Kill", server)
	}
	// SIGKILL is delivered to the group at once, but the orphan's exit is
	// asynchronous to our reaping of the server.
	waitFor(t, fmt.Sprintf("grandchild %d to die", grandchild), func() bool { return !testutil.PIDAlive(grandchild) })
}

func TestProcessControllerStartErrors(t *testing.T) {
	noise := `i=0; while [ $i -lt 100 ]; do echo "line $i of noise"; i=$((i+1)); done; `
	tests := []struct {
		name     string
		command  []string
		want     []string // substrings of the error
		wantNot  []string
		maxBytes int
	}{
		{
			name:    "missing program",
			command: []string{"raftdrill-no-such-server", "start"},
			want: []string{
				`start node 1: start "raftdrill-no-such-server": exec: "raftdrill-no-such-server": executable file not found in $PATH`,
				`start node 3: start "raftdrill-no-such-server": exec:`,
			},
		},
		{
			name:    "exits at once",
			command: []string{"sh", "-c", "echo loading config; echo 'bind 127.0.0.1:{{.Port}}: address in use' >&2; exit 3"},
			want: []string{
				"start node 2: \"sh\" exited at start: exit status 3: loading config\nbind 127.0.0.1:19093: address in use",
			},
		},
		{
			name:     "only the log's tail",
			command:  []string{"sh", "-c", noise + "echo 'fatal: disk full' >&2; exit 1"},
			want:     []string{"start node 1: \"sh\" exited at start: exit status 1: …", "line 99 of noise\nfatal: disk full"},
			wantNot:  []string{"line 0 of noise"},
			maxBytes: 3 * (nodecmd.TailBytes + 100),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestProcessController(t, processCluster(t.TempDir(), tt.command...))
			err := c.Start(processTestCtx(t))
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error has %q:\n%v", w, err)
				}
			}
			if tt.maxBytes > 0 && len(err.Error()) > tt.maxBytes {
				t.Errorf("error is %d bytes, want at most %d", len(err.Error()), tt.maxBytes)
			}
			mustUp(t, c, 1, false)
		})
	}
}

func TestNewProcessControllerErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*testCluster)
		want   []string
	}{
		{
			name:   "unparsable argument",
			modify: func(cl *testCluster) { cl.Controller.Process.Command = []string{"server", "--id", "{{.ID"} },
			want:   []string{"cluster.controller.process.command[2]: template: command[2]:1: unclosed action"},
		},
		{
			name:   "unknown field in env",
			modify: func(cl *testCluster) { cl.Controller.Process.Env["SHARED"] = "{{.Name}}" },
			want:   []string{`cluster.controller.process.env.SHARED: node 1: template: SHARED:1:2: executing "SHARED" at <.Name>: can't evaluate field Name`},
		},
		{
			name:   "bad log file",
			modify: func(cl *testCluster) { cl.Controller.Process.LogFile = "{{end}}" },
			want:   []string{"cluster.controller.process.log_file: template:"},
		},
		{
			name:   "no command",
			modify: func(cl *testCluster) { cl.Controller.Process.Command = nil },
			want:   []string{"cluster.controller.process.command: required"},
		},
		{
			name:   "empty program",
			modify: func(cl *testCluster) { cl.Controller.Process.Command = []string{"{{if false}}x{{end}}"} },
			want:   []string{"cluster.controller.process.command[0]: node 1: renders to an empty program name"},
		},
		{
			name:   "no nodes",
			modify: func(cl *testCluster) { cl.Nodes = nil },
			want:   []string{"cluster.nodes: required with the process controller"},
		},
		{
			name: "every problem at once",
			modify: func(cl *testCluster) {
				cl.Nodes[1].ID = 1
				cl.Controller.Process.LogFile = "{{"
			},
			want: []string{"cluster.nodes[1].id: duplicate node id 1", "cluster.controller.process.log_file: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := processCluster(t.TempDir(), "server", "--id", "{{.ID}}")
			tt.modify(&cl)
			_, err := New(&cl.Controller.Process, cl.Nodes, "", nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestProcessControllerUnknownNode(t *testing.T) {
	ctx := processTestCtx(t)
	c := newTestProcessController(t, processCluster(t.TempDir(), "sleep", "1000"))
	if err := c.Kill(ctx, 7); err == nil || err.Error() != "kill node 7: not in cluster.nodes" {
		t.Errorf("Kill(7): %v", err)
	}
	if err := c.Restart(ctx, 7); err == nil || err.Error() != "restart node 7: not in cluster.nodes" {
		t.Errorf("Restart(7): %v", err)
	}
	if _, err := c.Up(ctx, 7); err == nil || err.Error() != "up node 7: not in cluster.nodes" {
		t.Errorf("Up(7): %v", err)
	}
	if _, ok := c.PID(7); ok {
		t.Error("PID(7) ok")
	}
}

// TestProcessControllerConcurrent is mostly for the race detector; it also
// checks that racing calls leave one consistent state behind.
func TestProcessControllerConcurrent(t *testing.T) {
	ctx := processTestCtx(t)
	c := newTestProcessController(t, processCluster(t.TempDir(), "sleep", "1000"))
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 2 {
				if err := c.Restart(ctx, 1); err != nil && !strings.Contains(err.Error(), "already running") {
					t.Errorf("Restart: %v", err)
				}
				c.Up(ctx, 1)
				c.PID(1)
				if err := c.Kill(ctx, 1); err != nil {
					t.Errorf("Kill: %v", err)
				}
			}
		})
	}
	wg.Wait()
	mustUp(t, c, 1, false)
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatalf("Restart after the race: %v", err)
	}
	mustUp(t, c, 1, true)
}

// A raftdrill that died without stopping its nodes leaves them running; the
// next one finds them by their pidfiles, recognised by pid and start time
// (never by name), and adopts them instead of starting second copies that
// would fail on busy ports. A pidfile whose pid now belongs to another
// process is stale: that process is left alone.
func TestProcessControllerAdoptsNodesLeftByAnEarlierDaemon(t *testing.T) {
	ctx := processTestCtx(t)
	dir, pidDir := t.TempDir(), t.TempDir()
	cl := processCluster(dir, "sh", "-c", "exec sleep 1000", "node{{.ID}}")
	newController := func(cl testCluster, out io.Writer) *Controller {
		c, err := New(&cl.Controller.Process, cl.Nodes, pidDir, slog.New(slog.NewTextHandler(out, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The first one's goroutines outlive the test (it "dies", never
	// closed, and logs its nodes' exits when the cleanup kills them), so
	// it must not log to the test's output.
	first := newController(cl, io.Discard)
	if err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pids := map[int32]int{}
	for _, id := range []int32{1, 2, 3} {
		pids[id], _ = first.PID(id)
	}
	// first "dies" here: it never closes, its nodes run on.

	// Node 3's pidfile now names a live process that is not the node: this
	// test itself, with another start time.
	stale := fmt.Sprintf(`{"pid":%d,"start":1,"args":["sh","-c","exec sleep 1000","node3"]}`, os.Getpid())
	if err := os.WriteFile(filepath.Join(pidDir, "node3.pid"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	second := newController(cl, io.Discard) // it "dies" below too
	t.Cleanup(func() {
		second.Close(context.Background())
		for _, pid := range pids {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	})
	if err := second.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int32{1, 2} {
		if pid, ok := second.PID(id); !ok || pid != pids[id] {
			t.Fatalf("node %d: pid %d after the restart, want the adopted %d", id, pid, pids[id])
		}
		mustUp(t, second, id, true)
	}
	if pid, _ := second.PID(3); pid == os.Getpid() || pid == pids[3] || !testutil.PIDAlive(pid) {
		t.Fatalf("node 3: pid %d; a stale pidfile must give a fresh node", pid)
	}

	// The adopted node is killed and restarted like any other.
	if err := second.Kill(ctx, 2); err != nil {
		t.Fatal(err)
	}
	mustUp(t, second, 2, false)
	waitFor(t, "the adopted node 2 to die", func() bool { return !testutil.PIDAlive(pids[2]) })
	if _, err := os.Stat(filepath.Join(pidDir, "node2.pid")); !os.IsNotExist(err) {
		t.Fatalf("node 2's pidfile after Kill: %v", err)
	}
	if err := second.Restart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	mustUp(t, second, 2, true)

	// A node left running with another command line than the config's now
	// is killed and started afresh.
	changed := processCluster(dir, "sh", "-c", "exec sleep 999", "node{{.ID}}")
	second.closed.Store(true) // let go of the nodes without killing them, as a crash would
	third := newController(changed, t.Output())
	t.Cleanup(func() { third.Close(context.Background()) })
	if err := third.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if pid, _ := third.PID(1); pid == pids[1] {
		t.Fatal("node 1 with an old command line was adopted")
	}
	waitFor(t, "the old node 1 to die", func() bool { return !testutil.PIDAlive(pids[1]) })
}
