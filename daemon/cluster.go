package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes"
	"github.com/raftdrill/raftdrill/sandbox"
)

// Cluster is the cluster under drill as the daemon and `raftdrill run` reach
// it: the Kafka client, the node controller and, when no cluster is
// configured, the embedded sandbox that serves as one.
type Cluster struct {
	Client  *probes.Client
	Control probes.NodeController
	Sandbox *sandbox.Cluster // nil unless embedded
	closers []func(context.Context) error
}

// Connect builds the client and node controller the configuration names,
// starting the embedded sandbox or the process-controlled nodes if needed.
func Connect(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Cluster, error) {
	version, err := config.ParseKafkaVersion(cfg.Cluster.KafkaVersion)
	if err != nil {
		return nil, fmt.Errorf("cluster.kafka_version: %w", err)
	}
	c := &Cluster{}
	var nodes []probes.Node
	ct := cfg.Cluster.Controller
	switch {
	case cfg.UsesSandbox():
		sb, err := sandbox.New(sandbox.Options{
			Nodes:              cfg.Sandbox.Nodes,
			KafkaBasePort:      cfg.Sandbox.KafkaBasePort,
			ElectionTimeoutMin: cfg.Sandbox.ElectionTimeoutMin,
			ElectionTimeoutMax: cfg.Sandbox.ElectionTimeoutMax,
			Faults:             cfg.Sandbox.Faults,
			Logger:             log,
		})
		if err != nil {
			return nil, err
		}
		c.Sandbox, c.Control = sb, sb
		c.closers = append(c.closers, func(context.Context) error { sb.Close(); return nil })
		for _, n := range sb.Nodes() {
			nodes = append(nodes, probes.Node{ID: n.ID, Address: n.Address})
		}
		log.Info("embedded sandbox cluster started", "nodes", sb.Addrs())
	default:
		for _, n := range cfg.Cluster.Nodes {
			nodes = append(nodes, probes.Node{ID: n.ID, Address: n.Address})
		}
		switch ct.Type {
		case "sandbox":
			c.Control = probes.NewSandboxAPIController(ct.SandboxURL, cfg.Cluster.RequestTimeout)
		case "process":
			pc, err := probes.NewProcessController(cfg.Cluster, log)
			if err != nil {
				return nil, err
			}
			c.Control = pc
			c.closers = append(c.closers, pc.Close)
			if err := pc.Start(ctx); err != nil {
				_ = c.closeAll(ctx) // nodes that did start must not keep their ports
				return nil, fmt.Errorf("start nodes: %w", err)
			}
		case "exec":
			ec, err := probes.NewExecController(cfg.Cluster, log)
			if err != nil {
				return nil, err
			}
			c.Control = ec
		default:
			return nil, fmt.Errorf("cluster.controller.type: unknown %q", ct.Type)
		}
	}
	c.Client = probes.NewClient(nodes, version, cfg.Cluster.RequestTimeout, log)
	if ct.Type == "process" && !cfg.UsesSandbox() {
		if err := c.waitServing(ctx, cfg.Cluster.Topic.Name, ct.Process.StartTimeout); err != nil {
			_ = c.Close(ctx)
			return nil, err
		}
	}
	return c, nil
}

// waitServing waits, up to cluster.controller.process.start_timeout, until
// every node raftdrill started answers Kafka requests.
func (c *Cluster) waitServing(ctx context.Context, topic string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, n := range c.Client.Nodes() {
		if err := c.Client.WaitServing(ctx, n.ID, topic); err != nil {
			return fmt.Errorf("cluster.controller.process.start_timeout (%s): %w", timeout, err)
		}
	}
	return nil
}

// NodeIDs lists the ids of the nodes under drill.
func (c *Cluster) NodeIDs() []int32 {
	var ids []int32
	for _, n := range c.Client.Nodes() {
		ids = append(ids, n.ID)
	}
	return ids
}

// Close stops what Connect started, last first.
func (c *Cluster) Close(ctx context.Context) error {
	c.Client.Close()
	return c.closeAll(ctx)
}

func (c *Cluster) closeAll(ctx context.Context) error {
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i](ctx))
	}
	return errors.Join(errs...)
}
