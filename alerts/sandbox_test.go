package alerts

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes"
	"github.com/raftdrill/raftdrill/sandbox"
)

// rig is the alerting side end to end: a sandbox cluster, the real quorum
// probe feeding a Service, and the fake Slack it delivers to.
type rig struct {
	sb    *sandbox.Cluster
	slack *fakeSlack
	svc   *Service
	cfg   *config.Config

	mu   sync.Mutex
	obs  []probes.QuorumObservation
	stop func()
}

func testLogger() *slog.Logger {
	if os.Getenv("TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// fastConfig probes every 800 ms: a quorum loss pages within two seconds or
// so, while one check still has 700 ms to answer on a busy machine (-race).
func fastConfig() *config.Config {
	cfg := config.Default()
	cfg.Sandbox.ElectionTimeoutMin = 100 * time.Millisecond
	cfg.Sandbox.ElectionTimeoutMax = 200 * time.Millisecond
	cfg.Probes.Quorum.Interval = 800 * time.Millisecond
	cfg.Probes.Quorum.Timeout = 700 * time.Millisecond
	cfg.Alerts.RetryBackoff = 20 * time.Millisecond
	cfg.Alerts.RetryBackoffMax = 200 * time.Millisecond
	return &cfg
}

func newRig(t testing.TB, cfg *config.Config, mode string) *rig {
	t.Helper()
	f := newFakeSlack(t)
	switch mode {
	case "bot":
		cfg.Alerts.Slack.TokenFile = secretFile(t, "token", f.token)
		cfg.Alerts.Slack.Channel = "#alerts"
		cfg.Alerts.Slack.APIURL = f.apiURL()
	case "webhook":
		cfg.Alerts.Slack.WebhookURLFile = secretFile(t, "hook", f.hookURL())
	}
	if ps := cfg.Validate(); len(ps) > 0 {
		t.Fatalf("test config invalid: %v", ps)
	}
	sb, err := sandbox.New(sandbox.Options{Nodes: cfg.Sandbox.Nodes, ElectionTimeoutMin: cfg.Sandbox.ElectionTimeoutMin,
		ElectionTimeoutMax: cfg.Sandbox.ElectionTimeoutMax, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []probes.Node
	for _, n := range sb.Nodes() {
		nodes = append(nodes, probes.Node{ID: n.ID, Address: n.Address})
	}
	v, err := config.ParseKafkaVersion(cfg.Cluster.KafkaVersion)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{sb: sb, slack: f, cfg: cfg}
	probe := probes.NewQuorumProbe(nodes, v, cfg, testLogger())
	r.svc = NewService(cfg, Options{Log: testLogger(), Sent: sentCounter()})
	ctx, cancel := context.WithCancel(context.Background())
	r.svc.Start(ctx)
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		probe.Run(ctx, func(o probes.QuorumObservation) {
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
		probe.Close()
		sb.Close()
	}
	t.Cleanup(r.stop)
	return r
}

func (r *rig) observations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.obs)
}

// waitChecks waits until n more checks satisfying cond were made.
func (r *rig) waitChecks(t testing.TB, n int, what string, cond func(probes.QuorumObservation) bool) {
	t.Helper()
	r.mu.Lock()
	from := len(r.obs)
	r.mu.Unlock()
	waitUntil(t, what, 60*time.Second, func() bool {
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

func isAvailable(o probes.QuorumObservation) bool { return o.Available }
func isLost(o probes.QuorumObservation) bool      { return !o.Available }
func anyCheck(probes.QuorumObservation) bool      { return true }

func (r *rig) kill(t testing.TB, ctl probes.NodeController, ids ...int32) {
	t.Helper()
	for _, id := range ids {
		if err := ctl.Kill(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *rig) restart(t testing.TB, ctl probes.NodeController, ids ...int32) {
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
	got := r.slack.waitMessages(t, 1, 30*time.Second)
	r.waitChecks(t, 5, "more checks while lost", isLost)
	if got = r.slack.messages(); len(got) != 1 {
		t.Fatalf("want exactly one quorum-lost message while it stays lost, got %d: %+v", len(got), got)
	}
	ann := got[0]
	if !strings.Contains(ann.Text, "Quorum lost") || !strings.Contains(ann.Text, "1 of 3 nodes up") || !strings.Contains(ann.Blocks, "Partitions without leader") {
		t.Fatalf("announcement: %+v", ann)
	}
	r.restart(t, r.sb, 1, 2)
	got = r.slack.waitMessages(t, 3, 30*time.Second)
	r.waitChecks(t, 3, "checks after recovery", isAvailable)
	if got = r.slack.messages(); len(got) != 3 {
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
	r.slack.waitMessages(t, 1, 30*time.Second)
	r.waitChecks(t, 5, "more checks while lost", isLost)
	r.restart(t, r.sb, 2, 3)
	r.slack.waitMessages(t, 2, 30*time.Second)
	r.waitChecks(t, 3, "checks after recovery", isAvailable)
	got := r.slack.messages()
	if len(got) != 2 || !strings.Contains(got[0].Text, "Quorum lost") || !strings.Contains(got[1].Text, "Resolved") {
		t.Fatalf("want one alert and one resolution: %+v", got)
	}
}

// A drill step that kills a majority on purpose pages nobody; the outage
// is a quiet note in the drill's own message.
func TestSandboxPlannedMajorityLossIsNotPaged(t *testing.T) {
	r := newRig(t, fastConfig(), "bot")
	r.waitChecks(t, 2, "a healthy cluster", isAvailable)
	ctl := r.svc.Control(r.sb) // what the daemon hands the drills
	run := Run{ID: "run-planned", Drill: "failure-recovery", StartedAt: time.Now()}
	r.svc.Engine.RunStarted(run)
	r.kill(t, ctl, 1, 3)
	r.waitChecks(t, 5, "checks of the planned loss", isLost)
	r.restart(t, ctl, 1, 3)
	r.waitChecks(t, 2, "recovery", isAvailable)
	if got := r.slack.messages(); len(got) != 0 {
		t.Fatalf("a planned loss paged: %+v", got)
	}
	run.Status, run.FinishedAt = probes.StatusFailed, time.Now()
	run.Criteria = []probes.Criterion{{Name: "messages_recovered_ratio", Op: ">=", Threshold: 0.95, Value: 0.5, Passed: false}}
	r.svc.Engine.RunFinished(run)
	got := r.slack.waitMessages(t, 1, 30*time.Second)
	r.waitChecks(t, 2, "a few more checks", anyCheck)
	if got = r.slack.messages(); len(got) != 1 {
		t.Fatalf("want only the drill's own message: %+v", got)
	}
	if !strings.Contains(got[0].Text, "missed 1 of 1") || !strings.Contains(got[0].Blocks, "on purpose") || !strings.Contains(got[0].Blocks, "[1 3]") {
		t.Fatalf("drill message should carry the quiet note: %+v", got[0])
	}
}
