package sandbox

import (
	"errors"
	"net"
	"sync"
)

// nodeListener is the Kafka listener of one sandbox node. kfake's own
// RemoveNode stops accepting but keeps serving the connections it has, which
// no crashed process does; killing a nodeListener closes the socket (new
// connections are refused by the kernel) and every open connection at once,
// and restarting it listens again on the same address.
type nodeListener struct {
	addr net.Addr // fixed at first listen, so a restarted node keeps its port

	mu     sync.Mutex
	inner  net.Listener // nil while the node is down
	conns  map[net.Conn]struct{}
	upCh   chan struct{} // closed while up; Accept waits on it while down
	closed bool
}

func newNodeListener(address string) (*nodeListener, error) {
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	up := make(chan struct{})
	close(up)
	return &nodeListener{addr: ln.Addr(), inner: ln, conns: map[net.Conn]struct{}{}, upCh: up}, nil
}

var errListenerClosed = errors.New("sandbox: listener closed")

// Accept blocks while the node is down rather than failing: kfake stops its
// accept loop for good on the first error.
func (l *nodeListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, errListenerClosed
		}
		inner, up := l.inner, l.upCh
		l.mu.Unlock()
		if inner == nil {
			<-up
			continue
		}
		c, err := inner.Accept()
		l.mu.Lock()
		if err != nil {
			closed, killed := l.closed, l.inner != inner
			l.mu.Unlock()
			if closed {
				return nil, errListenerClosed
			}
			if killed {
				continue
			}
			return nil, err
		}
		if l.inner != inner { // killed between Accept and here
			l.mu.Unlock()
			c.Close()
			continue
		}
		tc := &trackedConn{Conn: c, l: l}
		l.conns[tc] = struct{}{}
		l.mu.Unlock()
		return tc, nil
	}
}

// kill drops the node off the network as SIGKILL would.
func (l *nodeListener) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inner == nil {
		return
	}
	l.inner.Close()
	l.inner = nil
	for c := range l.conns {
		c.(*trackedConn).Conn.Close()
	}
	clear(l.conns)
	l.upCh = make(chan struct{})
}

// restart listens again on the node's address.
func (l *nodeListener) restart() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inner != nil || l.closed {
		return nil
	}
	ln, err := net.Listen("tcp", l.addr.String())
	if err != nil {
		return err
	}
	l.inner = ln
	close(l.upCh)
	return nil
}

func (l *nodeListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.inner != nil {
		l.inner.Close()
		l.inner = nil
	} else {
		close(l.upCh)
	}
	for c := range l.conns {
		c.(*trackedConn).Conn.Close()
	}
	clear(l.conns)
	return nil
}

func (l *nodeListener) Addr() net.Addr { return l.addr }

type trackedConn struct {
	net.Conn
	l    *nodeListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
