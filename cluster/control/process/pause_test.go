package process

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// groupStates returns the state letter (/proc/PID/stat's third field) of
// every live process in process group pgid.
func groupStates(t *testing.T, pgid int) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	states := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The command name in parentheses may hold spaces: fields start
		// after the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) || f[0] == "Z" {
			continue
		}
		states[pid] = f[0]
	}
	return states
}

func TestProcessControllerPauseResume(t *testing.T) {
	ctx := processTestCtx(t)
	dir := t.TempDir()
	// A server with a child of its own, which must freeze with it, and a
	// heartbeat in a file that shows it runs.
	script := `sleep 1000 & while :; do echo beat >> beats{{.ID}}; sleep 0.02; done`
	c := newTestProcessController(t, processCluster(dir, "sh", "-c", script))
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	beats := func(id int32) int {
		b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("beats%d", id)))
		return strings.Count(string(b), "beat")
	}
	pid, ok := c.PID(2)
	if !ok {
		t.Fatal("node 2 has no pid after Start")
	}
	waitFor(t, "node 2's child to start", func() bool { return len(groupStates(t, pid)) >= 2 })

	if err := c.Pause(ctx, 2); err != nil {
		t.Fatalf("Pause(2): %v", err)
	}
	waitFor(t, "every process of node 2 stopped", func() bool {
		states := groupStates(t, pid)
		if len(states) < 2 {
			return false
		}
		for _, st := range states {
			if st != "T" {
				return false
			}
		}
		return true
	})
	// A paused node still runs as far as the controller is concerned: it
	// is frozen, not dead, and must not be "restored" by a restart.
	mustUp(t, c, 2, true)
	if err := c.Pause(ctx, 2); err != nil {
		t.Fatalf("second Pause(2): %v", err)
	}
	for pid1, st := range groupStates(t, mustPID(t, c, 1)) {
		if st == "T" {
			t.Fatalf("node 1's process %d stopped by node 2's pause", pid1)
		}
	}

	frozen := beats(2)
	if err := c.Resume(ctx, 2); err != nil {
		t.Fatalf("Resume(2): %v", err)
	}
	waitFor(t, "node 2 beating again after Resume", func() bool { return beats(2) > frozen })
	for p, st := range groupStates(t, pid) {
		if st == "T" {
			t.Fatalf("process %d of node 2 still stopped after Resume", p)
		}
	}
	if err := c.Resume(ctx, 2); err != nil {
		t.Fatalf("Resume of a running node: %v", err)
	}

	// A paused node can still be killed, and a killed one cannot be paused.
	if err := c.Pause(ctx, 3); err != nil {
		t.Fatalf("Pause(3): %v", err)
	}
	if err := c.Kill(ctx, 3); err != nil {
		t.Fatalf("Kill of a paused node: %v", err)
	}
	mustUp(t, c, 3, false)
	if err := c.Pause(ctx, 3); err == nil || err.Error() != "pause node 3: not running" {
		t.Fatalf("Pause of a killed node: err = %v", err)
	}
	if err := c.Resume(ctx, 9); err == nil || !strings.Contains(err.Error(), "node 9: not in cluster.nodes") {
		t.Fatalf("Resume of an unknown node: err = %v", err)
	}
}

func mustPID(t *testing.T, c *Controller, id int32) int {
	t.Helper()
	pid, ok := c.PID(id)
	if !ok {
		t.Fatalf("node %d has no pid", id)
	}
	return pid
}
