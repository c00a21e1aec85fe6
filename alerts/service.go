package alerts

import (
	"context"
	"log/slog"

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
	// Outbox, when set, makes delivery durable (see DispatcherOptions).
	Outbox OutboxStore
	// Standby starts the service as a replica that does not lead
	// (ha.kubernetes): it evaluates but sends nothing until
	// SetLeading(true).
	Standby bool
}

// Service is the alerting side assembled from config: the planner (which
// knows what drills take down on purpose), the engine (what deserves a
// message) and the dispatcher (getting it to Slack).
type Service struct {
	Planner    *Planner
	Engine     *Engine
	Dispatcher *Dispatcher
	log        *slog.Logger

	stopEngine, stopDispatcher context.CancelFunc
	engineDone, dispatcherDone chan struct{}
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
		Sent: opts.Sent, Queued: opts.Queued, Outbox: opts.Outbox,
	}, log)
	p := NewPlanner(a.DrillRecoveryGrace, a.DrillMaxOutage)
	e := NewEngine(settings(cfg, opts.NoScheduledDrills), p, d.Enqueue, log)
	// Before Run starts: the first observation already finds them so.
	e.quiet, d.paused = opts.Standby, opts.Standby
	s := &Service{Planner: p, Engine: e, Dispatcher: d, log: log}
	logChannel(cfg, log)
	return s
}

func settings(cfg *config.Config, noScheduled bool) Settings {
	a := cfg.Alerts
	set := Settings{QuorumLostAfter: a.QuorumLostAfter, RepeatInterval: a.Slack.RepeatInterval, StaleAfter: a.DrillsStaleAfter}
	if noScheduled {
		set.StaleAfter = 0
	}
	return set
}

func logChannel(cfg *config.Config, log *slog.Logger) {
	a := cfg.Alerts
	switch {
	case a.Slack.TokenFile != "":
		log.Info("alerts go to Slack with a bot token", "channel", a.Slack.Channel)
	case a.Slack.WebhookURLFile != "":
		log.Info("alerts go to a Slack incoming webhook")
	default:
		log.Info("Slack not configured: alerts are evaluated and logged at debug level, not sent")
	}
}

// Reload applies a new configuration's alert settings and channel; open
// firings and queued messages stay.
func (s *Service) Reload(cfg *config.Config, n Notifier, noScheduled bool) {
	a := cfg.Alerts
	s.Engine.SetSettings(settings(cfg, noScheduled))
	s.Planner.SetTimes(a.DrillRecoveryGrace, a.DrillMaxOutage)
	s.Dispatcher.SetNotifier(n, a.RetryBackoff, a.RetryBackoffMax)
	logChannel(cfg, s.log)
}

// SetLeading says whether this replica leads (ha.kubernetes). A follower
// sends nothing: its engine evaluates, so that it knows what fires when it
// takes over, and its dispatcher holds what it had not delivered (in the
// outbox) until it leads again. A replica that starts to lead announces
// what fires and it has not announced (see Engine).
func (s *Service) SetLeading(lead bool) {
	if !lead {
		s.Dispatcher.SetPaused(true) // first: stop sending at once
	}
	s.Engine.SetLeading(lead)
	if lead {
		s.Dispatcher.SetPaused(false)
	}
}

// Start runs the engine and the dispatcher until Stop (or ctx ends).
func (s *Service) Start(ctx context.Context) {
	var ectx, dctx context.Context
	ectx, s.stopEngine = context.WithCancel(ctx)
	dctx, s.stopDispatcher = context.WithCancel(ctx)
	s.engineDone, s.dispatcherDone = make(chan struct{}), make(chan struct{})
	go func() { defer close(s.engineDone); s.Engine.Run(ectx) }()
	go func() { defer close(s.dispatcherDone); s.Dispatcher.Run(dctx) }()
}

// Stop stops in order, within ctx: the engine first, after it has
// evaluated every run and node outage handed to it (the drill that the
// shutdown cut short, the nodes it left down), then the dispatcher after
// a last delivery round. What Slack did not take stays in the outbox.
func (s *Service) Stop(ctx context.Context) {
	s.stopEngine()
	select {
	case <-s.engineDone:
	case <-ctx.Done():
		s.log.Warn("stopped waiting for the alert engine", "err", ctx.Err())
	}
	s.Dispatcher.Stop(ctx, s.stopDispatcher, s.dispatcherDone)
	if ctx.Err() != nil {
		s.log.Warn("stopped waiting for alerts to be delivered", "queued", s.Dispatcher.Len())
	}
}

// Wait waits for both to stop (the dispatcher's last delivery round
// included) or for ctx to end.
func (s *Service) Wait(ctx context.Context) {
	for _, done := range []chan struct{}{s.engineDone, s.dispatcherDone} {
		select {
		case <-done:
		case <-ctx.Done():
			s.log.Warn("stopped waiting for alerts to be delivered", "queued", s.Dispatcher.Len())
			return
		}
	}
}

// Observe hands a quorum probe observation to the engine.
func (s *Service) Observe(o quorum.Observation) { s.Engine.Observe(o) }
