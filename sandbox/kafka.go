package sandbox

import (
	"bufio"
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
// A listener with TLS runs the handshake first, and one with SASL runs the
// authentication exchange (listener.go) before the loop above starts.

// maxFrame bounds one request, as Kafka's socket.request.max.bytes does.
const maxFrame = 100 << 20

// maxInFlight bounds the requests one connection may have outstanding.
const maxInFlight = 512

type kafkaServer struct {
	n   *node
	ln  net.Listener
	lis *listener

	stopc chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// newKafkaServer serves Kafka on ln. TLS is started per connection rather
// than with tls.NewListener, so that conns holds the TCP connections and a
// kill drops them as a dying process does, without a close_notify.
func newKafkaServer(n *node, ln net.Listener, lis *listener) *kafkaServer {
	return &kafkaServer{n: n, ln: ln, lis: lis, stopc: make(chan struct{}), conns: map[net.Conn]struct{}{}}
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

}

type reqHeader struct {
	key, version int16
	corr         int32
	clientID     *string
}

func (s *kafkaServer) serve(c net.Conn) {
	if s.lis.tls != nil {
		var ok bool
		if c, ok = s.startTLS(c); !ok {
			return
		}
		defer c.Close()
	}
	cc := &clientConn{s: s, c: c, order: make(chan chan []byte, maxInFlight)}
	r := bufio.NewReaderSize(c, 64<<10)
	if s.lis.sasl != nil && !cc.authenticate(r) {
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
		if !s.n.gate.wait(s.stopc) {
			return
		}
		hdr, body, err := parseHeader(frame)
		if err != nil {
			return
		}
		if hdr.key == int16(kmsg.ApiVersions) && !supported(hdr.key, hdr.version) {
			slot := make(chan []byte, 1)
			cc.order <- slot
			slot <- encodeResponse(hdr, cc.apiVersions(hdr))
			continue
		}
		req := kmsg.RequestForKey(hdr.key)
		if req == nil || !supported(hdr.key, hdr.version) {
			s.n.log.Debug("unsupported request; closing the connection", "key", hdr.key, "version", hdr.version)
			return
		}
		req.SetVersion(hdr.version)
		if err := req.ReadFrom(body); err != nil {
			s.n.log.Debug("malformed request; closing the connection", "key", hdr.key, "err", err)
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

// apiVersions answers an ApiVersions request. One of a version the node
// does not speak is answered in version 0 with UNSUPPORTED_VERSION and
// what is supported, as Kafka does, so the client can pick again.
func (cc *clientConn) apiVersions(hdr reqHeader) kmsg.Response {
	resp := apiVersionsResponse(cc.s.lis.sasl != nil)
	if !supported(hdr.key, hdr.version) {
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
		resp := apiVersionsResponse(cc.s.lis.sasl != nil)
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
		// Authenticated already, or a listener without SASL: Kafka's
		// answer, as it does not re-authenticate by default.
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.ErrorCode = errIllegalSASLState
		return resp
	case *kmsg.SASLAuthenticateRequest:
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = errIllegalSASLState
		msg := "SaslAuthenticate request received after successful authentication"
		if cc.s.lis.sasl == nil {
			msg = "this listener does not take SASL"
		}
		resp.ErrorMessage = &msg
		return resp
	}
	return nil
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
