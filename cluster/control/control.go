package control

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/raftdrill/raftdrill/cluster/control/exec"
	kubesettings "github.com/raftdrill/raftdrill/cluster/control/kubernetes/settings"
	"github.com/raftdrill/raftdrill/cluster/control/process"
	"github.com/raftdrill/raftdrill/cluster/control/sandboxctl"
	"github.com/raftdrill/raftdrill/config"
)

// Controller kills and restarts the nodes of the cluster under drill. Kill
// must be abrupt (as SIGKILL is: no graceful shutdown, no leadership
// hand-over); Restart brings the node back with the same identity and data;
// Up says whether the node's process is running, not whether it serves
// Kafka yet (the drills check that through the Kafka protocol).
type Controller interface {
	Kill(ctx context.Context, id int32) error
	Restart(ctx context.Context, id int32) error
	Up(ctx context.Context, id int32) (bool, error)
}

// Reporter is a controller that runs commands (exec) and can quote, for an
// error, what its last command of op ("kill", "restart", "up") for a node
// did: the command, its exit status and the tail of its output.
type Reporter interface {
	LastRun(op string, id int32) string
}

// PIDSource is a controller that knows each node's server process (the
// process controller): the benchmark reads the nodes' CPU and memory
// through it.
type PIDSource interface {
	PID(id int32) (int, bool)
}

// BaselineProvider is a controller that can start a single-node twin of the
// cluster it controls (the embedded sandbox), for the benchmark's baseline.
type BaselineProvider interface {
	// Baseline starts it and returns its Kafka address and what stops it.
	Baseline(ctx context.Context) (addr string, stop func(), err error)
}

// Cluster is what a controller type builds from the configuration: the
// controller, the nodes it controls, and what to stop at shutdown.
type Cluster struct {
	Controller Controller
	// Nodes are the nodes to drill: cluster.nodes, or the nodes of the
	// embedded sandbox, which picks its own addresses.
	Nodes []config.Node
	// Close stops what the controller started (the embedded sandbox, the
	// process-controlled nodes); nil when there is nothing to stop.
	Close func(ctx context.Context) error
}

// Type is one kind of node controller: its name (cluster.controller.type),
// its config sections, and how it is built.
type Type struct {
	Name     string
	Sections []config.Section
	Build    func(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Cluster, error)
}

// Types are the node controllers this binary knows: adding one is a package
// and an entry here.
func Types() []Type {
	types := []Type{
		{
			Name:     "sandbox",
			Sections: sandboxctl.Sections(),
			Build: func(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Cluster, error) {
				s, err := sandboxctl.Build(ctx, cfg, log)
				if err != nil {
					return nil, err
				}
				return &Cluster{Controller: s, Nodes: s.Nodes(), Close: s.Close}, nil
			},
		},
		{
			Name:     "process",
			Sections: []config.Section{{Key: process.Key, New: func() any { return process.Defaults() }}},
			Build: func(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Cluster, error) {
				pc, err := process.New(config.Get[*process.Config](cfg, process.Key), cfg.Cluster.Nodes, filepath.Join(cfg.State.Dir, "process"), log)
				if err != nil {
					return nil, err
				}
				cl := &Cluster{Controller: pc, Nodes: cfg.Cluster.Nodes, Close: pc.Close}
				if err := pc.Start(ctx); err != nil {
					_ = pc.Close(ctx) // nodes that did start must not keep their ports
					return nil, fmt.Errorf("start nodes: %w", err)
				}
				return cl, nil
			},
		},
		{
			Name:     "exec",
			Sections: []config.Section{{Key: exec.Key, New: func() any { return exec.Defaults() }}},
			Build: func(_ context.Context, cfg *config.Config, log *slog.Logger) (*Cluster, error) {
				ec, err := exec.New(config.Get[*exec.Config](cfg, exec.Key), cfg.Cluster.Nodes, log)
				if err != nil {
					return nil, err
				}
				return &Cluster{Controller: ec, Nodes: cfg.Cluster.Nodes}, nil
			},
		},
	}
	types = append(types, Type{
		Name:     "kubernetes",
		Sections: []config.Section{{Key: kubesettings.Key, New: func() any { return &kubernetesSection{kubesettings.Default()} }}},
		Build:    buildKubernetes,
	})
	return types
}

// kubernetesSection is cluster.controller.kubernetes, checked when the
// kubernetes controller is the one in use.
type kubernetesSection struct {
	kubesettings.Config `mapstructure:",squash"`
}

func (k *kubernetesSection) Validate(ch *config.Checker, root *config.Config) {
	if root.Cluster.Controller.Type != "kubernetes" {
		return
	}
	if len(root.Cluster.Nodes) == 0 {
		ch.AddAbs("cluster.nodes", "required with the kubernetes controller")
	}
	for _, p := range k.Config.Validate(kubesettings.Key) {
		ch.AddAbs(p.Key, "%s", p.Msg)
	}
}

// Sections are every controller type's config sections, each type's name
// among them (config validates cluster.controller.type against them).
func Sections() []config.Section {
	var out []config.Section
	for _, t := range Types() {
		key := config.ControllerKey + "." + t.Name
		if !slices.ContainsFunc(t.Sections, func(s config.Section) bool { return s.Key == key }) {
			out = append(out, config.Section{Key: key})
		}
		out = append(out, t.Sections...)
	}
	return out
}

// Build builds the controller cluster.controller.type names.
func Build(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Cluster, error) {
	name := cfg.Cluster.Controller.Type
	var names []string
	for _, t := range Types() {
		if t.Name == name {
			return t.Build(ctx, cfg, log)
		}
		names = append(names, t.Name)
	}
	return nil, fmt.Errorf("cluster.controller.type: unknown %q (this binary knows %s)", name, strings.Join(names, ", "))
}
