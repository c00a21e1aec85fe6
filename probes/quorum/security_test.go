package quorum_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
)

// secureQuorumConfig is a sandbox serving TLS and SCRAM-SHA-512 to user
// drill, and a client that presents password and trusts ca (empty: the CA
// that signed the sandbox's certificate).
func secureQuorumConfig(t *testing.T, password, ca string) *config.Config {
	t.Helper()
	cfg := quorumConfig()
	// Every check authenticates anew on every node: SCRAM on a busy
	// machine needs more than the plaintext probe's 400 ms.
	cfg.Probes.Quorum.Interval, cfg.Probes.Quorum.Timeout = 3*time.Second, 2*time.Second
	testenv.Secure(t, cfg, config.SASLScramSHA512, password)
	if ca != "" {
		cfg.Cluster.TLS.CAFile = ca
	}
	return cfg
}

// Over TLS with SCRAM-SHA-512 the probe sees quorum, canary writes included.
func TestQuorumOverTLSAndSCRAM(t *testing.T) {
	cfg := secureQuorumConfig(t, "right", "")
	_, env := testenv.Env(t, cfg)
	q := newTestProbe(t, cfg, env.Client.Nodes())
	o := checkUntil(t, q, "quorum", available)
	if o.Up != 3 || o.Canary.Acked != 3 {
		t.Fatalf("over TLS and SCRAM: %+v", o)
	}
}

// A wrong password or an untrusted certificate is quorum not available,
// each node counted down as refused, and the reason says exactly why, in
// one check.
func TestQuorumRefusalSaysWhy(t *testing.T) {
	cases := []struct {
		name         string
		password, ca string
		want         string
	}{
		{"wrong password", "wrong", "", `SASL SCRAM-SHA-512 authentication failed for user "drill": Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512`},
		{"untrusted certificate", "right", testutil.LoopbackTLS(t).CA, "TLS certificate not trusted: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := secureQuorumConfig(t, tc.password, tc.ca)
			_, env := testenv.Env(t, cfg)
			q := newTestProbe(t, cfg, env.Client.Nodes())
			start := time.Now()
			o := q.Check(context.Background())
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("the check took %s", took)
			}
			if o.Available || o.Up != 0 {
				t.Fatalf("refused everywhere, yet %+v", o)
			}
			node := regexp.MustCompile(`^node [123] \(127\.0\.0\.1:\d+\): ` + regexp.QuoteMeta(tc.want))
			for _, n := range o.Nodes {
				if !n.Refused || !node.MatchString(n.Err) {
					t.Errorf("node %d: refused %v, %q", n.ID, n.Refused, n.Err)
				}
			}
			reason := regexp.MustCompile(`^0 of 3 nodes up, 2 needed for a majority: node [123] \(127\.0\.0\.1:\d+\): ` + regexp.QuoteMeta(tc.want))
			if rs := o.Reasons(); len(rs) == 0 || !reason.MatchString(rs[0]) {
				t.Fatalf("reasons: %q", rs)
			}
		})
	}
}
