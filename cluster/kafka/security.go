package kafka

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/IBM/sarama"
	promconfig "github.com/prometheus/common/config"
	"github.com/twmb/franz-go/pkg/kerr"
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

// AuthError is a connection refused on TLS or SASL grounds: a password or
// user the node does not accept, a certificate one side does not trust, a
// mechanism the node does not offer. Unlike a node that is down, it will
// not pass by itself, so the drills and the quorum probe say what it is,
// naming the node, its address and the cause.
type AuthError struct {
	Node Node
	// Cause is what was refused, e.g. `SASL SCRAM-SHA-512 authentication
	// failed for user "drill"` or "TLS certificate not trusted".
	Cause string
	Err   error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("node %d (%s): %s: %v", e.Node.ID, e.Node.Address, e.Cause, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// saslRefusal is a SASL error code with the node's own message.
type saslRefusal struct {
	code error
	msg  string
}

func (e saslRefusal) Error() string {
	if e.msg == "" {
		return e.code.Error()
	}
	return e.msg
}

func (e saslRefusal) Unwrap() error { return e.code }

// explain turns err into an *AuthError when it is a refusal on TLS or SASL
// grounds; any other error is returned as it is.
func explain(n Node, s config.SASL, err error) error {
	var ae *AuthError
	if err == nil || errors.As(err, &ae) {
		return err
	}
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &hostname):
		return &AuthError{n, "TLS certificate not valid for this address", err}
	case errors.As(err, &verify), errors.As(err, &unknownCA), errors.As(err, &invalid):
		return &AuthError{n, "TLS certificate not trusted", err}
	case strings.Contains(err.Error(), "remote error: tls: "):
		// The node's alert: it refused raftdrill's certificate, or
		// the lack of one.
		return &AuthError{n, "TLS handshake refused by the node", err}
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed), errors.Is(err, kerr.SaslAuthenticationFailed):
		return &AuthError{n, fmt.Sprintf("SASL %s authentication failed for user %q", s.Mechanism, s.Username), nodeMessage(err, sarama.ErrSASLAuthenticationFailed)}
	case errors.Is(err, sarama.ErrUnsupportedSASLMechanism), errors.Is(err, kerr.UnsupportedSaslMechanism):
		return &AuthError{n, fmt.Sprintf("SASL mechanism %s not offered by the node", s.Mechanism), err}
	case errors.Is(err, sarama.ErrIllegalSASLState), errors.Is(err, kerr.IllegalSaslState):
		return &AuthError{n, fmt.Sprintf("SASL %s refused: the node does not expect SASL authentication here", s.Mechanism), err}
	}
	return err
}

// nodeMessage is what the node said about a refusal, without the error
// code's own text around it when the node said something.
func nodeMessage(err, code error) error {
	var sr saslRefusal
	if errors.As(err, &sr) {
		return sr
	}
	if _, msg, ok := strings.Cut(err.Error(), code.Error()+": "); ok && msg != "" {
		return saslRefusal{code: code, msg: msg}
	}
	return err
}
