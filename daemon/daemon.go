package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/robfig/cron/v3"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/daemon/web"
	"github.com/raftdrill/raftdrill/exporters"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

// Observer hears about runs; the alerting side subscribes here. Calls come
// from the run's goroutine and must not block for long.
type Observer interface {
	RunStarted(r run.Run)
	RunFinished(r run.Run)
}

// Options are what the caller of New decides rather than the config file.
type Options struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry // nil: a new one
	// ConfigPath is the file a reload (SIGHUP, POST /-/reload) reads
	// again; "" means defaults and environment only.
	ConfigPath string
	// Overrides apply over the file and the environment at every load,
	// reloads included (serve's --web.* flags).
	Overrides []Override
	// State is the state directory, already opened; nil: New opens
	// cfg.State.Dir itself (and Serve closes it).
	State *state.Store
	// WrapControl, when set, wraps the node controller the drills and the
	// restore loop use: tests make restarts fail with it.
	WrapControl func(control.Controller) control.Controller
	// Leadership, when set, decides whether this replica drills; nil:
	// the Lease of ha.kubernetes when it names one, else this raftdrill
	// alone drills. Tests give an ha.Elector on a fake API server.
	Leadership Leadership
}

// Daemon is `raftdrill serve`: the scheduler, the HTTP API, the metrics and
// the run store, wired to the cluster under drill.
type Daemon struct {
	opts     Options
	log      *slog.Logger
	reg      *prometheus.Registry
	metrics  *exporters.Metrics
	st       *state.Store
	ownState bool
	store    *store
	runner   *runner
	stopRuns context.CancelFunc // cancels the running drill at shutdown
	keeper   *drill.Keeper
	lead     Leadership // nil: no leader election
	term     term

	mu          sync.Mutex
	cur         *setup // the configuration in force; a reload swaps it
	cron        *cron.Cron
	observers   []Observer
	nodeObs     []drill.NodeObserver
	alerts      *alerts.Service // nil until WireAlerts
	probe       *probeRun
	interrupted []run.Run // found at start-up, for the alert engine

	ready    atomic.Bool
	listener net.Listener
	server   *http.Server
}

// New takes the state directory, connects to the cluster (starting the
// embedded sandbox if none is configured) and prepares everything; Serve
// starts it. Runs found unfinished in the state directory become
// interrupted.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Daemon, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
		opts.Logger = log
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	lead, err := leadership(cfg, opts)
	if err != nil {
		return nil, err
	}
	d := &Daemon{opts: opts, log: log, reg: reg, st: opts.State, lead: lead}
	if d.st == nil {
		st, err := state.Open(cfg.State.Dir, state.Me("serve", cfg.Server.Listen))
		if err != nil {
			return nil, err
		}
		d.st, d.ownState = st, true
	}
	s, err := d.build(ctx, cfg, nil)
	if err != nil {
		d.closeState()
		return nil, err
	}
	d.cur = s
	d.metrics = exporters.New(reg, drills.Names(), s.criteria(), s.cluster.NodeIDs())
	d.metrics.Reloaded(true, time.Now())
	d.metrics.Leading(lead == nil) // a replica follows until it is elected
	d.store = newStore(d.st.Runs(), retention(cfg), log)
	if err := d.loadHistory(); err != nil {
		_ = s.cluster.Close(ctx)
		d.closeState()
		return nil, err
	}
	runCtx, stopRuns := context.WithCancel(context.Background())
	d.runner, d.stopRuns = &runner{ctx: runCtx}, stopRuns
	d.keeper = d.newKeeper()
	return d, nil
}

// loadHistory marks the runs an earlier process left running as
// interrupted and loads the history, restoring the last-run gauges.
func (d *Daemon) loadHistory() error {
	interrupted, err := d.st.Runs().Interrupt(time.Now())
	if err != nil {
		return fmt.Errorf("state.dir %s: run history: %w", d.st.Dir(), err)
	}
	for _, r := range interrupted {
		d.log.Warn("a drill was interrupted: raftdrill stopped during the run", "drill", r.Drill, "run", r.ID,
			"started", r.StartedAt, "events", len(r.Events))
		d.metrics.Interrupted(r)
	}
	d.interrupted = interrupted
	runs, err := d.store.load()
	if err != nil {
		return fmt.Errorf("state.dir %s: run history: %w", d.st.Dir(), err)
	}
	d.metrics.RestoreLast(runs)
	if len(runs) > 0 {
		d.log.Info("run history loaded", "runs", len(runs), "state_dir", d.st.Dir())
	}
	return nil
}

func (d *Daemon) closeState() {
	if d.ownState {
		if err := d.st.Close(); err != nil {
			d.log.Error("closing the state directory", "err", err)
		}
	}
}

// Metrics returns the daemon's metrics, for the probes and alerts it wires.
func (d *Daemon) Metrics() *exporters.Metrics { return d.metrics }

// Cluster returns the cluster under drill (as the configuration in force
// describes it).
func (d *Daemon) Cluster() *Cluster { return d.setup().cluster }

// State returns the state directory.
func (d *Daemon) State() *state.Store { return d.st }

func (d *Daemon) setup() *setup {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

func (d *Daemon) config() *config.Config { return d.setup().cfg }

// Subscribe adds an observer of runs.
func (d *Daemon) Subscribe(o Observer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.observers = append(d.observers, o)
}

// ObserveNodes adds an observer of the nodes drills kill and restart.
func (d *Daemon) ObserveNodes(o drill.NodeObserver) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nodeObs = append(d.nodeObs, o)
}

// nodeObservers tells every node observer, in order.
type nodeObservers []drill.NodeObserver

func (os nodeObservers) Killing(id int32, at time.Time) {
	for _, o := range os {
		o.Killing(id, at)
	}
}

func (os nodeObservers) Restarted(id int32, at time.Time) {
	for _, o := range os {
		o.Restarted(id, at)
	}
}

func (d *Daemon) each(fn func(Observer)) {
	d.mu.Lock()
	obs := append([]Observer(nil), d.observers...)
	d.mu.Unlock()
	for _, o := range obs {
		fn(o)
	}
}

// Close releases what New started (the embedded sandbox, process-controlled
// nodes, the state directory) when Serve is not going to run; Serve closes
// them itself when it returns.
func (d *Daemon) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), d.config().Server.ShutdownTimeout)
	defer cancel()
	if d.listener != nil {
		d.listener.Close()
	}
	if err := d.Cluster().Close(ctx); err != nil {
		d.log.Error("closing the cluster connection", "err", err)
	}
	d.closeState()
}

// Listen binds the HTTP listener (separately from Serve, so a caller that
// asked for port 0 can learn the address).
func (d *Daemon) Listen() (net.Addr, error) {
	listen := d.config().Server.Listen
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("server.listen %s: %w", listen, err)
	}
	d.listener = ln
	return ln.Addr(), nil
}

// NodesLeftDownError is Serve's error when it stops with nodes a drill took
// down not serving again: their journal entries are kept, and the next
// start restores them.
type NodesLeftDownError struct{ Outages []state.Outage }

func (e *NodesLeftDownError) Error() string {
	return "stopped with nodes a drill took down not restored (the next start restores them): " + drill.DescribeOutages(e.Outages)
}

// Serve runs the scheduler, the restore loop and the HTTP API until ctx is
// cancelled, then shuts down in order within server.shutdown_timeout: no
// new runs; the running drill is cancelled and waited for while it restores
// the nodes it stopped; every node still down is reported to the alert
// engine, which evaluates the last run; the outbox gets a last delivery
// round; then leadership (ha.kubernetes) is given up, and HTTP, the cluster
// connection and the state directory closed. It returns a
// *NodesLeftDownError when nodes a drill took down are still down at the
// end.
//
// With leader election, the scheduler and the HTTP API run on every
// replica, but only the leader drills, restores and alerts (see term);
// the Lease is kept until the leader's last drill has restored its nodes
// and its alerts are out, so that the next leader starts on a whole
// cluster.
func (d *Daemon) Serve(ctx context.Context) error {
	webConfig := d.config().Server.WebConfigFile
	// Checked at load too; this is a file broken since, refused before
	// anything starts.
	if err := web.Validate(webConfig); err != nil {
		d.Close()
		return err
	}
	if d.listener == nil {
		if _, err := d.Listen(); err != nil {
			d.Close()
			return err
		}
	}
	stopRuns := d.stopRuns
	if err := d.startCron(d.setup()); err != nil {
		stopRuns()
		d.Close()
		return err
	}
	// Leadership: without election this raftdrill leads from now on.
	electErr := make(chan error, 1)
	stopFollowing, stopElection := func() {}, func(context.Context) {}
	if d.lead == nil {
		d.beginTerm()
	} else {
		electCtx, cancelElect := context.WithCancel(context.Background())
		electDone := make(chan struct{})
		go func() {
			defer close(electDone)
			if err := d.lead.Run(electCtx); err != nil {
				electErr <- err
			}
		}()
		followCtx, cancelFollow := context.WithCancel(context.Background())
		followDone := make(chan struct{})
		go func() { defer close(followDone); d.followLeadership(followCtx) }()
		stopFollowing = func() { cancelFollow(); <-followDone }
		stopElection = func(ctx context.Context) {
			cancelElect() // gives the Lease up
			select {
			case <-electDone:
			case <-ctx.Done():
				d.log.Warn("gave up waiting to give the Lease up; another replica leads once it expires")
			}
		}
		d.log.Info("leader election (ha.kubernetes): only the leader drills", "identity", d.lead.Identity())
	}

	d.server = &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// TLS handshakes that fail (a client speaking plain HTTP, a
		// scanner) are logged here, not on stderr past the logger.
		ErrorLog: slog.NewLogLogger(d.log.With("component", "http").Handler(), slog.LevelInfo),
	}
	serveErr := make(chan error, 1)
	// TLS, basic auth and headers as the web config file says. Its
	// context is never cancelled: the shutdown below ends it, in order.
	go func() {
		serveErr <- web.Serve(context.Background(), d.server, d.listener, webConfig, d.log)
	}()
	d.ready.Store(true)
	d.log.Info("raftdrill serving", "listen", d.listener.Addr().String(), "web_config_file", webConfig,
		"trigger", d.triggerPolicy(), "state_dir", d.st.Dir())

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	case err = <-electErr:
		d.log.Error("leader election failed; shutting down", "err", err)
	}
	d.ready.Store(false)
	cfg := d.config()
	d.log.Info("shutting down", "timeout", cfg.Server.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	d.mu.Lock()
	c := d.cron
	d.mu.Unlock()
	<-c.Stop().Done()
	d.stopKeeper(shutdownCtx)
	// 1. The running drill restores what it took down.
	stopRuns()
	d.runner.wait(shutdownCtx, d.log)
	// 2. What is still down is said, and the last run evaluated.
	left, lerr := d.st.Journal().List()
	if lerr != nil {
		d.log.Error("restore journal unreadable at shutdown", "err", lerr)
	}
	if len(left) > 0 {
		d.log.Error("stopping with nodes a drill took down not restored; the next start restores them", "nodes", drill.DescribeOutages(left))
		d.reportLeftDown(left)
	}
	d.stopProbe(shutdownCtx)
	// 3. The outbox gets a last delivery round (from the leader only).
	if a := d.alertService(); a != nil {
		a.Stop(shutdownCtx)
	}
	// 4. Another replica may lead now: this one has nothing left down
	// that it could still bring back.
	stopFollowing()
	stopElection(shutdownCtx)
	d.endTerm()
	if e := d.server.Shutdown(shutdownCtx); e != nil && err == nil {
		err = e
	}
	if e := d.Cluster().Close(shutdownCtx); e != nil && err == nil {
		err = e
	}
	d.closeState()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err == nil && len(left) > 0 {
		err = &NodesLeftDownError{Outages: left}
	}
	return err
}

// startCron schedules s's drills, replacing the schedules in force.
func (d *Daemon) startCron(s *setup) error {
	c := cron.New(cron.WithParser(config.CronParser), cron.WithLogger(cronLogger{d.log}))
	for _, name := range drills.Names() {
		spec := s.drills[name].Schedule()
		if spec == "" || spec == "off" {
			continue
		}
		if _, err := c.AddFunc(spec, func() { d.scheduled(name) }); err != nil {
			return fmt.Errorf("drills.%s.schedule: %w", name, err)
		}
		d.log.Info("drill scheduled", "drill", name, "schedule", spec)
	}
	d.mu.Lock()
	old := d.cron
	d.cron = c
	d.mu.Unlock()
	if old != nil {
		old.Stop() // a job it is running finishes; none starts
	}
	c.Start()
	return nil
}

// scheduled is a tick of a drill's schedule. Every replica ticks; only the
// leader drills, and a follower counts the tick as skipped.
func (d *Daemon) scheduled(name string) {
	if _, err := d.Trigger(name, run.TriggerSchedule); err != nil {
		var busy ErrBusy
		var follower ErrNotLeader
		switch {
		case errors.As(err, &busy):
			d.metrics.Skipped(name, exporters.SkipBusy)
			d.log.Warn("scheduled drill skipped: another drill is running", "drill", name, "running", busy.Running.ID)
		case errors.As(err, &follower):
			d.metrics.Skipped(name, exporters.SkipNotLeader)
			d.log.Debug("scheduled drill skipped: this replica does not lead", "drill", name, "leader", follower.Leader)
		default:
			d.log.Error("scheduled drill not started", "drill", name, "err", err)
		}
	}
}

// Trigger starts a drill now, unless one is running (ErrBusy) or this
// replica does not lead (ErrNotLeader). The drill is cancelled if this
// replica stops leading before it ends.
func (d *Daemon) Trigger(name, trigger string) (run.Run, error) {
	s := d.setup()
	dr, ok := s.drills[name]
	if !ok {
		return run.Run{}, fmt.Errorf("unknown drill %q", name)
	}
	term, err := d.currentTerm()
	if err != nil {
		return run.Run{}, err
	}
	r := run.New(name, trigger, time.Now())
	snapshot := r // the run's goroutine writes r from the moment it starts
	// The drill runs with the configuration in force when it started: a
	// reload waits for it to end (the runner applies it then).
	err = d.runner.start(&r, term, d.store.add, func(ctx context.Context, r *run.Run) { d.execute(ctx, s, dr, r) })
	if err != nil {
		return run.Run{}, err
	}
	return snapshot, nil
}

func (d *Daemon) execute(ctx context.Context, s *setup, dr drill.Drill, r *run.Run) {
	log := d.log.With("drill", r.Drill, "run", r.ID)
	d.metrics.Started(r.Drill)
	d.each(func(o Observer) { o.RunStarted(*r) })
	log.Info("drill started", "trigger", r.Trigger)
	d.mu.Lock()
	obs := nodeObservers(append([]drill.NodeObserver(nil), d.nodeObs...))
	d.mu.Unlock()
	var res run.Result
	if left := d.leftDown(r.ID); len(left) > 0 {
		// Nodes an earlier drill left down are the restore loop's: no
		// drill may take another one down meanwhile.
		res = run.Failed(fmt.Errorf("cluster unhealthy before drill: %s; raftdrill is restoring them and starts no drill until they serve Kafka",
			drill.DescribeOutages(left)))
	} else {
		res = runSafely(ctx, dr, drill.Env{
			RunID:    r.ID,
			Drill:    r.Drill,
			Client:   s.cluster.Client,
			Control:  s.cluster.Control,
			Config:   s.cfg,
			Log:      log,
			Observer: obs,
			Journal:  d.st.Journal(),
			Live:     func(snap run.Result) { d.store.live(r.ID, snap) },
		})
	}
	if errors.Is(context.Cause(ctx), errNotLeading) && res.Error != "" && !strings.Contains(res.Error, errNotLeading.Error()) {
		// The drill says it was cancelled; this says why.
		res.Error += ": " + errNotLeading.Error()
	}
	out := d.store.finish(r.ID, res, time.Now())
	d.metrics.Record(out)
	log.Info("drill finished", "status", res.Status, "error", res.Error, "anomalies", run.Summary(res.Anomalies))
	d.each(func(o Observer) { o.RunFinished(out) })
	d.keeper.Wake() // a node the drill could not restore is the keeper's now
}

// leftDown lists the journal entries of runs other than the one given.
func (d *Daemon) leftDown(except string) []state.Outage {
	all, err := d.st.Journal().List()
	if err != nil {
		d.log.Error("restore journal unreadable", "err", err)
		return nil
	}
	var out []state.Outage
	for _, o := range all {
		if o.Run != except {
			out = append(out, o)
		}
	}
	return out
}

// runSafely turns a panic in a drill into an error result, so the daemon
// lives on and the metrics say the drill is no longer in progress. The
// drill's own deferred restore has run by the time the panic reaches here.
func runSafely(ctx context.Context, dr drill.Drill, env drill.Env) (res run.Result) {
	defer func() {
		if p := recover(); p != nil {
			env.Log.Error("drill panicked", "panic", p, "stack", string(debug.Stack()))
			res = run.Failed(fmt.Errorf("drill panicked: %v", p))
		}
	}()
	return dr.Run(ctx, env)
}

type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
