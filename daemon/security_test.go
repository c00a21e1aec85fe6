package daemon

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/run"
)

// secure makes the embedded sandbox serve TLS and demand SCRAM-SHA-512
// from user drill, and raftdrill reach it with the right password.
func secure(t *testing.T, c *config.Config) {
	testenv.Secure(t, c, config.SASLScramSHA512, "right")
	// A check opens a connection to every node, each a SCRAM exchange:
	// give it time on a busy machine.
	c.Probes.Quorum.Interval, c.Probes.Quorum.Timeout = 1500*time.Millisecond, 1200*time.Millisecond
}

// runDrill triggers a drill and waits for its run to end.
func runDrill(t *testing.T, d *Daemon, name string) run.Run {
	t.Helper()
	waitUntilTrue(t, "scheduler", func() bool { return d.ready.Load() })
	// The previous run is finished in the store a moment before the
	// runner is free for the next.
	var r run.Run
	waitUntilTrue(t, "the runner to take "+name, func() bool {
		var err error
		r, err = d.Trigger(name, run.TriggerAPI)
		var busy ErrBusy
		if err != nil && !errors.As(err, &busy) {
			t.Fatal(err)
		}
		return err == nil
	})
	var got run.Run
	waitUntilTrue(t, name+" to finish", func() bool {
		got, _ = d.store.get(r.ID)
		return got.Status != run.StatusRunning
	})
	return got
}

// The drills and the quorum probe work through TLS and SCRAM-SHA-512 end
// to end: every connection raftdrill opens (sarama's, and the raw ones of
// the read-back that judges every replica) authenticates, and every drill
// passes with nothing found.
func TestEveryDrillPassesOverTLSAndSCRAM(t *testing.T) {
	d, _ := wiredDaemon(t, func(c *config.Config) {
		secure(t, c)
		b := testenv.Bench(c)
		b.Messages, b.WarmupMessages = 2000, 50
		// The throughput and latency criteria compare the cluster with
		// its baseline on a shared, noisy machine: they say nothing
		// about TLS. Errors (failed sends, lost or corrupt messages, on
		// either target) still fail the run.
		b.Thresholds.MinThroughputRatio, b.Thresholds.MaxLatencyP99Ratio = 1e-6, 1e6
	})
	m := d.Metrics()
	waitUntilTrue(t, "quorum available", func() bool { return promtest.ToFloat64(m.QuorumAvailable) == 1 })
	for _, name := range []string{"leader-failover", "failure-recovery", "benchmark", "split-brain"} {
		r := runDrill(t, d, name)
		if r.Status != run.StatusPassed || len(r.Anomalies) != 0 {
			t.Errorf("%s over TLS and SCRAM-SHA-512: %s, error %q, anomalies %+v, criteria %+v", name, r.Status, r.Error, r.Anomalies, r.Criteria)
		}
	}
	if name := "benchmark"; promtest.ToFloat64(m.RunsTotal.WithLabelValues(name, "passed")) != 1 {
		t.Errorf("%s did not pass", name)
	}
	waitUntilTrue(t, "quorum available after the drills", func() bool { return promtest.ToFloat64(m.QuorumAvailable) == 1 })
}

// A wrong password and a certificate raftdrill does not trust end a drill
// as an error, at once, with a message that names the node and the cause;
// the quorum probe reports quorum lost for the same reason, and so does the
// alert.
func TestSecurityRefusalIsADrillErrorAndAQuorumFailure(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(c *config.Config)
		want  string
	}{
		{"wrong password", func(c *config.Config) {
			c.Cluster.SASL.PasswordFile = testutil.SecretFile(t, "wrong-password", "battery staple")
		}, `SASL SCRAM-SHA-512 authentication failed for user "drill": Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512`},
		{"untrusted certificate", func(c *config.Config) {
			c.Cluster.TLS.CAFile = testutil.LoopbackTLS(t).CA // a CA that did not sign the sandbox's certificate
		}, "TLS certificate not trusted: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, sink := wiredDaemon(t, func(c *config.Config) {
				secure(t, c)
				tc.spoil(c)
				c.Alerts.QuorumLostAfter = 1
			})
			// Every node refuses; which one a message names depends on
			// which answered first.
			want := regexp.MustCompile(`node [123] \(127\.0\.0\.1:\d+\): ` + regexp.QuoteMeta(tc.want))

			start := time.Now()
			r := runDrill(t, d, "leader-failover")
			took := time.Since(start)
			if r.Status != run.StatusError || !want.MatchString(r.Error) {
				t.Fatalf("run: %s, error %q; want an error saying %q", r.Status, r.Error, want)
			}
			t.Logf("drill error: %s", r.Error)
			if took > 20*time.Second {
				t.Errorf("the drill took %s to give up", took)
			}
			if len(killsIn(d)) != 0 {
				t.Errorf("the drill killed a node it could not reach: %v", killsIn(d))
			}

			m := d.Metrics()
			if promtest.ToFloat64(m.QuorumAvailable) != 0 || promtest.ToFloat64(m.NodeUp.WithLabelValues("1")) != 0 {
				t.Error("quorum metrics say the cluster is reachable")
			}
			waitUntilTrue(t, "quorum-lost message naming the cause", func() bool { return sink.count("Quorum lost") > 0 })
			for _, msg := range sink.messages() {
				if strings.Contains(msg, "Quorum lost") && (!strings.Contains(msg, "0 of 3 nodes up, 2 needed for a majority: node ") || !want.MatchString(msg)) {
					t.Errorf("quorum-lost message does not say why: %s", msg)
				}
			}
		})
	}
}

func killsIn(d *Daemon) []int32 {
	var out []int32
	for _, e := range embedded(d).Timeline() {
		if e.Kind == "kill" {
			out = append(out, e.Node)
		}
	}
	return out
}
