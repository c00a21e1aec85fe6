package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	clientset "k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/raftdrill/raftdrill/cluster/control/kubernetes/settings"
	"github.com/raftdrill/raftdrill/cluster/kube"
	"github.com/raftdrill/raftdrill/config"
)

// Config is the section cluster.controller.kubernetes (see package settings).
type Config = settings.Config

// Controller kills and restarts the pods of a StatefulSet. It is safe for
// concurrent use.
type Controller struct {
	pods           corev1client.PodInterface
	namespace      string
	names          map[int32]string
	restartTimeout time.Duration
	requestTimeout time.Duration
	// resync is how often a wait lists the pod again even though its watch
	// is open, in case an event was missed.
	resync time.Duration
	// backoff is the pause before listing again after a failed call or a
	// watch that ended at once, so a flapping API server is not hammered.
	backoff time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	killed map[int32]killed
}

// killed is the pod a Kill deleted, which Restart must see replaced.
type killed struct {
	uid types.UID
	at  time.Time
}

// New renders the pod name of every node (so a mistake in the template
// stops raftdrill at start-up, with its key) and returns a controller that
// uses client. The namespace is cfg.Namespace, or raftdrill's own when it
// runs in a pod.
func New(cfg Config, nodes []config.Node, client clientset.Interface, log *slog.Logger) (*Controller, error) {
	if client == nil {
		return nil, errors.New("kubernetes controller: no client")
	}
	names, err := cfg.PodNames(nodes)
	if err != nil {
		return nil, err
	}
	ns := cfg.Namespace
	if ns == "" {
		if ns, err = kube.OwnNamespace(); err != nil {
			return nil, fmt.Errorf("%s.namespace: not set, and raftdrill does not run in a pod whose namespace it could use: %w", settings.Key, err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{
		pods:           client.CoreV1().Pods(ns),
		namespace:      ns,
		names:          names,
		restartTimeout: cfg.RestartTimeout,
		requestTimeout: cfg.RequestTimeout,
		resync:         30 * time.Second,
		backoff:        time.Second,
		log:            log.With("controller", "kubernetes", "namespace", ns),
		killed:         make(map[int32]killed),
	}
	if c.restartTimeout <= 0 {
		c.restartTimeout = settings.Default().RestartTimeout
	}
	if c.requestTimeout <= 0 {
		c.requestTimeout = settings.Default().RequestTimeout
	}
	return c, nil
}

// Namespace is the namespace of the nodes' pods.
func (c *Controller) Namespace() string { return c.namespace }

// PodName is node id's pod, "" for a node not in cluster.nodes.
func (c *Controller) PodName(id int32) string { return c.names[id] }

// Kill deletes node id's pod with a grace period of 0, as kubectl delete
// --force --grace-period=0 does: the API object goes at once and the
// StatefulSet recreates it, while the kubelet kills the containers. (The
// kubelet may still send SIGTERM first; nothing in Kubernetes is closer to
// SIGKILL.) The deletion is made conditional on the UID it read, so it never
// deletes a pod that replaced the one it looked at.
func (c *Controller) Kill(ctx context.Context, id int32) error {
	name, ok := c.names[id]
	if !ok {
		return fmt.Errorf("kill node %d: not in cluster.nodes", id)
	}
	pod, err := c.get(ctx, name)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("kill node %d: pod %s not found in namespace %s: check %s.pod and .namespace", id, name, c.namespace, settings.Key)
	}
	if err != nil {
		return fmt.Errorf("kill node %d: %w", id, err)
	}
	uid := pod.UID
	reqCtx, cancel := context.WithTimeout(ctx, c.requestTimeout)
	defer cancel()
	err = c.pods.Delete(reqCtx, name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	switch {
	case apierrors.IsNotFound(err):
		// Gone between the get and the delete: down all the same.
	case apierrors.IsConflict(err):
		return fmt.Errorf("kill node %d: pod %s (uid %s) was replaced while being deleted: someone else is deleting it", id, name, uid)
	case err != nil:
		return fmt.Errorf("kill node %d: %w", id, c.apiError(err, "delete", name))
	}
	at := time.Now()
	c.mu.Lock()
	c.killed[id] = killed{uid: uid, at: at}
	c.mu.Unlock()
	c.log.Info("node killed", "node", id, "pod", name, "uid", uid)
	return nil
}

// errRestartTimeout ends a restart's wait when restart_timeout passes.
var errRestartTimeout = errors.New("restart timeout")

// Restart waits, up to restart_timeout, until node id's pod is Ready again.
// After a Kill by this controller that means a new pod (the StatefulSet's
// replacement, with a new UID); otherwise any Ready pod of that name, so a
// node that is already Ready is left alone. It never creates a pod.
func (c *Controller) Restart(ctx context.Context, id int32) error {
	name, ok := c.names[id]
	if !ok {
		return fmt.Errorf("restart node %d: not in cluster.nodes", id)
	}
	c.mu.Lock()
	k, wasKilled := c.killed[id]
	c.mu.Unlock()
	replaced := func(p *corev1.Pod) bool { return p != nil && (!wasKilled || p.UID != k.uid) }

	waitCtx, cancel := context.WithTimeoutCause(ctx, c.restartTimeout, errRestartTimeout)
	defer cancel()
	last, err := c.waitFor(waitCtx, name, func(p *corev1.Pod) bool { return replaced(p) && podUp(p) })
	if err == nil {
		c.mu.Lock()
		if c.killed[id] == k {
			delete(c.killed, id)
		}
		c.mu.Unlock()
		c.log.Info("node restarted", "node", id, "pod", name, "uid", last.UID)
		return nil
	}
	if !errors.Is(context.Cause(waitCtx), errRestartTimeout) || ctx.Err() != nil {
		return fmt.Errorf("restart node %d: waiting for pod %s: %w", id, name, err)
	}
	switch {
	case wasKilled && !replaced(last):
		return fmt.Errorf("restart node %d: pod %s was not recreated within %s (deleted at %s, old uid %s): is it managed by a StatefulSet?",
			id, name, c.restartTimeout, k.at.UTC().Format(time.RFC3339), k.uid)
	case last == nil:
		return fmt.Errorf("restart node %d: pod %s does not exist and was not created within %s: is it managed by a StatefulSet?",
			id, name, c.restartTimeout)
	case wasKilled:
		return fmt.Errorf("restart node %d: pod %s was recreated (uid %s) but not Ready within %s: %s",
			id, name, last.UID, c.restartTimeout, describe(last))
	default:
		return fmt.Errorf("restart node %d: pod %s (uid %s) not Ready within %s: %s",
			id, name, last.UID, c.restartTimeout, describe(last))
	}
}

// Up reports whether node id's pod exists, is not being deleted, runs and
// is Ready. Whether it serves Kafka is for the drill to find out.
func (c *Controller) Up(ctx context.Context, id int32) (bool, error) {
	name, ok := c.names[id]
	if !ok {
		return false, fmt.Errorf("up node %d: not in cluster.nodes", id)
	}
	pod, err := c.get(ctx, name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("up node %d: %w", id, err)
	}
	return podUp(pod), nil
}

func (c *Controller) get(ctx context.Context, name string) (*corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, c.requestTimeout)
	defer cancel()
	pod, err := c.pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, c.apiError(err, "get", name)
	}
	return pod, err
}

// waitFor returns the pod called name once done(pod) holds, done(nil)
// meaning "no such pod". It lists the pod, then watches it from the list's
// resource version, and lists again whenever the watch ends or resync
// passes. On ctx's end it returns the last state seen and ctx's error.
// Permission errors end it at once; others are retried until ctx ends.
func (c *Controller) waitFor(ctx context.Context, name string, done func(*corev1.Pod) bool) (*corev1.Pod, error) {
	selector := "metadata.name=" + name
	var last *corev1.Pod
	for {
		listCtx, cancel := context.WithTimeout(ctx, c.requestTimeout)
		list, err := c.pods.List(listCtx, metav1.ListOptions{FieldSelector: selector})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			if err := c.apiError(err, "list", name); isPermanent(err) {
				return last, err
			}
			c.log.Warn("listing pod failed; trying again", "pod", name, "err", err)
			if !sleep(ctx, c.backoff) {
				return last, ctx.Err()
			}
			continue
		}
		last = nil
		for i := range list.Items {
			if list.Items[i].Name == name {
				last = &list.Items[i]
			}
		}
		if done(last) {
			return last, nil
		}

		w, err := c.pods.Watch(ctx, metav1.ListOptions{FieldSelector: selector, ResourceVersion: list.ResourceVersion})
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			if err := c.apiError(err, "watch", name); isPermanent(err) {
				return last, err
			}
			c.log.Warn("watching pod failed; trying again", "pod", name, "err", err)
			if !sleep(ctx, c.backoff) {
				return last, ctx.Err()
			}
			continue
		}
		started := time.Now()
		pod, ok, err := c.watchUntil(ctx, w, name, last, done)
		w.Stop()
		last = pod
		if ok {
			return last, nil
		}
		if err != nil {
			return last, err
		}
		if time.Since(started) < c.backoff && !sleep(ctx, c.backoff) {
			return last, ctx.Err()
		}
	}
}

// watchUntil follows w until done holds (true), ctx ends (its error), or the
// watch ends or resync passes (false, nil: list again).
func (c *Controller) watchUntil(ctx context.Context, w watch.Interface, name string, last *corev1.Pod, done func(*corev1.Pod) bool) (*corev1.Pod, bool, error) {
	resync := time.NewTimer(c.resync)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return last, false, ctx.Err()
		case <-resync.C:
			return last, false, nil
		case ev, open := <-w.ResultChan():
			if !open {
				return last, false, nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if p, ok := ev.Object.(*corev1.Pod); ok && p.Name == name {
					last = p
				}
			case watch.Deleted:
				if p, ok := ev.Object.(*corev1.Pod); ok && p.Name == name {
					last = nil
				}
			case watch.Error:
				c.log.Debug("pod watch ended", "pod", name, "err", apierrors.FromObject(ev.Object))
				return last, false, nil
			default:
				continue
			}
			if done(last) {
				return last, true, nil
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// podUp: exists, not being deleted, running, Ready.
func podUp(p *corev1.Pod) bool {
	if p == nil || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// describe says why a pod is not up, for an error message: its phase, the
// reason it is not Ready, and any container that waits or has terminated.
func describe(p *corev1.Pod) string {
	parts := []string{"phase " + string(p.Status.Phase)}
	if p.Status.Phase == "" {
		parts[0] = "phase unknown"
	}
	if p.DeletionTimestamp != nil {
		parts = append(parts, "being deleted")
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status != corev1.ConditionTrue {
			s := "not Ready"
			if cond.Reason != "" {
				s += " (" + cond.Reason + ")"
			}
			parts = append(parts, s)
		}
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse {
			parts = append(parts, strings.TrimSpace("unschedulable: "+cond.Message))
		}
	}
	var containers []string
	for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			containers = append(containers, fmt.Sprintf("container %s waiting: %s", cs.Name, oneLine(cs.State.Waiting.Reason, cs.State.Waiting.Message)))
		case cs.State.Terminated != nil:
			containers = append(containers, fmt.Sprintf("container %s terminated: %s (exit %d)", cs.Name, oneLine(cs.State.Terminated.Reason, cs.State.Terminated.Message), cs.State.Terminated.ExitCode))
		}
	}
	sort.Strings(containers)
	return strings.Join(append(parts, containers...), "; ")
}

func oneLine(reason, msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		return reason
	}
	return reason + " (" + msg + ")"
}

// isPermanent tells errors that no retry can fix (RBAC, credentials, a
// request the server rejects) from transient ones.
func isPermanent(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) ||
		apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) || apierrors.IsMethodNotSupported(err)
}

// apiError says what was being done and, when the API server refused it,
// what a person has to grant or fix; the API error stays wrapped.
func (c *Controller) apiError(err error, verb, name string) error {
	what := fmt.Sprintf("%s pod %s in namespace %s", verb, name, c.namespace)
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: forbidden: raftdrill's service account needs a Role in namespace %q that allows %q on pods (the controller needs get, list, watch and delete on pods; see deploy/kubernetes/common/role.yaml), bound to it by a RoleBinding: %w",
			what, c.namespace, verb, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s: the API server rejected raftdrill's credentials (expired token, or the wrong kubeconfig user): %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
