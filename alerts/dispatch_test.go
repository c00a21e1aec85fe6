package alerts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/internal/testutil"
)

// scriptedNotifier fails as told, then records what it delivered.
type scriptedNotifier struct {
	mu        sync.Mutex
	fail      []error // returned by the next attempts, in order
	retryable bool
	attempts  []time.Time
	delivered []string
}

func (n *scriptedNotifier) Notify(_ context.Context, m *Message) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.attempts = append(n.attempts, time.Now())
	if len(n.fail) > 0 {
		err := n.fail[0]
		n.fail = n.fail[1:]
		return n.retryable, err
	}
	title := m.Alert.Title
	if m.Overflow != nil {
		title = fmt.Sprintf("summary of %d", m.Overflow.Count)
	}
	n.delivered = append(n.delivered, title)
	return false, nil
}

func (n *scriptedNotifier) got() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.delivered)
}

func sentCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftdrill_alerts_sent_total", Help: "h"}, []string{"kind", "result"})
}

func msg(kind, title string) *Message {
	return &Message{Op: OpOpen, At: time.Now(), Alert: Alert{Kind: kind, Title: title}}
}

func runDispatcher(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestDispatcherCreatesEverySeriesAtStartUp(t *testing.T) {
	t.Parallel()
	sent := sentCounter()
	NewDispatcher(nil, DispatcherOptions{Sent: sent}, nil)
	if n := promtest.CollectAndCount(sent); n != len(Kinds)*len(Results) {
		t.Fatalf("%d series, want %d", n, len(Kinds)*len(Results))
	}
}

func TestDispatcherRetriesAndDeliversInOrder(t *testing.T) {
	t.Parallel()
	n := &scriptedNotifier{retryable: true, fail: []error{errors.New("connection refused"), errors.New("500"), errors.New("500")}}
	sent := sentCounter()
	d := NewDispatcher(n, DispatcherOptions{QueueSize: 10, Backoff: time.Millisecond, BackoffMax: 5 * time.Millisecond, Sent: sent}, nil)
	for _, title := range []string{"a", "b", "c"} {
		d.Enqueue(msg(KindThresholdMissed, title))
	}
	runDispatcher(t, d)
	testutil.WaitFor(t, "3 deliveries", 10*time.Second, func() bool { return len(n.got()) == 3 })
	if got := n.got(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("delivered %v", got)
	}
	if v := promtest.ToFloat64(sent.WithLabelValues(KindThresholdMissed, ResultSent)); v != 3 {
		t.Fatalf("sent %v", v)
	}
	if v := promtest.ToFloat64(sent.WithLabelValues(KindThresholdMissed, ResultRetry)); v != 3 {
		t.Fatalf("retry %v", v)
	}
}

func TestDispatcherHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	wait := 400 * time.Millisecond
	n := &scriptedNotifier{retryable: true, fail: []error{retryAfterError{wait}}}
	d := NewDispatcher(n, DispatcherOptions{Backoff: time.Millisecond}, nil)
	d.Enqueue(msg(KindQuorumLost, "a"))
	runDispatcher(t, d)
	testutil.WaitFor(t, "delivery", 10*time.Second, func() bool { return len(n.got()) == 1 })
	n.mu.Lock()
	defer n.mu.Unlock()
	if gap := n.attempts[1].Sub(n.attempts[0]); gap < wait {
		t.Fatalf("retried after %s; Slack asked for %s", gap, wait)
	}
}

func TestDispatcherGivesUpOnARefusalAndMovesOn(t *testing.T) {
	t.Parallel()
	n := &scriptedNotifier{retryable: false, fail: []error{errors.New("channel_not_found")}}
	sent := sentCounter()
	d := NewDispatcher(n, DispatcherOptions{Backoff: time.Millisecond, Sent: sent}, nil)
	d.Enqueue(msg(KindDrillError, "refused"))
	d.Enqueue(msg(KindDrillError, "next"))
	runDispatcher(t, d)
	testutil.WaitFor(t, "delivery", 10*time.Second, func() bool { return len(n.got()) == 1 })
	if got := n.got(); got[0] != "next" {
		t.Fatalf("delivered %v", got)
	}
	if v := promtest.ToFloat64(sent.WithLabelValues(KindDrillError, ResultFailed)); v != 1 {
		t.Fatalf("failed %v", v)
	}
}

// A full queue keeps the newest messages and folds the oldest into one
// summary that is delivered first, where they would have been.
func TestDispatcherFoldsTheOldestIntoASummaryWhenFull(t *testing.T) {
	t.Parallel()
	n := &scriptedNotifier{}
	sent := sentCounter()
	d := NewDispatcher(n, DispatcherOptions{QueueSize: 3, Sent: sent}, nil)
	for i := 1; i <= 6; i++ {
		d.Enqueue(msg(KindQuorumLost, fmt.Sprintf("m%d", i)))
	}
	if d.Len() != 3 {
		t.Fatalf("queue length %d, want 3", d.Len())
	}
	if o := d.queue[0].Overflow; o == nil || o.Count != 4 || o.ByKind[KindQuorumLost] != 4 || !strings.Contains(strings.Join(o.Lines, "\n"), "m4") {
		t.Fatalf("summary: %+v", d.queue[0])
	}
	runDispatcher(t, d)
	testutil.WaitFor(t, "deliveries", 10*time.Second, func() bool { return len(n.got()) == 3 })
	if got := n.got(); !slices.Equal(got, []string{"summary of 4", "m5", "m6"}) {
		t.Fatalf("delivered %v", got)
	}
	if v := promtest.ToFloat64(sent.WithLabelValues(KindQuorumLost, ResultDropped)); v != 4 {
		t.Fatalf("dropped %v", v)
	}
	if v := promtest.ToFloat64(sent.WithLabelValues(KindOverflow, ResultSent)); v != 1 {
		t.Fatalf("summary sent %v", v)
	}
}

func TestDispatcherWithoutSlackOnlyCounts(t *testing.T) {
	t.Parallel()
	sent := sentCounter()
	d := NewDispatcher(nil, DispatcherOptions{Sent: sent}, nil)
	d.Enqueue(msg(KindQuorumLost, "a"))
	if d.Len() != 0 {
		t.Fatal("queued with no Slack to deliver to")
	}
	if v := promtest.ToFloat64(sent.WithLabelValues(KindQuorumLost, ResultDisabled)); v != 1 {
		t.Fatalf("disabled %v", v)
	}
}

// At shutdown what is queued gets one short last chance.
func TestDispatcherFlushesAtShutdown(t *testing.T) {
	t.Parallel()
	n := &scriptedNotifier{}
	d := NewDispatcher(n, DispatcherOptions{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.Enqueue(msg(KindQuorumLost, "late"))
	d.Run(ctx)
	if got := n.got(); !slices.Equal(got, []string{"late"}) {
		t.Fatalf("delivered %v", got)
	}
}

// A message stuck in retries counts as waiting: the queue-length gauge is
// what RaftdrillAlertsUndelivered watches.
func TestDispatcherQueueLengthCountsTheMessageBeingRetried(t *testing.T) {
	t.Parallel()
	n := &scriptedNotifier{retryable: true}
	for i := 0; i < 1000; i++ {
		n.fail = append(n.fail, errors.New("503"))
	}
	queued := prometheus.NewGauge(prometheus.GaugeOpts{Name: "q", Help: "h"})
	d := NewDispatcher(n, DispatcherOptions{Backoff: time.Millisecond, BackoffMax: 2 * time.Millisecond, Queued: queued}, nil)
	d.Enqueue(msg(KindQuorumLost, "stuck"))
	runDispatcher(t, d)
	testutil.WaitFor(t, "retries", 10*time.Second, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(n.attempts) >= 3
	})
	if v := promtest.ToFloat64(queued); v != 1 {
		t.Fatalf("queue length %v while a message is being retried", v)
	}
}

// retryAfterError is a failure that says when to try again, as Slack's
// Retry-After does.
type retryAfterError struct{ wait time.Duration }

func (e retryAfterError) Error() string             { return "rate limited" }
func (e retryAfterError) RetryAfter() time.Duration { return e.wait }
