package transport

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
// Links can be cut (the sandbox's Cluster.Partition): a cut link drops frames both where they are
// sent and where they arrive, as a firewall rule would, and leaves client
// traffic alone.
//
// A link delay (Config.LinkDelay) holds every frame that long in its
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

// Config is what a transport needs of its node.
type Config struct {
	Self  int32
	Peers []Peer // every node, Self too
	// LinkDelay holds every frame that long before it goes on the wire.
	LinkDelay time.Duration
	// Allowed says whether the link from one node to another is up.
	Allowed func(from, to int32) bool
	// Wait is the node's gate: it blocks while the node is paused, and is
	// false when stop closed first.
	Wait func(stop <-chan struct{}) bool
	// Deliver takes a Raft message of a group from a peer.
	Deliver func(group uint64, msg []byte)
}

// Peer is a node and the address of its transport.
type Peer struct {
	ID   int32
	Addr string
}

// Transport is one node's end of the links to its peers.
type Transport struct {
	cfg   Config
	ln    net.Listener
	peers map[int32]*peer // fixed at start

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
	groups map[uint64]Claim
}

// Claim is what a ping says of a group its sender leads.
type Claim struct {
	Term, Commit uint64
	ISR          uint64 // bit n: node n is in sync
}

// New makes a node's transport, listening on ln; Start starts it.
func New(ln net.Listener, cfg Config) *Transport {
	t := &Transport{cfg: cfg, ln: ln, peers: map[int32]*peer{},
		stopc: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	for _, p := range cfg.Peers {
		if p.ID == cfg.Self {
			continue
		}
		t.peers[p.ID] = &peer{id: p.ID, addr: p.Addr, bulk: make(chan outFrame, sendQueueLen), small: make(chan outFrame, sendQueueLen)}
	}
	return t
}

// Start dials every peer and accepts their connections until Stop.
func (t *Transport) Start() {
	t.wg.Add(1)
	go t.acceptLoop()
	for _, p := range t.peers {
		t.wg.Add(2)
		go t.sendLoop(p, p.bulk)
		go t.sendLoop(p, p.small)
	}
}

// Stop closes every socket at once, as a dying process's would be.
func (t *Transport) Stop() {
	close(t.stopc)
	t.ln.Close()
	t.mu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

func (t *Transport) track(c net.Conn) bool {
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

func (t *Transport) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	c.Close()
}

// Send queues a Raft message of a group for a peer; a full queue or a cut
// link drops it, as a network may. bulk messages (appends and snapshots)
// keep their order among themselves.
func (t *Transport) Send(to int32, group uint64, msg []byte, bulk bool) {
	t.send(to, frameRaft, group, msg, bulk)
}

// Ping tells every peer which groups this node leads.
func (t *Transport) Ping(claims map[uint64]Claim) {
	payload := encodeClaims(claims)
	for id := range t.peers {
		t.send(id, framePing, 0, payload, false)
	}
}

func (t *Transport) send(to int32, kind byte, group uint64, payload []byte, bulk bool) {
	p := t.peers[to]
	if p == nil || !t.cfg.Allowed(t.cfg.Self, to) {
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
	if d := t.cfg.LinkDelay; d > 0 {
		of.due = time.Now().Add(d).UnixNano()
	}
	select {
	case q <- of:
	default:
	}
}

func (t *Transport) sendLoop(p *peer, q chan outFrame) {
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

func (t *Transport) writeFrames(c net.Conn, q chan outFrame) {
	w := bufio.NewWriterSize(c, 64<<10)
	var hello [8]byte
	binary.BigEndian.PutUint32(hello[:], transportMagic)
	binary.BigEndian.PutUint32(hello[4:], uint32(t.cfg.Self))
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
		if !t.cfg.Wait(t.stopc) {
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

func (t *Transport) acceptLoop() {
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

func (t *Transport) readFrames(c net.Conn) {
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
		if !t.cfg.Wait(t.stopc) {
			return
		}
		if !t.cfg.Allowed(p.id, t.cfg.Self) {
			continue
		}
		p.lastHeard.Store(time.Now().UnixNano())
		group := binary.BigEndian.Uint64(hdr[5:])
		switch hdr[4] {
		case frameRaft:
			t.cfg.Deliver(group, payload)
		case framePing:
			if cs, err := decodeClaims(payload); err == nil {
				p.claims.Store(cs)
			}
		}
	}
}

// Reachable reports whether a peer is connected and was heard from within
// the liveness timeout: what this node believes about it.
func (t *Transport) Reachable(id int32, within time.Duration) bool {
	if id == t.cfg.Self {
		return true
	}
	p := t.peers[id]
	if p == nil || p.inbound.Load() == 0 {
		return false
	}
	return time.Since(time.Unix(0, p.lastHeard.Load())) < within
}

// Claim is what peer's latest ping says of a group it leads; false when
// it says nothing of it (or peer is no peer).
func (t *Transport) Claim(peer int32, group uint64) (Claim, bool) {
	p := t.peers[peer]
	if p == nil {
		return Claim{}, false
	}
	cs := p.claims.Load()
	if cs == nil {
		return Claim{}, false
	}
	c, ok := cs.groups[group]
	return c, ok
}

func encodeClaims(groups map[uint64]Claim) []byte {
	out := make([]byte, 0, 4+32*len(groups))
	out = binary.BigEndian.AppendUint32(out, uint32(len(groups)))
	for id, c := range groups {
		out = binary.BigEndian.AppendUint64(out, id)
		out = binary.BigEndian.AppendUint64(out, c.Term)
		out = binary.BigEndian.AppendUint64(out, c.Commit)
		out = binary.BigEndian.AppendUint64(out, c.ISR)
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
	cs := &claimSet{groups: make(map[uint64]Claim, n)}
	for i := 0; i < n; i++ {
		o := 4 + 32*i
		cs.groups[binary.BigEndian.Uint64(b[o:])] = Claim{
			Term:   binary.BigEndian.Uint64(b[o+8:]),
			Commit: binary.BigEndian.Uint64(b[o+16:]),
			ISR:    binary.BigEndian.Uint64(b[o+24:]),
		}
	}
	return cs, nil
}
