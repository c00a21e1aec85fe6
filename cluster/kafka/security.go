package kafka

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"fmt"
	"os"
	"strings"

	"github.com/IBM/sarama"
	promconfig "github.com/prometheus/common/config"
	"github.com/xdg-go/scram"

	"github.com/raftdrill/raftdrill/config"
)

// secure adds cluster.tls and cluster.sasl to a sarama configuration. The
// files are read at every new connection, so a rotated certificate or
// password needs no restart.
func secure(conf *sarama.Config, t config.TLS, s config.SASL) error {
	if t.Enabled {
		tc, err := tlsConfig(t)
		if err != nil {
			return err
		}
		conf.Net.TLS.Enable, conf.Net.TLS.Config = true, tc
	}
	if s.Mechanism == "" {
		return nil
	}
	password, err := saslPassword(s)
	if err != nil {
		return err
	}
	conf.Net.SASL.Enable = true
	conf.Net.SASL.Handshake = true
	conf.Net.SASL.User = s.Username
	conf.Net.SASL.Password = password
	switch s.Mechanism {
	case config.SASLPlain:
		conf.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case config.SASLScramSHA256:
		conf.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		conf.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha256.New)} }
	case config.SASLScramSHA512:
		conf.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		conf.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha512.New)} }
	default:
		return fmt.Errorf("cluster.sasl.mechanism: unknown %q", s.Mechanism)
	}
	return nil
}

// tlsConfig is cluster.tls for a client connection, through the loader
// Prometheus uses for the same settings.
func tlsConfig(t config.TLS) (*tls.Config, error) {
	tc, err := promconfig.NewTLSConfig(&promconfig.TLSConfig{
		CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify,
		MinVersion: tlsVersion(t.MinVersion),
	})
	if err != nil {
		return nil, fmt.Errorf("cluster.tls: %w", err)
	}
	return tc, nil
}

func saslPassword(s config.SASL) (string, error) {
	raw, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("cluster.sasl.password_file: %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}

func tlsVersion(s string) promconfig.TLSVersion {
	if s == "" {
		return 0
	}
	return promconfig.TLSVersions[s]
}

// scramClient is sarama's SCRAM conversation on xdg-go/scram.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }

func (c *scramClient) Done() bool { return c.conv.Done() }
