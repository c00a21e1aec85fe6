package config

import (
	"time"
)

// Config is the whole configuration of raftdrill. Every field has a default
// (see Default), so an empty file, or none at all, is a valid configuration:
// it drills the embedded sandbox cluster.
//
// The sections of the drills (drills.<name>) and of the node controllers
// (cluster.controller.<type>, and sandbox for the embedded sandbox) belong
// to the packages that implement them; they reach Load as Sections and are
// read back with Get.
type Config struct {
	Server  Server  `mapstructure:"server"`
	Log     Log     `mapstructure:"log"`
	Cluster Cluster `mapstructure:"cluster"`
	Probes  Probes  `mapstructure:"probes"`
	Alerts  Alerts  `mapstructure:"alerts"`
	State   State   `mapstructure:"state"`

	// sections holds the decoded sections owned by other packages, by key;
	// sectionOrder their keys in the order they were registered.
	sections     map[string]any
	sectionOrder []string
}

// Server is the daemon's HTTP side.
type Server struct {
	Listen string `mapstructure:"listen"`
	// AuthTokenFile holds the bearer token that POST /trigger requires.
	// Read at each request, so rotating it needs no restart.
	AuthTokenFile   string        `mapstructure:"auth_token_file"`
	RunHistory      int           `mapstructure:"run_history"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// WebConfigFile is a web config file as Prometheus and its exporters
	// read it (TLS, basic auth, response headers), served through the
	// exporter-toolkit; empty: plain HTTP. The toolkit reads it again for
	// each connection and request, so renewing a certificate or changing
	// a password needs no restart. Config cannot check it itself (the
	// toolkit is linked by daemon/web); the daemon adds that Check.
	WebConfigFile string `mapstructure:"web_config_file"`
	// AllowedHosts are the host names (or addresses) besides loopback and
	// the listen address that POST /trigger and POST /-/reload accept in
	// the Host header: a name that is not listed is refused, so that a web
	// page cannot reach the API through DNS rebinding.
	AllowedHosts []string `mapstructure:"allowed_hosts"`
}

// State is the state directory: one daemon or `raftdrill run` owns it at a
// time (an advisory lock), and it holds the run history, the alert outbox,
// the restore journal and the process controller's pidfiles.
type State struct {
	Dir string `mapstructure:"dir"`
	// RunMaxAge: passing runs older than this are deleted.
	RunMaxAge time.Duration `mapstructure:"run_max_age"`
	// FailedRunHistory runs that did not pass (failed, error, interrupted)
	// are kept beyond server.run_history, the most recent ones, each up to
	// FailedRunMaxAge: they are the ones people come back to.
	FailedRunHistory int           `mapstructure:"failed_run_history"`
	FailedRunMaxAge  time.Duration `mapstructure:"failed_run_max_age"`
}

// Log configures the structured logger.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Cluster says which cluster to drill and how to control its nodes. With no
// nodes, the embedded sandbox cluster is started and drilled.
type Cluster struct {
	Name           string        `mapstructure:"name"`
	Nodes          []Node        `mapstructure:"nodes"`
	Controller     Controller    `mapstructure:"controller"`
	Topic          Topic         `mapstructure:"topic"`
	KafkaVersion   string        `mapstructure:"kafka_version"`
	RequestTimeout time.Duration `mapstructure:"request_timeout"`
	// TLS and SASL apply to every connection to the cluster: drills,
	// read-back, the quorum probe, the benchmark and its baseline.
	TLS  TLS  `mapstructure:"tls"`
	SASL SASL `mapstructure:"sasl"`
}

// TLS is cluster.tls, named as Prometheus names its tls_config.
type TLS struct {
	Enabled  bool   `mapstructure:"enabled"`
	CAFile   string `mapstructure:"ca_file"`
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// ServerName is the name the servers' certificates must carry; empty:
	// the host of each node's address.
	ServerName string `mapstructure:"server_name"`
	// MinVersion is TLS10, TLS11, TLS12 or TLS13; empty: TLS12.
	MinVersion string `mapstructure:"min_version"`
	// InsecureSkipVerify turns certificate verification off: only for a
	// test cluster; raftdrill warns at start.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
}

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASL is cluster.sasl; no mechanism: no authentication.
type SASL struct {
	Mechanism string `mapstructure:"mechanism"`
	Username  string `mapstructure:"username"`
	// PasswordFile holds the password, read at each new connection.
	PasswordFile string `mapstructure:"password_file"`
}

// Node is one member of the cluster.
type Node struct {
	ID      int32             `mapstructure:"id"`
	Address string            `mapstructure:"address"`
	Env     map[string]string `mapstructure:"env"`
}

// Controller says which node controller kills and restarts the nodes; the
// settings of each type are its own section, cluster.controller.<type>.
type Controller struct {
	Type string `mapstructure:"type"`
	// SandboxURL is the control API of a separate `raftdrill sandbox`;
	// empty means the embedded one.
	SandboxURL string `mapstructure:"sandbox_url"`
	// DownTimeout is how long after a kill the controller has to see the
	// node down (Up false); a node still up after it ends the drill as an
	// error and is restored.
	DownTimeout time.Duration `mapstructure:"down_timeout"`
	// RestoreBackoff is the first wait between attempts to restore a node
	// left down (by a drill that could not restore it, or by a daemon that
	// died); it doubles, with jitter, up to RestoreBackoffMax, and the
	// attempts go on until the node serves Kafka or an operator clears it
	// (raftdrill state clear).
	RestoreBackoff    time.Duration `mapstructure:"restore_backoff"`
	RestoreBackoffMax time.Duration `mapstructure:"restore_backoff_max"`
	// ServeTimeout is how long a restarted node has to serve Kafka before
	// that restore attempt counts as failed.
	ServeTimeout time.Duration `mapstructure:"serve_timeout"`
}

// Topic is the topic the drills write to and read back.
type Topic struct {
	Name              string `mapstructure:"name"`
	Partitions        int32  `mapstructure:"partitions"`
	ReplicationFactor int16  `mapstructure:"replication_factor"`
}

// DefaultStateDir is state.dir when it is not set: ./data, beside a
// `make run`. The container image sets /var/lib/raftdrill.
const DefaultStateDir = "./data"

// Default returns the configuration used when a key is not set, without
// the sections of other packages (Load adds their defaults).
func Default() Config {
	return Config{
		Server: Server{
			Listen:          "127.0.0.1:9479",
			RunHistory:      200,
			ShutdownTimeout: 30 * time.Second,
		},
		Log: Log{Level: "info", Format: "text"},
		Cluster: Cluster{
			Name: "sandbox",
			Controller: Controller{
				Type:              "sandbox",
				DownTimeout:       30 * time.Second,
				RestoreBackoff:    time.Second,
				RestoreBackoffMax: 30 * time.Second,
				ServeTimeout:      60 * time.Second,
			},
			Topic:          Topic{Name: "raftdrill", Partitions: 3, ReplicationFactor: 3},
			KafkaVersion:   "3.6.0",
			RequestTimeout: 10 * time.Second,
		},
		Probes: defaultProbes(),
		Alerts: defaultAlerts(),
		State: State{
			Dir:              DefaultStateDir,
			RunMaxAge:        30 * 24 * time.Hour,
			FailedRunHistory: 500,
			FailedRunMaxAge:  90 * 24 * time.Hour,
		},
	}
}

// UsesSandbox reports whether the embedded sandbox cluster is to be started:
// no nodes are configured. (A separate sandbox is drilled through its nodes
// and cluster.controller.sandbox_url, so it has nodes.)
func (c *Config) UsesSandbox() bool {
	return len(c.Cluster.Nodes) == 0
}
