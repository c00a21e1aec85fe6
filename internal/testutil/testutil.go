// Package testutil is what tests across raftdrill share and that depends on
// nothing of raftdrill: a quiet logger, waiting on an observable condition,
// secret files, free ports, a self-signed certificate. Tests never sleep to prove that something did
// not happen; they wait for what they can observe, with a deadline.
package testutil

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Log is a logger that stays quiet unless TEST_LOG is set.
func Log() *slog.Logger {
	if os.Getenv("TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// WaitFor polls cond until it holds, failing the test after timeout. The
// timeout is generous on purpose: it bounds a hang, it is not a measurement.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Eventually is WaitFor that reports whether cond came true in time rather
// than failing.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// SecretFile writes content to a file only the test can read and returns
// its path.
func SecretFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// FreeAddr returns a loopback address with a port free at the time of the
// call.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// PIDAlive reports whether pid exists and is not a zombie: a killed orphan
// stays a zombie until init reaps it, which init in a container may never do.
func PIDAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')') // the state follows "(comm) "
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// RequireTool finds an external program (the first of names on the PATH).
// Without it the test skips, unless REQUIRE_TEST_TOOLS=1 (make test) says
// that skipping would hide a gap: then it fails.
func RequireTool(t testing.TB, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("REQUIRE_TEST_TOOLS") == "1" {
		t.Fatalf("%s is not installed (make deps installs it)", strings.Join(names, " or "))
	}
	t.Skipf("%s is not installed (make deps installs it)", strings.Join(names, " or "))
	return ""
}
