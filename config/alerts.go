package config

import (
	"fmt"
	"time"
)

// Probes configures the continuous probes.
type Probes struct {
	Quorum Quorum `mapstructure:"quorum"`
}

// Quorum is the continuous quorum probe.
type Quorum struct {
	Interval time.Duration `mapstructure:"interval"`
	Timeout  time.Duration `mapstructure:"timeout"`
}

// Alerts configures where alerts go.
type Alerts struct {
	Slack Slack `mapstructure:"slack"`
}

// Slack delivery: an incoming webhook or a bot token and channel. Secrets
// come only from files.
type Slack struct {
	WebhookURLFile string `mapstructure:"webhook_url_file"`
	TokenFile      string `mapstructure:"token_file"`
	Channel        string `mapstructure:"channel"`
}

func defaultProbes() Probes {
	return Probes{Quorum: Quorum{Interval: 5 * time.Second, Timeout: 2 * time.Second}}
}

func defaultAlerts() Alerts { return Alerts{} }

// validateAlerts checks probes.* and alerts.*.
func (c *Config) validateAlerts() Problems {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{key, fmt.Sprintf(format, args...)})
	}
	if c.Probes.Quorum.Interval <= 0 {
		add("probes.quorum.interval", "must be > 0")
	}
	if c.Probes.Quorum.Timeout <= 0 {
		add("probes.quorum.timeout", "must be > 0")
	}
	s := c.Alerts.Slack
	if s.WebhookURLFile != "" && s.TokenFile != "" {
		add("alerts.slack", "set webhook_url_file or token_file, not both")
	}
	if s.TokenFile != "" && s.Channel == "" {
		add("alerts.slack.channel", "required with alerts.slack.token_file")
	}
	return ps
}
