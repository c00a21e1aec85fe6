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
//   - Drill runs reach the engine through Subscribe.
//   - The node controller the drills use is wrapped, so the engine knows
//     which nodes a drill takes down on purpose, and does not page for them
//     until the drill's recovery deadline has passed.
//
// Everything stops when ctx ends or the daemon shuts down; the shutdown
// waits, within its time cap, for queued alerts to get a last attempt.
func WireAlerts(ctx context.Context, d *Daemon, log *slog.Logger) error {
	cfg := d.cfg
	warnUnreadableSecrets(cfg.Alerts.Slack, log)
	svc := alerts.NewService(cfg, slack.New(cfg, log), alerts.Options{
		Log: log, Sent: d.metrics.AlertsSent, Queued: d.metrics.AlertsQueued,
		NoScheduledDrills: !d.anyScheduled(),
	})
	d.ObserveNodes(svc.Planner)
	d.Subscribe(svc.Engine)
	probe := quorum.New(d.cluster.Client, cfg, log)

	ctx, cancel := context.WithCancel(ctx)
	svc.Start(ctx)
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		probe.Run(ctx, func(o quorum.Observation) {
			recordQuorum(d.metrics, o)
			svc.Observe(o)
		})
	}()
	log.Info("quorum probe started", "interval", cfg.Probes.Quorum.Interval, "timeout", cfg.Probes.Quorum.Timeout,
		"canary", cfg.Probes.Quorum.Canary, "topics", append([]string{cfg.Cluster.Topic.Name}, cfg.Probes.Quorum.Topics...))

	// Cluster closers run last-added first: this one stops the probe and
	// flushes alerts before the cluster (the embedded sandbox) goes away.
	d.cluster.OnClose(func(shutdown context.Context) error {
		cancel()
		select {
		case <-probeDone:
		case <-shutdown.Done():
		}
		svc.Wait(shutdown)
		return nil
	})
	return nil
}

// anyScheduled reports whether some drill runs on a schedule; without one,
// the drills-stale dead-man's switch could only ever fire.
func (d *Daemon) anyScheduled() bool {
	for _, dr := range d.drills {
		if s := dr.Schedule(); s != "" && s != "off" {
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
