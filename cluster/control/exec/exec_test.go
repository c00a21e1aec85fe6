package exec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testutil"
)

// testCluster is the part of the configuration the exec controller reads.
type testCluster struct {
	Nodes      []config.Node
	Controller struct{ Exec Config }
}

func execCluster(e Config) testCluster {
	if e.Timeout == 0 {
		e.Timeout = 5 * time.Second
	}
	cl := testCluster{Nodes: []config.Node{
		{ID: 1, Address: "10.0.0.1:9092"},
		{ID: 2, Address: "10.0.0.2:9093"},
	}}
	cl.Controller.Exec = e
	return cl
}

func newTestExecController(t *testing.T, e Config) *Controller {
	t.Helper()
	cl := execCluster(e)
	c, err := New(&cl.Controller.Exec, cl.Nodes, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestExecControllerCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	c := newTestExecController(t, Config{
		Kill:    fmt.Sprintf("echo kill {{.ID}} {{.Address}} >> '%s' && rm -f '%s/up{{.ID}}'", events, dir),
		Restart: fmt.Sprintf("echo restart {{.ID}} {{.Host}} {{.Port}} >> '%s' && touch '%s/up{{.ID}}'", events, dir),
		Up:      fmt.Sprintf("test -f '%s/up{{.ID}}'", dir),
	})

	mustUp(t, c, 2, false)
	if err := c.Restart(ctx, 2); err != nil {
		t.Fatalf("Restart(2): %v", err)
	}
	mustUp(t, c, 2, true)
	mustUp(t, c, 1, false)
	if err := c.Kill(ctx, 2); err != nil {
		t.Fatalf("Kill(2): %v", err)
	}
	mustUp(t, c, 2, false)

	got, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	if want := "restart 2 10.0.0.2 9093\nkill 2 10.0.0.2:9093\n"; string(got) != want {
		t.Errorf("commands run:\n%s\nwant:\n%s", got, want)
	}
}

func TestExecControllerUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		up      string
		timeout time.Duration
		want    bool
		wantErr string
	}{
		{name: "exit 0 is up", up: "exit 0", want: true},
		{name: "exit 1 is down", up: "exit 1", want: false},
		{name: "exit 3 is down", up: "echo inactive; exit 3", want: false},
		{name: "missing command is an error", up: "raftdrill-no-such-command {{.ID}}",
			wantErr: `up node 1: exec "raftdrill-no-such-command 1": exit status 127: `},
		{name: "timeout is an error", up: "sleep 10", timeout: 100 * time.Millisecond,
			wantErr: `up node 1: exec "sleep 10": timed out after 100ms`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestExecController(t, Config{Kill: "true", Restart: "true", Up: tt.up, Timeout: tt.timeout})
			start := time.Now()
			up, err := c.Up(context.Background(), 1)
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("Up took %s", elapsed)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("Up error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || up != tt.want {
				t.Fatalf("Up = %v, %v; want %v, nil", up, err, tt.want)
			}
		})
	}
}

func TestExecControllerErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kill := `echo "Failed to kill unit chronik@{{.ID}}.service: Unit not loaded." >&2; exit 1`
	noise := `i=0; while [ $i -lt 100 ]; do echo "line $i of noise" >&2; i=$((i+1)); done; `
	c := newTestExecController(t, Config{
		Kill:    kill,
		Restart: noise + "echo 'real cause' >&2; exit 2",
		Up:      "true",
	})

	err := c.Kill(ctx, 2)
	want := fmt.Sprintf("kill node 2: exec %q: exit status 1: Failed to kill unit chronik@2.service: Unit not loaded.",
		strings.ReplaceAll(kill, "{{.ID}}", "2"))
	if err == nil || err.Error() != want {
		t.Errorf("Kill error:\n%v\nwant:\n%s", err, want)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Errorf("Kill error does not wrap *exec.ExitError: %#v", err)
	}

	err = c.Restart(ctx, 1)
	if err == nil || !strings.Contains(err.Error(), ": exit status 2: …") || !strings.HasSuffix(err.Error(), "line 99 of noise\nreal cause") {
		t.Errorf("Restart error does not end in the stderr tail: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "line 0 of noise") {
		t.Errorf("Restart error has all of stderr, not its tail: %v", err)
	}

	for _, err := range []error{c.Kill(ctx, 7), c.Restart(ctx, 7), func() error { _, err := c.Up(ctx, 7); return err }()} {
		if err == nil || !strings.HasSuffix(err.Error(), "node 7: not in cluster.nodes") {
			t.Errorf("unknown node: %v", err)
		}
	}
}

func TestExecControllerTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := newTestExecController(t, Config{
		Kill:    "true",
		Restart: fmt.Sprintf("sleep 1000 & echo $! > '%s/bg'; wait", dir),
		Up:      "true",
		Timeout: 300 * time.Millisecond,
	})
	start := time.Now()
	err := c.Restart(context.Background(), 1)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Fatalf("Restart error = %v, want a timeout", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Restart took %s after a 300ms timeout", elapsed)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "bg"))
	bg, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if bg <= 0 {
		t.Fatalf("no background pid written: %q", b)
	}
	testutil.WaitFor(t, fmt.Sprintf("background sleep %d to die", bg), 5*time.Second, func() bool { return !testutil.PIDAlive(bg) })
}

func TestExecControllerCanceled(t *testing.T) {
	t.Parallel()
	c := newTestExecController(t, Config{Kill: "sleep 10", Restart: "true", Up: "true"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Kill(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Kill with an expiring ctx: %v", err)
	}
}

// A command may leave a server running in the background; it must not make
// the controller wait for that server's stderr to close.
func TestExecControllerBackgroundProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := newTestExecController(t, Config{
		Kill:    "true",
		Restart: fmt.Sprintf("sleep 1000 & echo $! > '%s/bg'", dir),
		Up:      "true",
		Timeout: 2 * time.Second,
	})
	t.Cleanup(func() {
		b, _ := os.ReadFile(filepath.Join(dir, "bg"))
		if bg, _ := strconv.Atoi(strings.TrimSpace(string(b))); bg > 0 {
			syscall.Kill(bg, syscall.SIGKILL)
		}
	})
	done := make(chan error, 1)
	go func() { done <- c.Restart(context.Background(), 1) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Restart leaving a background process: %v", err)
		}
	case <-time.After(10 * time.Second): // the background process sleeps 1000 s
		t.Fatal("Restart waits for the background process")
	}
}

func TestNewExecControllerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*testCluster)
		want   []string
	}{
		{
			name:   "missing command",
			modify: func(cl *testCluster) { cl.Controller.Exec.Kill = "" },
			want:   []string{"cluster.controller.exec.kill: required"},
		},
		{
			name:   "unparsable",
			modify: func(cl *testCluster) { cl.Controller.Exec.Restart = "systemctl start chronik@{{.ID" },
			want:   []string{"cluster.controller.exec.restart: template: restart:1: unclosed action"},
		},
		{
			name:   "unknown field",
			modify: func(cl *testCluster) { cl.Controller.Exec.Up = "systemctl is-active {{.Name}}" },
			want:   []string{"cluster.controller.exec.up: node 1: template:", "can't evaluate field Name"},
		},
		{
			name:   "no nodes",
			modify: func(cl *testCluster) { cl.Nodes = nil },
			want:   []string{"cluster.nodes: required with the exec controller"},
		},
		{
			name: "every problem at once",
			modify: func(cl *testCluster) {
				cl.Controller.Exec.Kill = ""
				cl.Controller.Exec.Up = "{{"
			},
			want: []string{"cluster.controller.exec.kill: required", "cluster.controller.exec.up: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := execCluster(Config{Kill: "k {{.ID}}", Restart: "r {{.ID}}", Up: "u {{.ID}}"})
			tt.modify(&cl)
			_, err := New(&cl.Controller.Exec, cl.Nodes, nil)
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

// What the last command of each kind did is quotable: a kill that "worked"
// while the node runs on, or an up check that says down, is explained with
// the command, its exit status and its output.
func TestExecControllerLastRun(t *testing.T) {
	t.Parallel()
	c := newTestExecController(t, Config{
		Kill:    "echo 'sent SIGKILL to chronik@{{.ID}}'",
		Restart: "true",
		Up:      "echo 'unit chronik@{{.ID}} inactive' >&2; exit 3",
	})
	ctx := context.Background()
	if err := c.Kill(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if up, err := c.Up(ctx, 2); err != nil || up {
		t.Fatalf("Up = %v, %v", up, err)
	}
	if got, want := c.LastRun("kill", 2), `exec "echo 'sent SIGKILL to chronik@2'": exit status 0: sent SIGKILL to chronik@2`; got != want {
		t.Errorf("LastRun(kill):\n%s\nwant:\n%s", got, want)
	}
	if got, want := c.LastRun("up", 2), `exec "echo 'unit chronik@2 inactive' >&2; exit 3": exit status 3: unit chronik@2 inactive`; got != want {
		t.Errorf("LastRun(up):\n%s\nwant:\n%s", got, want)
	}
	if got := c.LastRun("up", 1); got != "" {
		t.Errorf("LastRun of a node never asked: %q", got)
	}
}
