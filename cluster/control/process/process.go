package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control/internal/nodecmd"
	"github.com/raftdrill/raftdrill/config"
)

// startGrace is how long a new process is watched: a server that exits this
// soon failed to start (bad flag, port in use) and its log says why.
const startGrace = 200 * time.Millisecond

// Controller runs each node as a local process started from
// cluster.controller.process.command, without a shell, each in its own
// process group so that Kill takes down whatever the server spawned too.
//
// The daemon calls Start at start-up and Close at shutdown: the nodes are
// children of raftdrill and must not outlive it. All methods are safe for
// concurrent use.
type Controller struct {
	logger *slog.Logger
	order  []int32 // cluster.nodes order, for Start and Close
	nodes  map[int32]*procNode
	closed atomic.Bool
	// pidDir holds a pidfile per node (the state directory's process/),
	// so that a raftdrill started after one that died finds the nodes it
	// left running; "" keeps none.
	pidDir string
}

// procNode is one node's fixed command line and its current process.
type procNode struct {
	id      int32
	args    []string
	dir     string
	env     []string
	logPath string // empty: output discarded

	op  sync.Mutex // serialises Kill, Restart, Start and Close of this node
	cur atomic.Pointer[procRun]
}

// procRun is one start of a node's process.
type procRun struct {
	pid int
	// start is the process's start time (/proc/PID/stat, clock ticks since
	// boot): with the pid, its identity. A pid alone can be reused.
	start uint64
	cmd   *exec.Cmd     // nil for a process adopted from an earlier raftdrill
	done  chan struct{} // closed once the process is gone (reaped, for a child)
	err   error         // Wait's result, written before done is closed
}

func (r *procRun) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// New renders every template for every node up front, so a mistake is
// reported at start-up with its key, not during a drill. pidDir is where
// the controller keeps a pidfile per node ("" for none).
func New(p *Config, nodes []config.Node, pidDir string, logger *slog.Logger) (*Controller, error) {
	const key = Key
	var errs []error
	if len(p.Command) == 0 {
		errs = append(errs, fmt.Errorf("%s.command: required", key))
	}
	cmdT := make([]nodecmd.Template, len(p.Command))
	for i, arg := range p.Command {
		t, err := nodecmd.Parse(fmt.Sprintf("%s.command[%d]", key, i), arg)
		errs = append(errs, err)
		cmdT[i] = t
	}
	envKeys := slices.Sorted(maps.Keys(p.Env))
	envT := make([]nodecmd.Template, len(envKeys))
	for i, k := range envKeys {
		t, err := nodecmd.Parse(key+".env."+k, p.Env[k])
		errs = append(errs, err)
		envT[i] = t
	}
	logT, err := nodecmd.Parse(key+".log_file", p.LogFile)
	errs = append(errs, err)
	datas, err := nodecmd.Datas(nodes, "process")
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	c := &Controller{
		logger: nodecmd.Logger(logger, "process"),
		nodes:  make(map[int32]*procNode, len(nodes)),
		pidDir: pidDir,
	}
	for i, d := range datas {
		n := &procNode{id: d.ID, dir: p.Dir, env: os.Environ()}
		for j, t := range cmdT {
			s, err := t.Render(d)
			errs = append(errs, err)
			n.args = append(n.args, s)
			if j == 0 && err == nil && s == "" {
				errs = append(errs, fmt.Errorf("%s: node %d: renders to an empty program name", t.Key(), d.ID))
			}
		}
		for j, t := range envT {
			s, err := t.Render(d)
			errs = append(errs, err)
			n.env = append(n.env, envKeys[j]+"="+s)
		}
		// The node's own env comes last: os/exec keeps the last value of a
		// duplicated key, so it overrides the shared one.
		for _, k := range slices.Sorted(maps.Keys(nodes[i].Env)) {
			n.env = append(n.env, k+"="+nodes[i].Env[k])
		}
		logPath, err := logT.Render(d)
		errs = append(errs, err)
		if logPath != "" && !filepath.IsAbs(logPath) {
			logPath = filepath.Join(p.Dir, logPath)
		}
		n.logPath = logPath
		c.order = append(c.order, d.ID)
		c.nodes[d.ID] = n
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// Start starts every node that is not running; the daemon calls it at
// start-up. It reports every node that failed, not only the first.
func (c *Controller) Start(ctx context.Context) error {
	errs := make([]error, len(c.order))
	var wg sync.WaitGroup
	for i, id := range c.order {
		n := c.nodes[id]
		wg.Go(func() {
			n.op.Lock()
			defer n.op.Unlock()
			if r := n.cur.Load(); r != nil && r.running() {
				return
			}
			if c.adopt(ctx, n) {
				return
			}
			if err := c.start(ctx, n); err != nil {
				errs[i] = fmt.Errorf("start node %d: %w", id, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close kills every node this controller started and refuses to start any
// more; the daemon calls it at shutdown, after the drills have stopped.
func (c *Controller) Close(ctx context.Context) error {
	c.closed.Store(true)
	var errs []error
	for _, id := range c.order {
		n := c.nodes[id]
		n.op.Lock()
		err := c.kill(ctx, n)
		n.op.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("close: kill node %d: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// Kill sends SIGKILL to the node's whole process group and returns once the
// server process has been reaped. Killing a node that is down is not an error.
func (c *Controller) Kill(ctx context.Context, id int32) error {
	n, err := c.node(id)
	if err != nil {
		return fmt.Errorf("kill %w", err)
	}
	n.op.Lock()
	defer n.op.Unlock()
	if err := c.kill(ctx, n); err != nil {
		return fmt.Errorf("kill node %d: %w", id, err)
	}
	return nil
}

// Restart starts the node again with the same command line, environment and
// log file. It fails if the node is still running.
func (c *Controller) Restart(ctx context.Context, id int32) error {
	n, err := c.node(id)
	if err != nil {
		return fmt.Errorf("restart %w", err)
	}
	n.op.Lock()
	defer n.op.Unlock()
	if r := n.cur.Load(); r != nil && r.running() {
		return fmt.Errorf("restart node %d: already running (pid %d)", id, r.pid)
	}
	if err := c.start(ctx, n); err != nil {
		return fmt.Errorf("restart node %d: %w", id, err)
	}
	return nil
}

// Up reports whether the node's server process is running.
func (c *Controller) Up(_ context.Context, id int32) (bool, error) {
	n, err := c.node(id)
	if err != nil {
		return false, fmt.Errorf("up %w", err)
	}
	r := n.cur.Load()
	return r != nil && r.running(), nil
}

// PID returns the pid of the node's server process while it runs. It is the
// process raftdrill exec'd (there is no shell in between), so /proc/PID
// describes the server itself.
func (c *Controller) PID(id int32) (int, bool) {
	n, ok := c.nodes[id]
	if !ok {
		return 0, false
	}
	r := n.cur.Load()
	if r == nil || !r.running() {
		return 0, false
	}
	return r.pid, true
}

func (c *Controller) node(id int32) (*procNode, error) {
	n, ok := c.nodes[id]
	if !ok {
		return nil, fmt.Errorf("node %d: not in cluster.nodes", id)
	}
	return n, nil
}

// start runs the node's command; the caller holds n.op and has checked that
// the node is not running. ctx only bounds the start-up watch: the server
// must outlive the request that restarted it.
func (c *Controller) start(ctx context.Context, n *procNode) error {
	if c.closed.Load() {
		return errors.New("controller closed")
	}
	cmd := exec.Command(n.args[0], n.args[1:]...)
	cmd.Dir = n.dir
	cmd.Env = n.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if n.logPath != "" {
		if err := os.MkdirAll(filepath.Dir(n.logPath), 0o755); err != nil {
			return fmt.Errorf("create log directory: %w", err)
		}
		f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open log file: %w", err)
		}
		// The child gets the file descriptor itself (no copying goroutine),
		// so it keeps logging whatever happens to raftdrill's pipes.
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %q: %w", n.args[0], err)
	}
	pid := cmd.Process.Pid
	start, _ := startTime(pid) // read before Wait can reap it
	r := &procRun{pid: pid, start: start, cmd: cmd, done: make(chan struct{})}
	n.cur.Store(r)
	log := c.logger.With("node", n.id, "pid", pid)
	log.Info("node started")
	go func() {
		r.err = cmd.Wait()
		log.Info("node exited", "status", cmd.ProcessState.String())
		close(r.done)
	}()
	if err := c.writePIDFile(n, r); err != nil {
		log.Error("pidfile not written: a raftdrill started after this one dies would not find the node", "err", err)
	}

	t := time.NewTimer(startGrace)
	defer t.Stop()
	select {
	case <-r.done:
		msg := fmt.Sprintf("%q exited at start: %s", n.args[0], cmd.ProcessState)
		if n.logPath != "" {
			if tail := nodecmd.LogFileTail(n.logPath); tail != "" {
				msg += ": " + tail
			}
		}
		return errors.New(msg)
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// kill signals n's process group and waits for the server to be reaped; the
// caller holds n.op.
func (c *Controller) kill(ctx context.Context, n *procNode) error {
	r := n.cur.Load()
	if r == nil {
		return nil
	}
	pid := r.pid
	// The group id is the server's pid (Setpgid). Linux keeps that number
	// allocated while any group member lives, so this also reaches children
	// left behind by a server that already exited.
	if err := signalGroup(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("signal process group %d: %w", pid, err)
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return fmt.Errorf("wait for pid %d to exit: %w", pid, context.Cause(ctx))
	}
	// Forget the run so that a later Kill does not signal a group id that
	// the kernel may since have handed to someone else.
	n.cur.Store(nil)
	c.removePIDFile(n)
	c.logger.Info("node killed", "node", n.id, "pid", pid)
	return nil
}
