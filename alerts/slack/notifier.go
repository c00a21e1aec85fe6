package slack

import (
	"log/slog"
	"net/http"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/config"
)

// New returns the Slack notifier cfg.alerts.slack names (an incoming
// webhook or a bot token), nil when Slack is not configured.
func New(cfg *config.Config, log *slog.Logger) alerts.Notifier {
	s := cfg.Alerts.Slack
	client := &http.Client{Timeout: s.Timeout}
	r := Renderer{Cluster: cfg.Cluster.Name, RunURLBase: s.RunURLBase, DashboardURL: s.DashboardURL,
		RunbookURL: cfg.Alerts.RunbookURL, Mention: s.Mention}
	switch {
	case s.TokenFile != "":
		return &Bot{TokenFile: s.TokenFile, Channel: s.Channel, APIURL: s.APIURL, Client: client, Render: r, Log: log}
	case s.WebhookURLFile != "":
		return &Webhook{URLFile: s.WebhookURLFile, Client: client, Render: r}
	}
	return nil
}
