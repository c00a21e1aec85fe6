package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"

	"github.com/raftdrill/raftdrill/config"
)

// The read-back's raw connections go through cluster.tls and cluster.sasl
// as sarama's do: a cluster that demands them would otherwise refuse the
// very reads that judge it.

// startTLS wraps conn in TLS for addr, naming the host as the server when
// cluster.tls.server_name does not.
func startTLS(conn net.Conn, addr string, t config.TLS) (net.Conn, error) {
	tc, err := tlsConfig(t)
	if err != nil {
		return nil, err
	}
	if tc.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		tc.ServerName = host
	}
	tconn := tls.Client(conn, tc)
	if err := tconn.Handshake(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tconn, nil
}

// authenticate runs SaslHandshake v1 and the SaslAuthenticate exchange of
// cluster.sasl.mechanism on rc.
func (rc *rawConn) authenticate(s config.SASL) error {
	password, err := saslPassword(s)
	if err != nil {
		return err
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = s.Mechanism
	resp, err := rc.do(hs)
	if err != nil {
		return fmt.Errorf("SASL handshake: %w", err)
	}
	if hr := resp.(*kmsg.SASLHandshakeResponse); hr.ErrorCode != 0 {
		return fmt.Errorf("SASL handshake: %w (the node offers %v)", kerr.ErrorForCode(hr.ErrorCode), hr.SupportedMechanisms)
	}
	// A node that refuses the credentials answers with an error code and
	// a message; it then closes the connection, as Kafka does.
	step := func(out []byte) ([]byte, error) {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SetVersion(0)
		req.SASLAuthBytes = out
		resp, err := rc.do(req)
		if err != nil {
			return nil, err
		}
		ar := resp.(*kmsg.SASLAuthenticateResponse)
		if ar.ErrorCode != 0 {
			r := saslRefusal{code: kerr.ErrorForCode(ar.ErrorCode)}
			if ar.ErrorMessage != nil {
				r.msg = *ar.ErrorMessage
			}
			return nil, r
		}
		return ar.SASLAuthBytes, nil
	}
	switch s.Mechanism {
	case config.SASLPlain:
		if _, err := step([]byte("\x00" + s.Username + "\x00" + password)); err != nil {
			return fmt.Errorf("SASL PLAIN: %w", err)
		}
		return nil
	case config.SASLScramSHA256, config.SASLScramSHA512:
		hash := scram.SHA256
		if s.Mechanism == config.SASLScramSHA512 {
			hash = scram.SHA512
		}
		client, err := hash.NewClient(s.Username, password, "")
		if err != nil {
			return fmt.Errorf("SASL %s: %w", s.Mechanism, err)
		}
		conv := client.NewConversation()
		var in string
		for !conv.Done() {
			out, err := conv.Step(in)
			if err != nil {
				return fmt.Errorf("SASL %s: %w", s.Mechanism, err)
			}
			if conv.Done() && out == "" {
				break
			}
			reply, err := step([]byte(out))
			if err != nil {
				return fmt.Errorf("SASL %s: %w", s.Mechanism, err)
			}
			in = string(reply)
		}
		return nil
	}
	return errors.New("cluster.sasl.mechanism: unknown " + s.Mechanism)
}
