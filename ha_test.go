package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The binary the tests build has no Kubernetes support (no build tag):
// with a Lease named it must not start and drill beside the replicas that
// elect a leader; it says why, on one line. config check, which connects
// to nothing, accepts the file, as it would on the image.
func TestServeWithoutKubernetesSupportRefusesLeaderElection(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "raftdrill.yaml")
	text := fmt.Sprintf("state:\n  dir: %q\nha:\n  kubernetes:\n    lease_name: raftdrill\n    namespace: tools\n", t.TempDir())
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI("serve", "--config", cfg, "--web.listen-address", freeAddr(t))
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 2 || !strings.Contains(lines[len(lines)-1], "ha.kubernetes.lease_name: this raftdrill was built without Kubernetes support") {
		t.Fatalf("exit %d, want 2 saying the binary lacks Kubernetes support:\n%s", code, stderr)
	}
	if _, stderr, code := runCLI("config", "check", "--config", cfg); code != 0 {
		t.Fatalf("config check: exit %d\n%s", code, stderr)
	}
}
