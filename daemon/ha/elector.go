package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/raftdrill/raftdrill/cluster/kube"
	"github.com/raftdrill/raftdrill/daemon/ha/settings"
)

// Config is the section ha.kubernetes (see package settings).
type Config = settings.Config

// Elector campaigns for the Lease on behalf of this replica. Its methods are
// safe for concurrent use.
type Elector struct {
	cfg       Config
	identity  string
	namespace string
	lock      resourcelock.Interface
	log       *slog.Logger
	changes   chan struct{}

	mu sync.Mutex
	// leading is the context client-go gives the leader, done as soon as
	// leadership ends (or Run's context is cancelled); nil when not leading.
	leading context.Context
	// renewedAt is when the last successful write of the Lease by this
	// replica was sent: a leader that has not renewed for renew_deadline
	// no longer counts as one, whatever its goroutines have got round to.
	renewedAt time.Time
	// The Lease as last seen: its holder, when it last changed (by this
	// replica's clock, as client-go judges expiry), and its duration.
	holder     string
	renewTime  metav1.Time
	observedAt time.Time
	leaseFor   time.Duration
	// notified is the (leader, holder) last announced on changes.
	notified struct {
		leader bool
		holder string
	}
}

// New checks cfg and prepares an Elector on client; Run starts it. The
// identity is identity, else $POD_NAME, else the host name; the namespace
// is namespace, else $POD_NAMESPACE, else the service account's.
func New(cfg Config, client kubernetes.Interface, log *slog.Logger) (*Elector, error) {
	if ps := cfg.Validate(settings.Key); len(ps) > 0 {
		return nil, ps
	}
	if !cfg.Enabled() {
		return nil, fmt.Errorf("%s.lease_name: required for leader election", settings.Key)
	}
	if client == nil {
		return nil, errors.New("leader election: no client")
	}
	id := cfg.Identity
	if id == "" {
		var err error
		if id, err = kube.OwnIdentity(); err != nil || id == "" {
			return nil, fmt.Errorf("%s.identity: not set, and neither $POD_NAME nor the host name gives one: %v", settings.Key, err)
		}
	}
	ns := cfg.Namespace
	if ns == "" {
		var err error
		if ns, err = kube.OwnNamespace(); err != nil {
			return nil, fmt.Errorf("%s.namespace: not set, and raftdrill does not run in a pod whose namespace it could use: %w", settings.Key, err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Elector{
		cfg:       cfg,
		identity:  id,
		namespace: ns,
		log:       log.With("component", "ha", "lease", ns+"/"+cfg.LeaseName, "identity", id),
		changes:   make(chan struct{}, 1),
	}
	e.lock = &observedLock{
		Interface: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: cfg.LeaseName, Namespace: ns},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		e: e,
	}
	return e, nil
}

// Identity is this replica's name in the Lease.
func (e *Elector) Identity() string { return e.identity }

// Namespace is the Lease's namespace.
func (e *Elector) Namespace() string { return e.namespace }

// IsLeader reports whether this replica holds the Lease now: it acquired
// it, has renewed it within renew_deadline, and has not been stopped. It
// turns false the moment Run's context is cancelled, before the Lease is
// given up, so two replicas never both see true.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.isLeader(time.Now())
}

func (e *Elector) isLeader(now time.Time) bool {
	return e.leading != nil && e.leading.Err() == nil && now.Sub(e.renewedAt) < e.cfg.RenewDeadline
}

// Leader is the identity of the replica holding the Lease as last seen, ""
// when nobody holds it, it expired unrenewed, or it has not been read yet.
func (e *Elector) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader(time.Now())
}

func (e *Elector) leader(now time.Time) string {
	if e.holder == e.identity {
		if e.isLeader(now) {
			return e.identity
		}
		return ""
	}
	if e.holder == "" || now.Sub(e.observedAt) > e.leaseFor {
		return ""
	}
	return e.holder
}

// Changes receives a value after IsLeader or Leader may have changed; read
// them then. Values are coalesced (one pending at most) and never block the
// election, so the channel suits one reader, such as the daemon's loop that
// stops scheduling when this replica stops leading.
func (e *Elector) Changes() <-chan struct{} { return e.changes }

// Run campaigns for the Lease until ctx ends, again and again: a replica
// that loses the Lease (it could not renew in time) becomes a candidate
// once more. When ctx ends while it leads, it gives the Lease up at once.
// It returns nil when ctx ends, or an error if client-go rejects the
// configuration.
func (e *Elector) Run(ctx context.Context) error {
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(e.log.Handler()))
	for {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            e.lock,
			Name:            e.cfg.LeaseName,
			LeaseDuration:   e.cfg.LeaseDuration,
			RenewDeadline:   e.cfg.RenewDeadline,
			RetryPeriod:     e.cfg.RetryPeriod,
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: e.startedLeading,
				OnStoppedLeading: e.stoppedLeading,
				OnNewLeader: func(id string) {
					if id != e.identity {
						e.log.Info("leader elected", "leader", id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election on lease %s/%s: %w", e.namespace, e.cfg.LeaseName, err)
		}
		le.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		t := time.NewTimer(e.cfg.RetryPeriod)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// startedLeading runs in its own goroutine, so it may run after
// leadership already ended; ctx tells.
func (e *Elector) startedLeading(ctx context.Context) {
	e.mu.Lock()
	if ctx.Err() == nil {
		e.leading = ctx
	}
	e.mu.Unlock()
	if ctx.Err() == nil {
		e.log.Info("leading: this replica drills")
	}
	e.notify()
}

func (e *Elector) stoppedLeading() {
	e.mu.Lock()
	was := e.leading != nil
	e.leading = nil
	e.mu.Unlock()
	if was {
		e.log.Warn("stopped leading: this replica no longer drills")
	}
	e.notify()
}

// observe records the Lease as read or written; sent is when a successful
// write by this replica was sent (zero for a read).
func (e *Elector) observe(rec resourcelock.LeaderElectionRecord, sent time.Time) {
	now := time.Now()
	e.mu.Lock()
	if !sent.IsZero() && rec.HolderIdentity == e.identity {
		e.renewedAt = sent
	}
	if rec.HolderIdentity != e.holder || !rec.RenewTime.Equal(&e.renewTime) {
		e.holder = rec.HolderIdentity
		e.renewTime = rec.RenewTime
		e.observedAt = now
		e.leaseFor = time.Duration(rec.LeaseDurationSeconds) * time.Second
	}
	e.mu.Unlock()
	e.notify()
}

// notify sends on changes when (IsLeader, Leader) differs from what was
// last announced.
func (e *Elector) notify() {
	now := time.Now()
	e.mu.Lock()
	leader, holder := e.isLeader(now), e.leader(now)
	changed := leader != e.notified.leader || holder != e.notified.holder
	e.notified.leader, e.notified.holder = leader, holder
	e.mu.Unlock()
	if changed {
		select {
		case e.changes <- struct{}{}:
		default:
		}
	}
}

// observedLock is the LeaseLock, with every record read or written passed
// to the Elector, which so knows the holder and its own last renewal
// without depending on the order in which client-go's callbacks run.
type observedLock struct {
	resourcelock.Interface
	e *Elector
}

func (l *observedLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	if err == nil && rec != nil {
		l.e.observe(*rec, time.Time{})
	}
	return rec, raw, err
}

func (l *observedLock) Create(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	sent := time.Now()
	err := l.Interface.Create(ctx, rec)
	if err == nil {
		l.e.observe(rec, sent)
	}
	return err
}

func (l *observedLock) Update(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	sent := time.Now()
	err := l.Interface.Update(ctx, rec)
	if err == nil {
		l.e.observe(rec, sent)
	}
	return err
}
