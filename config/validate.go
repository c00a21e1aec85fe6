package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/robfig/cron/v3"
)

// CronParser is the one schedule syntax raftdrill accepts: standard cron with
// an optional leading seconds field, or descriptors such as "@every 30s".
var CronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ControllerTypes are the node controllers raftdrill knows.
var ControllerTypes = []string{"sandbox", "process", "exec"}

// Validate reports every problem with the configuration, each with its key
// path; nil means valid.
func (c *Config) Validate() Problems {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{key, fmt.Sprintf(format, args...)})
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			add(key, "must be > 0")
		}
	}

	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		add("server.listen", "must be host:port: %v", err)
	}
	if c.Server.RunHistory < 1 {
		add("server.run_history", "must be >= 1")
	}
	positive("server.shutdown_timeout", c.Server.ShutdownTimeout)

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be one of debug, info, warn, error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "must be text or json")
	}

	ps = append(ps, c.validateCluster()...)

	if c.Sandbox.Nodes < 1 || c.Sandbox.Nodes > 9 {
		add("sandbox.nodes", "must be between 1 and 9")
	}
	if c.Sandbox.KafkaBasePort < 0 || c.Sandbox.KafkaBasePort > 65535-c.Sandbox.Nodes {
		add("sandbox.kafka_base_port", "must be 0 (random ports) or a port that leaves room for every node")
	}
	positive("sandbox.election_timeout_min", c.Sandbox.ElectionTimeoutMin)
	if c.Sandbox.ElectionTimeoutMax < c.Sandbox.ElectionTimeoutMin {
		add("sandbox.election_timeout_max", "must be >= sandbox.election_timeout_min")
	}

	lf := c.Drills.LeaderFailover
	const lfk = "drills.leader-failover."
	validSchedule(lfk+"schedule", lf.Schedule, add)
	positive(lfk+"produce_duration", lf.ProduceDuration)
	positive(lfk+"kill_after", lf.KillAfter)
	if lf.KillAfter > 0 && lf.ProduceDuration > 0 && lf.KillAfter >= lf.ProduceDuration {
		add(lfk+"kill_after", "must be shorter than produce_duration (%s), or nothing is measured after the kill", lf.ProduceDuration)
	}
	if lf.Rate <= 0 {
		add(lfk+"rate", "must be > 0")
	}
	if lf.MessageSize < 64 || lf.MessageSize > 1<<20 {
		add(lfk+"message_size", "must be between 64 and 1048576 bytes")
	}
	if c.Cluster.Topic.Partitions >= 1 && (lf.TargetPartition < 0 || lf.TargetPartition >= c.Cluster.Topic.Partitions) {
		add(lfk+"target_partition", "must be a partition of the drill topic (0..%d)", c.Cluster.Topic.Partitions-1)
	}
	positive(lfk+"poll_interval", lf.PollInterval)
	positive(lfk+"election_deadline", lf.ElectionDeadline)
	positive(lfk+"recovery_timeout", lf.RecoveryTimeout)
	positive(lfk+"leader_grace", lf.LeaderGrace)
	if lf.Thresholds.MaxFailoverSeconds <= 0 {
		add(lfk+"thresholds.max_failover_seconds", "must be > 0")
	}
	if lf.Thresholds.MinSuccessRatio < 0 || lf.Thresholds.MinSuccessRatio > 1 {
		add(lfk+"thresholds.min_success_ratio", "must be between 0 and 1")
	}
	if lf.Thresholds.MaxLost < 0 {
		add(lfk+"thresholds.max_lost", "must be >= 0")
	}
	if lf.Thresholds.MaxCorrupted < 0 {
		add(lfk+"thresholds.max_corrupted", "must be >= 0")
	}

	ps = append(ps, validateFaults(c.Sandbox.Faults, "sandbox.faults")...)
	ps = append(ps, c.validateFailureRecovery()...)
	ps = append(ps, c.validateBenchmark()...)
	ps = append(ps, c.validateAlerts()...)
	return ps
}

func (c *Config) validateCluster() Problems {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{key, fmt.Sprintf(format, args...)})
	}
	cl := c.Cluster
	if cl.Name == "" {
		add("cluster.name", "must not be empty")
	}
	seen := map[int32]bool{}
	for i, n := range cl.Nodes {
		key := fmt.Sprintf("cluster.nodes[%d]", i)
		if n.ID < 0 {
			add(key+".id", "must be >= 0")
		}
		if seen[n.ID] {
			add(key+".id", "duplicate node id %d", n.ID)
		}
		seen[n.ID] = true
		if _, _, err := net.SplitHostPort(n.Address); err != nil {
			add(key+".address", "must be host:port: %v", err)
		}
	}
	if cl.Topic.Name == "" {
		add("cluster.topic.name", "must not be empty")
	}
	if cl.Topic.Partitions < 1 {
		add("cluster.topic.partitions", "must be >= 1")
	}
	if cl.Topic.ReplicationFactor < 1 {
		add("cluster.topic.replication_factor", "must be >= 1")
	}
	nodes := len(cl.Nodes)
	if nodes == 0 {
		nodes = c.Sandbox.Nodes
	}
	if int(cl.Topic.ReplicationFactor) > nodes && nodes > 0 {
		add("cluster.topic.replication_factor", "must be <= the number of nodes (%d)", nodes)
	}
	if cl.RequestTimeout <= 0 {
		add("cluster.request_timeout", "must be > 0")
	}
	if _, err := ParseKafkaVersion(cl.KafkaVersion); err != nil {
		add("cluster.kafka_version", "%v", err)
	}

	ct := cl.Controller
	switch ct.Type {
	case "sandbox":
		if ct.SandboxURL != "" {
			if u, err := url.Parse(ct.SandboxURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("cluster.controller.sandbox_url", "must be an http(s) URL such as http://127.0.0.1:19090")
			}
			if len(cl.Nodes) == 0 {
				add("cluster.nodes", "required with cluster.controller.sandbox_url (the separate sandbox's Kafka addresses)")
			}
		} else if len(cl.Nodes) > 0 {
			add("cluster.controller.sandbox_url", "required when cluster.nodes is set and the controller is sandbox (or set cluster.controller.type to process or exec)")
		}
	case "process":
		if len(cl.Nodes) == 0 {
			add("cluster.nodes", "required with the process controller")
		}
		if len(ct.Process.Command) == 0 {
			add("cluster.controller.process.command", "required with the process controller")
		}
		for i, arg := range ct.Process.Command {
			checkTemplate(fmt.Sprintf("cluster.controller.process.command[%d]", i), arg, add)
		}
		for k, val := range ct.Process.Env {
			checkTemplate("cluster.controller.process.env."+k, val, add)
		}
		checkTemplate("cluster.controller.process.log_file", ct.Process.LogFile, add)
		if ct.Process.StartTimeout <= 0 {
			add("cluster.controller.process.start_timeout", "must be > 0")
		}
	case "exec":
		if len(cl.Nodes) == 0 {
			add("cluster.nodes", "required with the exec controller")
		}
		for _, kv := range [][2]string{{"kill", ct.Exec.Kill}, {"restart", ct.Exec.Restart}, {"up", ct.Exec.Up}} {
			key := "cluster.controller.exec." + kv[0]
			if kv[1] == "" {
				add(key, "required with the exec controller")
				continue
			}
			checkTemplate(key, kv[1], add)
		}
		if ct.Exec.Timeout <= 0 {
			add("cluster.controller.exec.timeout", "must be > 0")
		}
	default:
		add("cluster.controller.type", "must be one of %s", strings.Join(ControllerTypes, ", "))
	}
	return ps
}

func validSchedule(key, spec string, add func(string, string, ...any)) {
	if spec == "" || spec == "off" {
		return
	}
	if _, err := CronParser.Parse(spec); err != nil {
		add(key, "invalid schedule %q: %v", spec, err)
	}
}

func checkTemplate(key, text string, add func(string, string, ...any)) {
	if _, err := template.New(key).Option("missingkey=error").Parse(text); err != nil {
		add(key, "invalid template: %v", err)
	}
}
