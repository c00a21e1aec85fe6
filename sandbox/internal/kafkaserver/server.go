package kafkaserver

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Each sandbox node answers the Kafka protocol itself, with franz-go's kmsg
// for the message formats (the sandbox's doc.go says why not kfake). A
// connection reads request frames one after another and handles each in
// its own goroutine, so that many produce requests can wait for Raft at
// once; their answers go back in request order, as Kafka's do. An acks=0
// produce gets no answer.
//
// A listener with TLS runs the handshake first, and one with SASL runs the
// authentication exchange (auth.go) before the loop above starts.

// maxFrame bounds one request, as Kafka's socket.request.max.bytes does.
const maxFrame = 100 << 20

// maxInFlight bounds the requests one connection may have outstanding.
const maxInFlight = 512

// Config is what a server needs of the node it serves.
type Config struct {
	// Versions are the requests Handle answers, with the versions it
	// handles. The server answers ApiVersions and the SASL requests
	// itself; ApiVersions advertises those and these.
	Versions map[kmsg.Key][2]int16
	// Handle answers one request of a version Versions names, each in a
	// goroutine of its own; nil closes the connection. An acks=0 produce
	// is handled before the next request is read, and gets no answer.
	Handle func(req kmsg.Request) kmsg.Response
	// Wait is the node's gate: it blocks while the node is paused, and is
	// false when stop closed first.
	Wait func(stop <-chan struct{}) bool
	// Listener is what the clients must speak; nil: plaintext without
	// authentication.
	Listener *Listener
	Log      *slog.Logger
}

// Server serves the Kafka protocol on one listener.
type Server struct {
	cfg Config
	ln  net.Listener
	lis *Listener

	stopc chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// New makes a server of Kafka on ln; Start starts it. TLS is started per
// connection rather than with tls.NewListener, so that conns holds the TCP
// connections and a kill drops them as a dying process does, without a
// close_notify.
func New(ln net.Listener, cfg Config) *Server {
	lis := cfg.Listener
	if lis == nil {
		lis = &Listener{}
	}
	return &Server{cfg: cfg, ln: ln, lis: lis, stopc: make(chan struct{}), conns: map[net.Conn]struct{}{}}
}

// Start accepts connections until Stop.
func (s *Server) Start() {
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

// Stop closes the listener (new connections are refused by the kernel)
// and every connection at once, as a dying process's sockets close.
func (s *Server) Stop() {
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
	s     *Server
	c     net.Conn
	order chan chan []byte // answers, in request order
}

type reqHeader struct {
	key, version int16
	corr         int32
	clientID     *string
	// req is an empty request of the key and version, for the body to
	// be read into; nil for a key kmsg does not know.
	req kmsg.Request
}

func (s *Server) serve(c net.Conn) {
	if s.lis.TLS != nil {
		var ok bool
		if c, ok = s.startTLS(c); !ok {
			return
		}
		defer c.Close()
	}
	cc := &clientConn{s: s, c: c, order: make(chan chan []byte, maxInFlight)}
	r := bufio.NewReaderSize(c, 64<<10)
	if s.lis.SASL != nil && !cc.authenticate(r) {
		return
	}
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
	for {
		frame, err := readFrame(r)
		if err != nil {
			return
		}
		if !s.cfg.Wait(s.stopc) {
			return
		}
		hdr, body, err := parseHeader(frame)
		if err != nil {
			return
		}
		if hdr.key == int16(kmsg.ApiVersions) && !s.supported(hdr.key, hdr.version) {
			slot := make(chan []byte, 1)
			cc.order <- slot
			slot <- encodeResponse(hdr, cc.apiVersions(hdr))
			continue
		}
		req := hdr.req
		if req == nil || !s.supported(hdr.key, hdr.version) {
			s.cfg.Log.Debug("unsupported request; closing the connection", "key", hdr.key, "version", hdr.version)
			return
		}
		if err := req.ReadFrom(body); err != nil {
			s.cfg.Log.Debug("malformed request; closing the connection", "key", hdr.key, "err", err)
			return
		}
		if pr, ok := req.(*kmsg.ProduceRequest); ok && pr.Acks == 0 {
			// No answer, but the next request waits until this one is
			// in the log, as Kafka's request handling does: a client
			// cannot flood the node faster than it appends.
			s.cfg.Handle(pr)
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

// apiVersions answers an ApiVersions request. One of a version the node
// does not speak is answered in version 0 with UNSUPPORTED_VERSION and
// what is supported, as Kafka does, so the client can pick again.
func (cc *clientConn) apiVersions(hdr reqHeader) kmsg.Response {
	resp := cc.s.apiVersionsResponse()
	if !cc.s.supported(hdr.key, hdr.version) {
		resp.ErrorCode = 35 // UNSUPPORTED_VERSION
		resp.SetVersion(0)
		return resp
	}
	resp.SetVersion(hdr.version)
	return resp
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
	return readSized(r, 8, maxFrame, "request frame")
}

// readSized reads one size-prefixed message of what (a request frame, a
// bare SASL token) whose size must be within [lo, hi].
func readSized(r io.Reader, lo, hi uint32, what string) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < lo || n > hi {
		return nil, fmt.Errorf("sandbox: bad %s size %d", what, n)
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, err
	}
	return out, nil
}

// parseHeader reads a request header (v1, or v2 for flexible requests).
func parseHeader(frame []byte) (reqHeader, []byte, error) {
	r := kbin.Reader{Src: frame}
	var h reqHeader
	h.key, h.version, h.corr = r.Int16(), r.Int16(), r.Int32()
	h.clientID = r.NullableString()
	if h.req = kmsg.RequestForKey(h.key); h.req != nil {
		h.req.SetVersion(h.version)
		if h.req.IsFlexible() {
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

// handle answers a request: ApiVersions and the SASL requests here,
// everything else with Config.Handle.
func (cc *clientConn) handle(req kmsg.Request) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := cc.s.apiVersionsResponse()
		resp.SetVersion(r.Version)
		return resp
	case *kmsg.SASLHandshakeRequest:
		// Authenticated already, or a listener without SASL: Kafka's
		// answer, as it does not re-authenticate by default.
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.ErrorCode = errIllegalSASLState
		return resp
	case *kmsg.SASLAuthenticateRequest:
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = errIllegalSASLState
		msg := "SaslAuthenticate request received after successful authentication"
		if cc.s.lis.SASL == nil {
			msg = "this listener does not take SASL"
		}
		resp.ErrorMessage = &msg
		return resp
	}
	return cc.s.cfg.Handle(req)
}

// ownVersions are the requests the server answers itself on every
// listener; the SASL requests too, but they are advertised only on a
// listener with SASL.
var ownVersions = map[kmsg.Key][2]int16{
	kmsg.ApiVersions: {0, 3},
}

var saslVersions = map[kmsg.Key][2]int16{
	kmsg.SASLHandshake:    {0, 1},
	kmsg.SASLAuthenticate: {0, 2},
}

func (s *Server) supported(key, version int16) bool {
	v, ok := s.cfg.Versions[kmsg.Key(key)]
	if !ok {
		v, ok = ownVersions[kmsg.Key(key)]
	}
	if !ok {
		v, ok = saslVersions[kmsg.Key(key)]
	}
	return ok && version >= v[0] && version <= v[1]
}

// apiVersionsResponse lists the requests the server answers: exactly
// what it handles.
func (s *Server) apiVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	add := func(m map[kmsg.Key][2]int16) {
		for k, v := range m {
			ak := kmsg.NewApiVersionsResponseApiKey()
			ak.ApiKey, ak.MinVersion, ak.MaxVersion = int16(k), v[0], v[1]
			resp.ApiKeys = append(resp.ApiKeys, ak)
		}
	}
	add(s.cfg.Versions)
	add(ownVersions)
	if s.lis.SASL != nil {
		add(saslVersions)
	}
	slices.SortFunc(resp.ApiKeys, func(a, b kmsg.ApiVersionsResponseApiKey) int { return cmp.Compare(a.ApiKey, b.ApiKey) })
	return resp
}
