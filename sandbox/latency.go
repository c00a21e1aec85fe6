package sandbox

import (
	"fmt"
	"sync"
	"time"
)

// Latency injection is test equipment for the benchmark, as faults are for
// the checkers: it makes the sandbox slow on purpose so that a test can show
// that the benchmark sees it.
//
// A produce delay makes every produce request to a node (or to every node)
// wait before the node handles it, as a write waiting for its quorum would.
// A stall holds every produce request that arrives before its end, as a
// leader's long GC pause or a disk hiccup would; it happens once.
//
// A node answers the requests of one connection in order, as Kafka does, so
// a held request also holds the answers pipelined behind it on the same
// connection: the head-of-line blocking a slow broker shows.
type latency struct {
	mu         sync.RWMutex
	all        time.Duration           // every node
	node       map[int32]time.Duration // per node, on top of all
	stallUntil time.Time
}

// SetProduceDelay makes every produce request to node wait d before it is
// handled; node 0 means every node. d = 0 removes the delay.
func (c *Cluster) SetProduceDelay(node int32, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("produce delay %s: must be >= 0", d)
	}
	if node != 0 {
		if err := c.checkID(node); err != nil {
			return err
		}
	}
	c.lat.setDelay(node, d)
	c.pushState()
	return nil
}

func (l *latency) setDelay(node int32, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if node == 0 {
		l.all = d
		return
	}
	if l.node == nil {
		l.node = map[int32]time.Duration{}
	}
	l.node[node] = d
}

// Stall holds every produce request, on every node, from now until d has
// passed; requests already being handled are not affected.
func (c *Cluster) Stall(d time.Duration) {
	c.lat.mu.Lock()
	c.lat.stallUntil = time.Now().Add(d)
	c.lat.mu.Unlock()
	c.pushState()
}

// produceWait is how long a produce request arriving at node now must wait:
// its delay, or what is left of a stall if that is longer.
func (l *latency) produceWait(node int32, now time.Time) time.Duration {
	l.mu.RLock()
	defer l.mu.RUnlock()
	d := l.all + l.node[node]
	if rest := l.stallUntil.Sub(now); rest > d {
		d = rest
	}
	return d
}
