package ha

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/raftdrill/raftdrill/cluster/kube"
	"github.com/raftdrill/raftdrill/daemon/ha/settings"
	"github.com/raftdrill/raftdrill/internal/fakekube"
)

const (
	ns    = "tools"
	lease = "raftdrill"
)

// Short but valid timings: the Lease stores whole seconds.
func testConfig(identity string) Config {
	return Config{
		LeaseName:     lease,
		Namespace:     ns,
		Identity:      identity,
		LeaseDuration: 3 * time.Second,
		RenewDeadline: 1500 * time.Millisecond,
		RetryPeriod:   200 * time.Millisecond,
	}
}

// apiServer is one fake API server that several clients share, refusing
// a write from a stale resourceVersion as a real one does.
type apiServer struct{ *fakekube.APIServer }

func newAPIServer() *apiServer { return &apiServer{fakekube.New()} }

func (s *apiServer) client() (*fake.Clientset, *atomic.Bool) { return s.Client() }

// replica is one raftdrill replica campaigning for the lease.
type replica struct {
	*Elector
	cut    *atomic.Bool
	cancel context.CancelFunc
	done   chan error
}

func (s *apiServer) start(t *testing.T, identity string) *replica {
	t.Helper()
	client, cut := s.client()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e, err := New(testConfig(identity), client, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{Elector: e, cut: cut, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("%s: Run: %v", identity, err)
		}
	})
	return r
}

// watchdog checks, until the test ends, that no two replicas ever both
// say they lead.
func watchdog(t *testing.T, rs ...*replica) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var leaders []string
			for _, r := range rs {
				if r.IsLeader() {
					leaders = append(leaders, r.Identity())
				}
			}
			if len(leaders) > 1 {
				t.Errorf("two leaders at once: %v", leaders)
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
}

// eventually fails the test unless cond holds within d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leaderOf waits for exactly one of rs to lead and every one of them to
// name it, and returns it and the others.
func leaderOf(t *testing.T, d time.Duration, rs ...*replica) (*replica, []*replica) {
	t.Helper()
	var leader *replica
	eventually(t, d, "one leader that all replicas name", func() bool {
		leader = nil
		for _, r := range rs {
			if r.IsLeader() {
				leader = r
			}
		}
		if leader == nil {
			return false
		}
		for _, r := range rs {
			if r.Leader() != leader.Identity() {
				return false
			}
		}
		return true
	})
	var others []*replica
	for _, r := range rs {
		if r != leader {
			others = append(others, r)
		}
	}
	return leader, others
}

func TestOneLeader(t *testing.T) {
	s := newAPIServer()
	a, b := s.start(t, "raftdrill-a"), s.start(t, "raftdrill-b")
	watchdog(t, a, b)
	leader, others := leaderOf(t, 10*time.Second, a, b)
	if others[0].IsLeader() {
		t.Fatal("both lead")
	}
	// The Lease names the leader.
	if h := s.Holder(ns, lease); h != leader.Identity() {
		t.Errorf("lease holder %q, want %s", h, leader.Identity())
	}
}

// A clean shutdown gives the Lease up: the other replica takes over well
// within lease_duration, and the old leader says it does not lead from the
// moment its context is cancelled.
func TestHandoverOnCancel(t *testing.T) {
	s := newAPIServer()
	a, b := s.start(t, "raftdrill-a"), s.start(t, "raftdrill-b")
	watchdog(t, a, b)
	leader, others := leaderOf(t, 10*time.Second, a, b)
	follower := others[0]

	start := time.Now()
	leader.cancel()
	if leader.IsLeader() {
		t.Fatal("still leads after its context was cancelled")
	}
	select {
	case err := <-leader.done:
		leader.done <- err // for the cleanup
	case <-time.After(testConfig("").RenewDeadline + time.Second):
		t.Fatal("Run did not return after cancel")
	}
	leaderOf(t, testConfig("").LeaseDuration, follower)
	t.Logf("handover took %s", time.Since(start))
}

// A leader cut off from the API server stops leading within renew_deadline;
// the other replica takes over once the Lease has expired; when the old
// leader is reconnected it campaigns again and follows.
func TestTakeoverFromPartitionedLeader(t *testing.T) {
	s := newAPIServer()
	a, b := s.start(t, "raftdrill-a"), s.start(t, "raftdrill-b")
	watchdog(t, a, b)
	leader, others := leaderOf(t, 10*time.Second, a, b)
	follower := others[0]
	cfg := testConfig("")

	leader.cut.Store(true)
	cutAt := time.Now()
	eventually(t, cfg.RenewDeadline+time.Second, "partitioned leader stops leading", func() bool { return !leader.IsLeader() })
	leaderOf(t, cfg.LeaseDuration+cfg.RenewDeadline+2*time.Second, follower)
	if took := time.Since(cutAt); took < cfg.LeaseDuration-cfg.RetryPeriod*2 {
		t.Errorf("took over after %s, before the lease (%s) could have expired", took, cfg.LeaseDuration)
	}

	leader.cut.Store(false)
	eventually(t, 10*time.Second, "reconnected replica names the new leader", func() bool {
		return leader.Leader() == follower.Identity() && !leader.IsLeader()
	})
}

func TestChanges(t *testing.T) {
	s := newAPIServer()
	a := s.start(t, "raftdrill-a")
	deadline := time.After(10 * time.Second)
	for !a.IsLeader() {
		select {
		case <-a.Changes():
		case <-deadline:
			t.Fatal("no change announced that made the only replica leader")
		}
	}
	if a.Leader() != "raftdrill-a" {
		t.Errorf("Leader() = %q", a.Leader())
	}
	a.cancel()
	for a.IsLeader() {
		select {
		case <-a.Changes():
		case <-time.After(10 * time.Second):
			t.Fatal("no change announced after cancel")
		}
	}
}

// Every call the elector makes is allowed by RequiredRules, so the Role in
// deploy/ is enough.
func TestRequiredRulesCoverCalls(t *testing.T) {
	s := newAPIServer()
	a, b := s.start(t, "raftdrill-a"), s.start(t, "raftdrill-b")
	leader, _ := leaderOf(t, 10*time.Second, a, b)
	leader.cancel()
	<-leader.done
	leader.done <- nil
	actions := s.Actions()
	if len(actions) == 0 {
		t.Fatal("no calls")
	}
	rules := RequiredRules(lease)
	for _, act := range actions {
		name := ""
		switch act := act.(type) {
		case k8stesting.GetAction:
			name = act.GetName()
		case k8stesting.UpdateAction:
			name = act.GetObject().(*coordinationv1.Lease).Name
		}
		if !allows(rules, act.GetVerb(), act.GetResource().Group, act.GetResource().Resource, name) {
			t.Errorf("%s %s/%s %q is not allowed by RequiredRules", act.GetVerb(), act.GetResource().Group, act.GetResource().Resource, name)
		}
	}
}

func allows(rules []rbacv1.PolicyRule, verb, group, resource, name string) bool {
	for _, r := range rules {
		if slices.Contains(r.Verbs, verb) && slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) &&
			(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name)) {
			return true
		}
	}
	return false
}

func TestNew(t *testing.T) {
	client := fake.NewClientset()
	nsFile := filepath.Join(t.TempDir(), "namespace")
	if err := os.WriteFile(nsFile, []byte("from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	tests := []struct {
		name                   string
		cfg                    Config
		env                    map[string]string
		nsFile                 string
		wantID, wantNS, wantEr string
	}{
		{name: "explicit", cfg: Config{LeaseName: lease, Namespace: "tools", Identity: "me"}, wantID: "me", wantNS: "tools"},
		{name: "downward API", cfg: Config{LeaseName: lease}, env: map[string]string{"POD_NAME": "raftdrill-7d9-x", "POD_NAMESPACE": "kafka"},
			wantID: "raftdrill-7d9-x", wantNS: "kafka"},
		{name: "service account", cfg: Config{LeaseName: lease}, nsFile: nsFile, wantID: host, wantNS: "from-file"},
		{name: "no namespace", cfg: Config{LeaseName: lease}, nsFile: filepath.Join(t.TempDir(), "none"),
			wantEr: "ha.kubernetes.namespace: not set, and raftdrill does not run in a pod whose namespace it could use: "},
		{name: "no lease", cfg: Config{Namespace: "tools"}, wantEr: "ha.kubernetes.lease_name: required for leader election"},
		{name: "invalid", cfg: Config{LeaseName: "Lease!", Namespace: "tools"}, wantEr: `ha.kubernetes.lease_name: "Lease!" is not a Lease name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("POD_NAME", tt.env["POD_NAME"])
			t.Setenv("POD_NAMESPACE", tt.env["POD_NAMESPACE"])
			kube.NamespaceFile = tt.nsFile
			cfg := settings.Default()
			cfg.LeaseName, cfg.Namespace, cfg.Identity = tt.cfg.LeaseName, tt.cfg.Namespace, tt.cfg.Identity
			e, err := New(cfg, client, nil)
			if tt.wantEr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantEr) {
					t.Fatalf("got %v\nwant %s…", err, tt.wantEr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Identity() != tt.wantID || e.Namespace() != tt.wantNS {
				t.Errorf("identity %q, namespace %q; want %q, %q", e.Identity(), e.Namespace(), tt.wantID, tt.wantNS)
			}
			if e.IsLeader() || e.Leader() != "" {
				t.Error("leads before Run")
			}
		})
	}
}
