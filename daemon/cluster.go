package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/IBM/sarama"
	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/cluster/control/process"
	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/drills"
)

// Sections are the config sections of every drill and node controller this
// binary knows: config.Load takes them.
func Sections() []config.Section {
	return append(append(drills.Sections(), control.Sections()...), haSections()...)
}

// Checks are the rules about core keys that config cannot apply itself:
// the web config file is read by the exporter-toolkit, linked here.
func Checks() []config.Check {
	return []config.Check{checkWebConfig}
}

// Override sets one key over the file and the environment, as a RAFTDRILL_*
// variable does, so that it is validated with the rest and named by its
// key: serve's --web.listen-address and --web.config.file.
type Override struct{ Key, Value string }

// LoadConfig loads and validates the configuration at path (none: every
// default, drilling the embedded sandbox), with overrides on top.
func LoadConfig(path string, overrides ...Override) (*config.Config, error) {
	env := os.Environ()
	for _, o := range overrides {
		env = append(env, config.EnvName(o.Key)+"="+o.Value)
	}
	return config.LoadEnv(path, env, Sections(), Checks()...)
}

// Cluster is the cluster under drill as the daemon and `raftdrill run` reach
// it: the Kafka client and the node controller.
type Cluster struct {
	Client  *kafka.Client
	Control control.Controller
	closers []func(context.Context) error
}

// Connect builds the client and the node controller the configuration
// names, starting the embedded sandbox or the process-controlled nodes if
// that controller does.
func Connect(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Cluster, error) {
	version, err := config.ParseKafkaVersion(cfg.Cluster.KafkaVersion)
	if err != nil {
		return nil, fmt.Errorf("cluster.kafka_version: %w", err)
	}
	built, err := control.Build(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Control: built.Controller}
	if built.Close != nil {
		c.closers = append(c.closers, built.Close)
	}
	nodes := make([]kafka.Node, len(built.Nodes))
	for i, n := range built.Nodes {
		nodes[i] = kafka.Node{ID: n.ID, Address: n.Address}
	}
	c.Client = kafka.NewClient(nodes, ClientOptions(cfg, version), log)
	if cfg.Cluster.TLS.InsecureSkipVerify {
		log.Warn("cluster.tls.insecure_skip_verify is set: the cluster's certificates are not verified, so anyone on the path can pose as the cluster")
	}
	if cfg.Cluster.Controller.Type == "process" {
		timeout := config.Get[*process.Config](cfg, process.Key).StartTimeout
		if err := c.waitServing(ctx, cfg.Cluster.Topic.Name, timeout); err != nil {
			_ = c.Close(ctx)
			return nil, err
		}
	}
	return c, nil
}

// ClientOptions are how raftdrill talks to the cluster cfg names.
func ClientOptions(cfg *config.Config, version sarama.KafkaVersion) kafka.Options {
	return kafka.Options{Version: version, Timeout: cfg.Cluster.RequestTimeout, TLS: cfg.Cluster.TLS, SASL: cfg.Cluster.SASL}
}

// reconnect is the same controller (and what stops it) with a Kafka
// client built from cfg: a reload of a daemon whose controller owns the
// nodes. Both share the closers; only the one in force is ever closed.
func (c *Cluster) reconnect(cfg *config.Config, log *slog.Logger) (*Cluster, error) {
	version, err := config.ParseKafkaVersion(cfg.Cluster.KafkaVersion)
	if err != nil {
		return nil, fmt.Errorf("cluster.kafka_version: %w", err)
	}
	n := &Cluster{Control: c.Control, closers: slices.Clone(c.closers)}
	n.Client = kafka.NewClient(c.Client.Nodes(), ClientOptions(cfg, version), log)
	return n, nil
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
func (c *Cluster) NodeIDs() []int32 { return c.Client.IDs() }

// OnClose adds fn to what Close runs, before what is already there (the
// last added runs first).
func (c *Cluster) OnClose(fn func(context.Context) error) { c.closers = append(c.closers, fn) }

// Close stops what Connect started, last first.
func (c *Cluster) Close(ctx context.Context) error {
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i](ctx))
	}
	c.closers = nil
	return errors.Join(errs...)
}
