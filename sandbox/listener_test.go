package sandbox_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	kscram "github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/xdg-go/scram"

	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/sandbox"
)

const (
	saslUser     = "drill"
	saslPassword = "s3cret-p4ss"
)

// secureListener is TLS with a certificate for loopback, signed by a CA
// made for the test, and SASL with every mechanism for one user.
func secureListener(t *testing.T) (sandbox.ListenerOptions, *x509.CertPool) {
	t.Helper()
	ca := testutil.NewCA(t, "sandbox test CA")
	cert, key := ca.Issue(t, "sandbox", "127.0.0.1", "localhost")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	return sandbox.ListenerOptions{
		TLS:  &sandbox.ListenerTLS{CertPEM: cert, KeyPEM: key},
		SASL: &sandbox.ListenerSASL{Users: map[string]string{saslUser: saslPassword}},
	}, pool
}

func secureCluster(t *testing.T, opts sandbox.Options) *sandbox.Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 1
	}
	opts.ElectionTimeoutMin = 200 * time.Millisecond
	c, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.CreateTopic(topic, 1, int16(opts.Nodes)); err != nil {
		t.Fatal(err)
	}
	return c
}

// saramaSCRAM is sarama's SCRAM client on xdg-go/scram.
type saramaSCRAM struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *saramaSCRAM) Begin(user, password, authz string) error {
	c, err := s.hash.NewClient(user, password, authz)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}
func (s *saramaSCRAM) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *saramaSCRAM) Done() bool                            { return s.conv.Done() }

func secureSarama(pool *x509.CertPool, mechanism string, handshake int16, password string) *sarama.Config {
	conf := saramaConf()
	conf.Net.TLS.Enable = true
	conf.Net.TLS.Config = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	conf.Net.SASL.Enable = true
	conf.Net.SASL.Handshake = true
	conf.Net.SASL.Version = handshake
	// Sarama's rule: a v0 handshake (bare tokens) comes first.
	conf.ApiVersionsRequest = handshake != sarama.SASLHandshakeV0
	conf.Net.SASL.User, conf.Net.SASL.Password = saslUser, password
	conf.Net.SASL.Mechanism = sarama.SASLMechanism(mechanism)
	switch mechanism {
	case sandbox.SASLScramSHA256:
		conf.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: sha256.New} }
	case sandbox.SASLScramSHA512:
		conf.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: sha512.New} }
	}
	return conf
}

func openBroker(addr string, conf *sarama.Config) (*sarama.Broker, error) {
	b := sarama.NewBroker(addr)
	if err := b.Open(conf); err != nil {
		return nil, err
	}
	if ok, err := b.Connected(); !ok {
		b.Close()
		if err == nil {
			err = errors.New("not connected")
		}
		return nil, err
	}
	return b, nil
}

// Every mechanism, with SaslHandshake v1 (tokens in SaslAuthenticate) and
// v0 (bare tokens), over TLS: the right password writes; a wrong one is
// refused, with Kafka's message where the protocol can carry one.
func TestListenerSASLMechanismsWithSarama(t *testing.T) {
	lo, pool := secureListener(t)
	c := secureCluster(t, sandbox.Options{Listener: lo})
	addr := c.Addrs()[0]
	for _, mech := range sandbox.SASLMechanisms {
		for _, hs := range []int16{sarama.SASLHandshakeV1, sarama.SASLHandshakeV0} {
			name := mech + "/handshake-v" + string(rune('0'+hs))
			t.Run(name, func(t *testing.T) {
				b, err := openBroker(addr, secureSarama(pool, mech, hs, saslPassword))
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				defer b.Close()
				if kerr, err := produce(b, name); err != nil || kerr != sarama.ErrNoError {
					t.Fatalf("produce after authentication: %v %v", kerr, err)
				}

				start := time.Now()
				_, err = openBroker(addr, secureSarama(pool, mech, hs, "wrong"))
				if err == nil {
					t.Fatal("a wrong password was accepted")
				}
				if took := time.Since(start); took > 5*time.Second {
					t.Fatalf("refusal took %s", took)
				}
				if hs == sarama.SASLHandshakeV1 {
					if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) || !strings.Contains(err.Error(), "invalid credentials with SASL mechanism "+mech) {
						t.Fatalf("wrong password: %v", err)
					}
				}
			})
		}
	}
}

// franz-go, a second client implementation, authenticates with PLAIN and
// SCRAM-SHA-512 over TLS and writes and reads.
func TestListenerSASLWithFranzGo(t *testing.T) {
	lo, pool := secureListener(t)
	lo.SASL.Mechanisms = []string{sandbox.SASLPlain, sandbox.SASLScramSHA512}
	c := secureCluster(t, sandbox.Options{Listener: lo})
	for name, opt := range map[string]kgo.Opt{
		"PLAIN":         kgo.SASL(plain.Auth{User: saslUser, Pass: saslPassword}.AsMechanism()),
		"SCRAM-SHA-512": kgo.SASL(kscram.Auth{User: saslUser, Pass: saslPassword}.AsSha512Mechanism()),
	} {
		t.Run(name, func(t *testing.T) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), opt,
				kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
				kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
				kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("via " + name)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			for {
				fs := cl.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("record not read back: %v", err)
				}
				found := false
				fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == "via "+name })
				if found {
					return
				}
			}
		})
	}

	// SCRAM-SHA-256 is not offered here: franz-go is told so.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...),
		kgo.SASL(kscram.Auth{User: saslUser, Pass: saslPassword}.AsSha256Mechanism()),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err == nil || !strings.Contains(err.Error(), "UNSUPPORTED_SASL_MECHANISM") {
		t.Fatalf("SCRAM-SHA-256 where it is not offered: %v", err)
	}
}

// rawClient sends kmsg requests on one connection and reads the answers.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	corr int32
}

func dialTLS(t *testing.T, addr string, pool *x509.CertPool) *rawClient {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn}
}

func (rc *rawClient) do(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	rc.corr++
	_ = rc.conn.SetDeadline(time.Now().Add(5 * time.Second))
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test"))
	if _, err := rc.conn.Write(f.AppendRequest(nil, req, rc.corr)); err != nil {
		rc.t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(rc.conn, size[:]); err != nil {
		rc.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.conn, body); err != nil {
		rc.t.Fatal(err)
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatal(err)
	}
	return resp
}

// closed waits for the node to close the connection.
func (rc *rawClient) closed() bool {
	_ = rc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := rc.conn.Read(make([]byte, 1))
	return errors.Is(err, io.EOF)
}

func handshake(version int16, mechanism string) *kmsg.SASLHandshakeRequest {
	r := kmsg.NewPtrSASLHandshakeRequest()
	r.SetVersion(version)
	r.Mechanism = mechanism
	return r
}

func authenticate(token []byte) *kmsg.SASLAuthenticateRequest {
	r := kmsg.NewPtrSASLAuthenticateRequest()
	r.SetVersion(1)
	r.SASLAuthBytes = token
	return r
}

func metadataFor(name string) *kmsg.MetadataRequest {
	r := kmsg.NewPtrMetadataRequest()
	r.SetVersion(9)
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &name
	r.Topics = append(r.Topics, mt)
	return r
}

// Before authentication a node answers ApiVersions and the SASL exchange
// and nothing else; what comes out of order is answered
// ILLEGAL_SASL_STATE (or UNSUPPORTED_SASL_MECHANISM) and the connection
// closes. After it, a second handshake is illegal but harmless.
func TestListenerRefusesRequestsBeforeAuthentication(t *testing.T) {
	lo, pool := secureListener(t)
	lo.SASL.Mechanisms = []string{sandbox.SASLPlain}
	c := secureCluster(t, sandbox.Options{Listener: lo})
	addr := c.Addrs()[0]

	t.Run("ApiVersions lists the SASL requests", func(t *testing.T) {
		rc := dialTLS(t, addr, pool)
		av := kmsg.NewPtrApiVersionsRequest()
		av.SetVersion(3)
		resp := rc.do(av).(*kmsg.ApiVersionsResponse)
		var keys []int16
		for _, k := range resp.ApiKeys {
			keys = append(keys, k.ApiKey)
		}
		if resp.ErrorCode != 0 || !slices.Contains(keys, int16(kmsg.SASLHandshake)) || !slices.Contains(keys, int16(kmsg.SASLAuthenticate)) {
			t.Fatalf("ApiVersions before authentication: error %d, keys %v", resp.ErrorCode, keys)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		rc := dialTLS(t, addr, pool)
		resp := rc.do(metadataFor(topic)).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 34 || len(resp.Brokers) != 0 {
			t.Fatalf("metadata before authentication: %+v", resp)
		}
		if !rc.closed() {
			t.Fatal("connection left open")
		}
	})
	t.Run("authenticate before handshake", func(t *testing.T) {
		rc := dialTLS(t, addr, pool)
		resp := rc.do(authenticate([]byte("\x00" + saslUser + "\x00" + saslPassword))).(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != 34 || !rc.closed() {
			t.Fatalf("SaslAuthenticate before SaslHandshake: error %d", resp.ErrorCode)
		}
	})
	t.Run("mechanism not offered", func(t *testing.T) {
		rc := dialTLS(t, addr, pool)
		resp := rc.do(handshake(1, "GSSAPI")).(*kmsg.SASLHandshakeResponse)
		if resp.ErrorCode != 33 || !slices.Equal(resp.SupportedMechanisms, []string{"PLAIN"}) || !rc.closed() {
			t.Fatalf("GSSAPI: error %d, offered %v", resp.ErrorCode, resp.SupportedMechanisms)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		rc := dialTLS(t, addr, pool)
		if resp := rc.do(handshake(1, "PLAIN")).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 0 {
			t.Fatalf("handshake: %d", resp.ErrorCode)
		}
		resp := rc.do(authenticate([]byte("\x00" + saslUser + "\x00nope"))).(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != 58 || resp.ErrorMessage == nil || !strings.Contains(*resp.ErrorMessage, "SASL mechanism PLAIN") || !rc.closed() {
			t.Fatalf("wrong password: error %d, message %v", resp.ErrorCode, resp.ErrorMessage)
		}
	})
	t.Run("handshake after authentication", func(t *testing.T) {
		rc := dialTLS(t, addr, pool)
		rc.do(handshake(1, "PLAIN"))
		if resp := rc.do(authenticate([]byte("\x00" + saslUser + "\x00" + saslPassword))).(*kmsg.SASLAuthenticateResponse); resp.ErrorCode != 0 {
			t.Fatalf("authenticate: %d", resp.ErrorCode)
		}
		if resp := rc.do(handshake(1, "PLAIN")).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 34 {
			t.Fatalf("second handshake: %d", resp.ErrorCode)
		}
		resp := rc.do(metadataFor(topic)).(*kmsg.MetadataResponse)
		if len(resp.Brokers) != 1 || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("metadata after authentication: %+v", resp)
		}
	})
}

// A listener without SASL answers a SASL handshake as Kafka's plaintext
// listener does, rather than failing.
func TestListenerWithoutSASLRefusesHandshake(t *testing.T) {
	c := secureCluster(t, sandbox.Options{})
	conn, err := net.Dial("tcp", c.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rc := &rawClient{t: t, conn: conn}
	if resp := rc.do(handshake(1, "PLAIN")).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 34 {
		t.Fatalf("handshake on a plaintext listener: error %d", resp.ErrorCode)
	}
	if resp := rc.do(metadataFor(topic)).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 {
		t.Fatalf("metadata after the refused handshake: %+v", resp)
	}
}

// With a client CA, a client must present a certificate that CA signed.
func TestListenerMutualTLS(t *testing.T) {
	ca := testutil.NewCA(t, "server CA")
	cert, key := ca.Issue(t, "sandbox", "127.0.0.1")
	clientCA := testutil.NewCA(t, "client CA")
	c := secureCluster(t, sandbox.Options{Listener: sandbox.ListenerOptions{TLS: &sandbox.ListenerTLS{CertPEM: cert, KeyPEM: key, ClientCAPEM: clientCA.PEM}}})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	conf := func(certPEM, keyPEM []byte) *sarama.Config {
		conf := saramaConf()
		conf.Net.TLS.Enable = true
		conf.Net.TLS.Config = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if certPEM != nil {
			kp, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			conf.Net.TLS.Config.Certificates = []tls.Certificate{kp}
		}
		return conf
	}
	addr := c.Addrs()[0]
	refused := func(b *sarama.Broker, err error) error {
		if err != nil {
			return err
		}
		defer b.Close()
		// TLS 1.3: the server's verdict on the client's certificate
		// arrives with the first answer.
		_, err = b.GetMetadata(sarama.NewMetadataRequest(sarama.V3_6_0_0, []string{topic}))
		return err
	}
	if err := refused(openBroker(addr, conf(nil, nil))); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("no client certificate: %v", err)
	}
	other := testutil.NewCA(t, "another CA")
	if err := refused(openBroker(addr, conf(other.Issue(t, "intruder")))); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a certificate the client CA did not sign: %v", err)
	}
	b, err := openBroker(addr, conf(clientCA.Issue(t, "raftdrill")))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if kerr, err := produce(b, "mtls"); err != nil || kerr != sarama.ErrNoError {
		t.Fatalf("produce with a client certificate: %v %v", kerr, err)
	}
}

// A sandbox whose nodes are processes gives them its listener: each child,
// and a child restarted after a kill, speaks TLS and wants SCRAM.
func TestProcessPerNodeListener(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Setenv(childEnv, "1")
	lo, pool := secureListener(t)
	c := secureCluster(t, sandbox.Options{Nodes: 3, ProcessPerNode: true, Command: []string{os.Args[0]}, Listener: lo})
	conf := secureSarama(pool, sandbox.SASLScramSHA512, sarama.SASLHandshakeV1, saslPassword)
	for _, addr := range c.Addrs() {
		b, err := openBroker(addr, conf)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		b.Close()
	}
	ctx := context.Background()
	if err := c.Kill(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	b, err := openBroker(c.Addrs()[1], conf)
	if err != nil {
		t.Fatalf("restarted node: %v", err)
	}
	b.Close()
	if b, err := openBroker(c.Addrs()[1], saramaConf()); err == nil {
		b.Close()
		t.Fatal("a restarted node answers plaintext")
	}
	waitFor(t, "a leader of partition 0", 20*time.Second, func() bool {
		l, _, _ := c.Leader(topic, 0)
		return l > 0
	})
	l, _, _ := c.Leader(topic, 0)
	lb, err := openBroker(addrOf(c, l), conf)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	if kerr, err := produce(lb, "through a child"); err != nil || kerr != sarama.ErrNoError {
		t.Fatalf("produce: %v %v", kerr, err)
	}
}
