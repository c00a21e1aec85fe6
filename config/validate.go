package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/robfig/cron/v3"
)

// CronParser is the one schedule syntax raftdrill accepts: standard cron with
// an optional leading seconds field, or descriptors such as "@every 30s".
var CronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ControllerKey is where each node controller type has its section:
// cluster.controller.<type>. The types a binary knows are the sections
// registered there.
const ControllerKey = "cluster.controller"

// Checker collects problems under a key prefix, with the checks most keys
// need.
type Checker struct {
	prefix string
	ps     *Problems
}

// NewChecker returns a checker whose keys start with prefix.
func NewChecker(prefix string) *Checker { return &Checker{prefix: prefix, ps: &Problems{}} }

// At returns a checker for the keys below key, adding to the same problems.
func (c *Checker) At(key string) *Checker { return &Checker{prefix: c.key(key), ps: c.ps} }

// Problems returns what was found.
func (c *Checker) Problems() Problems { return *c.ps }

func (c *Checker) key(k string) string {
	switch {
	case c.prefix == "":
		return k
	case k == "":
		return c.prefix
	}
	return c.prefix + "." + k
}

// Add reports a problem with key (relative to the prefix).
func (c *Checker) Add(key, format string, args ...any) {
	*c.ps = append(*c.ps, Problem{c.key(key), fmt.Sprintf(format, args...)})
}

// AddAbs reports a problem with an absolute key, for a rule that involves
// keys outside the checker's section.
func (c *Checker) AddAbs(key, format string, args ...any) {
	*c.ps = append(*c.ps, Problem{key, fmt.Sprintf(format, args...)})
}

// Positive: d must be > 0.
func (c *Checker) Positive(key string, d time.Duration) {
	if d <= 0 {
		c.Add(key, "must be > 0")
	}
}

// NonNegative: d must be >= 0.
func (c *Checker) NonNegative(key string, d time.Duration) {
	if d < 0 {
		c.Add(key, "must be >= 0")
	}
}

// Fraction: v must be between 0 and 1.
func (c *Checker) Fraction(key string, v float64) {
	if v < 0 || v > 1 {
		c.Add(key, "must be between 0 and 1")
	}
}

// MessageSize: n must be a message size the drills can write.
func (c *Checker) MessageSize(key string, n int) {
	if n < 64 || n > 1<<20 {
		c.Add(key, "must be between 64 and 1048576 bytes")
	}
}

// Schedule: spec must be a cron schedule, "" or "off".
func (c *Checker) Schedule(key, spec string) {
	if spec == "" || spec == "off" {
		return
	}
	if _, err := CronParser.Parse(spec); err != nil {
		c.Add(key, "invalid schedule %q: %v", spec, err)
	}
}

// Template: text must be a valid Go template.
func (c *Checker) Template(key, text string) {
	if _, err := template.New(c.key(key)).Option("missingkey=error").Parse(text); err != nil {
		c.Add(key, "invalid template: %v", err)
	}
}

// HostPort: s must be host:port.
func (c *Checker) HostPort(key, s string) {
	if _, _, err := net.SplitHostPort(s); err != nil {
		c.Add(key, "must be host:port: %v", err)
	}
}

// HTTPURL: s must be an http(s) URL (or empty, unless required).
func (c *Checker) HTTPURL(key, s string, required bool) {
	if s == "" {
		if required {
			c.Add(key, "must not be empty")
		}
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.Add(key, "must be an http(s) URL")
	}
}

// Partition: p must be a partition of the drill topic (when the topic's
// partition count is itself valid; otherwise that key says so).
func (c *Checker) Partition(key string, p int32, root *Config) {
	if n := root.Cluster.Topic.Partitions; n >= 1 && (p < 0 || p >= n) {
		c.Add(key, "must be a partition of the drill topic (0..%d)", n-1)
	}
}

// Validate reports every problem with the configuration, each with its key
// path; nil means valid. Sections validate themselves.
func (c *Config) Validate() Problems {
	ch := NewChecker("")
	ch.HostPort("server.listen", c.Server.Listen)
	if c.Server.RunHistory < 1 {
		ch.Add("server.run_history", "must be >= 1")
	}
	ch.Positive("server.shutdown_timeout", c.Server.ShutdownTimeout)
	c.validateServerFiles(ch)
	for i, h := range c.Server.AllowedHosts {
		key := fmt.Sprintf("server.allowed_hosts[%d]", i)
		if h == "" || strings.ContainsAny(h, "/ ") || (strings.Contains(h, ":") && net.ParseIP(h) == nil) {
			ch.Add(key, "must be a host name or an IP address, without scheme or port (got %q)", h)
		}
	}
	c.validateState(ch)

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ch.Add("log.level", "must be one of debug, info, warn, error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		ch.Add("log.format", "must be text or json")
	}
	c.validateCluster(ch)
	c.validateAlerts(ch)
	for _, key := range c.sectionOrder {
		if v, ok := c.sections[key].(Validator); ok {
			v.Validate(ch.At(key), c)
		}
	}
	return ch.Problems()
}

func (c *Config) validateCluster(ch *Checker) {
	cl := c.Cluster
	if cl.Name == "" {
		ch.Add("cluster.name", "must not be empty")
	}
	seen := map[int32]bool{}
	for i, n := range cl.Nodes {
		key := fmt.Sprintf("cluster.nodes[%d]", i)
		if n.ID < 0 {
			ch.Add(key+".id", "must be >= 0")
		}
		if seen[n.ID] {
			ch.Add(key+".id", "duplicate node id %d", n.ID)
		}
		seen[n.ID] = true
		ch.HostPort(key+".address", n.Address)
	}
	if cl.Topic.Name == "" {
		ch.Add("cluster.topic.name", "must not be empty")
	}
	if cl.Topic.Partitions < 1 {
		ch.Add("cluster.topic.partitions", "must be >= 1")
	}
	if cl.Topic.ReplicationFactor < 1 {
		ch.Add("cluster.topic.replication_factor", "must be >= 1")
	}
	if n := len(cl.Nodes); n > 0 && int(cl.Topic.ReplicationFactor) > n {
		ch.Add("cluster.topic.replication_factor", "must be <= the number of nodes (%d)", n)
	}
	ch.Positive("cluster.request_timeout", cl.RequestTimeout)
	ch.Positive("cluster.controller.down_timeout", cl.Controller.DownTimeout)
	ch.Positive("cluster.controller.restore_backoff", cl.Controller.RestoreBackoff)
	if cl.Controller.RestoreBackoffMax < cl.Controller.RestoreBackoff {
		ch.Add("cluster.controller.restore_backoff_max", "must be >= cluster.controller.restore_backoff")
	}
	ch.Positive("cluster.controller.serve_timeout", cl.Controller.ServeTimeout)
	if _, err := ParseKafkaVersion(cl.KafkaVersion); err != nil {
		ch.Add("cluster.kafka_version", "%v", err)
	}
	c.validateSecurity(ch)
	types := c.ControllerTypes()
	if !c.Has(ControllerKey + "." + cl.Controller.Type) {
		ch.Add("cluster.controller.type", "must be one of %s", strings.Join(types, ", "))
	}
}

// ControllerTypes lists the node controller types this binary knows.
func (c *Config) ControllerTypes() []string {
	var out []string
	for _, k := range c.sectionOrder {
		if rest, ok := strings.CutPrefix(k, ControllerKey+"."); ok && !strings.Contains(rest, ".") {
			out = append(out, rest)
		}
	}
	return out
}

// Acks: s must be an acks setting the drills know: "all" or "1".
func (c *Checker) Acks(key, s string) {
	if s != "all" && s != "1" {
		c.Add(key, `must be "all" (a majority has each acked write) or "1" (the leader alone has it)`)
	}
}

func (c *Config) validateSecurity(ch *Checker) {
	t := c.Cluster.TLS
	if t.Enabled {
		for _, f := range []struct{ key, path string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
			if f.path != "" {
				ch.ReadableFile("cluster.tls."+f.key, f.path)
			}
		}
		if (t.CertFile == "") != (t.KeyFile == "") {
			ch.Add("cluster.tls.cert_file", "cert_file and key_file go together (a client certificate and its key)")
		}
		switch t.MinVersion {
		case "", "TLS10", "TLS11", "TLS12", "TLS13":
		default:
			ch.Add("cluster.tls.min_version", "must be one of TLS10, TLS11, TLS12, TLS13")
		}
	} else if t != (TLS{}) {
		ch.Add("cluster.tls.enabled", "must be true for the other cluster.tls keys to apply")
	}
	s := c.Cluster.SASL
	switch s.Mechanism {
	case "":
		if s != (SASL{}) {
			ch.Add("cluster.sasl.mechanism", "required with cluster.sasl.username or password_file: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
		}
		return
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		ch.Add("cluster.sasl.mechanism", "must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512")
	}
	if s.Username == "" {
		ch.Add("cluster.sasl.username", "required with cluster.sasl.mechanism")
	}
	if s.PasswordFile == "" {
		ch.Add("cluster.sasl.password_file", "required with cluster.sasl.mechanism (the password comes only from a file)")
	} else {
		ch.SecretFile("cluster.sasl.password_file", s.PasswordFile)
	}
}

// ReadableFile: the file at path must be readable.
func (c *Checker) ReadableFile(key, path string) {
	f, err := os.Open(path)
	if err != nil {
		c.Add(key, "%v", err)
		return
	}
	f.Close()
}

// SecretFile: the file at path must be readable and hold something; the
// problem names the path, never the content.
func (c *Checker) SecretFile(key, path string) {
	raw, err := os.ReadFile(path)
	switch {
	case err != nil:
		c.Add(key, "%v", err)
	case len(strings.TrimSpace(string(raw))) == 0:
		c.Add(key, "%s is empty", path)
	}
}

// validateServerFiles checks server.auth_token_file at load, so that a
// missing or empty token stops `config check` and start-up rather than
// refusing every trigger later. Rotating it while raftdrill runs still
// works: the file is read again at each request.
func (c *Config) validateServerFiles(ch *Checker) {
	path := c.Server.AuthTokenFile
	if path == "" {
		return
	}
	raw, err := os.ReadFile(path)
	switch {
	case err != nil:
		ch.Add("server.auth_token_file", "cannot read the token: %v", err)
	case strings.TrimSpace(string(raw)) == "":
		ch.Add("server.auth_token_file", "%s is empty: a trigger token must not be empty", path)
	}
}

func (c *Config) validateState(ch *Checker) {
	s := c.State
	if strings.TrimSpace(s.Dir) == "" {
		ch.Add("state.dir", "must not be empty (the run history, alert outbox and restore journal live there)")
	}
	ch.Positive("state.run_max_age", s.RunMaxAge)
	if s.FailedRunHistory < 0 {
		ch.Add("state.failed_run_history", "must be >= 0")
	}
	if s.FailedRunMaxAge < s.RunMaxAge {
		ch.Add("state.failed_run_max_age", "must be >= state.run_max_age (%s): runs that did not pass are kept longer, not shorter", s.RunMaxAge)
	}
}
