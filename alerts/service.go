package alerts

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/quorum"
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

// NewService builds the alerting side from cfg, delivering through n (nil:
// no channel configured: alerts are evaluated and logged only).
func NewService(cfg *config.Config, n Notifier, opts Options) *Service {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "alerts")
	a := cfg.Alerts
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
func (s *Service) Observe(o quorum.Observation) { s.Engine.Observe(o) }
