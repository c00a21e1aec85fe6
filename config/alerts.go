package config

import (
	"fmt"
	"time"
)

// Probes configures the continuous probes.
type Probes struct {
	Quorum Quorum `mapstructure:"quorum"`
}

// Quorum is the continuous quorum probe: every Interval it asks each node
// for ApiVersions and metadata, and writes a canary.
type Quorum struct {
	Interval time.Duration `mapstructure:"interval"`
	// Timeout bounds each step of a check (a node's answers, the canary
	// write), so a hung node costs one timeout, not a stuck probe.
	Timeout time.Duration `mapstructure:"timeout"`
	// Canary writes one acks=all message to each partition of the drill
	// topic every check; quorum is available only if all are acked.
	Canary bool `mapstructure:"canary"`
	// Topics are watched besides the drill topic (cluster.topic.name):
	// each of their partitions must have a live leader.
	Topics []string `mapstructure:"topics"`
}

// Alerts configures when raftdrill pages and where.
type Alerts struct {
	Slack Slack `mapstructure:"slack"`
	// QuorumLostAfter is how many consecutive probe checks must see quorum
	// lost before quorum-lost fires: one bad check can be a blip.
	QuorumLostAfter int `mapstructure:"quorum_lost_after"`
	// DrillsStaleAfter fires drills-stale when no drill has passed for
	// this long (the dead-man's switch); 0 turns it off.
	DrillsStaleAfter time.Duration `mapstructure:"drills_stale_after"`
	// DrillRecoveryGrace is how long after a drill restarts a node it
	// killed (or after the drill ends) quorum loss still counts as the
	// drill's doing: the drill's recovery deadline.
	DrillRecoveryGrace time.Duration `mapstructure:"drill_recovery_grace"`
	// DrillMaxOutage caps how long a node a drill killed may stay down
	// before its absence pages even though the drill is still running.
	DrillMaxOutage time.Duration `mapstructure:"drill_max_outage"`
	// QueueSize bounds the messages waiting for Slack; when full, the
	// oldest are folded into one summary message.
	QueueSize int `mapstructure:"queue_size"`
	// RetryBackoff is the first wait after a failed delivery; it doubles
	// up to RetryBackoffMax. Slack's Retry-After wins when it sends one.
	RetryBackoff    time.Duration `mapstructure:"retry_backoff"`
	RetryBackoffMax time.Duration `mapstructure:"retry_backoff_max"`
	// RunbookURL is docs/alerts.md as people can open it; each alert links
	// to its own section (#quorum-lost, …).
	RunbookURL string `mapstructure:"runbook_url"`
}

// Slack delivery: an incoming webhook or a bot token and channel. Secrets
// come only from files, read at each send so rotating them needs no restart.
type Slack struct {
	WebhookURLFile string `mapstructure:"webhook_url_file"`
	TokenFile      string `mapstructure:"token_file"`
	Channel        string `mapstructure:"channel"`
	// APIURL is the Web API base (for a proxy or a test server).
	APIURL string `mapstructure:"api_url"`
	// RunURLBase + a run id links a message to its run (for example
	// https://raftdrill.example.com/runs/).
	RunURLBase   string `mapstructure:"run_url_base"`
	DashboardURL string `mapstructure:"dashboard_url"`
	// RepeatInterval re-sends a firing alert while it keeps firing; 0 never.
	RepeatInterval time.Duration `mapstructure:"repeat_interval"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `mapstructure:"timeout"`
	// Mention starts incident messages (quorum-lost, data-anomaly), e.g.
	// "<!here>" or "<!subteam^S0123>"; notes never mention anyone.
	Mention string `mapstructure:"mention"`
}

// DefaultRunbookURL is docs/alerts.md in the project's repository.
const DefaultRunbookURL = "https://github.com/raftdrill/raftdrill/blob/main/docs/alerts.md"

func defaultProbes() Probes {
	return Probes{Quorum: Quorum{Interval: 5 * time.Second, Timeout: 2 * time.Second, Canary: true}}
}

func defaultAlerts() Alerts {
	return Alerts{
		Slack: Slack{
			APIURL:         "https://slack.com/api/",
			RepeatInterval: 4 * time.Hour,
			Timeout:        10 * time.Second,
		},
		QuorumLostAfter:    2,
		DrillsStaleAfter:   time.Hour,
		DrillRecoveryGrace: 30 * time.Second,
		DrillMaxOutage:     5 * time.Minute,
		QueueSize:          100,
		RetryBackoff:       time.Second,
		RetryBackoffMax:    2 * time.Minute,
		RunbookURL:         DefaultRunbookURL,
	}
}

// validateAlerts checks probes.* and alerts.*.
func (c *Config) validateAlerts(ch *Checker) {
	q := c.Probes.Quorum
	ch.Positive("probes.quorum.interval", q.Interval)
	if q.Timeout <= 0 {
		ch.Add("probes.quorum.timeout", "must be > 0")
	} else if q.Interval > 0 && q.Timeout >= q.Interval {
		ch.Add("probes.quorum.timeout", "must be shorter than probes.quorum.interval (%s), or checks overlap", q.Interval)
	}
	seen := map[string]bool{}
	for i, t := range q.Topics {
		key := fmt.Sprintf("probes.quorum.topics[%d]", i)
		switch {
		case t == "":
			ch.Add(key, "must not be empty")
		case t == c.Cluster.Topic.Name:
			ch.Add(key, "%q is the drill topic (cluster.topic.name), always watched; list only other topics", t)
		case seen[t]:
			ch.Add(key, "%q is listed twice", t)
		}
		seen[t] = true
	}

	a := c.Alerts
	if a.QuorumLostAfter < 1 {
		ch.Add("alerts.quorum_lost_after", "must be >= 1 (probe checks in a row)")
	}
	ch.NonNegative("alerts.drills_stale_after", a.DrillsStaleAfter)
	ch.NonNegative("alerts.drill_recovery_grace", a.DrillRecoveryGrace)
	ch.Positive("alerts.drill_max_outage", a.DrillMaxOutage)
	if a.QueueSize < 2 {
		ch.Add("alerts.queue_size", "must be >= 2 (one summary and one message)")
	}
	ch.Positive("alerts.retry_backoff", a.RetryBackoff)
	if a.RetryBackoffMax < a.RetryBackoff {
		ch.Add("alerts.retry_backoff_max", "must be >= alerts.retry_backoff")
	}
	ch.HTTPURL("alerts.runbook_url", a.RunbookURL, true)

	s := a.Slack
	if s.WebhookURLFile != "" && s.TokenFile != "" {
		ch.Add("alerts.slack", "set webhook_url_file or token_file, not both")
	}
	if s.TokenFile != "" && s.Channel == "" {
		ch.Add("alerts.slack.channel", "required with alerts.slack.token_file")
	}
	if s.WebhookURLFile != "" && s.TokenFile == "" && s.Channel != "" {
		ch.Add("alerts.slack.channel", "only used with alerts.slack.token_file (an incoming webhook posts to the channel it was created for)")
	}
	ch.HTTPURL("alerts.slack.api_url", s.APIURL, true)
	ch.HTTPURL("alerts.slack.run_url_base", s.RunURLBase, false)
	ch.HTTPURL("alerts.slack.dashboard_url", s.DashboardURL, false)
	ch.NonNegative("alerts.slack.repeat_interval", s.RepeatInterval)
	ch.Positive("alerts.slack.timeout", s.Timeout)
}
