package sandbox

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Each node answers the Kafka protocol itself, with franz-go's kmsg for the
// message formats (doc.go says why not kfake). A connection reads request
// frames one after another and handles each in its own goroutine, so that
// many produce requests can wait for Raft at once; their answers go back in
// request order, as Kafka's do. An acks=0 produce gets no answer.
//
// ListenerOptions are where TLS and SASL plug in: with a tls.Config the
// listener speaks TLS, and with an Authenticator every request but
// ApiVersions and the SASL exchange waits for a successful authentication.

// ListenerOptions configure every node's Kafka listener (in this process;
// nodes in child processes listen in plaintext for now).
type ListenerOptions struct {
	TLS  *tls.Config
	SASL Authenticator
}

// Authenticator runs a SASL exchange (SaslHandshake, then SaslAuthenticate
// rounds) for a connection.
type Authenticator interface {
	// Mechanisms lists the mechanisms offered, e.g. PLAIN, SCRAM-SHA-256.
	Mechanisms() []string
	// Start begins an exchange with a mechanism from Mechanisms.
	Start(mechanism string) (SASLSession, error)
}

// SASLSession is one connection's SASL exchange.
type SASLSession interface {
	// Step takes the client's token and returns the server's; done is
	// true once the client is authenticated.
	Step(token []byte) (reply []byte, done bool, err error)
}

// maxFrame bounds one request, as Kafka's socket.request.max.bytes does.
const maxFrame = 100 << 20

// maxInFlight bounds the requests one connection may have outstanding.
const maxInFlight = 512

type kafkaServer struct {
	n  *node
	ln net.Listener
	lo ListenerOptions

	stopc chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newKafkaServer(n *node, ln net.Listener, lo ListenerOptions) *kafkaServer {
	if lo.TLS != nil {
		ln = tls.NewListener(ln, lo.TLS)
	}
	return &kafkaServer{n: n, ln: ln, lo: lo, stopc: make(chan struct{}), conns: map[net.Conn]struct{}{}}
}

func (s *kafkaServer) start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			select {
			case <-s.stopc:
				s.mu.Unlock()
				c.Close()
				return
			default:
			}
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
		}
	}()
}

// stop closes the listener (new connections are refused by the kernel)
// and every connection at once, as a dying process's sockets close.
func (s *kafkaServer) stop() {
	s.mu.Lock()
	close(s.stopc)
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// clientConn is one client connection's state.
type clientConn struct {
	s     *kafkaServer
	c     net.Conn
	order chan chan []byte // answers, in request order

	mu            sync.Mutex
	authenticated bool
	sasl          SASLSession
}

type reqHeader struct {
	key, version int16
	corr         int32
	clientID     *string
}

func (s *kafkaServer) serve(c net.Conn) {
	cc := &clientConn{s: s, c: c, order: make(chan chan []byte, maxInFlight), authenticated: s.lo.SASL == nil}
	done := make(chan struct{})
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		cc.writeLoop(done)
	}()
	defer func() {
		close(done)
		c.Close()
		writer.Wait()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		frame, err := readFrame(r)
		if err != nil {
			return
		}
		if !s.n.gate.wait(s.stopc) {
			return
		}
		hdr, body, err := parseHeader(frame)
		if err != nil {
			return
		}
		req := kmsg.RequestForKey(hdr.key)
		if req == nil || !supported(hdr.key, hdr.version) {
			if hdr.key == int16(kmsg.ApiVersions) {
				// Answer with what is supported, in version 0, as
				// Kafka does, so the client can pick again.
				slot := make(chan []byte, 1)
				cc.order <- slot
				resp := apiVersionsResponse(s.lo.SASL != nil)
				resp.ErrorCode = 35 // UNSUPPORTED_VERSION
				resp.SetVersion(0)
				slot <- encodeResponse(hdr, resp)
				continue
			}
			s.n.log.Debug("unsupported request; closing the connection", "key", hdr.key, "version", hdr.version)
			return
		}
		req.SetVersion(hdr.version)
		if err := req.ReadFrom(body); err != nil {
			s.n.log.Debug("malformed request; closing the connection", "key", hdr.key, "err", err)
			return
		}
		if !cc.isAuthenticated() && !saslAllowed(hdr.key) {
			s.n.log.Debug("request before authentication; closing the connection", "key", hdr.key)
			return
		}
		if pr, ok := req.(*kmsg.ProduceRequest); ok && pr.Acks == 0 {
			// No answer, but the next request waits until this one is
			// in the log, as Kafka's request handling does: a client
			// cannot flood the node faster than it appends.
			s.n.handleProduce(pr)
			continue
		}
		slot := make(chan []byte, 1)
		select {
		case cc.order <- slot:
		case <-s.stopc:
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			resp := cc.handle(req)
			if resp == nil {
				slot <- nil
				return
			}
			slot <- encodeResponse(hdr, resp)
		}()
	}
}

func (cc *clientConn) isAuthenticated() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.authenticated
}

func saslAllowed(key int16) bool {
	return key == int16(kmsg.ApiVersions) || key == int16(kmsg.SASLHandshake) || key == int16(kmsg.SASLAuthenticate)
}

func (cc *clientConn) writeLoop(done <-chan struct{}) {
	w := bufio.NewWriterSize(cc.c, 64<<10)
	for {
		var slot chan []byte
		select {
		case slot = <-cc.order:
		case <-done:
			return
		}
		var b []byte
		select {
		case b = <-slot:
		default:
			// Not answered yet: what is buffered goes out first.
			if err := w.Flush(); err != nil {
				return
			}
			select {
			case b = <-slot:
			case <-done:
				return
			}
		}
		if b == nil {
			cc.c.Close() // the handler gave up on this connection
			return
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		if len(cc.order) == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > maxFrame || n < 8 {
		return nil, errors.New("sandbox: bad request frame size")
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil {
		return nil, err
	}
	return frame, nil
}

// parseHeader reads a request header (v1, or v2 for flexible requests).
func parseHeader(frame []byte) (reqHeader, []byte, error) {
	r := kbin.Reader{Src: frame}
	var h reqHeader
	h.key, h.version, h.corr = r.Int16(), r.Int16(), r.Int32()
	h.clientID = r.NullableString()
	if req := kmsg.RequestForKey(h.key); req != nil {
		req.SetVersion(h.version)
		if req.IsFlexible() {
			kmsg.SkipTags(&r)
		}
	}
	if !r.Ok() {
		return h, nil, errors.New("short request header")
	}
	return h, r.Src, nil
}

func encodeResponse(h reqHeader, resp kmsg.Response) []byte {
	out := make([]byte, 8, 64)
	binary.BigEndian.PutUint32(out[4:], uint32(h.corr))
	// ApiVersions answers carry no header tags, whatever their version.
	if resp.IsFlexible() && h.key != int16(kmsg.ApiVersions) {
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

func (cc *clientConn) handle(req kmsg.Request) kmsg.Response {
	n := cc.s.n
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := apiVersionsResponse(cc.s.lo.SASL != nil)
		resp.SetVersion(r.Version)
		return resp
	case *kmsg.MetadataRequest:
		return n.handleMetadata(r)
	case *kmsg.ProduceRequest:
		return n.handleProduce(r)
	case *kmsg.FetchRequest:
		return n.handleFetch(r)
	case *kmsg.ListOffsetsRequest:
		return n.handleListOffsets(r)
	case *kmsg.CreateTopicsRequest:
		return n.handleCreateTopics(r)
	case *kmsg.DeleteTopicsRequest:
		return n.handleDeleteTopics(r)
	case *kmsg.InitProducerIDRequest:
		return n.handleInitProducerID(r)
	case *kmsg.SASLHandshakeRequest:
		return cc.handleSASLHandshake(r)
	case *kmsg.SASLAuthenticateRequest:
		return cc.handleSASLAuthenticate(r)
	}
	return nil
}

func (cc *clientConn) handleSASLHandshake(r *kmsg.SASLHandshakeRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
	auth := cc.s.lo.SASL
	resp.SupportedMechanisms = auth.Mechanisms()
	sess, err := auth.Start(r.Mechanism)
	if err != nil {
		resp.ErrorCode = 33 // UNSUPPORTED_SASL_MECHANISM
		return resp
	}
	cc.mu.Lock()
	cc.sasl = sess
	cc.mu.Unlock()
	return resp
}

func (cc *clientConn) handleSASLAuthenticate(r *kmsg.SASLAuthenticateRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	cc.mu.Lock()
	sess := cc.sasl
	cc.mu.Unlock()
	if sess == nil {
		resp.ErrorCode = 34 // ILLEGAL_SASL_STATE
		return resp
	}
	reply, done, err := sess.Step(r.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = 58 // SASL_AUTHENTICATION_FAILED
		msg := err.Error()
		resp.ErrorMessage = &msg
		return resp
	}
	resp.SASLAuthBytes = reply
	if done {
		cc.mu.Lock()
		cc.authenticated, cc.sasl = true, nil
		cc.mu.Unlock()
	}
	return resp
}

// versions are the requests a node answers and the versions it handles:
// exactly what ApiVersions advertises.
var versions = map[kmsg.Key][2]int16{
	kmsg.Produce:        {3, 12}, // v3+: record batches v2; v13 names topics by id
	kmsg.Fetch:          {4, 12}, // v13 names topics by id
	kmsg.ListOffsets:    {1, 7},
	kmsg.Metadata:       {1, 12},
	kmsg.ApiVersions:    {0, 3},
	kmsg.CreateTopics:   {0, 7},
	kmsg.DeleteTopics:   {0, 6},
	kmsg.InitProducerID: {0, 4},
}

var saslVersions = map[kmsg.Key][2]int16{
	kmsg.SASLHandshake:    {0, 1},
	kmsg.SASLAuthenticate: {0, 2},
}

func supported(key, version int16) bool {
	v, ok := versions[kmsg.Key(key)]
	if !ok {
		v, ok = saslVersions[kmsg.Key(key)]
	}
	return ok && version >= v[0] && version <= v[1]
}

func apiVersionsResponse(withSASL bool) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	add := func(m map[kmsg.Key][2]int16) {
		for k, v := range m {
			ak := kmsg.NewApiVersionsResponseApiKey()
			ak.ApiKey, ak.MinVersion, ak.MaxVersion = int16(k), v[0], v[1]
			resp.ApiKeys = append(resp.ApiKeys, ak)
		}
	}
	add(versions)
	if withSASL {
		add(saslVersions)
	}
	sortAPIKeys(resp.ApiKeys)
	return resp
}

func sortAPIKeys(keys []kmsg.ApiVersionsResponseApiKey) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j].ApiKey < keys[j-1].ApiKey; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}
