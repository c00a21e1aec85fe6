package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/robfig/cron/v3"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/exporters"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
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
}

// Daemon is `raftdrill serve`: the scheduler, the HTTP API, the metrics and
// the run store, wired to the cluster under drill.
type Daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *exporters.Metrics
	cluster *Cluster
	drills  map[string]drill.Drill
	store   *store
	runner  *runner
	cron    *cron.Cron

	mu        sync.Mutex
	observers []Observer
	nodeObs   []drill.NodeObserver

	ready    atomic.Bool
	listener net.Listener
	server   *http.Server
}

// New connects to the cluster (starting the embedded sandbox if none is
// configured) and prepares everything; Serve starts it.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Daemon, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	cl, err := Connect(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		cfg:     cfg,
		log:     log,
		reg:     reg,
		cluster: cl,
		drills:  map[string]drill.Drill{},
		store:   &store{max: cfg.Server.RunHistory},
	}
	criteria := map[string][]string{}
	for _, spec := range drills.All {
		dr := spec.New(cfg)
		d.drills[spec.Name] = dr
		criteria[spec.Name] = dr.Criteria()
	}
	d.metrics = exporters.New(reg, drills.Names(), criteria, cl.NodeIDs())
	return d, nil
}

// Metrics returns the daemon's metrics, for the probes and alerts it wires.
func (d *Daemon) Metrics() *exporters.Metrics { return d.metrics }

// Cluster returns the cluster under drill.
func (d *Daemon) Cluster() *Cluster { return d.cluster }

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
// nodes, the probes) when Serve is not going to run; Serve closes them
// itself when it returns.
func (d *Daemon) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Server.ShutdownTimeout)
	defer cancel()
	if d.listener != nil {
		d.listener.Close()
	}
	if err := d.cluster.Close(ctx); err != nil {
		d.log.Error("closing the cluster connection", "err", err)
	}
}

// Listen binds the HTTP listener (separately from Serve, so a caller that
// asked for port 0 can learn the address).
func (d *Daemon) Listen() (net.Addr, error) {
	ln, err := net.Listen("tcp", d.cfg.Server.Listen)
	if err != nil {
		return nil, fmt.Errorf("server.listen %s: %w", d.cfg.Server.Listen, err)
	}
	d.listener = ln
	return ln.Addr(), nil
}

// Serve runs the scheduler and the HTTP API until ctx is cancelled, then
// shuts down in reverse order: no new runs, the running drill is cancelled
// and waited for (it restores the nodes it stopped), then HTTP, then the
// cluster connection.
func (d *Daemon) Serve(ctx context.Context) error {
	if d.listener == nil {
		if _, err := d.Listen(); err != nil {
			d.Close()
			return err
		}
	}
	runCtx, stopRuns := context.WithCancel(context.Background())
	d.runner = &runner{ctx: runCtx}

	d.cron = cron.New(cron.WithParser(config.CronParser), cron.WithLogger(cronLogger{d.log}))
	for _, name := range drills.Names() {
		spec := d.drills[name].Schedule()
		if spec == "" || spec == "off" {
			continue
		}
		if _, err := d.cron.AddFunc(spec, func() { d.scheduled(name) }); err != nil {
			stopRuns()
			d.Close()
			return fmt.Errorf("drills.%s.schedule: %w", name, err)
		}
		d.log.Info("drill scheduled", "drill", name, "schedule", spec)
	}
	d.cron.Start()

	d.server = &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- d.server.Serve(d.listener) }()
	d.ready.Store(true)
	d.log.Info("raftdrill serving", "listen", d.listener.Addr().String(), "trigger", d.triggerPolicy())

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	d.ready.Store(false)
	d.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), d.cfg.Server.ShutdownTimeout)
	defer cancel()
	<-d.cron.Stop().Done()
	stopRuns()
	d.runner.wait(shutdownCtx, d.log)
	if e := d.server.Shutdown(shutdownCtx); e != nil && err == nil {
		err = e
	}
	if e := d.cluster.Close(shutdownCtx); e != nil && err == nil {
		err = e
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (d *Daemon) scheduled(name string) {
	if _, err := d.Trigger(name, run.TriggerSchedule); err != nil {
		var busy ErrBusy
		if errors.As(err, &busy) {
			d.metrics.Skipped(name)
			d.log.Warn("scheduled drill skipped: another drill is running", "drill", name, "running", busy.Running.ID)
			return
		}
		d.log.Error("scheduled drill not started", "drill", name, "err", err)
	}
}

// Trigger starts a drill now, unless one is running (ErrBusy).
func (d *Daemon) Trigger(name, trigger string) (run.Run, error) {
	dr, ok := d.drills[name]
	if !ok {
		return run.Run{}, fmt.Errorf("unknown drill %q", name)
	}
	r := run.New(name, trigger, time.Now())
	snapshot := r // the run's goroutine writes r from the moment it starts
	err := d.runner.start(&r, d.store.add, func(ctx context.Context, r *run.Run) { d.execute(ctx, dr, r) })
	if err != nil {
		return run.Run{}, err
	}
	return snapshot, nil
}

func (d *Daemon) execute(ctx context.Context, dr drill.Drill, r *run.Run) {
	log := d.log.With("drill", r.Drill, "run", r.ID)
	d.metrics.Started(r.Drill)
	d.each(func(o Observer) { o.RunStarted(*r) })
	log.Info("drill started", "trigger", r.Trigger)
	d.mu.Lock()
	obs := nodeObservers(append([]drill.NodeObserver(nil), d.nodeObs...))
	d.mu.Unlock()
	res := runSafely(ctx, dr, drill.Env{
		RunID:    r.ID,
		Client:   d.cluster.Client,
		Control:  d.cluster.Control,
		Config:   d.cfg,
		Log:      log,
		Observer: obs,
	})
	var out run.Run
	d.store.update(r.ID, func(r *run.Run) {
		r.Finish(res, time.Now())
		out = *r
	})
	d.metrics.Record(out)
	log.Info("drill finished", "status", res.Status, "error", res.Error, "anomalies", run.Summary(res.Anomalies))
	d.each(func(o Observer) { o.RunFinished(out) })
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

// RunOnce runs one drill in the foreground (raftdrill run).
func RunOnce(ctx context.Context, cfg *config.Config, cl *Cluster, name string, log *slog.Logger, progress func(string)) (run.Run, error) {
	spec, ok := drills.Lookup(name)
	if !ok {
		return run.Run{}, fmt.Errorf("unknown drill %q", name)
	}
	r := run.New(name, run.TriggerCLI, time.Now())
	res := spec.New(cfg).Run(ctx, drill.Env{RunID: r.ID, Client: cl.Client, Control: cl.Control, Config: cfg, Log: log, Progress: progress})
	r.Finish(res, time.Now())
	return r, nil
}

type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
