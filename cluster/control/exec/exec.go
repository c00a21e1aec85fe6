package exec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control/internal/nodecmd"
	"github.com/raftdrill/raftdrill/config"
)

// Controller controls nodes through the shell commands of
// cluster.controller.exec (systemctl, kubectl, ssh, …), run with /bin/sh -c.
// It keeps no state, so it is safe for concurrent use.
type Controller struct {
	logger  *slog.Logger
	timeout time.Duration
	nodes   map[int32]execCommands
	disrupt disruptCommands

	mu   sync.Mutex
	last map[string]string // op/node → what its last command did, for LastRun
}

// execCommands are one node's rendered command lines.
type execCommands struct {
	kill, restart, up string
}

// New renders every command for every node up front, so a mistake is
// reported at start-up with its key, not during a drill.
func New(e *Config, nodes []config.Node, logger *slog.Logger) (*Controller, error) {
	var errs []error
	parse := func(name, text string) nodecmd.Template {
		key := Key + "." + name
		if text == "" {
			errs = append(errs, fmt.Errorf("%s: required", key))
			return nodecmd.Template{}
		}
		t, err := nodecmd.Parse(key, text)
		errs = append(errs, err)
		return t
	}
	killT, restartT, upT := parse("kill", e.Kill), parse("restart", e.Restart), parse("up", e.Up)
	datas, err := nodecmd.Datas(nodes, "exec")
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	c := &Controller{
		logger:  nodecmd.Logger(logger, "exec"),
		timeout: e.Timeout,
		nodes:   make(map[int32]execCommands, len(datas)),
	}
	render := func(t nodecmd.Template, d nodecmd.Data) string {
		s, err := t.Render(d)
		errs = append(errs, err)
		return s
	}
	for _, d := range datas {
		c.nodes[d.ID] = execCommands{kill: render(killT, d), restart: render(restartT, d), up: render(upT, d)}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.disrupt, err = newDisruptCommands(e, datas); err != nil {
		return nil, err
	}
	return c, nil
}

// Kill runs the kill command; any failure, a non-zero exit included, is an error.
func (c *Controller) Kill(ctx context.Context, id int32) error {
	cmds, ok := c.nodes[id]
	if !ok {
		return fmt.Errorf("kill node %d: not in cluster.nodes", id)
	}
	if err := c.run(ctx, "kill", id, cmds.kill); err != nil {
		return fmt.Errorf("kill node %d: %w", id, err)
	}
	c.logger.Info("node killed", "node", id)
	return nil
}

// Restart runs the restart command; any failure, a non-zero exit included,
// is an error.
func (c *Controller) Restart(ctx context.Context, id int32) error {
	cmds, ok := c.nodes[id]
	if !ok {
		return fmt.Errorf("restart node %d: not in cluster.nodes", id)
	}
	if err := c.run(ctx, "restart", id, cmds.restart); err != nil {
		return fmt.Errorf("restart node %d: %w", id, err)
	}
	c.logger.Info("node restarted", "node", id)
	return nil
}

// Up runs the up command: exit 0 is up, another exit status is down. 126 and
// 127 are errors, not "down": they are the shell saying the command could
// not be run at all, and a node must not look down because of a typo.
func (c *Controller) Up(ctx context.Context, id int32) (bool, error) {
	cmds, ok := c.nodes[id]
	if !ok {
		return false, fmt.Errorf("up node %d: not in cluster.nodes", id)
	}
	err := c.run(ctx, "up", id, cmds.up)
	if err == nil {
		return true, nil
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if code := exit.ExitCode(); code > 0 && code != 126 && code != 127 {
			return false, nil
		}
	}
	return false, fmt.Errorf("up node %d: %w", id, err)
}

// LastRun quotes what the last command of op ("kill", "restart", "up") for
// node id did: the command, its exit status and the tail of its output
// (stderr, else stdout), e.g. `exec "systemctl is-active chronik@2": exit
// status 3: inactive`. Errors of a drill quote it: a kill command that
// "worked" while the node runs on, an up command that says down.
func (c *Controller) LastRun(op string, id int32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[fmt.Sprintf("%s/%d", op, id)]
}

func (c *Controller) remember(op string, id int32, what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]string{}
	}
	c.last[fmt.Sprintf("%s/%d", op, id)] = what
}

// run runs line with /bin/sh in its own process group, which is killed as a
// whole at the timeout: otherwise a hung "ssh host ..." or a pipeline would
// outlive the shell. A non-zero exit is returned wrapping *exec.ExitError,
// followed by the tail of stderr. What it did is remembered for LastRun.
func (c *Controller) run(ctx context.Context, op string, id int32, line string) error {
	stdout, err := c.runLine(ctx, line)
	what := fmt.Sprintf("exec %q: exit status 0", line)
	if err != nil {
		what = err.Error()
	}
	if err == nil && stdout != "" {
		what += ": " + stdout
	}
	c.remember(op, id, what)
	return err
}

func (c *Controller) runLine(ctx context.Context, line string) (string, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.timeout,
			fmt.Errorf("timed out after %s: %w", c.timeout, context.DeadlineExceeded))
		defer cancel()
	}
	// stderr goes to an unlinked file rather than a pipe: a command that
	// leaves a background process behind ("nohup server &") would otherwise
	// hold the pipe open and make Wait hang, or later die of SIGPIPE.
	var files [2]*os.File
	for i := range files {
		f, err := os.CreateTemp("", "raftdrill-exec-*")
		if err != nil {
			return "", fmt.Errorf("exec %q: output file: %w", line, err)
		}
		os.Remove(f.Name())
		defer f.Close()
		files[i] = f
	}
	stdout, stderr := files[0], files[1]

	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	err := cmd.Run()
	out := nodecmd.Tail(stderr)
	if out == "" {
		out = nodecmd.Tail(stdout)
	}
	if err == nil {
		return out, nil
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("exec %q: %w", line, context.Cause(ctx))
	}
	if out != "" {
		return "", fmt.Errorf("exec %q: %w: %s", line, err, out)
	}
	return "", fmt.Errorf("exec %q: %w", line, err)
}
