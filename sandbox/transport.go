package sandbox

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The transport carries Raft messages between nodes over loopback TCP, as
// separate processes would need. Each node dials every peer once and keeps
// the connection; it reads what peers send on the connections they dialed.
// A frame is [len u32][kind u8][group u64][payload]: a Raft message of one
// group, or a ping. Nodes ping every peer each heartbeat interval; a ping
// says which groups the sender leads (with term, commit index and in-sync
// replicas), so that a node knows the leader of partitions it holds no
// replica of, and whether it has caught up after a restart.
//
// Each node keeps two connections to each peer: one for appends (MsgApp,
// MsgSnap), in order, and one for everything small (heartbeats, votes,
// answers, pings), so that a heavy stream of appends never delays the
// messages that keep leaders in office.
//
// Links can be cut (Partition): a cut link drops frames both where they are
// sent and where they arrive, as a firewall rule would, and leaves client
// traffic alone.
//
// A link delay (nodeSpec.LinkDelay) holds every frame that long in its
// sender's queue before it goes on the wire: loopback answers in tens of
// microseconds, a network between brokers in hundreds. Frames are held
// each on its own clock, so the delay adds latency, not a throughput
// limit. A killed node loses what it still held, as a crashed host loses
// what it had not yet sent; that is the window in which an acks=1 write
// the leader answered has reached no follower.

const (
	frameRaft byte = 1
	framePing byte = 2

	transportMagic = 0x72616674 // "raft"
	maxRaftFrame   = 256 << 20
	sendQueueLen   = 4096
)

type transport struct {
	self    int32
	ln      net.Listener
	n       *node
	allowed func(from, to int32) bool
	peers   map[int32]*peer // fixed at start

	stopc chan struct{}
	wg    sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

type peer struct {
	id    int32
	addr  string
	bulk  chan outFrame // appends and snapshots
	small chan outFrame // everything else

	lastHeard atomic.Int64 // unix nanoseconds of the last frame from it
	inbound   atomic.Int32 // live connections it dialed to us
	claims    atomic.Pointer[claimSet]
}

// outFrame is a frame waiting in its sender's queue until due (unix
// nanoseconds; 0: at once).
type outFrame struct {
	b   []byte
	due int64
}

// claimSet is what a peer's last ping said it leads.
type claimSet struct {
	at     time.Time
	groups map[uint64]claim
}

type claim struct {
	term, commit uint64
	isr          uint64 // bit n: node n is in sync
}

func newTransport(n *node, ln net.Listener, peers []peerSpec, allowed func(from, to int32) bool) *transport {
	t := &transport{self: n.spec.ID, ln: ln, n: n, allowed: allowed, peers: map[int32]*peer{},
		stopc: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	for _, p := range peers {
		if p.ID == n.spec.ID {
			continue
		}
		t.peers[p.ID] = &peer{id: p.ID, addr: p.RaftAddr, bulk: make(chan outFrame, sendQueueLen), small: make(chan outFrame, sendQueueLen)}
	}
	return t
}

func (t *transport) start() {
	t.wg.Add(1)
	go t.acceptLoop()
	for _, p := range t.peers {
		t.wg.Add(2)
		go t.sendLoop(p, p.bulk)
		go t.sendLoop(p, p.small)
	}
}

// stop closes every socket at once, as a dying process's would be.
func (t *transport) stop() {
	close(t.stopc)
	t.ln.Close()
	t.mu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

func (t *transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.stopc:
		return false
	default:
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *transport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	c.Close()
}

// send queues a frame for a peer; a full queue or a cut link drops it, as
// a network may. bulk frames (appends) keep their order among themselves.
func (t *transport) send(to int32, kind byte, group uint64, payload []byte, bulk bool) {
	p := t.peers[to]
	if p == nil || !t.allowed(t.self, to) {
		return
	}
	frame := make([]byte, 13, 13+len(payload))
	binary.BigEndian.PutUint32(frame, uint32(9+len(payload)))
	frame[4] = kind
	binary.BigEndian.PutUint64(frame[5:], group)
	frame = append(frame, payload...)
	q := p.small
	if bulk {
		q = p.bulk
	}
	of := outFrame{b: frame}
	if d := t.n.spec.LinkDelay; d > 0 {
		of.due = time.Now().Add(d).UnixNano()
	}
	select {
	case q <- of:
	default:
	}
}

func (t *transport) sendLoop(p *peer, q chan outFrame) {
	defer t.wg.Done()
	backoff := 20 * time.Millisecond
	for {
		select {
		case <-t.stopc:
			return
		default:
		}
		d := net.Dialer{Timeout: time.Second}
		c, err := d.Dial("tcp", p.addr)
		if err != nil {
			// The peer is down: what was queued for it is lost, as it
			// would be with the connection of a real network.
			drain(q)
			select {
			case <-t.stopc:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 200*time.Millisecond)
			continue
		}
		backoff = 20 * time.Millisecond
		if !t.track(c) {
			c.Close()
			return
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		t.writeFrames(c, q)
		t.untrack(c)
		drain(q)
	}
}

func drain(q chan outFrame) {
	for {
		select {
		case <-q:
		default:
			return
		}
	}
}

func (t *transport) writeFrames(c net.Conn, q chan outFrame) {
	w := bufio.NewWriterSize(c, 64<<10)
	var hello [8]byte
	binary.BigEndian.PutUint32(hello[:], transportMagic)
	binary.BigEndian.PutUint32(hello[4:], uint32(t.self))
	if _, err := w.Write(hello[:]); err != nil {
		return
	}
	// The reader side tells us when the peer closed the connection.
	dead := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c)
		close(dead)
	}()
	defer func() { c.Close(); <-dead }()
	var held *outFrame // taken from the queue, not yet due
	var timer *time.Timer
	for {
		if !t.n.gate.wait(t.stopc) {
			return
		}
		var f outFrame
		if held != nil {
			f, held = *held, nil
		} else {
			select {
			case <-t.stopc:
				return
			case <-dead:
				return
			case f = <-q:
			}
		}
		if wait := time.Until(time.Unix(0, f.due)); f.due != 0 && wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
				defer timer.Stop()
			} else {
				timer.Reset(wait)
			}
			select {
			case <-t.stopc:
				return
			case <-dead:
				return
			case <-timer.C:
			}
		}
		if _, err := w.Write(f.b); err != nil {
			return
		}
		// Batch whatever else is queued and due, then flush once.
		now := time.Now().UnixNano()
		for more := true; more; {
			select {
			case g := <-q:
				if g.due > now {
					held, more = &g, false
					break
				}
				if _, err := w.Write(g.b); err != nil {
					return
				}
			default:
				more = false
			}
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}

func (t *transport) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		if !t.track(c) {
			c.Close()
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer t.untrack(c)
			t.readFrames(c)
		}()
	}
}

var errBadFrame = errors.New("bad transport frame")

func (t *transport) readFrames(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	var hello [8]byte
	if _, err := io.ReadFull(r, hello[:]); err != nil || binary.BigEndian.Uint32(hello[:]) != transportMagic {
		return
	}
	p := t.peers[int32(binary.BigEndian.Uint32(hello[4:]))]
	if p == nil {
		return
	}
	p.inbound.Add(1)
	defer p.inbound.Add(-1)
	var hdr [13]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n < 9 || n > maxRaftFrame {
			return
		}
		payload := make([]byte, n-9)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		// A paused node reads nothing more (the sender's socket buffer
		// fills up, as with a stopped process).
		if !t.n.gate.wait(t.stopc) {
			return
		}
		if !t.allowed(p.id, t.self) {
			continue
		}
		p.lastHeard.Store(time.Now().UnixNano())
		group := binary.BigEndian.Uint64(hdr[5:])
		switch hdr[4] {
		case frameRaft:
			t.n.deliver(group, payload)
		case framePing:
			if cs, err := decodeClaims(payload); err == nil {
				p.claims.Store(cs)
			}
		}
	}
}

// reachable reports whether a peer is connected and was heard from within
// the liveness timeout: what this node believes about it.
func (t *transport) reachable(id int32, within time.Duration) bool {
	if id == t.self {
		return true
	}
	p := t.peers[id]
	if p == nil || p.inbound.Load() == 0 {
		return false
	}
	return time.Since(time.Unix(0, p.lastHeard.Load())) < within
}

func encodeClaims(groups map[uint64]claim) []byte {
	out := make([]byte, 0, 4+32*len(groups))
	out = binary.BigEndian.AppendUint32(out, uint32(len(groups)))
	for id, c := range groups {
		out = binary.BigEndian.AppendUint64(out, id)
		out = binary.BigEndian.AppendUint64(out, c.term)
		out = binary.BigEndian.AppendUint64(out, c.commit)
		out = binary.BigEndian.AppendUint64(out, c.isr)
	}
	return out
}

func decodeClaims(b []byte) (*claimSet, error) {
	if len(b) < 4 {
		return nil, errBadFrame
	}
	n := int(binary.BigEndian.Uint32(b))
	if len(b) != 4+32*n {
		return nil, errBadFrame
	}
	cs := &claimSet{at: time.Now(), groups: make(map[uint64]claim, n)}
	for i := 0; i < n; i++ {
		o := 4 + 32*i
		cs.groups[binary.BigEndian.Uint64(b[o:])] = claim{
			term:   binary.BigEndian.Uint64(b[o+8:]),
			commit: binary.BigEndian.Uint64(b[o+16:]),
			isr:    binary.BigEndian.Uint64(b[o+24:]),
		}
	}
	return cs, nil
}
