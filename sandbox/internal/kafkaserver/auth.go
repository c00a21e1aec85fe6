package kafkaserver

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"
)

// A listener may speak TLS and demand SASL (PLAIN, SCRAM), as a production
// broker's SASL_SSL listener does.

// SASL mechanisms a server can offer.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms are the mechanisms a server can offer.
var Mechanisms = []string{Plain, ScramSHA256, ScramSHA512}

// Kafka error codes of the SASL exchange.
const (
	errUnsupportedSASLMechanism = 33
	errIllegalSASLState         = 34
	errSASLAuthenticationFailed = 58
)

// scramIterations is Kafka's minimum, and what clients (xdg-go/scram
// among them) accept at least.
const scramIterations = 4096

// handshakeTimeout bounds a TLS handshake, so that a client that connects
// and says nothing holds no goroutine for long.
const handshakeTimeout = 10 * time.Second

// maxSASLToken bounds one SASL token, as Kafka's
// sasl.server.max.receive.size does.
const maxSASLToken = 512 << 10

// Listener is what a listener demands of its clients, ready to serve:
// what every node of a process shares.
type Listener struct {
	TLS  *tls.Config    // nil: plaintext
	SASL *Authenticator // nil: no authentication
}

// TLSConfig is the server side of TLS with a certificate and its key, and,
// with a client CA, mutual TLS: every client presents a certificate signed
// by one of these CAs.
func TLSConfig(certPEM, keyPEM, clientCAPEM []byte) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("sandbox listener TLS certificate and key: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if len(clientCAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(clientCAPEM) {
			return nil, errors.New("sandbox listener TLS client CA: no PEM certificate in it")
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// Mechanisms lists the SASL mechanisms offered; none without SASL.
func (l *Listener) Mechanisms() []string {
	if l.SASL == nil {
		return nil
	}
	return l.SASL.mechanisms
}

// Authenticator holds the users' credentials per mechanism.
type Authenticator struct {
	mechanisms []string
	plain      map[string]string
	scram      map[string]*scram.Server // by mechanism
}

// NewAuthenticator prepares SASL with these mechanisms (none: all of
// Mechanisms) for users, which maps each user name to its password: the
// SCRAM credentials are derived once, not at every login.
func NewAuthenticator(mechanisms []string, users map[string]string) (*Authenticator, error) {
	if len(users) == 0 {
		return nil, errors.New("sandbox listener SASL: no users")
	}
	a := &Authenticator{mechanisms: slices.Clone(mechanisms), scram: map[string]*scram.Server{}}
	if len(a.mechanisms) == 0 {
		a.mechanisms = slices.Clone(Mechanisms)
	}
	for _, m := range a.mechanisms {
		var hash scram.HashGeneratorFcn
		switch m {
		case Plain:
			a.plain = users
			continue
		case ScramSHA256:
			hash = scram.SHA256
		case ScramSHA512:
			hash = scram.SHA512
		default:
			return nil, fmt.Errorf("sandbox listener SASL: unknown mechanism %q (%s)", m, strings.Join(Mechanisms, ", "))
		}
		creds := map[string]scram.StoredCredentials{}
		for user, password := range users {
			client, err := hash.NewClient(user, password, "")
			if err != nil {
				return nil, fmt.Errorf("sandbox listener SASL: user %q: %w", user, err)
			}
			salt := make([]byte, 16)
			_, _ = rand.Read(salt)
			c, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: scramIterations})
			if err != nil {
				return nil, fmt.Errorf("sandbox listener SASL: user %q: %w", user, err)
			}
			creds[user] = c
		}
		srv, err := hash.NewServer(func(user string) (scram.StoredCredentials, error) {
			c, ok := creds[user]
			if !ok {
				return scram.StoredCredentials{}, errors.New("unknown user")
			}
			return c, nil
		})
		if err != nil {
			return nil, err
		}
		a.scram[m] = srv
	}
	return a, nil
}

// saslSession is one connection's exchange with one mechanism.
type saslSession interface {
	// step takes the client's token and returns the server's; done is
	// true once the client is authenticated. An error is a failed
	// authentication: what the server tells the client is failure(),
	// never why (a wrong password and an unknown user look the same).
	step(token []byte) (reply []byte, done bool, err error)
	user() string
}

func (a *Authenticator) start(mechanism string) (saslSession, bool) {
	if !slices.Contains(a.mechanisms, mechanism) {
		return nil, false
	}
	if mechanism == Plain {
		return &plainSession{users: a.plain}, true
	}
	return &scramSession{conv: a.scram[mechanism].NewConversation()}, true
}

type plainSession struct {
	users map[string]string
	name  string
}

func (p *plainSession) user() string { return p.name }

// step checks "authzid NUL user NUL password" (RFC 4616) in one round.
func (p *plainSession) step(token []byte) ([]byte, bool, error) {
	parts := strings.SplitN(string(token), "\x00", 3)
	if len(parts) != 3 {
		return nil, false, errors.New("malformed PLAIN token")
	}
	authz, user, password := parts[0], parts[1], parts[2]
	p.name = user
	want, ok := p.users[user]
	// Compared in constant time whether or not the user exists, so the
	// answer's timing does not tell which one is wrong.
	match := subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1
	if !ok || !match {
		return nil, false, errors.New("invalid user name or password")
	}
	if authz != "" && authz != user {
		return nil, false, errors.New("authorization id differs from the user name")
	}
	return nil, true, nil
}

type scramSession struct {
	conv *scram.ServerConversation
}

func (s *scramSession) user() string { return s.conv.Username() }

func (s *scramSession) step(token []byte) ([]byte, bool, error) {
	out, err := s.conv.Step(string(token))
	if err != nil {
		return nil, false, err
	}
	if s.conv.Done() && !s.conv.Valid() {
		return nil, false, errors.New("SCRAM exchange ended unauthenticated")
	}
	return []byte(out), s.conv.Done(), nil
}

// failure is what a client whose authentication failed is told: Kafka's own
// words, which name the mechanism and not the reason.
func failure(mechanism string) string {
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mechanism
}

// startTLS runs the server side of the TLS handshake on a new connection.
func (s *Server) startTLS(raw net.Conn) (net.Conn, bool) {
	tc := tls.Server(raw, s.lis.TLS)
	_ = raw.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		// A client that left without a word (a TCP health check) is
		// not news; one that refused the certificate, or spoke
		// plaintext, is.
		lvl := slog.LevelInfo
		if errors.Is(err, io.EOF) {
			lvl = slog.LevelDebug
		}
		s.cfg.Log.Log(context.Background(), lvl, "TLS handshake failed", "client", raw.RemoteAddr().String(), "err", err)
		return nil, false
	}
	_ = raw.SetDeadline(time.Time{})
	return tc, true
}

// authenticate runs the SASL exchange a connection starts with, as Kafka's
// SaslServerAuthenticator does: ApiVersions, SaslHandshake (v0: the tokens
// that follow go bare, v1: inside SaslAuthenticate requests), then the
// mechanism's rounds. Nothing is pipelined before authentication, so each
// request is answered here, in order, before the next is read. It returns
// true once the client is authenticated; false when the connection is to
// be closed, after whatever answer explains why has been sent.
func (cc *clientConn) authenticate(r *bufio.Reader) bool {
	s := cc.s
	var sess saslSession
	var mechanism string
	bare := false
	for {
		if bare {
			// After a v0 handshake, a failure can only be told by
			// closing the connection.
			token, err := readToken(r)
			if err != nil {
				return false
			}
			if !s.cfg.Wait(s.stopc) {
				return false
			}
			reply, done, err := sess.step(token)
			if err != nil {
				s.cfg.Log.Info("SASL authentication failed", "client", cc.c.RemoteAddr().String(), "mechanism", mechanism, "user", sess.user(), "err", err)
				return false
			}
			out := binary.BigEndian.AppendUint32(nil, uint32(len(reply)))
			if _, err := cc.c.Write(append(out, reply...)); err != nil || done {
				return err == nil
			}
			continue
		}
		frame, err := readFrame(r)
		if err != nil {
			return false
		}
		if !s.cfg.Wait(s.stopc) {
			return false
		}
		hdr, body, err := parseHeader(frame)
		if err != nil {
			return false
		}
		if hdr.key == int16(kmsg.ApiVersions) {
			// Whatever its version: the answer lists the versions.
			if !cc.answer(hdr, cc.apiVersions(hdr)) {
				return false
			}
			continue
		}
		req := hdr.req
		if req == nil || !s.supported(hdr.key, hdr.version) {
			s.cfg.Log.Debug("unsupported request before authentication; closing the connection", "key", hdr.key, "version", hdr.version)
			return false
		}
		if err := req.ReadFrom(body); err != nil {
			s.cfg.Log.Debug("malformed request; closing the connection", "key", hdr.key, "err", err)
			return false
		}
		switch q := req.(type) {
		case *kmsg.SASLHandshakeRequest:
			resp := q.ResponseKind().(*kmsg.SASLHandshakeResponse)
			resp.SupportedMechanisms = slices.Clone(s.lis.SASL.mechanisms)
			if sess != nil {
				resp.ErrorCode = errIllegalSASLState
				cc.answer(hdr, resp)
				return false
			}
			var ok bool
			if sess, ok = s.lis.SASL.start(q.Mechanism); !ok {
				resp.ErrorCode = errUnsupportedSASLMechanism
				cc.answer(hdr, resp)
				s.cfg.Log.Info("SASL mechanism not offered", "client", cc.c.RemoteAddr().String(), "mechanism", q.Mechanism)
				return false
			}
			mechanism, bare = q.Mechanism, q.Version == 0
			if !cc.answer(hdr, resp) {
				return false
			}
		case *kmsg.SASLAuthenticateRequest:
			resp := q.ResponseKind().(*kmsg.SASLAuthenticateResponse)
			if sess == nil {
				resp.ErrorCode = errIllegalSASLState
				msg := "SaslAuthenticate before SaslHandshake"
				resp.ErrorMessage = &msg
				cc.answer(hdr, resp)
				return false
			}
			reply, done, err := sess.step(q.SASLAuthBytes)
			if err != nil {
				s.cfg.Log.Info("SASL authentication failed", "client", cc.c.RemoteAddr().String(), "mechanism", mechanism, "user", sess.user(), "err", err)
				resp.ErrorCode = errSASLAuthenticationFailed
				msg := failure(mechanism)
				resp.ErrorMessage = &msg
				cc.answer(hdr, resp)
				return false
			}
			resp.SASLAuthBytes = reply
			if !cc.answer(hdr, resp) {
				return false
			}
			if done {
				return true
			}
		default:
			s.cfg.Log.Info("request before SASL authentication; closing the connection", "client", cc.c.RemoteAddr().String(), "request", kmsg.NameForKey(hdr.key))
			if resp := refuseUnauthenticated(req); resp != nil {
				cc.answer(hdr, resp)
			}
			return false
		}
	}
}

// answer writes one answer straight to the connection (before
// authentication there is no writer goroutine).
func (cc *clientConn) answer(hdr reqHeader, resp kmsg.Response) bool {
	_, err := cc.c.Write(encodeResponse(hdr, resp))
	return err == nil
}

// readToken reads one bare SASL token (after a v0 handshake).
func readToken(r io.Reader) ([]byte, error) {
	return readSized(r, 0, maxSASLToken, "SASL token")
}

// refuseUnauthenticated answers a request that came before authentication
// with ILLEGAL_SASL_STATE wherever its answer has a place for an error; nil
// when it has none (a metadata request for every topic, an acks=0
// produce), and the connection just closes, as Kafka closes it.
func refuseUnauthenticated(req kmsg.Request) kmsg.Response {
	switch q := req.(type) {
	case *kmsg.MetadataRequest:
		if len(q.Topics) == 0 {
			return nil
		}
		resp := q.ResponseKind().(*kmsg.MetadataResponse)
		for _, t := range q.Topics {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, errIllegalSASLState
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.ProduceRequest:
		if q.Acks == 0 {
			return nil
		}
		resp := q.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range q.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, errIllegalSASLState
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.FetchRequest:
		resp := q.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = errIllegalSASLState
		for _, t := range q.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, errIllegalSASLState
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.ListOffsetsRequest:
		resp := q.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, t := range q.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, errIllegalSASLState
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.CreateTopicsRequest:
		resp := q.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, t := range q.Topics {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, errIllegalSASLState
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.DeleteTopicsRequest:
		resp := q.ResponseKind().(*kmsg.DeleteTopicsResponse)
		names := q.TopicNames
		for _, t := range q.Topics {
			if t.Topic != nil {
				names = append(names, *t.Topic)
			}
		}
		for _, name := range names {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.ErrorCode = &name, errIllegalSASLState
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.InitProducerIDRequest:
		resp := q.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode = errIllegalSASLState
		return resp
	}
	return nil
}
