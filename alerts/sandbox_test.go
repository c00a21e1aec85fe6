package alerts_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/alerts/slack"
	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/fakeslack"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/quorum"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/sandbox"
)

// rig is the alerting side end to end: a sandbox cluster, the real quorum
// probe feeding a Service, and the fake Slack it delivers to.
type rig struct {
	sb    *sandbox.Cluster
	slack *fakeslack.Server
	svc   *alerts.Service
	cfg   *config.Config

	mu   sync.Mutex
	obs  []quorum.Observation
	stop func()
}

// fastConfig probes every 800 ms: a quorum loss pages within two seconds or
// so, while one check still has 700 ms to answer on a busy machine (-race).
func fastConfig() *config.Config {
	cfg := testenv.Config()
	testenv.Sandbox(cfg).ElectionTimeoutMin = 100 * time.Millisecond
	testenv.Sandbox(cfg).ElectionTimeoutMax = 200 * time.Millisecond
	cfg.Probes.Quorum.Interval = 800 * time.Millisecond
	cfg.Probes.Quorum.Timeout = 700 * time.Millisecond
	cfg.Alerts.RetryBackoff = 20 * time.Millisecond
	cfg.Alerts.RetryBackoffMax = 200 * time.Millisecond
	return cfg
}

func newRig(t testing.TB, cfg *config.Config, mode string) *rig {
	t.Helper()
	f := fakeslack.New(t)
	switch mode {
	case "bot":
		cfg.Alerts.Slack.TokenFile = testutil.SecretFile(t, "token", f.Token)
		cfg.Alerts.Slack.Channel = "#alerts"
		cfg.Alerts.Slack.APIURL = f.APIURL()
	case "webhook":
		cfg.Alerts.Slack.WebhookURLFile = testutil.SecretFile(t, "hook", f.HookURL())
	}
	if ps := cfg.Validate(); len(ps) > 0 {
		t.Fatalf("test config invalid: %v", ps)
	}
	sb, client := testenv.Cluster(t, cfg)
	r := &rig{sb: sb, slack: f, cfg: cfg}
	probe := quorum.New(client, cfg, testutil.Log())
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftdrill_alerts_sent_total", Help: "h"}, []string{"kind", "result"})
	r.svc = alerts.NewService(cfg, slack.New(cfg, testutil.Log()), alerts.Options{Log: testutil.Log(), Sent: sent})
	ctx, cancel := context.WithCancel(context.Background())
	r.svc.Start(ctx)
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		probe.Run(ctx, func(o quorum.Observation) {
			r.mu.Lock()
			r.obs = append(r.obs, o)
			r.mu.Unlock()
			r.svc.Observe(o)
		})
	}()
	r.stop = func() {
		cancel()
		<-probeDone
		r.svc.Wait(context.Background())
	}
	t.Cleanup(r.stop)
	return r
}

// waitChecks waits until n more checks satisfying cond were made.
func (r *rig) waitChecks(t testing.TB, n int, what string, cond func(quorum.Observation) bool) {
	t.Helper()
	r.mu.Lock()
	from := len(r.obs)
	r.mu.Unlock()
	testutil.WaitFor(t, what, 60*time.Second, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		k := 0
		for _, o := range r.obs[from:] {
			if cond(o) {
				k++
			}
		}
		return k >= n
	})
}

func isAvailable(o quorum.Observation) bool { return o.Available }
func isLost(o quorum.Observation) bool      { return !o.Available }
func anyCheck(quorum.Observation) bool      { return true }

func (r *rig) kill(t testing.TB, ctl control.Controller, ids ...int32) {
	t.Helper()
	for _, id := range ids {
		if err := ctl.Kill(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *rig) restart(t testing.TB, ctl control.Controller, ids ...int32) {
	t.Helper()
	for _, id := range ids {
		if err := ctl.Restart(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}

// A majority killed in the sandbox: exactly one quorum-lost message, and
// after recovery its resolution, as a thread reply and as an edit of the
// announcement.
func TestSandboxQuorumLossPagesOnceAndResolvesBot(t *testing.T) {
	r := newRig(t, fastConfig(), "bot")
	r.waitChecks(t, 2, "a healthy cluster", isAvailable)
	r.kill(t, r.sb, 1, 2)
	r.slack.WaitMessages(t, 1, 30*time.Second)
	r.waitChecks(t, 5, "more checks while lost", isLost)
	got := r.slack.Messages()
	if len(got) != 1 {
		t.Fatalf("want exactly one quorum-lost message while it stays lost, got %d: %+v", len(got), got)
	}
	ann := got[0]
	if !strings.Contains(ann.Text, "Quorum lost") || !strings.Contains(ann.Text, "1 of 3 nodes up") || !strings.Contains(ann.Blocks, "Partitions without leader") {
		t.Fatalf("announcement: %+v", ann)
	}
	r.restart(t, r.sb, 1, 2)
	r.slack.WaitMessages(t, 3, 30*time.Second)
	r.waitChecks(t, 3, "checks after recovery", isAvailable)
	if got = r.slack.Messages(); len(got) != 3 {
		t.Fatalf("want announcement, reply, update; got %+v", got)
	}
	reply, upd := got[1], got[2]
	if reply.ThreadTS != ann.TS || !strings.Contains(reply.Text, "Resolved") || !strings.Contains(reply.Text, "Quorum is back") {
		t.Fatalf("resolution reply: %+v", reply)
	}
	if upd.Method != "chat.update" || upd.TS != ann.TS || !strings.Contains(upd.Text, "RESOLVED") {
		t.Fatalf("announcement update: %+v", upd)
	}
}

func TestSandboxQuorumLossPagesOnceAndResolvesWebhook(t *testing.T) {
	r := newRig(t, fastConfig(), "webhook")
	r.waitChecks(t, 2, "a healthy cluster", isAvailable)
	r.kill(t, r.sb, 2, 3)
	r.slack.WaitMessages(t, 1, 30*time.Second)
	r.waitChecks(t, 5, "more checks while lost", isLost)
	r.restart(t, r.sb, 2, 3)
	r.slack.WaitMessages(t, 2, 30*time.Second)
	r.waitChecks(t, 3, "checks after recovery", isAvailable)
	got := r.slack.Messages()
	if len(got) != 2 || !strings.Contains(got[0].Text, "Quorum lost") || !strings.Contains(got[1].Text, "Resolved") {
		t.Fatalf("want one alert and one resolution: %+v", got)
	}
}

// A drill step that kills a majority on purpose pages nobody; the outage
// is a quiet note in the drill's own message.
func TestSandboxPlannedMajorityLossIsNotPaged(t *testing.T) {
	r := newRig(t, fastConfig(), "bot")
	r.waitChecks(t, 2, "a healthy cluster", isAvailable)
	// What the drill runtime does: the planner hears of each kill before
	// it happens and of each restart after it worked.
	ctl := plannedControl{r.sb, r.svc.Planner}
	rn := run.New("failure-recovery", run.TriggerAPI, time.Now())
	rn.ID = "run-planned"
	r.svc.Engine.RunStarted(rn)
	r.kill(t, ctl, 1, 3)
	r.waitChecks(t, 5, "checks of the planned loss", isLost)
	r.restart(t, ctl, 1, 3)
	r.waitChecks(t, 2, "recovery", isAvailable)
	if got := r.slack.Messages(); len(got) != 0 {
		t.Fatalf("a planned loss paged: %+v", got)
	}
	rn.Finish(run.Result{Status: run.StatusFailed,
		Criteria: []run.Criterion{run.Judge(run.SentRecovered, ">=", 0.95, 0.5)}}, time.Now())
	r.svc.Engine.RunFinished(rn)
	r.slack.WaitMessages(t, 1, 30*time.Second)
	r.waitChecks(t, 2, "a few more checks", anyCheck)
	got := r.slack.Messages()
	if len(got) != 1 {
		t.Fatalf("want only the drill's own message: %+v", got)
	}
	if !strings.Contains(got[0].Text, "missed 1 of 1") || !strings.Contains(got[0].Blocks, "on purpose") || !strings.Contains(got[0].Blocks, "[1 3]") {
		t.Fatalf("drill message should carry the quiet note: %+v", got[0])
	}
}

// plannedControl tells the planner of kills and restarts as the drill
// runtime's Restorer does.
type plannedControl struct {
	control.Controller
	plan *alerts.Planner
}

func (c plannedControl) Kill(ctx context.Context, id int32) error {
	c.plan.Killing(id, time.Now())
	return c.Controller.Kill(ctx, id)
}

func (c plannedControl) Restart(ctx context.Context, id int32) error {
	err := c.Controller.Restart(ctx, id)
	if err == nil {
		c.plan.Restarted(id, time.Now())
	}
	return err
}
