package transport

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/internal/testutil"
)

type delivered struct {
	group uint64
	msg   string
}

// pair starts the transports of nodes 1 and 2, whose link is up while up
// holds; node 2 keeps what it is delivered.
func pair(t *testing.T, up *atomic.Bool) (one, two *Transport, got func() []delivered) {
	t.Helper()
	lns := make([]net.Listener, 2)
	peers := make([]Peer, 2)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i], peers[i] = ln, Peer{ID: int32(i + 1), Addr: ln.Addr().String()}
	}
	var mu sync.Mutex
	var msgs []delivered
	cfg := func(self int32, deliver func(uint64, []byte)) Config {
		return Config{
			Self: self, Peers: peers, LinkDelay: time.Millisecond,
			Allowed: func(int32, int32) bool { return up.Load() },
			Wait:    func(<-chan struct{}) bool { return true },
			Deliver: deliver,
		}
	}
	one = New(lns[0], cfg(1, func(uint64, []byte) {}))
	two = New(lns[1], cfg(2, func(group uint64, msg []byte) {
		mu.Lock()
		msgs = append(msgs, delivered{group, string(msg)})
		mu.Unlock()
	}))
	for _, tr := range []*Transport{one, two} {
		tr.Start()
		t.Cleanup(tr.Stop)
	}
	return one, two, func() []delivered {
		mu.Lock()
		defer mu.Unlock()
		return append([]delivered(nil), msgs...)
	}
}

// Raft messages reach the peer in order, pings tell it what the sender
// leads and that it is alive, and a cut link carries nothing.
func TestTransport(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	one, two, got := pair(t, &up)
	one.Send(2, 7, []byte("first"), true)
	one.Send(2, 7, []byte("second"), true)
	one.Send(2, 8, []byte("vote"), false)
	testutil.WaitFor(t, "three messages", 5*time.Second, func() bool { return len(got()) == 3 })
	var bulk []string
	for _, d := range got() {
		if d.group == 7 {
			bulk = append(bulk, d.msg)
		}
	}
	if len(bulk) != 2 || bulk[0] != "first" || bulk[1] != "second" {
		t.Fatalf("appends delivered as %v", bulk)
	}
	one.Ping(map[uint64]Claim{7: {Term: 3, Commit: 10, ISR: 0b110}})
	testutil.WaitFor(t, "the claim", 5*time.Second, func() bool {
		c, ok := two.Claim(1, 7)
		return ok && c == Claim{Term: 3, Commit: 10, ISR: 0b110}
	})
	if !two.Reachable(1, time.Second) || !two.Reachable(2, 0) {
		t.Fatal("node 1 is not reachable from node 2 after its ping")
	}
	if _, ok := two.Claim(1, 8); ok {
		t.Fatal("a claim of a group the ping did not name")
	}
	up.Store(false)
	one.Send(2, 7, []byte("cut"), true)
	// Appends keep their order: once one sent after the link is back has
	// arrived, the one sent while it was cut would have too, had the cut
	// let it through.
	up.Store(true)
	one.Send(2, 7, []byte("after"), true)
	testutil.WaitFor(t, "the append sent after the link was back", 5*time.Second, func() bool { return len(got()) >= 4 })
	for _, d := range got() {
		if d.msg == "cut" {
			t.Fatalf("delivered over a cut link: %v", got())
		}
	}
}
