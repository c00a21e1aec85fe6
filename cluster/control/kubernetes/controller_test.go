package kubernetes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/raftdrill/raftdrill/cluster/control/kubernetes/settings"
	"github.com/raftdrill/raftdrill/cluster/kube"
	"github.com/raftdrill/raftdrill/config"
)

const ns = "kafka"

var nodes = []config.Node{
	{ID: 0, Address: "kafka-0.kafka.kafka.svc:9092"},
	{ID: 1, Address: "kafka-1.kafka.kafka.svc:9092"},
	{ID: 2, Address: "kafka-2.kafka.kafka.svc:9092"},
}

// pod is a StatefulSet pod in the given phase, Ready or not.
func pod(name, uid string, phase corev1.PodPhase, ready bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid)},
		Status:     corev1.PodStatus{Phase: phase},
	}
	if phase == corev1.PodRunning {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	}
	return p
}

func newController(t *testing.T, client *fake.Clientset, restartTimeout time.Duration) *Controller {
	t.Helper()
	cfg := settings.Default()
	cfg.Namespace = ns
	cfg.Pod = "kafka-{{.ID}}"
	cfg.RestartTimeout = restartTimeout
	c, err := New(cfg, nodes, client, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = 10 * time.Millisecond
	return c
}

// restartAsync runs Restart in the background; the channel yields its error.
func restartAsync(c *Controller, id int32) <-chan error {
	done := make(chan error, 1)
	go func() { done <- c.Restart(context.Background(), id) }()
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Restart did not return within 10s")
		return nil
	}
}

func TestKillDeletesWithNoGracePeriod(t *testing.T) {
	client := fake.NewClientset(pod("kafka-1", "uid-1", corev1.PodRunning, true))
	c := newController(t, client, time.Minute)
	if err := c.Kill(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods(ns).Get(context.Background(), "kafka-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pod still there after Kill: %v", err)
	}
	var deletes int
	for _, a := range client.Actions() {
		d, ok := a.(k8stesting.DeleteActionImpl)
		if !ok {
			continue
		}
		deletes++
		opts := d.DeleteOptions
		if opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != 0 {
			t.Errorf("grace period %v, want 0", opts.GracePeriodSeconds)
		}
		if opts.Preconditions == nil || opts.Preconditions.UID == nil || *opts.Preconditions.UID != "uid-1" {
			t.Errorf("preconditions %+v, want uid-1", opts.Preconditions)
		}
		if d.Name != "kafka-1" || d.Namespace != ns {
			t.Errorf("deleted %s/%s, want kafka/kafka-1", d.Namespace, d.Name)
		}
	}
	if deletes != 1 {
		t.Errorf("%d deletes, want 1", deletes)
	}
	if up, err := c.Up(context.Background(), 1); up || err != nil {
		t.Errorf("Up after Kill = %v, %v; want false, nil", up, err)
	}
}

func TestKillErrors(t *testing.T) {
	client := fake.NewClientset()
	c := newController(t, client, time.Minute)
	err := c.Kill(context.Background(), 2)
	want := "kill node 2: pod kafka-2 not found in namespace kafka: check cluster.controller.kubernetes.pod and .namespace"
	if err == nil || err.Error() != want {
		t.Errorf("missing pod: %v\nwant: %s", err, want)
	}
	if err := c.Kill(context.Background(), 9); err == nil || err.Error() != "kill node 9: not in cluster.nodes" {
		t.Errorf("unknown node: %v", err)
	}
}

// The StatefulSet controller's part is played by the test: it recreates the
// pod with a new UID, first Pending, then Running but not Ready, then Ready.
// Restart must return only after the last step.
func TestRestartWaitsForRecreatedPodToBeReady(t *testing.T) {
	client := fake.NewClientset(pod("kafka-2", "old", corev1.PodRunning, true))
	c := newController(t, client, time.Minute)
	ctx := context.Background()
	if err := c.Kill(ctx, 2); err != nil {
		t.Fatal(err)
	}
	done := restartAsync(c, 2)
	pods := client.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, pod("kafka-2", "new", corev1.PodPending, false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.UpdateStatus(ctx, pod("kafka-2", "new", corev1.PodRunning, false), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	ready.Store(true)
	if _, err := pods.UpdateStatus(ctx, pod("kafka-2", "new", corev1.PodRunning, true), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	if !ready.Load() {
		t.Fatal("Restart returned before the new pod was Ready")
	}
	if up, err := c.Up(ctx, 2); !up || err != nil {
		t.Errorf("Up after Restart = %v, %v; want true, nil", up, err)
	}
}

// A restart must not mistake the killed pod for its replacement: here the
// old pod lingers, Ready, with a deletion timestamp (a finalizer holds it),
// then goes, and only then does the StatefulSet create the new one.
func TestRestartIgnoresTheKilledPod(t *testing.T) {
	client := fake.NewClientset(pod("kafka-0", "old", corev1.PodRunning, true))
	// A finalizer: delete only marks the pod.
	client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := pod("kafka-0", "old", corev1.PodRunning, true)
		now := metav1.Now()
		p.DeletionTimestamp = &now
		p.Finalizers = []string{"example.com/hold"}
		return true, nil, client.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, p, ns)
	})
	c := newController(t, client, time.Minute)
	ctx := context.Background()
	if err := c.Kill(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if up, _ := c.Up(ctx, 0); up {
		t.Fatal("a pod being deleted counts as up")
	}
	done := restartAsync(c, 0)
	var replaced atomic.Bool
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	if err := client.Tracker().Delete(gvr, ns, "kafka-0"); err != nil {
		t.Fatal(err)
	}
	replaced.Store(true)
	if err := client.Tracker().Add(pod("kafka-0", "new", corev1.PodRunning, true)); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	if !replaced.Load() {
		t.Fatal("Restart accepted the pod it had killed")
	}
}

func TestRestartTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		kill    bool
		setup   func(*fake.Clientset)
		initial []runtime.Object
		want    string // the error, up to the first "*"
	}{{
		name:    "not recreated",
		kill:    true,
		initial: []runtime.Object{pod("kafka-2", "old-uid", corev1.PodRunning, true)},
		want:    "restart node 2: pod kafka-2 was not recreated within 100ms (deleted at *, old uid old-uid): is it managed by a StatefulSet?",
	}, {
		name:    "recreated, never Ready",
		kill:    true,
		initial: []runtime.Object{pod("kafka-2", "old-uid", corev1.PodRunning, true)},
		setup: func(client *fake.Clientset) {
			p := pod("kafka-2", "new-uid", corev1.PodRunning, false)
			p.Status.Conditions[0].Reason = "ContainersNotReady"
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{
				Name: "kafka",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container=kafka",
				}},
			}}
			if err := client.Tracker().Add(p); err != nil {
				panic(err)
			}
		},
		want: "restart node 2: pod kafka-2 was recreated (uid new-uid) but not Ready within 100ms: phase Running; not Ready (ContainersNotReady); container kafka waiting: CrashLoopBackOff (back-off 40s restarting failed container=kafka)",
	}, {
		name: "never existed",
		want: "restart node 2: pod kafka-2 does not exist and was not created within 100ms: is it managed by a StatefulSet?",
	}, {
		name:    "not killed, not Ready",
		initial: []runtime.Object{pod("kafka-2", "uid-x", corev1.PodPending, false)},
		want:    "restart node 2: pod kafka-2 (uid uid-x) not Ready within 100ms: phase Pending",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.initial...)
			c := newController(t, client, 100*time.Millisecond)
			if tt.kill {
				if err := c.Kill(context.Background(), 2); err != nil {
					t.Fatal(err)
				}
			}
			if tt.setup != nil {
				tt.setup(client)
			}
			err := wait(t, restartAsync(c, 2))
			if err == nil {
				t.Fatal("Restart succeeded")
			}
			if !matches(err.Error(), tt.want) {
				t.Errorf("got:  %s\nwant: %s", err, tt.want)
			}
		})
	}
}

// matches compares s with a pattern in which each "*" stands for any text.
func matches(s, pattern string) bool {
	ok, _ := filepath.Match(strings.NewReplacer("[", "\\[", "?", "\\?", "\\", "\\\\").Replace(pattern), s)
	return ok || s == pattern
}

func TestRestartIsNoopWhenReady(t *testing.T) {
	client := fake.NewClientset(pod("kafka-1", "uid-1", corev1.PodRunning, true))
	c := newController(t, client, time.Minute)
	client.ClearActions()
	if err := c.Restart(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() != "list" {
			t.Errorf("unexpected %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

func TestRestartCanceled(t *testing.T) {
	client := fake.NewClientset()
	c := newController(t, client, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	watching := make(chan struct{})
	var once atomic.Bool
	client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watchInterface, error) {
		if once.CompareAndSwap(false, true) {
			close(watching)
		}
		return false, nil, nil
	})
	go func() { done <- c.Restart(ctx, 0) }()
	waitClosed(t, watching)
	cancel()
	err := wait(t, done)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "restart node 0: waiting for pod kafka-0: ") {
		t.Errorf("got %v, want a wrapped context.Canceled", err)
	}
}

// An API server that closes every watch at once must not stop a restart.
func TestRestartSurvivesClosedWatches(t *testing.T) {
	client := fake.NewClientset()
	var watches atomic.Int32
	client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watchInterface, error) {
		w := newClosedWatch()
		if watches.Add(1) == 3 {
			if err := client.Tracker().Add(pod("kafka-1", "new", corev1.PodRunning, true)); err != nil {
				return true, nil, err
			}
		}
		return true, w, nil
	})
	c := newController(t, client, 10*time.Second)
	if err := wait(t, restartAsync(c, 1)); err != nil {
		t.Fatal(err)
	}
	if n := watches.Load(); n < 3 {
		t.Errorf("%d watches, want at least 3", n)
	}
}

func TestForbidden(t *testing.T) {
	forbidden := func(verb string) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "kafka-1",
			errors.New(`User "system:serviceaccount:tools:raftdrill" cannot `+verb+` resource "pods" in API group "" in the namespace "kafka"`))
	}
	tests := []struct {
		name, verb string
		call       func(*Controller) error
	}{
		{"kill: get", "get", func(c *Controller) error { return c.Kill(context.Background(), 1) }},
		{"kill: delete", "delete", func(c *Controller) error { return c.Kill(context.Background(), 1) }},
		{"up: get", "get", func(c *Controller) error { _, err := c.Up(context.Background(), 1); return err }},
		{"restart: list", "list", func(c *Controller) error { return c.Restart(context.Background(), 1) }},
		{"restart: watch", "watch", func(c *Controller) error { return c.Restart(context.Background(), 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(pod("kafka-1", "uid-1", corev1.PodPending, false))
			if tt.verb == "watch" {
				client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watchInterface, error) {
					return true, nil, forbidden("watch")
				})
			} else {
				client.PrependReactor(tt.verb, "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, forbidden(tt.verb)
				})
			}
			c := newController(t, client, time.Minute)
			err := tt.call(c)
			if !apierrors.IsForbidden(err) {
				t.Fatalf("got %v, want a wrapped Forbidden", err)
			}
			for _, want := range []string{
				tt.verb + " pod kafka-1 in namespace kafka: forbidden:",
				`needs a Role in namespace "kafka" that allows "` + tt.verb + `" on pods`,
				"get, list, watch and delete on pods",
			} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q\nlacks %q", err, want)
				}
			}
		})
	}
}

func TestUp(t *testing.T) {
	deleting := pod("kafka-0", "u", corev1.PodRunning, true)
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	noConditions := pod("kafka-0", "u", corev1.PodRunning, true)
	noConditions.Status.Conditions = nil
	tests := []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"missing", nil, false},
		{"pending", pod("kafka-0", "u", corev1.PodPending, false), false},
		{"running, not ready", pod("kafka-0", "u", corev1.PodRunning, false), false},
		{"running, ready", pod("kafka-0", "u", corev1.PodRunning, true), true},
		{"running, no conditions yet", noConditions, false},
		{"being deleted", deleting, false},
		{"failed", pod("kafka-0", "u", corev1.PodFailed, false), false},
		{"succeeded", pod("kafka-0", "u", corev1.PodSucceeded, false), false},
		{"unknown", pod("kafka-0", "u", corev1.PodUnknown, false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			if tt.pod != nil {
				client = fake.NewClientset(tt.pod)
			}
			c := newController(t, client, time.Minute)
			up, err := c.Up(context.Background(), 0)
			if err != nil || up != tt.want {
				t.Errorf("Up = %v, %v; want %v, nil", up, err, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	client := fake.NewClientset()
	nsFile := filepath.Join(t.TempDir(), "namespace")
	tests := []struct {
		name      string
		cfg       Config
		nsFile    string // content of the service account's namespace file; "" none
		wantNS    string
		wantPod   string // of node 0
		wantError string
	}{
		{name: "statefulset name", cfg: Config{Namespace: "kafka", Pod: "kafka"}, wantNS: "kafka", wantPod: "kafka-0"},
		{name: "own namespace", cfg: Config{Pod: "chronik-{{.ID}}"}, nsFile: "streaming\n", wantNS: "streaming", wantPod: "chronik-0"},
		{name: "no namespace", cfg: Config{Pod: "kafka"},
			wantError: "cluster.controller.kubernetes.namespace: not set, and raftdrill does not run in a pod whose namespace it could use: "},
		{name: "bad template", cfg: Config{Namespace: "kafka", Pod: "kafka-{{.Name}}"},
			wantError: `cluster.controller.kubernetes.pod: template: pod:1:8: executing "pod" at <.Name>: can't evaluate field Name in type settings.PodData`},
		{name: "one-based template on zero-based ids", cfg: Config{Namespace: "kafka", Pod: "kafka-{{sub .ID 1}}"},
			wantError: `cluster.controller.kubernetes.pod: node 0: "kafka--1" ends in a negative ordinal`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kube.NamespaceFile = nsFile
			os.Remove(nsFile)
			if tt.nsFile != "" {
				if err := os.WriteFile(nsFile, []byte(tt.nsFile), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c, err := New(tt.cfg, nodes, client, nil)
			if tt.wantError != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantError) {
					t.Fatalf("got %v\nwant %s…", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Namespace() != tt.wantNS || c.PodName(0) != tt.wantPod {
				t.Errorf("namespace %q, pod %q; want %q, %q", c.Namespace(), c.PodName(0), tt.wantNS, tt.wantPod)
			}
		})
	}
}

func TestRequiredRules(t *testing.T) {
	if len(RequiredRules) != 1 || strings.Join(RequiredRules[0].Verbs, ",") != "get,list,watch,delete" ||
		RequiredRules[0].Resources[0] != "pods" || RequiredRules[0].APIGroups[0] != "" {
		t.Errorf("RequiredRules = %+v", RequiredRules)
	}
}

// Every call of a kill, restart and up is allowed by RequiredRules, so the
// Role in deploy/ is enough.
func TestRequiredRulesCoverCalls(t *testing.T) {
	client := fake.NewClientset(pod("kafka-1", "old", corev1.PodRunning, true))
	c := newController(t, client, time.Minute)
	ctx := context.Background()
	if err := c.Kill(ctx, 1); err != nil {
		t.Fatal(err)
	}
	watching := make(chan struct{})
	var once sync.Once
	client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watchInterface, error) {
		once.Do(func() { close(watching) })
		return false, nil, nil
	})
	done := restartAsync(c, 1)
	waitClosed(t, watching)
	if err := client.Tracker().Add(pod("kafka-1", "new", corev1.PodRunning, true)); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Up(ctx, 1); err != nil {
		t.Fatal(err)
	}
	verbs := map[string]bool{}
	for _, a := range client.Actions() {
		r := a.GetResource()
		verbs[a.GetVerb()] = true
		if !slices.ContainsFunc(RequiredRules, func(rule rbacv1.PolicyRule) bool {
			return slices.Contains(rule.Verbs, a.GetVerb()) && slices.Contains(rule.APIGroups, r.Group) &&
				slices.Contains(rule.Resources, r.Resource) && a.GetNamespace() == ns
		}) {
			t.Errorf("%s %s in %q is not allowed by RequiredRules", a.GetVerb(), r.Resource, a.GetNamespace())
		}
	}
	for _, v := range []string{"get", "list", "watch", "delete"} {
		if !verbs[v] {
			t.Errorf("RequiredRules grants %q, which is never used", v)
		}
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("the controller did not start watching within 10s")
	}
}
