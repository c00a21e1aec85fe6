package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pidFile is what the controller writes for each node it starts: enough to
// recognise the very process later. A pid alone is not (the kernel reuses
// them), nor is a name (anyone can be called "java"): the pid and the
// process's start time together are.
type pidFile struct {
	PID   int      `json:"pid"`
	Start uint64   `json:"start"` // /proc/PID/stat starttime, clock ticks since boot
	Args  []string `json:"args"`
}

func (c *Controller) pidPath(n *procNode) string {
	return filepath.Join(c.pidDir, fmt.Sprintf("node%d.pid", n.id))
}

func (c *Controller) writePIDFile(n *procNode, r *procRun) error {
	if c.pidDir == "" {
		return nil
	}
	if r.start == 0 {
		return fmt.Errorf("no start time for pid %d", r.pid)
	}
	if err := os.MkdirAll(c.pidDir, 0o750); err != nil {
		return err
	}
	b, _ := json.Marshal(pidFile{PID: r.pid, Start: r.start, Args: n.args})
	path := c.pidPath(n)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func (c *Controller) removePIDFile(n *procNode) {
	if c.pidDir != "" {
		_ = os.Remove(c.pidPath(n))
	}
}

// adopt looks at the node's pidfile, left by an earlier raftdrill that did
// not get to stop its nodes (it was SIGKILLed, the host rebooted it). If
// the process it names still runs (same pid and start time) with the same
// command line, it becomes this controller's node again; if it runs an
// older command line, it is killed (its group) so that the node starts
// afresh. A stale pidfile is removed. It reports whether it adopted.
func (c *Controller) adopt(ctx context.Context, n *procNode) bool {
	if c.pidDir == "" {
		return false
	}
	path := c.pidPath(n)
	raw, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	log := c.logger.With("node", n.id, "pidfile", path)
	var pf pidFile
	if err := json.Unmarshal(raw, &pf); err != nil || pf.PID <= 0 {
		log.Warn("unreadable pidfile removed", "err", err)
		_ = os.Remove(path)
		return false
	}
	log = log.With("pid", pf.PID)
	if start, ok := startTime(pf.PID); !ok || start != pf.Start {
		// Gone, or the pid now belongs to another process: never touch it.
		log.Info("stale pidfile removed: its process is gone")
		_ = os.Remove(path)
		return false
	}
	r := &procRun{pid: pf.PID, start: pf.Start, done: make(chan struct{})}
	go watchAdopted(r)
	if !slices.Equal(pf.Args, n.args) {
		log.Warn("a node left running by an earlier raftdrill has another command line; killing it to start it afresh",
			"was", strings.Join(pf.Args, " "))
		n.cur.Store(r)
		if err := c.kill(ctx, n); err != nil {
			log.Error("could not kill the node left running", "err", err)
		}
		return false
	}
	n.cur.Store(r)
	log.Warn("adopted a node left running by an earlier raftdrill")
	return true
}

// watchAdopted closes r.done once the adopted process is gone. It is not
// this process's child, so there is no Wait: it polls /proc. A zombie
// (killed, not yet reaped by its new parent) counts as gone.
func watchAdopted(r *procRun) {
	for {
		if start, ok := startTime(r.pid); !ok || start != r.start {
			close(r.done)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startTime returns the start time of a live process (field 22 of
// /proc/PID/stat), false for no such process or a zombie.
func startTime(pid int) (uint64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// signalGroup sends sig to the process group led by pid, treating "no
// such process" as done.
func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
