package config

import (
	"time"
)

// Config is the whole configuration of raftdrill. Every field has a default
// (see Default), so an empty file, or none at all, is a valid configuration:
// it drills the embedded sandbox cluster.
type Config struct {
	Server  Server  `mapstructure:"server"`
	Log     Log     `mapstructure:"log"`
	Cluster Cluster `mapstructure:"cluster"`
	Sandbox Sandbox `mapstructure:"sandbox"`
	Drills  Drills  `mapstructure:"drills"`
	Probes  Probes  `mapstructure:"probes"`
	Alerts  Alerts  `mapstructure:"alerts"`
}

// Server is the daemon's HTTP side.
type Server struct {
	Listen string `mapstructure:"listen"`
	// AuthTokenFile holds the bearer token that POST /trigger requires.
	// Read at each request, so rotating it needs no restart.
	AuthTokenFile   string        `mapstructure:"auth_token_file"`
	RunHistory      int           `mapstructure:"run_history"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
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
}

// Node is one member of the cluster.
type Node struct {
	ID      int32             `mapstructure:"id"`
	Address string            `mapstructure:"address"`
	Env     map[string]string `mapstructure:"env"`
}

// Controller kills and restarts nodes.
type Controller struct {
	Type       string  `mapstructure:"type"`
	SandboxURL string  `mapstructure:"sandbox_url"`
	Process    Process `mapstructure:"process"`
	Exec       Exec    `mapstructure:"exec"`
}

// Process runs each node as a local process started from a command template,
// as the original verification suite did.
type Process struct {
	Command      []string          `mapstructure:"command"`
	Dir          string            `mapstructure:"dir"`
	Env          map[string]string `mapstructure:"env"`
	LogFile      string            `mapstructure:"log_file"`
	StartTimeout time.Duration     `mapstructure:"start_timeout"`
}

// Exec controls nodes through shell commands (systemctl, kubectl, ssh, …).
type Exec struct {
	Kill    string        `mapstructure:"kill"`
	Restart string        `mapstructure:"restart"`
	Up      string        `mapstructure:"up"`
	Timeout time.Duration `mapstructure:"timeout"`
}

// Topic is the topic the drills write to and read back.
type Topic struct {
	Name              string `mapstructure:"name"`
	Partitions        int32  `mapstructure:"partitions"`
	ReplicationFactor int16  `mapstructure:"replication_factor"`
}

// Sandbox is the embedded Kafka-protocol cluster with Raft-like failover.
type Sandbox struct {
	Nodes              int           `mapstructure:"nodes"`
	KafkaBasePort      int           `mapstructure:"kafka_base_port"`
	ElectionTimeoutMin time.Duration `mapstructure:"election_timeout_min"`
	ElectionTimeoutMax time.Duration `mapstructure:"election_timeout_max"`
	Faults             SandboxFaults `mapstructure:"faults"`
}

// Drills holds one section per drill, keyed by the drill's name.
type Drills struct {
	LeaderFailover  LeaderFailover  `mapstructure:"leader-failover"`
	FailureRecovery FailureRecovery `mapstructure:"failure-recovery"`
	Benchmark       Benchmark       `mapstructure:"benchmark"`
}

// LeaderFailover kills the target partition's leader under a steady acks=all
// load and measures election and write recovery.
type LeaderFailover struct {
	Schedule        string        `mapstructure:"schedule"`
	ProduceDuration time.Duration `mapstructure:"produce_duration"`
	KillAfter       time.Duration `mapstructure:"kill_after"`
	Rate            float64       `mapstructure:"rate"`
	MessageSize     int           `mapstructure:"message_size"`
	TargetPartition int32         `mapstructure:"target_partition"`
	// PollInterval is how often metadata is read through every live node
	// after the kill; it bounds the resolution of election_seconds.
	PollInterval     time.Duration            `mapstructure:"poll_interval"`
	ElectionDeadline time.Duration            `mapstructure:"election_deadline"`
	RecoveryTimeout  time.Duration            `mapstructure:"recovery_timeout"`
	Thresholds       LeaderFailoverThresholds `mapstructure:"thresholds"`
	// LeaderGrace is how long live nodes may name different leaders, or a
	// dead one, before the leader watch reports it (see failure-recovery).
	LeaderGrace time.Duration `mapstructure:"leader_grace"`
}

// LeaderFailoverThresholds are the pass criteria; defaults are the guide's.
type LeaderFailoverThresholds struct {
	MaxFailoverSeconds float64 `mapstructure:"max_failover_seconds"`
	MinSuccessRatio    float64 `mapstructure:"min_success_ratio"`
	MaxLost            int     `mapstructure:"max_lost"`
	MaxCorrupted       int     `mapstructure:"max_corrupted"`
}

// Default returns the configuration used when a key is not set.
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
				Type: "sandbox",
				Process: Process{
					LogFile:      "node{{.ID}}.log",
					StartTimeout: 60 * time.Second,
				},
				Exec: Exec{Timeout: 60 * time.Second},
			},
			Topic:          Topic{Name: "raftdrill", Partitions: 3, ReplicationFactor: 3},
			KafkaVersion:   "3.6.0",
			RequestTimeout: 10 * time.Second,
		},
		Sandbox: Sandbox{
			Nodes:              3,
			ElectionTimeoutMin: time.Second,
			ElectionTimeoutMax: 2 * time.Second,
		},
		Drills: Drills{
			LeaderFailover: LeaderFailover{
				Schedule:         "@every 15m",
				ProduceDuration:  30 * time.Second,
				KillAfter:        10 * time.Second,
				Rate:             100,
				MessageSize:      1024,
				TargetPartition:  0,
				PollInterval:     10 * time.Millisecond,
				ElectionDeadline: 15 * time.Second,
				RecoveryTimeout:  60 * time.Second,
				LeaderGrace:      5 * time.Second,
				Thresholds: LeaderFailoverThresholds{
					MaxFailoverSeconds: 15,
					MinSuccessRatio:    0.80,
					MaxLost:            0,
					MaxCorrupted:       0,
				},
			},
			FailureRecovery: defaultFailureRecovery(),
			Benchmark:       defaultBenchmark(),
		},
		Probes: defaultProbes(),
		Alerts: defaultAlerts(),
	}
}

// UsesSandbox reports whether the embedded sandbox cluster is to be started:
// no nodes are configured. (A separate sandbox is drilled through its nodes
// and cluster.controller.sandbox_url, so it has nodes.)
func (c *Config) UsesSandbox() bool {
	return len(c.Cluster.Nodes) == 0
}
