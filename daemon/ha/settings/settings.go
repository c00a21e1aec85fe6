package settings

import (
	"fmt"
	"regexp"
	"time"

	"github.com/raftdrill/raftdrill/config"
)

// Key is where this section lives in raftdrill's configuration.
const Key = "ha.kubernetes"

// Config is the section ha.kubernetes: several raftdrill replicas elect one
// driller through a Kubernetes Lease. With no lease_name there is no
// election and the one raftdrill drills.
type Config struct {
	// LeaseName is the Lease (coordination.k8s.io/v1) the replicas share;
	// empty turns leader election off.
	LeaseName string `mapstructure:"lease_name"`
	// Namespace of the Lease; empty: raftdrill's own ($POD_NAMESPACE, or
	// its service account's namespace).
	Namespace string `mapstructure:"namespace"`
	// Identity of this replica in the Lease; empty: $POD_NAME, else the
	// host name. Every replica needs its own.
	Identity string `mapstructure:"identity"`
	// LeaseDuration is how long the others wait, after the leader's last
	// renewal, before they take the Lease over. Whole seconds: the Lease
	// stores it so.
	LeaseDuration time.Duration `mapstructure:"lease_duration"`
	// RenewDeadline is how long the leader keeps trying to renew before it
	// stops leading; it must be shorter than lease_duration, so the leader
	// has stopped before anyone else can start.
	RenewDeadline time.Duration `mapstructure:"renew_deadline"`
	// RetryPeriod is the pause between attempts to acquire or renew.
	RetryPeriod time.Duration `mapstructure:"retry_period"`
	// Kubeconfig is a kubeconfig file; empty: in a pod, its service
	// account; elsewhere $KUBECONFIG or ~/.kube/config, as kubectl does.
	Kubeconfig string `mapstructure:"kubeconfig"`
	// Context of the kubeconfig; empty: its current context.
	Context string `mapstructure:"context"`
}

// Default returns the section's defaults (client-go's usual 15s/10s/2s).
func Default() Config {
	return Config{
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
	}
}

// Enabled reports whether leader election is on: a lease is named.
func (c Config) Enabled() bool { return c.LeaseName != "" }

// jitterFactor is client-go's: a retry waits up to 1.2 retry periods.
const jitterFactor = 1.2

// Validate reports every problem with the section, each keyed by its full
// path under prefix (ha.kubernetes).
func (c Config) Validate(prefix string) config.Problems {
	var ps config.Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, config.Problem{Key: prefix + "." + key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.LeaseName != "" && (len(c.LeaseName) > 253 || !dnsSubdomain.MatchString(c.LeaseName)) {
		add("lease_name", "%q is not a Lease name (lower-case letters, digits, '-' and '.')", c.LeaseName)
	}
	if c.Namespace != "" && (len(c.Namespace) > 63 || !dnsLabel.MatchString(c.Namespace)) {
		add("namespace", "%q is not a namespace name (lower-case letters, digits and '-', at most 63)", c.Namespace)
	}
	if len(c.Identity) > 128 {
		add("identity", "longer than 128 characters")
	}
	switch {
	case c.LeaseDuration < time.Second:
		add("lease_duration", "must be at least 1s")
	case c.LeaseDuration%time.Second != 0:
		add("lease_duration", "must be whole seconds (the Lease stores seconds), not %s", c.LeaseDuration)
	}
	switch {
	case c.RenewDeadline <= 0:
		add("renew_deadline", "must be > 0")
	case c.LeaseDuration > 0 && c.RenewDeadline >= c.LeaseDuration:
		add("renew_deadline", "must be shorter than lease_duration (%s), so a leader that cannot renew stops before another replica takes over", c.LeaseDuration)
	}
	switch {
	case c.RetryPeriod <= 0:
		add("retry_period", "must be > 0")
	case c.RenewDeadline > 0 && float64(c.RenewDeadline) <= jitterFactor*float64(c.RetryPeriod):
		add("retry_period", "must be shorter than renew_deadline (%s) / 1.2, or the leader gets no second try to renew", c.RenewDeadline)
	}
	return ps
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)
