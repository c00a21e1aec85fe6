package sandboxctl

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/sandbox"
)

// Key is where the embedded sandbox's settings live.
const Key = "sandbox"

// Embedded is the embedded sandbox cluster: what `raftdrill serve` drills
// when no cluster is configured.
type Embedded struct {
	Nodes         int `mapstructure:"nodes"`
	KafkaBasePort int `mapstructure:"kafka_base_port"`
	// ElectionTimeoutMin is Raft's election timeout: a follower that
	// stops hearing from its leader stands after a random time in
	// [min, 2×min). ElectionTimeoutMax is kept so old configs load; Raft
	// draws the timeout itself.
	ElectionTimeoutMin time.Duration `mapstructure:"election_timeout_min"`
	ElectionTimeoutMax time.Duration `mapstructure:"election_timeout_max"`
	// LinkDelay holds every Raft message between nodes that long, as the
	// network between brokers would; loopback alone replicates faster
	// than any real cluster, and a leader killed in that window takes
	// the acks=1 writes it answered with it.
	LinkDelay time.Duration `mapstructure:"link_delay"`
	// DataDir holds the nodes' logs (node N in DataDir/node-N); empty: a
	// temporary directory removed at shutdown. Fsync is always (one fsync
	// per Raft batch) or never (a kill loses what was not written out:
	// what an unsafe flush policy costs).
	DataDir string `mapstructure:"data_dir"`
	Fsync   string `mapstructure:"fsync"`
	// ProcessPerNode runs each node as its own OS process: kill is
	// SIGKILL, pause is SIGSTOP.
	ProcessPerNode bool `mapstructure:"process_per_node"`
	// TLS and SASL make every node's Kafka listener speak TLS and demand
	// SASL; raftdrill reaches it through cluster.tls and cluster.sasl.
	TLS    TLS            `mapstructure:"tls"`
	SASL   SASL           `mapstructure:"sasl"`
	Faults sandbox.Faults `mapstructure:"faults"`
}

// DefaultLinkDelay is a network between brokers in one data centre,
// one way.
const DefaultLinkDelay = time.Millisecond

// Defaults are the settings of a key left unset.
func Defaults() *Embedded {
	return &Embedded{Nodes: 3, ElectionTimeoutMin: time.Second, ElectionTimeoutMax: 2 * time.Second, LinkDelay: DefaultLinkDelay, Fsync: "always"}
}

// Sections are the sandbox controller's config sections.
func Sections() []config.Section {
	return []config.Section{{Key: Key, New: func() any { return Defaults() }}}
}

// Validate checks the embedded sandbox's settings and, for the sandbox
// controller, cluster.controller.sandbox_url.
func (e *Embedded) Validate(ch *config.Checker, root *config.Config) {
	if e.Nodes < 1 || e.Nodes > 9 {
		ch.Add("nodes", "must be between 1 and 9")
	}
	if e.KafkaBasePort < 0 || e.KafkaBasePort > 65535-e.Nodes {
		ch.Add("kafka_base_port", "must be 0 (random ports) or a port that leaves room for every node")
	}
	ch.Positive("election_timeout_min", e.ElectionTimeoutMin)
	if e.ElectionTimeoutMax < e.ElectionTimeoutMin {
		ch.Add("election_timeout_max", "must be >= sandbox.election_timeout_min")
	}
	if e.LinkDelay < 0 || (e.ElectionTimeoutMin > 0 && e.LinkDelay*10 > e.ElectionTimeoutMin) {
		ch.Add("link_delay", "must be >= 0 and at most a tenth of sandbox.election_timeout_min (%s)", e.ElectionTimeoutMin)
	}
	if e.Fsync != "always" && e.Fsync != "never" {
		ch.Add("fsync", "must be always or never")
	}
	for _, p := range e.Faults.Problems(e.Nodes) {
		ch.Add("faults."+p.Key, "%s", p.Msg)
	}
	e.validateSecurity(ch, root)
	if root.UsesSandbox() && int(root.Cluster.Topic.ReplicationFactor) > e.Nodes {
		ch.AddAbs("cluster.topic.replication_factor", "must be <= the number of nodes (%d)", e.Nodes)
	}
	cl := root.Cluster
	if cl.Controller.Type != "sandbox" {
		return
	}
	switch {
	case cl.Controller.SandboxURL != "":
		if u, err := url.Parse(cl.Controller.SandboxURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ch.AddAbs("cluster.controller.sandbox_url", "must be an http(s) URL such as http://127.0.0.1:19090")
		}
		if len(cl.Nodes) == 0 {
			ch.AddAbs("cluster.nodes", "required with cluster.controller.sandbox_url (the separate sandbox's Kafka addresses)")
		}
	case len(cl.Nodes) > 0:
		ch.AddAbs("cluster.controller.sandbox_url", "required when cluster.nodes is set and the controller is sandbox (or set cluster.controller.type to process or exec)")
	}
}

// Sandbox is the sandbox controller: the embedded sandbox, or a separate
// one through its control API.
type Sandbox struct {
	ctl interface {
		Kill(ctx context.Context, id int32) error
		Restart(ctx context.Context, id int32) error
		Up(ctx context.Context, id int32) (bool, error)
	}
	nodes    []config.Node
	embedded *sandbox.Cluster // nil for a separate sandbox
	settings Embedded         // the embedded sandbox's
	log      *slog.Logger
}

// Build connects to a separate sandbox (cluster.controller.sandbox_url) or,
// with no cluster configured, starts the embedded one.
func Build(_ context.Context, cfg *config.Config, log *slog.Logger) (*Sandbox, error) {
	if !cfg.UsesSandbox() {
		return &Sandbox{ctl: NewAPI(cfg.Cluster.Controller.SandboxURL, cfg.Cluster.RequestTimeout), nodes: cfg.Cluster.Nodes, log: log}, nil
	}
	e := config.Get[*Embedded](cfg, Key)
	opts, err := e.Options(log)
	if err != nil {
		return nil, fmt.Errorf("start the embedded sandbox: %w", err)
	}
	sb, err := sandbox.New(opts)
	if err != nil {
		return nil, fmt.Errorf("start the embedded sandbox: %w", err)
	}
	s := &Sandbox{ctl: sb, embedded: sb, settings: *e, log: log}
	for _, n := range sb.Nodes() {
		s.nodes = append(s.nodes, config.Node{ID: n.ID, Address: n.Address})
	}
	log.Info("embedded sandbox cluster started", "nodes", sb.Addrs())
	return s, nil
}

// Options are the sandbox's options for these settings, with the
// listener's certificates and passwords read.
func (e *Embedded) Options(log *slog.Logger) (sandbox.Options, error) {
	lo, err := Listener(e.TLS, e.SASL)
	if err != nil {
		return sandbox.Options{}, err
	}
	return sandbox.Options{
		Nodes:              e.Nodes,
		KafkaBasePort:      e.KafkaBasePort,
		ElectionTimeoutMin: e.ElectionTimeoutMin,
		ElectionTimeoutMax: e.ElectionTimeoutMax,
		LinkDelay:          e.LinkDelay,
		DataDir:            e.DataDir,
		Fsync:              e.Fsync,
		ProcessPerNode:     e.ProcessPerNode,
		Listener:           lo,
		Faults:             e.Faults,
		Logger:             log,
	}, nil
}

// Wrap is the sandbox controller of a sandbox started elsewhere (tests
// start their own); closing it stays the caller's business.
func Wrap(sb *sandbox.Cluster, log *slog.Logger) *Sandbox {
	s := &Sandbox{ctl: sb, embedded: sb, settings: *Defaults(), log: log}
	for _, n := range sb.Nodes() {
		s.nodes = append(s.nodes, config.Node{ID: n.ID, Address: n.Address})
	}
	return s
}

// Kill kills a node of the sandbox.
func (s *Sandbox) Kill(ctx context.Context, id int32) error { return s.ctl.Kill(ctx, id) }

// Restart restarts a node of the sandbox.
func (s *Sandbox) Restart(ctx context.Context, id int32) error { return s.ctl.Restart(ctx, id) }

// Up says whether a node of the sandbox runs.
func (s *Sandbox) Up(ctx context.Context, id int32) (bool, error) { return s.ctl.Up(ctx, id) }

// Nodes are the sandbox's nodes.
func (s *Sandbox) Nodes() []config.Node { return s.nodes }

// Embedded is the embedded sandbox, nil for a separate one.
func (s *Sandbox) Embedded() *sandbox.Cluster { return s.embedded }

// Close stops the embedded sandbox.
func (s *Sandbox) Close(context.Context) error {
	if s.embedded != nil {
		s.embedded.Close()
	}
	return nil
}

// Baseline starts a 1-node sandbox for the benchmark, so that each run
// compares the cluster with a fresh, idle single node running the same
// code, reached the same way (TLS, SASL). Only the embedded sandbox offers
// one: a separate sandbox is another process, whose baseline is
// drills.benchmark.baseline.address.
func (s *Sandbox) Baseline(context.Context) (string, func(), error) {
	if s.embedded == nil {
		return "", nil, nil
	}
	e := s.settings
	sb, err := sandbox.New(sandbox.Options{Nodes: 1, ElectionTimeoutMin: e.ElectionTimeoutMin, Fsync: e.Fsync, Listener: s.embedded.Listener(), Logger: s.log})
	if err != nil {
		return "", nil, fmt.Errorf("start the baseline sandbox: %w", err)
	}
	return sb.Addrs()[0], sb.Close, nil
}
