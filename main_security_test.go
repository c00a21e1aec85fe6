package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/internal/testutil"
)

// secureSandbox runs `raftdrill sandbox` with each node its own process,
// serving TLS and demanding SCRAM-SHA-512 from user drill, all from its
// flags.
func secureSandbox(t *testing.T, files testutil.TLSFiles) sandboxProc {
	t.Helper()
	password := testutil.SecretFile(t, "sandbox-password", "right")
	return startSandbox(t, "--process-per-node",
		"--tls-cert-file", files.Cert, "--tls-key-file", files.Key,
		"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "drill:"+password)
}

// clientSecurity is cluster.tls and cluster.sasl for a client that trusts
// ca and presents password.
func clientSecurity(t *testing.T, ca, password string) string {
	t.Helper()
	return fmt.Sprintf("  tls: {enabled: true, ca_file: %q}\n  sasl: {mechanism: SCRAM-SHA-512, username: drill, password_file: %q}\n",
		ca, testutil.SecretFile(t, "password", password))
}

// `raftdrill run` drills a separate sandbox whose nodes are processes
// serving TLS and SCRAM-SHA-512, set up from the command line alone; with a
// wrong password or a CA that did not sign the nodes' certificate, it
// cannot run (exit 2) and says exactly why, at once.
func TestRunOverTLSAndSCRAMAgainstProcessPerNodeSandbox(t *testing.T) {
	files := testutil.LoopbackTLS(t)
	sp := secureSandbox(t, files)
	config := func(security string) string {
		// cluster: is the last top-level key sp.config writes before
		// drills:, so the security settings go in there.
		path := sp.config(t, "")
		text := strings.Replace(readFile(t, path), "drills:\n", security+"drills:\n", 1)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	stdout, stderr, code := runCLI("run", "leader-failover", "--config", config(clientSecurity(t, files.CA, "right")))
	if code != 0 || !strings.Contains(stdout, "leader-failover drill PASSED") || !strings.Contains(stdout, "ANOMALIES\n  none") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	for _, tc := range []struct{ name, security, want string }{
		{"wrong password", clientSecurity(t, files.CA, "wrong"),
			`SASL SCRAM-SHA-512 authentication failed for user "drill": Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512`},
		{"untrusted certificate", clientSecurity(t, testutil.LoopbackTLS(t).CA, "right"),
			"TLS certificate not trusted: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			stdout, stderr, code := runCLI("run", "leader-failover", "--config", config(tc.security))
			want := regexp.MustCompile(`cluster unhealthy before drill: node [123] \(127\.0\.0\.1:\d+\): ` + regexp.QuoteMeta(tc.want))
			if code != 2 || !want.MatchString(stdout) {
				t.Fatalf("exit %d, want 2 saying %q\nstdout:\n%s\nstderr:\n%s", code, tc.want, stdout, stderr)
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("took %s to give up", took)
			}
		})
	}
	// The refused runs killed nothing: the one kill is the passing run's.
	kills := 0
	for _, e := range sp.timeline(t) {
		if e.Kind == "kill" {
			kills++
		}
	}
	if kills != 1 {
		t.Fatalf("%d kills, want the passing run's one", kills)
	}
}
