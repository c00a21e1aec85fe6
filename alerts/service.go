package alerts

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes"
)

// Options are what the caller of NewService decides rather than config.
type Options struct {
	Log    *slog.Logger
	Sent   *prometheus.CounterVec // raftdrill_alerts_sent_total{kind,result}
	Queued prometheus.Gauge       // raftdrill_alerts_queue_length
	// NoScheduledDrills turns the drills-stale dead-man's switch off: with
	// no drill on a schedule it could only ever fire.
	NoScheduledDrills bool
}

// Service is the alerting side assembled from config: the planner (which
// knows what drills take down on purpose), the engine (what deserves a
// message) and the dispatcher (getting it to Slack).
type Service struct {
	Planner    *Planner
	Engine     *Engine
	Dispatcher *Dispatcher
	log        *slog.Logger
	wg         sync.WaitGroup
}

// NewService builds the alerting side from cfg.
func NewService(cfg *config.Config, opts Options) *Service {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "alerts")
	a := cfg.Alerts
	n := NewNotifier(cfg, log)
	d := NewDispatcher(n, DispatcherOptions{
		QueueSize: a.QueueSize, Backoff: a.RetryBackoff, BackoffMax: a.RetryBackoffMax,
		Sent: opts.Sent, Queued: opts.Queued,
	}, log)
	set := Settings{QuorumLostAfter: a.QuorumLostAfter, RepeatInterval: a.Slack.RepeatInterval, StaleAfter: a.DrillsStaleAfter}
	if opts.NoScheduledDrills {
		set.StaleAfter = 0
	}
	p := NewPlanner(a.DrillRecoveryGrace, a.DrillMaxOutage)
	s := &Service{Planner: p, Engine: NewEngine(set, p, d.Enqueue, log), Dispatcher: d, log: log}
	switch {
	case a.Slack.TokenFile != "":
		log.Info("alerts go to Slack with a bot token", "channel", a.Slack.Channel)
	case a.Slack.WebhookURLFile != "":
		log.Info("alerts go to a Slack incoming webhook")
	default:
		log.Info("Slack not configured: alerts are evaluated and logged at debug level, not sent")
	}
	return s
}

// NewNotifier returns the notifier cfg.alerts.slack names, nil for none.
func NewNotifier(cfg *config.Config, log *slog.Logger) Notifier {
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

// Start runs the engine and the dispatcher until ctx ends.
func (s *Service) Start(ctx context.Context) {
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.Engine.Run(ctx) }()
	go func() { defer s.wg.Done(); s.Dispatcher.Run(ctx) }()
}

// Wait waits for both to stop (the dispatcher's last delivery round
// included) or for ctx to end.
func (s *Service) Wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("stopped waiting for alerts to be delivered", "queued", s.Dispatcher.Len())
	}
}

// Observe hands a quorum probe observation to the engine.
func (s *Service) Observe(o probes.QuorumObservation) { s.Engine.Observe(o) }

// Control wraps the node controller the drills use (see Planner).
func (s *Service) Control(inner probes.NodeController) probes.NodeController {
	return s.Planner.Control(inner)
}
