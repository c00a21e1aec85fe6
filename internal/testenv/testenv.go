// Package testenv builds what drill tests run against: a configuration with
// every controller's section and the drills' sections a test names, drill
// timings cut down to seconds, a sandbox cluster with fast elections, a
// Kafka client for it, and the drill environment that ties them together.
package testenv

import (
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/cluster/control/sandboxctl"
	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/benchmark"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/probes/failover"
	"github.com/raftdrill/raftdrill/probes/recovery"
	"github.com/raftdrill/raftdrill/probes/splitbrain"
	"github.com/raftdrill/raftdrill/sandbox"
)

// Config is the default configuration with every controller's section and
// the given drills' sections, the request timeout cut to 3 s and the
// embedded sandbox electing in 200–400 ms.
func Config(specs ...drill.Spec) *config.Config {
	secs := control.Sections()
	for _, s := range specs {
		secs = append(secs, s.Section())
	}
	c := config.WithSections(secs)
	c.Cluster.RequestTimeout = 3 * time.Second
	sb := Sandbox(c)
	sb.ElectionTimeoutMin = 200 * time.Millisecond
	sb.ElectionTimeoutMax = 400 * time.Millisecond
	return c
}

// Sandbox is the embedded sandbox's section of c.
func Sandbox(c *config.Config) *sandboxctl.Embedded {
	return config.Get[*sandboxctl.Embedded](c, sandboxctl.Key)
}

// Section is the section of drill spec in c.
func Section[T any](c *config.Config, spec drill.Spec) T {
	return config.Get[T](c, spec.Key())
}

// Cluster starts a sandbox as c's sandbox section describes and returns it
// with a client of its nodes; both stop when the test ends.
func Cluster(t testing.TB, c *config.Config) (*sandbox.Cluster, *kafka.Client) {
	t.Helper()
	opts, err := Sandbox(c).Options(testutil.Log())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	return sb, Client(t, c, sb.Addrs()...)
}

// Secure makes c's embedded sandbox serve TLS with a loopback certificate
// and demand SASL mechanism from user drill (password "right"), and
// raftdrill reach it through cluster.tls (trusting the certificate's CA)
// and cluster.sasl with password. The files let a test spoil one side.
func Secure(t testing.TB, c *config.Config, mechanism, password string) testutil.TLSFiles {
	t.Helper()
	files := testutil.LoopbackTLS(t)
	sb := Sandbox(c)
	sb.TLS = sandboxctl.TLS{CertFile: files.Cert, KeyFile: files.Key}
	sb.SASL = sandboxctl.SASL{Mechanisms: []string{mechanism}, Users: []sandboxctl.User{{Name: "drill", PasswordFile: testutil.SecretFile(t, "sandbox-password", "right")}}}
	c.Cluster.TLS = config.TLS{Enabled: true, CAFile: files.CA}
	c.Cluster.SASL = config.SASL{Mechanism: mechanism, Username: "drill", PasswordFile: testutil.SecretFile(t, "password", password)}
	return files
}

// Client is a client of the nodes at addrs (node i+1 at addrs[i]).
func Client(t testing.TB, c *config.Config, addrs ...string) *kafka.Client {
	t.Helper()
	v, err := config.ParseKafkaVersion(c.Cluster.KafkaVersion)
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]kafka.Node, len(addrs))
	for i, a := range addrs {
		nodes[i] = kafka.Node{ID: int32(i + 1), Address: a}
	}
	return kafka.NewClient(nodes, kafka.Options{Version: v, Timeout: c.Cluster.RequestTimeout, TLS: c.Cluster.TLS, SASL: c.Cluster.SASL}, testutil.Log())
}

// Env starts a sandbox for c and returns it with a drill environment that
// drills it.
func Env(t testing.TB, c *config.Config) (*sandbox.Cluster, drill.Env) {
	t.Helper()
	sb, client := Cluster(t, c)
	return sb, drill.Env{RunID: "test-" + t.Name(), Client: client, Control: sandboxctl.Wrap(sb, testutil.Log()), Config: c, Log: testutil.Log()}
}

// ShortConfig is Config with every drill's section, each drill cut down to
// a few seconds: leader-failover produces for 3 s and kills at 1 s;
// failure-recovery writes 300 messages and batches of 60 with majority loss
// on (tests run every step).
func ShortConfig() *config.Config {
	c := Config(drills.All...)
	lf := LF(c)
	lf.ProduceDuration = 3 * time.Second
	lf.KillAfter = time.Second
	lf.Rate = 150
	lf.ElectionDeadline = 5 * time.Second
	lf.RecoveryTimeout = 10 * time.Second
	lf.LeaderGrace = time.Second
	fr := FR(c)
	fr.Messages = 300
	fr.Batch = 60
	fr.MessageSize = 256
	fr.ElectionDeadline = 5 * time.Second
	fr.RecoveryDeadline = 10 * time.Second
	fr.LeaderGrace = time.Second
	fr.Steps.MajorityLoss = true
	sb := SB(c)
	sb.DisruptAfter = time.Second
	sb.Duration = 3 * time.Second
	sb.After = 2 * time.Second
	sb.Rate = 150
	sb.StepdownDeadline = 2 * time.Second
	sb.ElectionDeadline = 5 * time.Second
	sb.HealTimeout = 10 * time.Second
	sb.RecoveryTimeout = 10 * time.Second
	sb.LeaderGrace = 2 * time.Second
	return c
}

// SB is the split-brain section of c.
func SB(c *config.Config) *splitbrain.Config { return Section[*splitbrain.Config](c, splitbrain.Spec) }

// LF is the leader-failover section of c.
func LF(c *config.Config) *failover.Config { return Section[*failover.Config](c, failover.Spec) }

// FR is the failure-recovery section of c.
func FR(c *config.Config) *recovery.Config { return Section[*recovery.Config](c, recovery.Spec) }

// Bench is the benchmark section of c.
func Bench(c *config.Config) *benchmark.Config { return Section[*benchmark.Config](c, benchmark.Spec) }

// Drill makes the drill called name from c.
func Drill(t testing.TB, c *config.Config, name string) drill.Drill {
	t.Helper()
	s, ok := drills.Lookup(name)
	if !ok {
		t.Fatalf("no drill %q", name)
	}
	return s.New(c)
}
