package sandbox

import (
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Latency injection is test equipment for the benchmark, as faults are for
// the checkers: it makes the sandbox slow on purpose so that a test can show
// that the benchmark sees it.
//
// A produce delay makes every produce request to a node (or to every node)
// wait before kfake handles it, as a write waiting for its quorum would. A
// stall holds every produce request that arrives before its end, as a
// leader's long GC pause or a disk hiccup would; it happens once.
//
// kfake answers the requests of one connection in order, as Kafka does, so a
// held request also holds the requests pipelined behind it on the same
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
	c.lat.mu.Lock()
	defer c.lat.mu.Unlock()
	if node == 0 {
		c.lat.all = d
		return nil
	}
	if c.lat.node == nil {
		c.lat.node = map[int32]time.Duration{}
	}
	c.lat.node[node] = d
	return nil
}

// Stall holds every produce request, on every node, from now until d has
// passed; requests already being handled are not affected.
func (c *Cluster) Stall(d time.Duration) {
	c.lat.mu.Lock()
	defer c.lat.mu.Unlock()
	c.lat.stallUntil = time.Now().Add(d)
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

// delayProduce runs inside kfake's control function for every request. It
// holds a produce request for its wait with kfake's SleepControl, which
// lets kfake serve other connections meanwhile (a plain sleep here would
// stop the whole cluster, not one request).
func (c *Cluster) delayProduce(node int32, req kmsg.Request) {
	if _, ok := req.(*kmsg.ProduceRequest); !ok {
		return
	}
	if d := c.lat.produceWait(node, time.Now()); d > 0 {
		c.kf.SleepControl(func() { time.Sleep(d) })
	}
}
