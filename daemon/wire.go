package daemon

import (
	"context"
	"log/slog"
	"os"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/alerts/slack"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/exporters"
	"github.com/raftdrill/raftdrill/probes/quorum"
)

// WireAlerts attaches the continuous quorum probe and the alerting side to
// d, for `raftdrill serve`; call it after New and before Serve.
//
//   - The probe checks every probes.quorum.interval; each observation sets
//     the quorum metrics and goes to the alert engine.
//   - Drill runs reach the engine through Subscribe, and so do the runs
//     found interrupted at start-up.
//   - The drills tell the planner of every node they kill and restart, so
//     the engine knows which nodes a drill takes down on purpose, and does
//     not page for them until the drill's recovery deadline has passed.
//   - The restore loop tells the engine of nodes it cannot bring back.
//   - Messages wait in the state directory's outbox until Slack takes them.
//   - With leader election (ha.kubernetes), only the leader sends; a
//     follower's engine evaluates the same observations quietly.
//
// Serve stops it all in order at shutdown (see Serve); ctx ending stops it
// too.
func WireAlerts(ctx context.Context, d *Daemon, log *slog.Logger) error {
	s := d.setup()
	cfg := s.cfg
	warnUnreadableSecrets(cfg.Alerts.Slack, log)
	svc := alerts.NewService(cfg, slack.New(cfg, log), alerts.Options{
		Log: log, Sent: d.metrics.AlertsSent, Queued: d.metrics.AlertsQueued,
		NoScheduledDrills: !anyScheduled(s),
		Outbox:            d.st.Outbox(),
		// A replica of several sends nothing until it is elected (Serve
		// tells the service when).
		Standby: d.lead != nil,
	})
	d.ObserveNodes(svc.Planner)
	d.Subscribe(svc.Engine)
	// Not cancelled by the signal that stops serve: Serve stops the
	// service once the last drill has finished restoring its nodes.
	svc.Start(context.WithoutCancel(ctx))
	d.mu.Lock()
	d.alerts = svc
	interrupted := d.interrupted
	d.interrupted = nil
	d.mu.Unlock()
	for _, r := range interrupted {
		svc.Engine.RunFinished(r)
	}
	d.restartProbe(s)
	return nil
}

// probeRun is the running quorum probe.
type probeRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// restartProbe runs the quorum probe of s, stopping the one running.
func (d *Daemon) restartProbe(s *setup) {
	d.stopProbe(context.Background())
	svc := d.alertService()
	cfg := s.cfg
	probe := quorum.New(s.cluster.Client, cfg, d.log)
	ctx, cancel := context.WithCancel(context.Background())
	p := &probeRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		probe.Run(ctx, func(o quorum.Observation) {
			recordQuorum(d.metrics, o)
			svc.Observe(o)
		})
	}()
	d.mu.Lock()
	d.probe = p
	d.mu.Unlock()
	d.log.Info("quorum probe started", "interval", cfg.Probes.Quorum.Interval, "timeout", cfg.Probes.Quorum.Timeout,
		"canary", cfg.Probes.Quorum.Canary, "topics", append([]string{cfg.Cluster.Topic.Name}, cfg.Probes.Quorum.Topics...))
}

// stopProbe stops the quorum probe, waiting for it until ctx ends.
func (d *Daemon) stopProbe(ctx context.Context) {
	d.mu.Lock()
	p := d.probe
	d.probe = nil
	d.mu.Unlock()
	if p == nil {
		return
	}
	p.cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
	}
}

// anyScheduled reports whether some drill runs on a schedule; without one,
// the drills-stale dead-man's switch could only ever fire.
func anyScheduled(s *setup) bool {
	for _, dr := range s.drills {
		if sp := dr.Schedule(); sp != "" && sp != "off" {
			return true
		}
	}
	return false
}

// recordQuorum feeds the quorum metrics from one observation. Every node's
// series is set on every check, so none disappears while its node is down.
func recordQuorum(m *exporters.Metrics, o quorum.Observation) {
	for _, n := range o.Nodes {
		m.NodeUp.WithLabelValues(exporters.NodeLabel(n.ID)).Set(boolValue(n.Up))
	}
	m.PartitionsLeaderless.Set(float64(len(o.Leaderless)))
	m.QuorumAvailable.Set(boolValue(o.Available))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// warnUnreadableSecrets says at start-up that a secret file cannot be read
// (its path, never its content); sending still reads it each time, so a
// file that appears later is picked up.
func warnUnreadableSecrets(s config.Slack, log *slog.Logger) {
	for key, path := range map[string]string{"alerts.slack.token_file": s.TokenFile, "alerts.slack.webhook_url_file": s.WebhookURLFile} {
		if path == "" {
			continue
		}
		if _, err := os.ReadFile(path); err != nil {
			log.Warn("Slack secret file not readable; alerts will wait for it", "key", key, "err", err)
		}
	}
}
