package kafka_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
)

// secureConfig is a 1-node sandbox serving TLS and the SASL mechanism,
// and a client of it with password.
func secureConfig(t *testing.T, mechanism, password string) *config.Config {
	t.Helper()
	c := testenv.Config()
	testenv.Secure(t, c, mechanism, password)
	testenv.Sandbox(c).Nodes = 1
	c.Cluster.Topic.ReplicationFactor = 1
	return c
}

// Each mechanism over TLS, through both of raftdrill's connection kinds:
// sarama's (metadata, topic creation, produce) and the raw one of the
// read-back.
func TestTLSAndSASLThroughSaramaAndTheRawReadBack(t *testing.T) {
	for _, mech := range []string{config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			cfg := secureConfig(t, mech, "right")
			_, client := testenv.Cluster(t, cfg)
			if err := client.EnsureTopic("secure", 1, 1); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, "a leader", 10*time.Second, func() bool {
				return len(client.CheckHealth("secure", 1).Problems()) == 0
			})
			pp := client.NewProducer(kafka.ProducerOptions{Topic: "secure", Partition: 0, Run: runID, Size: 100, Leader: -1})
			defer pp.Close()
			for seq := range int64(5) {
				if s := pp.Send(seq); s.Outcome != kafka.Acked {
					t.Fatalf("send %d: %v %v", seq, s.Outcome, s.Err)
				}
			}
			recs, err := client.ReadPartition(context.Background(), 1, "secure", 0, 0)
			if err != nil || len(recs) != 5 || !recs[4].Valid || recs[4].Msg.Seq != 4 {
				t.Fatalf("read back %d records: %v", len(recs), err)
			}
		})
	}
}

// A wrong password, an untrusted certificate, a missing client certificate
// and a mechanism the node does not offer are named as such, by the node and address, on both kinds of
// connection, at once.
func TestSecurityRefusalsSayWhy(t *testing.T) {
	cases := []struct {
		name    string
		sandbox func(*config.Config) // before it starts
		tune    func(*config.Config) // the client's side
		want    []string
	}{
		{"wrong password", nil, func(c *config.Config) {
			c.Cluster.SASL.PasswordFile = testutil.SecretFile(t, "wrong", "wrong")
		}, []string{`SASL SCRAM-SHA-512 authentication failed for user "drill"`, "invalid credentials"}},
		{"untrusted certificate", nil, func(c *config.Config) {
			c.Cluster.TLS.CAFile = testutil.LoopbackTLS(t).CA
		}, []string{"TLS certificate not trusted", "x509: certificate signed by unknown authority"}},
		{"client certificate required", func(c *config.Config) {
			testenv.Sandbox(c).TLS.ClientCAFile = testutil.LoopbackTLS(t).CA
		}, func(*config.Config) {}, []string{"TLS handshake refused by the node", "remote error: tls: certificate required"}},
		{"mechanism not offered", nil, func(c *config.Config) {
			c.Cluster.SASL.Mechanism = config.SASLPlain
		}, []string{"SASL mechanism PLAIN not offered by the node"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := secureConfig(t, config.SASLScramSHA512, "right")
			if tc.sandbox != nil {
				tc.sandbox(cfg)
			}
			sb, _ := testenv.Cluster(t, cfg)
			tc.tune(cfg)
			client := testenv.Client(t, cfg, sb.Addrs()...)
			prefix := "node 1 (" + sb.Addrs()[0] + "): "
			check := func(what string, err error) {
				t.Helper()
				var ae *kafka.AuthError
				if !errors.As(err, &ae) {
					t.Fatalf("%s: %v is not an AuthError", what, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, prefix) {
					t.Errorf("%s: %q does not name the node and its address", what, msg)
				}
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("%s: %q does not say %q", what, msg, w)
					}
				}
			}
			start := time.Now()
			p := client.Pool()
			_, err := p.Broker(1)
			p.Close()
			check("sarama connection", err)
			check("ensure topic", client.EnsureTopic("secure", 1, 1))
			_, err = client.ReadPartition(context.Background(), 1, "secure", 0, 0)
			check("raw read-back", err)
			h := client.CheckHealth("secure", 1)
			if probs := h.Problems(); len(probs) != 1 || !strings.HasPrefix(probs[0], "nodes [1] not reachable: "+prefix+tc.want[0]) {
				t.Errorf("health problems: %q", probs)
			} else {
				t.Log(probs[0])
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("refusals took %s", took)
			}
		})
	}
}
