package sandboxctl

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/raftdrill/raftdrill/sandbox"
)

// ServeOptions shape a sandbox run as its own process (`raftdrill sandbox`).
type ServeOptions struct {
	// Sandbox is the cluster, as the sandbox section describes the
	// embedded one (its faults are set through the control API).
	Sandbox       Embedded
	ControlListen string
	Log           *slog.Logger
	// Out receives the nodes' and the control API's addresses, one a line,
	// once they listen.
	Out io.Writer
}

// Serve runs a sandbox cluster with its control API until ctx ends.
func Serve(ctx context.Context, o ServeOptions) error {
	opts, err := o.Sandbox.Options(o.Log)
	if err != nil {
		return err
	}
	sb, err := sandbox.New(opts)
	if err != nil {
		return err
	}
	defer sb.Close()
	ln, err := net.Listen("tcp", o.ControlListen)
	if err != nil {
		return fmt.Errorf("--control-listen %s: %w", o.ControlListen, err)
	}
	srv := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	for _, n := range sb.Nodes() {
		fmt.Fprintf(o.Out, "node %d kafka %s\n", n.ID, n.Address)
	}
	fmt.Fprintf(o.Out, "control http://%s\n", ln.Addr())
	o.Log.Info("sandbox running", "nodes", sb.Addrs(), "control", ln.Addr().String())
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// NodeMain runs one sandbox node as its own process: the hidden `raftdrill
// sandbox node` command that a sandbox with process-per-node starts.
func NodeMain(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) error {
	return sandbox.NodeMain(ctx, args, in, out, errOut)
}
