package sandbox

import "github.com/raftdrill/raftdrill/sandbox/internal/kafkaserver"

// A node's Kafka listener may speak TLS and demand SASL, as a production
// broker's SASL_SSL listener does, so that raftdrill's own TLS and SASL
// client code is drilled against a server rather than trusted untested.
//
// The settings are data (PEM and passwords), not a tls.Config: a node in a
// child process gets the same listener from its parent.

// ListenerOptions configure every node's Kafka listener. The zero value is
// plaintext without authentication.
type ListenerOptions struct {
	TLS  *ListenerTLS  `json:"tls,omitempty"`
	SASL *ListenerSASL `json:"sasl,omitempty"`
}

// ListenerTLS makes the listeners speak TLS.
type ListenerTLS struct {
	// CertPEM is the nodes' certificate (and its chain), KeyPEM its key.
	CertPEM []byte `json:"cert_pem"`
	KeyPEM  []byte `json:"key_pem"`
	// ClientCAPEM, when set, makes every client present a certificate
	// signed by one of these CAs (mutual TLS).
	ClientCAPEM []byte `json:"client_ca_pem,omitempty"`
}

// ListenerSASL makes the listeners require SASL authentication before
// anything but ApiVersions.
type ListenerSASL struct {
	// Mechanisms are the mechanisms offered (SASLMechanisms); none: all.
	Mechanisms []string `json:"mechanisms,omitempty"`
	// Users maps each user name to its password.
	Users map[string]string `json:"users"`
}

// SASL mechanisms a sandbox offers.
const (
	SASLPlain       = kafkaserver.Plain
	SASLScramSHA256 = kafkaserver.ScramSHA256
	SASLScramSHA512 = kafkaserver.ScramSHA512
)

// SASLMechanisms are the mechanisms a sandbox can offer.
var SASLMechanisms = []string{SASLPlain, SASLScramSHA256, SASLScramSHA512}

// build checks the options and prepares them: the certificate parsed, the
// SCRAM credentials derived (once, not at every login).
func (lo ListenerOptions) build() (*kafkaserver.Listener, error) {
	l := &kafkaserver.Listener{}
	if t := lo.TLS; t != nil {
		c, err := kafkaserver.TLSConfig(t.CertPEM, t.KeyPEM, t.ClientCAPEM)
		if err != nil {
			return nil, err
		}
		l.TLS = c
	}
	if s := lo.SASL; s != nil {
		a, err := kafkaserver.NewAuthenticator(s.Mechanisms, s.Users)
		if err != nil {
			return nil, err
		}
		l.SASL = a
	}
	return l, nil
}
