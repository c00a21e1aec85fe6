package sandbox

import (
	"sync"
	"time"
)

// gate freezes a node as SIGSTOP freezes a process: while it is closed,
// every loop of the node (Raft groups, ticks, transport, Kafka connections)
// waits at its next step, so nothing is handled, sent or ticked, and
// requests hang. Work in the middle of a step finishes that step first.
type gate struct {
	mu      sync.Mutex
	open    chan struct{} // closed while the gate is open
	resumed time.Time     // when it last opened after a pause
}

// resumedAt is when the node was last thawed (zero: never paused).
func (g *gate) resumedAt() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.resumed
}

func newGate() *gate {
	ch := make(chan struct{})
	close(ch)
	return &gate{open: ch}
}

// wait blocks while the gate is closed; false when stop closed first.
func (g *gate) wait(stop <-chan struct{}) bool {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	select {
	case <-ch:
		return true
	default:
	}
	select {
	case <-ch:
		return true
	case <-stop:
		return false
	}
}

func (g *gate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

func (g *gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
		g.resumed = time.Now()
	}
}
