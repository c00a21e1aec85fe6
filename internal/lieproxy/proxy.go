// Package lieproxy is a Kafka-protocol proxy in front of each node of a
// cluster that makes the cluster lie: one node hides acked records, shifts
// an ack's offset, flips a byte in a batch (with its CRC fixed or not),
// serves a stale record, stops catching up, or refuses to be read. It is
// test equipment written apart from the sandbox and from the checker: the
// drills are pointed at the proxy's addresses while the sandbox's own
// controller kills and restarts the nodes behind it, so a drill test does
// not depend on how the sandbox stores or serves anything.
//
// It learns what it needs from the traffic it forwards: every produce
// answer tells it an acked offset (before any lie changes it), every
// metadata answer who leads each partition. A lie is aimed at a role — the
// partition's leader, or one follower (the highest-numbered other replica)
// — as the latest metadata names it when the fetch is answered.
package lieproxy

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Proxy listens for each node and forwards to it.
type Proxy struct {
	upstream  []string
	listeners []net.Listener
	st        *State

	mu   sync.Mutex
	lies []*Lie

	wg     sync.WaitGroup
	connMu sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

// Start listens on a local port for each upstream address (node i+1 at
// upstream[i]).
func Start(upstream []string) (*Proxy, error) {
	p := &Proxy{upstream: upstream, st: newState(len(upstream)), conns: map[net.Conn]bool{}}
	for i := range upstream {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			p.Close()
			return nil, err
		}
		p.listeners = append(p.listeners, l)
		node := int32(i + 1)
		p.wg.Go(func() { p.accept(l, node) })
	}
	return p, nil
}

// Addrs are the addresses to give the drill: node i+1 at Addrs()[i].
func (p *Proxy) Addrs() []string {
	out := make([]string, len(p.listeners))
	for i, l := range p.listeners {
		out[i] = l.Addr().String()
	}
	return out
}

// Tell replaces the lies the proxy tells.
func (p *Proxy) Tell(lies ...*Lie) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lies = lies
}

// Told reports how many times each lie changed an answer, by name.
func (p *Proxy) Told() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for _, l := range p.lies {
		out[l.Name] = l.told()
	}
	return out
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	for _, l := range p.listeners {
		l.Close()
	}
	p.connMu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.connMu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn, on bool) bool {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	if on && p.closed {
		return false
	}
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *Proxy) accept(l net.Listener, node int32) {
	for {
		client, err := l.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.serve(client, node) })
	}
}

// pending is what the proxy remembers of a request until its answer.
type pending struct {
	key, version int16
}

// serve forwards one client connection to its node, one frame at a time.
func (p *Proxy) serve(client net.Conn, node int32) {
	up, err := net.DialTimeout("tcp", p.upstream[node-1], 3*time.Second)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, true) || !p.track(up, true) {
		client.Close()
		up.Close()
		return
	}
	defer func() {
		client.Close()
		up.Close()
		p.track(client, false)
		p.track(up, false)
	}()
	var mu sync.Mutex
	inflight := map[int32]pending{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			frame, err := readFrame(client)
			if err != nil || len(frame) < 12 {
				up.Close()
				return
			}
			mu.Lock()
			inflight[int32(binary.BigEndian.Uint32(frame[8:12]))] = pending{
				key: int16(binary.BigEndian.Uint16(frame[4:6])), version: int16(binary.BigEndian.Uint16(frame[6:8]))}
			mu.Unlock()
			if _, err := up.Write(frame); err != nil {
				return
			}
		}
	}()
	for {
		frame, err := readFrame(up)
		if err != nil || len(frame) < 8 {
			client.Close()
			<-done
			return
		}
		mu.Lock()
		req, ok := inflight[int32(binary.BigEndian.Uint32(frame[4:8]))]
		delete(inflight, int32(binary.BigEndian.Uint32(frame[4:8])))
		mu.Unlock()
		if ok {
			frame = p.rewrite(node, req, frame)
		}
		if _, err := client.Write(frame); err != nil {
			<-done
			return
		}
	}
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 256<<20 {
		return nil, errors.New("lieproxy: frame too large")
	}
	frame := make([]byte, 4+n)
	copy(frame, size[:])
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}

// rewrite learns from an answer and lets the lies change it.
func (p *Proxy) rewrite(node int32, req pending, frame []byte) []byte {
	switch kmsg.Key(req.key) {
	case kmsg.Produce, kmsg.Fetch, kmsg.Metadata:
	default:
		return frame
	}
	r := kmsg.RequestForKey(req.key)
	resp := r.ResponseKind()
	resp.SetVersion(req.version)
	body := frame[8:]
	flexible := resp.IsFlexible()
	if flexible {
		if len(body) == 0 || body[0] != 0 {
			return frame
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return frame
	}
	p.mu.Lock()
	lies := p.lies
	p.mu.Unlock()
	changed := false
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		p.st.learnLeaders(node, r)
		return frame
	case *kmsg.ProduceResponse:
		p.st.learnAcks(r)
		for _, l := range lies {
			if l.produce != nil && l.produce(r) {
				l.count()
				changed = true
			}
		}
	case *kmsg.FetchResponse:
		for i := range r.Topics {
			t := &r.Topics[i]
			for j := range t.Partitions {
				rp := &t.Partitions[j]
				tp := TP{t.Topic, rp.Partition}
				for _, l := range lies {
					if l.fetch != nil && p.st.plays(node, tp, l.On) && l.fetch(p.st, tp, rp) {
						l.count()
						changed = true
					}
				}
			}
		}
	}
	if !changed {
		return frame
	}
	out := append([]byte(nil), frame[:8]...)
	if flexible {
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}
