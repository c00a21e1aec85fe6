package process

import (
	"context"
	"errors"
	"fmt"
	"syscall"
)

// Pause freezes the node's whole process group with SIGSTOP: the server
// stops running (no heartbeats, no replies) while its sockets stay open,
// which is what a long GC pause or a stalled VM looks like to its peers.
// Pausing a paused node is not an error.
func (c *Controller) Pause(_ context.Context, id int32) error {
	return c.signalNode(id, syscall.SIGSTOP, "pause")
}

// Resume thaws the node's process group with SIGCONT. Resuming a node that
// is not paused is not an error, so the journal can resume a node again
// after a crash without knowing whether the first attempt got there.
func (c *Controller) Resume(_ context.Context, id int32) error {
	return c.signalNode(id, syscall.SIGCONT, "resume")
}

func (c *Controller) signalNode(id int32, sig syscall.Signal, verb string) error {
	n, err := c.node(id)
	if err != nil {
		return fmt.Errorf("%s %w", verb, err)
	}
	n.op.Lock()
	defer n.op.Unlock()
	pid, ok := c.PID(id)
	if !ok {
		return fmt.Errorf("%s node %d: not running", verb, id)
	}
	// The group id is the server's pid (Setpgid): a server that forks
	// workers is frozen whole, not only its first process.
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s node %d: signal process group %d: %w", verb, id, pid, err)
	}
	c.logger.Info("node "+verb+"d", "node", id, "pid", pid)
	return nil
}
