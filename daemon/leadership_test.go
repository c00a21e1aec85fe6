package daemon

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/exporters"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/run"
)

// stubLeadership is leadership the test hands out and takes back.
type stubLeadership struct {
	mu      sync.Mutex
	leading bool
	leader  string
	changes chan struct{}
}

func newStub() *stubLeadership { return &stubLeadership{changes: make(chan struct{}, 1)} }

func (s *stubLeadership) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (s *stubLeadership) Identity() string              { return "me" }
func (s *stubLeadership) Changes() <-chan struct{}      { return s.changes }

func (s *stubLeadership) IsLeader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leading
}

func (s *stubLeadership) Leader() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leader
}

func (s *stubLeadership) set(leading bool, leader string) {
	s.mu.Lock()
	s.leading, s.leader = leading, leader
	s.mu.Unlock()
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

const drillName = "leader-failover"

// blockingDrill runs until it is cancelled, and says why it ended.
type blockingDrill struct{ started chan struct{} }

func (blockingDrill) Schedule() string   { return "" }
func (blockingDrill) Criteria() []string { return nil }
func (b blockingDrill) Run(ctx context.Context, _ drill.Env) run.Result {
	b.started <- struct{}{}
	<-ctx.Done()
	return run.Failed(context.Cause(ctx))
}

// Whatever elects the leader, a replica drills only while it leads: a
// drill it runs is cancelled the moment it stops leading, and ends saying
// why; ticks and triggers meanwhile are refused, naming the leader; once
// it leads again it drills again.
func TestDrillsOnlyWhileLeading(t *testing.T) {
	lead := newStub()
	cfg := shortConfig(t)
	d, err := New(context.Background(), cfg, Options{Registry: prometheus.NewRegistry(), Leadership: lead})
	if err != nil {
		t.Fatal(err)
	}
	block := blockingDrill{started: make(chan struct{}, 2)}
	d.cur.drills[drillName] = block
	addr, stop := serving(t, d)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	url := "http://" + addr
	testutil.WaitFor(t, "ready", 10*time.Second, func() bool { return get(t, url+"/readyz", nil) == http.StatusOK })

	if code, _, body := post(t, url+"/trigger", `{"drill":"leader-failover"}`, nil); code != http.StatusConflict || body["leader"] != "" {
		t.Fatalf("trigger before any leader: %d %v", code, body)
	}
	lead.set(true, "me")
	testutil.WaitFor(t, "the term", 10*time.Second, func() bool { return promtest.ToFloat64(d.metrics.HALeader) == 1 })
	r, err := d.Trigger(drillName, run.TriggerAPI)
	if err != nil {
		t.Fatal(err)
	}
	<-block.started
	lead.set(false, "other")
	testutil.WaitFor(t, "the drill to end", 10*time.Second, func() bool {
		got, _ := d.store.get(r.ID)
		return got.Status != run.StatusRunning
	})
	if got, _ := d.store.get(r.ID); got.Status != run.StatusError || got.Error != errNotLeading.Error() {
		t.Fatalf("run: %s %q", got.Status, got.Error)
	}
	if v := promtest.ToFloat64(d.metrics.HALeader); v != 0 {
		t.Fatalf("raftdrill_ha_leader %v after the term", v)
	}
	d.scheduled(drillName)
	if v := promtest.ToFloat64(d.metrics.SkippedRuns.WithLabelValues(drillName, exporters.SkipNotLeader)); v != 1 {
		t.Fatalf("ticks skipped as not leader: %v", v)
	}
	if code, _, body := post(t, url+"/trigger", `{"drill":"leader-failover"}`, nil); code != http.StatusConflict || body["leader"] != "other" {
		t.Fatalf("trigger on a follower: %d %v", code, body)
	}
	if page := getBody(t, url+"/"); !strings.Contains(page, "follower · me; other leads and drills") {
		t.Error("the status page does not say this replica follows")
	}

	lead.set(true, "me")
	testutil.WaitFor(t, "the next term", 10*time.Second, func() bool { return promtest.ToFloat64(d.metrics.HALeader) == 1 })
	testutil.WaitFor(t, "the runner idle", 10*time.Second, func() bool { return d.runner.running() == "" })
	d.scheduled(drillName)
	<-block.started
}

// Leader election campaigns with the settings it started with: a reload
// that changes them fails naming the section.
func TestReloadRefusesNewLeaderElectionSettings(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old, err := LoadConfig(write("old.yaml", "ha:\n  kubernetes:\n    lease_name: raftdrill\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(write("new.yaml", "ha:\n  kubernetes:\n    lease_name: raftdrill-2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if ps := needsRestart(old, cfg); len(ps) != 1 || ps[0].Key != "ha.kubernetes" {
		t.Fatalf("problems %v", ps)
	}
}
