package daemon

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/raftdrill/raftdrill/alerts/slack"
	"github.com/raftdrill/raftdrill/cluster/control/process"
	"github.com/raftdrill/raftdrill/cluster/control/sandboxctl"
	"github.com/raftdrill/raftdrill/config"
	hasettings "github.com/raftdrill/raftdrill/daemon/ha/settings"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/state"
)

// setup is what a configuration makes of the daemon: the configuration
// itself, the cluster as it reaches it, and the drills. A reload builds a
// whole new one and swaps it in only when everything succeeded.
type setup struct {
	cfg     *config.Config
	cluster *Cluster
	drills  map[string]drill.Drill
}

func (s *setup) criteria() map[string][]string {
	out := map[string][]string{}
	for name, dr := range s.drills {
		out[name] = dr.Criteria()
	}
	return out
}

// build makes a setup from cfg. With prev (a reload), a controller that
// owns running nodes (the embedded sandbox, the process controller) is
// kept, with what stops it; only its Kafka client is new.
func (d *Daemon) build(ctx context.Context, cfg *config.Config, prev *setup) (*setup, error) {
	s := &setup{cfg: cfg, drills: map[string]drill.Drill{}}
	for _, spec := range drills.All {
		s.drills[spec.Name] = spec.New(cfg)
	}
	var err error
	if prev != nil && statefulController(prev.cfg) {
		// The same controller, already wrapped.
		s.cluster, err = prev.cluster.reconnect(cfg, d.log)
		return s, err
	}
	if s.cluster, err = Connect(ctx, cfg, d.log); err != nil {
		return nil, err
	}
	if w := d.opts.WrapControl; w != nil {
		s.cluster.Control = w(s.cluster.Control)
	}
	return s, nil
}

// statefulController reports whether cfg's controller owns the nodes'
// processes: those live as long as the daemon, across reloads.
func statefulController(cfg *config.Config) bool {
	t := cfg.Cluster.Controller.Type
	return t == "process" || (t == "sandbox" && cfg.UsesSandbox())
}

// needsRestart lists what differs between old and cfg that only a restart
// can apply, as problems with their keys: the listener and its web config
// file, the state directory, the logger, leader election, and the nodes a
// controller started itself.
func needsRestart(old, cfg *config.Config) config.Problems {
	var ps config.Problems
	add := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			ps = append(ps, config.Problem{Key: key, Msg: fmt.Sprintf("changed from %v to %v: takes effect only when raftdrill restarts", a, b)})
		}
	}
	add("server.listen", old.Server.Listen, cfg.Server.Listen)
	// Its content is read for each connection and request; its path only
	// at start.
	add("server.web_config_file", old.Server.WebConfigFile, cfg.Server.WebConfigFile)
	add("state.dir", old.State.Dir, cfg.State.Dir)
	add("log.level", old.Log.Level, cfg.Log.Level)
	add("log.format", old.Log.Format, cfg.Log.Format)
	// The elector campaigns with the settings it started with.
	if old.Has(hasettings.Key) && cfg.Has(hasettings.Key) {
		add(hasettings.Key, config.Get[*haSection](old, hasettings.Key).Config, config.Get[*haSection](cfg, hasettings.Key).Config)
	}
	if statefulController(old) || statefulController(cfg) {
		add("cluster.controller.type", old.Cluster.Controller.Type, cfg.Cluster.Controller.Type)
		add("cluster.nodes", old.Cluster.Nodes, cfg.Cluster.Nodes)
		switch {
		case old.Cluster.Controller.Type == "process":
			add(process.Key, *config.Get[*process.Config](old, process.Key), *config.Get[*process.Config](cfg, process.Key))
		case old.UsesSandbox():
			add(sandboxctl.Key, *config.Get[*sandboxctl.Embedded](old, sandboxctl.Key), *config.Get[*sandboxctl.Embedded](cfg, sandboxctl.Key))
		}
	}
	return ps
}

// ReloadResult says what a successful reload did.
type ReloadResult struct {
	// After is the run the new configuration waits for ("" when it
	// applied at once).
	After string `json:"applies_after,omitempty"`
}

// Reload reads the config file again (SIGHUP, POST /-/reload), validates
// it and builds everything it needs; only when all of that succeeded does
// it replace the schedules, thresholds, alerts and cluster settings, and
// only once no drill runs (a running drill finishes with the configuration
// it started with). An invalid file changes nothing: every problem is
// logged with its key and raftdrill_config_last_reload_successful is 0,
// as Prometheus and Alertmanager do.
func (d *Daemon) Reload(ctx context.Context) (ReloadResult, error) {
	d.log.Info("reloading the configuration", "file", d.opts.ConfigPath)
	fail := func(err error) (ReloadResult, error) {
		d.metrics.Reloaded(false, time.Now())
		var ps config.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				d.log.Error("reload failed: configuration invalid; the previous one stays in force", "key", p.Key, "problem", p.Msg)
			}
		} else {
			d.log.Error("reload failed; the previous configuration stays in force", "err", err)
		}
		return ReloadResult{}, err
	}
	cfg, err := LoadConfig(d.opts.ConfigPath, d.opts.Overrides...)
	if err != nil {
		return fail(err)
	}
	cur := d.setup()
	if ps := needsRestart(cur.cfg, cfg); len(ps) > 0 {
		return fail(ps)
	}
	s, err := d.build(ctx, cfg, cur)
	if err != nil {
		return fail(err)
	}
	var res ReloadResult
	if after := d.runner.whenIdle(func() { d.apply(s) }); after != "" {
		res.After = after
		d.log.Info("configuration valid; it applies when the running drill ends", "run", after)
	}
	d.metrics.Reloaded(true, time.Now())
	return res, nil
}

// apply swaps s in: schedules, the probe, the alert settings, the run
// retention. The runner calls it while no drill runs.
func (d *Daemon) apply(s *setup) {
	d.mu.Lock()
	old := d.cur
	d.cur = s
	d.mu.Unlock()
	d.metrics.AddCriteria(s.criteria())
	for _, id := range s.cluster.NodeIDs() {
		d.metrics.NodeUp.WithLabelValues(nodeLabel(id))
	}
	d.store.setRetention(retention(s.cfg))
	if err := d.startCron(s); err != nil {
		d.log.Error("schedules not applied", "err", err) // validated already; not expected
	}
	if a := d.alertService(); a != nil {
		a.Reload(s.cfg, slack.New(s.cfg, d.log), !anyScheduled(s))
		d.restartProbe(s)
	}
	if old != nil && old.cluster != s.cluster && !statefulController(old.cfg) {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
		defer cancel()
		_ = old.cluster.Close(ctx)
	}
	d.keeper.Wake()
	d.log.Info("configuration reloaded", "file", d.opts.ConfigPath)
}

func retention(cfg *config.Config) state.Retention {
	return state.Retention{Runs: cfg.Server.RunHistory, MaxAge: cfg.State.RunMaxAge,
		FailedRuns: cfg.State.FailedRunHistory, FailedMaxAge: cfg.State.FailedRunMaxAge}
}
