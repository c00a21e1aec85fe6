package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DispatcherOptions shape delivery.
type DispatcherOptions struct {
	QueueSize  int
	Backoff    time.Duration // first wait after a failed attempt
	BackoffMax time.Duration
	// FlushTimeout caps the last delivery round at shutdown.
	FlushTimeout time.Duration
	// Sent is raftdrill_alerts_sent_total{kind,result}; Queued the
	// number of messages waiting. Either may be nil.
	Sent   *prometheus.CounterVec
	Queued prometheus.Gauge
}

// Dispatcher delivers messages in the order they were made, one at a time,
// through one notifier. A failure worth retrying is retried with backoff
// (Slack's Retry-After when it gives one) until it succeeds, holding the
// messages behind it so that they arrive in order; the queue is bounded and
// when it fills the oldest messages are folded into one summary. With no
// notifier (Slack not configured) messages are logged and counted only.
type Dispatcher struct {
	n    Notifier
	opts DispatcherOptions
	log  *slog.Logger

	mu       sync.Mutex
	queue    []*Message
	inflight *Message // taken off the queue, being delivered
	seq      uint64
	wake     chan struct{}
}

// NewDispatcher returns a dispatcher; n nil means Slack is not configured.
// It creates every kind × result series of opts.Sent at zero.
func NewDispatcher(n Notifier, opts DispatcherOptions, log *slog.Logger) *Dispatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.QueueSize < 2 {
		opts.QueueSize = 2
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.BackoffMax < opts.Backoff {
		opts.BackoffMax = opts.Backoff
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 5 * time.Second
	}
	if opts.Sent != nil {
		for _, k := range Kinds {
			for _, r := range Results {
				opts.Sent.WithLabelValues(k, r)
			}
		}
	}
	return &Dispatcher{n: n, opts: opts, log: log, wake: make(chan struct{}, 1)}
}

// Enqueue adds a message behind the others. It never blocks.
func (d *Dispatcher) Enqueue(m *Message) {
	d.mu.Lock()
	d.seq++
	m.Seq = d.seq
	if d.n == nil {
		d.mu.Unlock()
		d.count(m, ResultDisabled)
		text, _ := Renderer{}.Render(m)
		d.log.Debug("alert not sent: Slack is not configured", "kind", m.Kind(), "op", m.Op.String(), "text", text)
		return
	}
	d.queue = append(d.queue, m)
	dropped := d.foldOverflowLocked()
	d.setQueuedLocked()
	d.mu.Unlock()
	for _, v := range dropped {
		d.count(v, ResultDropped)
		d.log.Warn("alert queue full: oldest alert folded into a summary", "kind", v.Kind(), "op", v.Op.String(), "title", v.Alert.Title)
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Len is the number of messages waiting, the one being delivered included.
func (d *Dispatcher) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lenLocked()
}

func (d *Dispatcher) lenLocked() int {
	if d.inflight != nil {
		return len(d.queue) + 1
	}
	return len(d.queue)
}

// foldOverflowLocked keeps the queue within its size by folding the oldest
// messages into a summary at its head, and returns those folded.
func (d *Dispatcher) foldOverflowLocked() []*Message {
	var dropped []*Message
	for len(d.queue) > d.opts.QueueSize {
		head := d.queue[0]
		if head.overflow == nil {
			sum := &Message{Seq: head.Seq, At: head.At, overflow: &overflow{}}
			sum.overflow.add(head)
			dropped = append(dropped, head)
			d.queue[0] = sum
			continue
		}
		victim := d.queue[1]
		head.overflow.add(victim)
		head.At = victim.At
		dropped = append(dropped, victim)
		d.queue = append(d.queue[:1], d.queue[2:]...)
	}
	return dropped
}

func (d *Dispatcher) setQueuedLocked() {
	if d.opts.Queued != nil {
		d.opts.Queued.Set(float64(d.lenLocked()))
	}
}

func (d *Dispatcher) count(m *Message, result string) {
	if d.opts.Sent != nil {
		d.opts.Sent.WithLabelValues(m.Kind(), result).Inc()
	}
}

// Run delivers until ctx ends, then makes one last, short attempt at what
// is still queued.
func (d *Dispatcher) Run(ctx context.Context) {
	for {
		m := d.next(ctx)
		if m == nil {
			break
		}
		delivered := d.deliver(ctx, m)
		d.mu.Lock()
		d.inflight = nil
		if !delivered {
			d.queue = append([]*Message{m}, d.queue...)
		}
		d.setQueuedLocked()
		d.mu.Unlock()
		if !delivered {
			break
		}
	}
	d.flush()
}

// next waits for the oldest message and takes it off the queue; nil when
// ctx ended first.
func (d *Dispatcher) next(ctx context.Context) *Message {
	for {
		d.mu.Lock()
		if len(d.queue) > 0 {
			m := d.queue[0]
			d.queue = d.queue[1:]
			d.inflight = m
			d.setQueuedLocked()
			d.mu.Unlock()
			return m
		}
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		}
	}
}

// deliver tries until the message is sent or refused for good; false when
// ctx ended first (the message is still to be sent).
func (d *Dispatcher) deliver(ctx context.Context, m *Message) bool {
	backoff := d.opts.Backoff
	for attempt := 1; ; attempt++ {
		retry, err := d.n.Notify(ctx, m)
		if err == nil {
			d.count(m, ResultSent)
			d.log.Info("alert sent", "kind", m.Kind(), "op", m.Op.String(), "firing", m.Firing, "attempts", attempt)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if !retry {
			d.count(m, ResultFailed)
			d.log.Error("alert refused by Slack; not retrying", "kind", m.Kind(), "op", m.Op.String(), "firing", m.Firing, "err", err)
			return true
		}
		d.count(m, ResultRetry)
		wait := RetryAfter(err)
		if wait <= 0 {
			wait = jitter(backoff)
			backoff = min(2*backoff, d.opts.BackoffMax)
		}
		d.log.Warn("alert not delivered; will retry", "kind", m.Kind(), "op", m.Op.String(), "attempt", attempt, "retry_in", wait,
			"queued", d.Len(), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// jitter spreads retries by ±20 % so that many raftdrills do not hammer a
// recovering Slack in step.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + rand.N(2*d/5+1)
}

// flush tries once more, briefly, to deliver what is queued at shutdown,
// stopping at the first failure: Slack is evidently still unreachable.
func (d *Dispatcher) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.FlushTimeout)
	defer cancel()
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.mu.Unlock()
			return
		}
		m := d.queue[0]
		d.queue = d.queue[1:]
		d.setQueuedLocked()
		d.mu.Unlock()
		retry, err := d.n.Notify(ctx, m)
		if err == nil {
			d.count(m, ResultSent)
			continue
		}
		if !retry {
			d.count(m, ResultFailed)
			continue
		}
		d.log.Error("alerts not delivered before shutdown", "count", d.Len()+1, "err", err)
		return
	}
}

// overflow summarises messages folded out of a full queue.
type overflow struct {
	count       int
	first, last time.Time
	byKind      map[string]int
	lines       []string
}

const maxOverflowLines = 15

func (o *overflow) add(m *Message) {
	if m.overflow != nil { // a summary folded into a summary
		o.count += m.overflow.count
		for k, n := range m.overflow.byKind {
			o.bump(k, n)
		}
		o.lines = append(o.lines, m.overflow.lines...)
		o.span(m.overflow.first)
		o.span(m.overflow.last)
		return
	}
	o.count++
	o.bump(m.Kind(), 1)
	o.span(m.At)
	o.lines = append(o.lines, fmt.Sprintf("%s %s %s: %s", stamp(m.At), m.Op, m.Kind(), m.Alert.Title))
	if len(o.lines) > maxOverflowLines {
		o.lines = o.lines[len(o.lines)-maxOverflowLines:]
	}
}

func (o *overflow) bump(kind string, n int) {
	if o.byKind == nil {
		o.byKind = map[string]int{}
	}
	o.byKind[kind] += n
}

func (o *overflow) span(t time.Time) {
	if t.IsZero() {
		return
	}
	if o.first.IsZero() || t.Before(o.first) {
		o.first = t
	}
	if t.After(o.last) {
		o.last = t
	}
}

func (o *overflow) listing() string {
	kinds := make([]string, 0, len(o.byKind))
	for k := range o.byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var counts []string
	for _, k := range kinds {
		counts = append(counts, fmt.Sprintf("%d× %s", o.byKind[k], k))
	}
	out := "*By kind:* " + strings.Join(counts, ", ")
	if len(o.lines) > 0 {
		out += "\n*Latest folded:*\n" + esc(strings.Join(o.lines, "\n"))
	}
	return out
}
