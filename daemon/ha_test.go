//go:build kubernetes

package daemon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/daemon/ha"
	hasettings "github.com/raftdrill/raftdrill/daemon/ha/settings"
	"github.com/raftdrill/raftdrill/exporters"
	"github.com/raftdrill/raftdrill/internal/fakekube"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/sandbox"
)

// These tests run two daemons that elect a leader through one Lease on a
// fake API server (client-go's fake clientset, which refuses stale writes
// as a real API server does: see internal/fakekube) and drill one shared
// sandbox cluster through its control API, as two replicas drill one
// StatefulSet.

// haConfig is ha.kubernetes with short but valid timings (the Lease keeps
// whole seconds), generous enough that a busy machine does not lose the
// Lease by accident.
func haConfig(identity string) hasettings.Config {
	c := hasettings.Default()
	c.LeaseName, c.Namespace, c.Identity = "raftdrill", "tools", identity
	c.LeaseDuration, c.RenewDeadline, c.RetryPeriod = 3*time.Second, 2*time.Second, 250*time.Millisecond
	return c
}

// sharedCluster starts one sandbox with its control API and returns it and
// what points a configuration at it.
func sharedCluster(t *testing.T) (*sandbox.Cluster, func(*config.Config)) {
	t.Helper()
	sb, _ := testenv.Cluster(t, testenv.Config())
	ctl := httptest.NewServer(sb.Handler())
	t.Cleanup(ctl.Close)
	return sb, func(c *config.Config) {
		c.Cluster.Nodes = nil
		for i, a := range sb.Addrs() {
			c.Cluster.Nodes = append(c.Cluster.Nodes, config.Node{ID: int32(i + 1), Address: a})
		}
		c.Cluster.Controller.Type = "sandbox"
		c.Cluster.Controller.SandboxURL = ctl.URL
	}
}

// replica is one `raftdrill serve` of several.
type replica struct {
	id   string
	dir  string // its state directory
	d    *Daemon
	url  string
	cut  *atomic.Bool // cuts it off from the API server
	sink *hookSink    // its Slack
	stop func() error
}

type replicaOpts struct {
	dir     string                 // state directory; "" a new one
	cluster func(*config.Config)   // the cluster to drill
	tune    func(*config.Config)   // anything else
	swap    map[string]drill.Drill // drills replaced before it serves
}

// startReplica serves a daemon that campaigns for the Lease on api, with
// alerts wired as serve wires them, each replica to its own webhook.
func startReplica(t *testing.T, api *fakekube.APIServer, id string, o replicaOpts) *replica {
	t.Helper()
	client, cut := api.Client()
	log := testutil.Log().With("replica", id)
	e, err := ha.New(haConfig(id), client, log)
	if err != nil {
		t.Fatal(err)
	}
	sink := &hookSink{}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	hook := filepath.Join(t.TempDir(), "webhook")
	if err := os.WriteFile(hook, []byte(srv.URL+"/services/T/B/secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := shortConfig(t)
	if o.dir != "" {
		cfg.State.Dir = o.dir
	}
	o.cluster(cfg)
	cfg.Probes.Quorum.Interval, cfg.Probes.Quorum.Timeout = 400*time.Millisecond, 350*time.Millisecond
	cfg.Alerts.RetryBackoff, cfg.Alerts.RetryBackoffMax = 20*time.Millisecond, 200*time.Millisecond
	cfg.Alerts.Slack.WebhookURLFile = hook
	if o.tune != nil {
		o.tune(cfg)
	}
	if ps := cfg.Validate(); len(ps) > 0 {
		t.Fatalf("config: %v", ps)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, cfg, Options{Registry: prometheus.NewRegistry(), Leadership: e, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for name, dr := range o.swap {
		d.cur.drills[name] = dr
	}
	if err := WireAlerts(ctx, d, d.log); err != nil {
		t.Fatal(err)
	}
	addr, err := d.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	var once sync.Once
	var serr error
	r := &replica{id: id, dir: cfg.State.Dir, d: d, url: "http://" + addr.String(), cut: cut, sink: sink}
	r.stop = func() error {
		once.Do(func() { cancel(); serr = <-done })
		return serr
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("%s: serve: %v", id, err)
		}
	})
	testutil.WaitFor(t, id+" ready", 10*time.Second, func() bool { return get(t, r.url+"/readyz", nil) == http.StatusOK })
	return r
}

func (r *replica) leading() bool { return promtest.ToFloat64(r.d.metrics.HALeader) == 1 }

func (r *replica) runs() []run.Run { return r.d.store.list() }

func (r *replica) skipped(reason string) float64 {
	return promtest.ToFloat64(r.d.metrics.SkippedRuns.WithLabelValues(drillName, reason))
}

// leaderOf waits until exactly one of rs drills (it leads, its term has
// begun), the others do not, and every one of them names it; it returns it.
func leaderOf(t *testing.T, rs ...*replica) *replica {
	t.Helper()
	var leader *replica
	testutil.WaitFor(t, "one leader that every replica names", 30*time.Second, func() bool {
		leader = nil
		for _, r := range rs {
			if !r.leading() {
				continue
			}
			if leader != nil {
				t.Fatalf("%s and %s both drill", leader.id, r.id)
			}
			leader = r
		}
		if leader == nil {
			return false
		}
		for _, r := range rs {
			if r.d.lead.Leader() != leader.id {
				return false
			}
		}
		return true
	})
	return leader
}

// tick fires a drill's schedule on every replica at once, as their cron
// would: exactly one of them, the leader, runs the drill; the others count
// the tick as skipped. It waits for the run to end.
func tick(t *testing.T, leader *replica, rs ...*replica) {
	t.Helper()
	before := map[*replica]int{}
	for _, r := range rs {
		before[r] = len(r.runs())
	}
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() { defer wg.Done(); r.d.scheduled(drillName) }()
	}
	wg.Wait()
	for _, r := range rs {
		// A run is in the store once scheduled returns.
		want := before[r]
		if r == leader {
			want++
		}
		if got := len(r.runs()); got != want {
			t.Fatalf("%s has %d runs after the tick, want %d (leader %s)", r.id, got, want, leader.id)
		}
	}
	testutil.WaitFor(t, "the tick's run to end", 30*time.Second, func() bool {
		r := leader.runs()[0]
		return r.Status != run.StatusRunning && leader.d.runner.running() == ""
	})
	if r := leader.runs()[0]; r.Trigger != run.TriggerSchedule || r.Status != run.StatusPassed {
		t.Fatalf("tick's run on %s: %s %s %s", leader.id, r.Trigger, r.Status, r.Error)
	}
}

// instantDrill passes at once: the ticks are what is under test.
type instantDrill struct{}

func (instantDrill) Schedule() string   { return "" }
func (instantDrill) Criteria() []string { return nil }
func (instantDrill) Run(context.Context, drill.Env) run.Result {
	res := run.Result{Measurements: run.Measurements{}}
	res.Finish()
	return res
}

// Twenty scheduled ticks over two replicas, through a partition of the
// leader, a clean stop of the next one and a restart: every tick runs the
// drill exactly once, on the replica that leads; a follower answers a
// trigger with 409 naming the leader, and shows itself a follower on
// /metrics and the status page; a leader stopped cleanly is replaced
// within the lease duration; a replica that leads again drills again.
func TestTwoReplicasOneDrillPerTick(t *testing.T) {
	api := fakekube.New()
	_, shared := sharedCluster(t)
	opts := replicaOpts{cluster: shared, swap: map[string]drill.Drill{drillName: instantDrill{}}}
	a, b := startReplica(t, api, "raftdrill-a", opts), startReplica(t, api, "raftdrill-b", opts)
	ticks := 0
	drive := func(n int, leader *replica, rs ...*replica) {
		for range n {
			tick(t, leader, rs...)
			ticks++
		}
	}

	leader := leaderOf(t, a, b)
	follower := map[*replica]*replica{a: b, b: a}[leader]
	drive(5, leader, a, b)
	if got := follower.skipped(exporters.SkipNotLeader); got != 5 {
		t.Errorf("%s skipped %v ticks as not leader, want 5", follower.id, got)
	}
	if got := leader.skipped(exporters.SkipNotLeader) + leader.skipped(exporters.SkipBusy); got != 0 {
		t.Errorf("the leader skipped %v ticks", got)
	}

	// A follower refuses a trigger and names the leader.
	code, _, body := post(t, follower.url+"/trigger", `{"drill":"leader-failover"}`, nil)
	if code != http.StatusConflict || body["leader"] != leader.id || !strings.Contains(body["error"], leader.id) {
		t.Fatalf("trigger on the follower: %d %v, want 409 naming %s", code, body, leader.id)
	}
	if n := len(follower.runs()); n != 0 {
		t.Fatalf("the follower ran %d drills", n)
	}
	for r, want := range map[*replica]string{leader: "raftdrill_ha_leader 1", follower: "raftdrill_ha_leader 0"} {
		if m := getBody(t, r.url+"/metrics"); !strings.Contains(m, "\n"+want+"\n") {
			t.Errorf("%s's /metrics lacks %q", r.id, want)
		}
	}
	if page := getBody(t, follower.url+"/"); !strings.Contains(page, "follower · "+follower.id+"; "+leader.id+" leads and drills") {
		t.Errorf("the follower's status page does not say it follows %s", leader.id)
	}
	if page := getBody(t, leader.url+"/"); !strings.Contains(page, "leader · this replica ("+leader.id+") drills") {
		t.Errorf("the leader's status page does not say it leads")
	}

	// The leader is cut off from the API server: it stops leading, and
	// once the Lease has expired the follower drills.
	leader.cut.Store(true)
	testutil.WaitFor(t, "the cut-off leader to stop", 30*time.Second, func() bool { return !leader.leading() })
	leader, follower = follower, leader
	testutil.WaitFor(t, "the takeover", 30*time.Second, func() bool { return leader.leading() })
	drive(5, leader, a, b)
	follower.cut.Store(false)
	testutil.WaitFor(t, "the reconnected replica to follow "+leader.id, 30*time.Second, func() bool {
		return follower.d.lead.Leader() == leader.id
	})
	if leader != leaderOf(t, a, b) {
		t.Fatal("leadership moved back")
	}

	// A clean stop gives the Lease up: the other replica, which led
	// before, leads and drills again within the lease duration.
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- leader.stop() }()
	testutil.WaitFor(t, "the takeover after a clean stop", 30*time.Second, func() bool { return follower.leading() })
	if took, limit := time.Since(start), haConfig("").LeaseDuration; took > limit {
		t.Errorf("took over %s after the leader was stopped, more than the lease duration %s", took, limit)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	gone := leader
	leader = follower
	drive(5, leader, leader)

	// The stopped replica comes back, with its state directory, as a
	// follower.
	back := startReplica(t, api, gone.id, replicaOpts{dir: gone.dir, cluster: shared, swap: opts.swap})
	if leaderOf(t, leader, back) != leader {
		t.Fatal("the returning replica took the lead")
	}
	drive(5, leader, leader, back)

	total := len(leader.runs()) + len(back.runs())
	if ticks != 20 || total != 20 {
		t.Fatalf("%d ticks, %d runs", ticks, total)
	}
}

// A leader cut off from the API server mid-drill stops leading within
// renew_deadline: its drill is cancelled, restores the node it killed and
// ends as an error that says why; the other replica takes over once the
// Lease has expired, and drills on a whole cluster.
func TestLeaderThatLosesTheLeaseMidDrillRestoresAndStops(t *testing.T) {
	api := fakekube.New()
	sb, shared := sharedCluster(t)
	long := func(c *config.Config) {
		lf := testenv.LF(c)
		lf.ProduceDuration, lf.KillAfter = time.Minute, 500*time.Millisecond
	}
	a := startReplica(t, api, "raftdrill-a", replicaOpts{cluster: shared, tune: long})
	b := startReplica(t, api, "raftdrill-b", replicaOpts{cluster: shared, tune: long})
	leader := leaderOf(t, a, b)
	follower := map[*replica]*replica{a: b, b: a}[leader]

	code, _, body := post(t, leader.url+"/trigger", `{"drill":"leader-failover"}`, nil)
	if code != http.StatusAccepted {
		t.Fatalf("trigger: %d %v", code, body)
	}
	var killed int32
	testutil.WaitFor(t, "the drill to kill a node", 30*time.Second, func() bool {
		for _, e := range sb.Timeline() {
			if e.Kind == "kill" {
				killed = e.Node
			}
		}
		return killed != 0
	})

	leader.cut.Store(true)
	cutAt := time.Now()
	var r run.Run
	testutil.WaitFor(t, "the drill to end", 60*time.Second, func() bool {
		r, _ = leader.d.store.get(body["id"])
		return r.Status != run.StatusRunning
	})
	if took, limit := time.Since(cutAt), haConfig("").LeaseDuration; took > limit {
		t.Errorf("the drill ended %s after the leader was cut off, later than the lease duration %s", took, limit)
	}
	if r.Status != run.StatusError || !strings.Contains(r.Error, "lost the ha.kubernetes Lease") {
		t.Fatalf("run: %s %q, want an error saying the Lease was lost", r.Status, r.Error)
	}
	if up, err := sb.Up(context.Background(), killed); err != nil || !up {
		t.Fatalf("node %d left down (%v)", killed, err)
	}
	if left, _ := leader.d.st.Journal().List(); len(left) != 0 {
		t.Fatalf("journal: %+v", left)
	}

	testutil.WaitFor(t, "the takeover", 30*time.Second, func() bool { return follower.leading() })
	if leader.leading() {
		t.Fatal("both drill")
	}
	code, _, body = post(t, follower.url+"/trigger", `{"drill":"leader-failover"}`, nil)
	if code != http.StatusAccepted {
		t.Fatalf("trigger on the new leader: %d %v", code, body)
	}
	testutil.WaitFor(t, "the new leader's drill to kill a node", 30*time.Second, func() bool {
		kills := 0
		for _, e := range sb.Timeline() {
			if e.Kind == "kill" {
				kills++
			}
		}
		return kills == 2
	})
}

// Only the leader sends to Slack. Both replicas see quorum lost; the
// leader pages; the follower says nothing until it leads, and then
// announces what still fires, once, and resolves it when quorum is back.
func TestOnlyTheLeaderAlerts(t *testing.T) {
	api := fakekube.New()
	sb, shared := sharedCluster(t)
	a := startReplica(t, api, "raftdrill-a", replicaOpts{cluster: shared})
	b := startReplica(t, api, "raftdrill-b", replicaOpts{cluster: shared})
	leader := leaderOf(t, a, b)
	follower := map[*replica]*replica{a: b, b: a}[leader]

	ctx := context.Background()
	for _, id := range []int32{1, 2} {
		if err := sb.Kill(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitUntilTrue(t, "the leader to page", func() bool { return leader.sink.count("Quorum lost") == 1 })
	waitUntilTrue(t, "the follower to see it", func() bool { return promtest.ToFloat64(follower.d.metrics.QuorumAvailable) == 0 })
	// Whatever the follower would have sent by now, it did not.
	if msgs := follower.sink.messages(); len(msgs) != 0 {
		t.Fatalf("the follower sent %q", msgs)
	}

	if err := leader.stop(); err != nil {
		t.Fatal(err)
	}
	waitUntilTrue(t, "the follower to lead", follower.leading)
	waitUntilTrue(t, "the new leader to page", func() bool { return follower.sink.count("Quorum lost") == 1 })
	for _, id := range []int32{1, 2} {
		if err := sb.Restart(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitUntilTrue(t, "the resolution", func() bool { return follower.sink.count("Resolved: Quorum lost") == 1 })
	if n := follower.sink.count("Quorum lost"); n != 2 {
		t.Fatalf("the new leader sent %d quorum-lost messages, want the announcement and its resolution: %q", n, follower.sink.messages())
	}
}
