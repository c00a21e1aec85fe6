package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftdrill/raftdrill/state"
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
	// Outbox, when set, makes delivery durable: each message is stored
	// before it is queued and removed once Slack accepts it (or refuses it
	// for good), and the messages an earlier raftdrill left are sent
	// first, in order.
	Outbox OutboxStore
}

// OutboxStore is where undelivered messages wait, in order (package
// state's outbox).
type OutboxStore interface {
	Append(data []byte) (uint64, error)
	Put(seq uint64, data []byte) error
	Delete(seqs ...uint64) error
	List() ([]state.OutboxItem, error)
}

// Notifier delivers one message. Like Alertmanager's notify.Notifier it
// says whether a failure is worth retrying: the receiver down, rate-limiting
// or unreachable is; a message it refused for good (a bad channel, a revoked
// webhook) is not, or it would block every alert behind it. Errors it
// returns never contain a secret.
type Notifier interface {
	Notify(ctx context.Context, m *Message) (retry bool, err error)
}

// RetryAfter returns how long the receiver asked to wait before the next
// attempt (an error with a RetryAfter() time.Duration method says), 0 when
// it did not say.
func RetryAfter(err error) time.Duration {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter()
	}
	return 0
}

// Dispatcher delivers messages in the order they were made, one at a time,
// through one notifier. A failure worth retrying is retried with backoff
// (Slack's Retry-After when it gives one) until it succeeds, holding the
// messages behind it so that they arrive in order; the queue is bounded and
// when it fills the oldest messages are folded into one summary. With no
// notifier (Slack not configured) messages are logged and counted only.
// A paused dispatcher (its replica does not lead) delivers nothing: what
// it holds waits, in the outbox, until it is resumed.
type Dispatcher struct {
	opts DispatcherOptions
	log  *slog.Logger

	mu       sync.Mutex
	n        Notifier // swapped by a config reload
	queue    []*Message
	inflight *Message // taken off the queue, being delivered
	seq      uint64
	paused   bool
	wake     chan struct{}
	flushCtx context.Context // bounds the last delivery round (Stop sets it)
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
	d := &Dispatcher{n: n, opts: opts, log: log, wake: make(chan struct{}, 1)}
	d.restore()
	return d
}

// restore queues what an earlier raftdrill stored and could not deliver.
func (d *Dispatcher) restore() {
	if d.opts.Outbox == nil {
		return
	}
	items, err := d.opts.Outbox.List()
	if err != nil {
		d.log.Error("alert outbox unreadable: alerts from before the restart are not sent", "err", err)
		return
	}
	var bad []uint64
	for _, it := range items {
		var m Message
		if err := json.Unmarshal(it.Data, &m); err != nil {
			d.log.Error("alert in the outbox does not decode; dropped", "seq", it.Seq, "err", err)
			bad = append(bad, it.Seq)
			continue
		}
		m.Seq, m.stored = it.Seq, true
		d.queue = append(d.queue, &m)
		d.seq = max(d.seq, it.Seq)
	}
	if len(bad) > 0 {
		_ = d.opts.Outbox.Delete(bad...)
	}
	if len(d.queue) > 0 {
		d.log.Warn("alerts from before the restart will be sent first", "count", len(d.queue))
	}
	d.setQueuedLocked()
}

// SetPaused stops delivery (a replica that does not lead must not send)
// or resumes it. A message being delivered when it pauses is sent if its
// attempt had begun, else kept for later, in order.
func (d *Dispatcher) SetPaused(paused bool) {
	d.mu.Lock()
	d.paused = paused
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) isPaused() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.paused
}

// SetNotifier replaces the channel (a config reload); the queue stays.
func (d *Dispatcher) SetNotifier(n Notifier, backoff, backoffMax time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n = n
	if backoff > 0 {
		d.opts.Backoff = backoff
		d.opts.BackoffMax = max(backoffMax, backoff)
	}
}

func (d *Dispatcher) notifier() Notifier {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// store writes m to the outbox (a new message when seq is 0).
func (d *Dispatcher) store(m *Message) {
	if d.opts.Outbox == nil {
		return
	}
	data, err := json.Marshal(m)
	if err == nil {
		if !m.stored {
			var seq uint64
			if seq, err = d.opts.Outbox.Append(data); err == nil {
				m.Seq, m.stored = seq, true
			}
		} else {
			err = d.opts.Outbox.Put(m.Seq, data)
		}
	}
	if err != nil {
		d.log.Error("alert not stored in the outbox: it is lost if raftdrill stops before Slack takes it", "kind", m.Kind(), "err", err)
	}
}

// unstore removes delivered (or folded) messages from the outbox.
func (d *Dispatcher) unstore(ms ...*Message) {
	if d.opts.Outbox == nil {
		return
	}
	var seqs []uint64
	for _, m := range ms {
		if m.stored {
			seqs = append(seqs, m.Seq)
		}
	}
	if len(seqs) == 0 {
		return
	}
	if err := d.opts.Outbox.Delete(seqs...); err != nil {
		d.log.Error("delivered alert not removed from the outbox: it may be sent again after a restart", "err", err)
	}
}

// Enqueue adds a message behind the others: stored in the outbox first,
// when there is one. It does not wait for delivery.
func (d *Dispatcher) Enqueue(m *Message) {
	if d.notifier() == nil {
		d.mu.Lock()
		d.seq++
		m.Seq = d.seq
		d.mu.Unlock()
		d.count(m, ResultDisabled)
		d.log.Debug("alert not sent: Slack is not configured", "kind", m.Kind(), "op", m.Op.String(), "title", m.Alert.Title, "text", m.Alert.Text)
		return
	}
	if d.opts.Outbox != nil {
		d.store(m)
	} else {
		d.mu.Lock()
		d.seq++
		m.Seq = d.seq
		d.mu.Unlock()
	}
	d.mu.Lock()
	d.queue = append(d.queue, m)
	dropped := d.foldOverflowLocked()
	var summary *Message
	if len(dropped) > 0 {
		summary = d.queue[0]
	}
	d.setQueuedLocked()
	d.mu.Unlock()
	if summary != nil {
		d.store(summary)
		d.unstore(dropped...)
	}
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
		if head.Overflow == nil {
			// The summary takes the oldest message's place in the outbox.
			sum := &Message{Seq: head.Seq, stored: head.stored, At: head.At, Overflow: &Overflow{}}
			head.stored = false
			sum.Overflow.add(head)
			dropped = append(dropped, head)
			d.queue[0] = sum
			continue
		}
		victim := d.queue[1]
		head.Overflow.add(victim)
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
		if delivered {
			d.unstore(m)
		}
		d.mu.Lock()
		d.inflight = nil
		if !delivered {
			d.queue = append([]*Message{m}, d.queue...)
		}
		d.setQueuedLocked()
		d.mu.Unlock()
		if !delivered && ctx.Err() != nil {
			break
		}
	}
	d.flush()
}

// next waits for the oldest message, while not paused, and takes it off
// the queue; nil when ctx ended first.
func (d *Dispatcher) next(ctx context.Context) *Message {
	for {
		d.mu.Lock()
		if len(d.queue) > 0 && !d.paused {
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
// ctx ended or the dispatcher was paused first (the message is still to be
// sent).
func (d *Dispatcher) deliver(ctx context.Context, m *Message) bool {
	d.mu.Lock()
	backoff := d.opts.Backoff
	d.mu.Unlock()
	for attempt := 1; ; attempt++ {
		if d.isPaused() {
			return false
		}
		steps := m.Steps
		retry, err := d.notifier().Notify(ctx, m)
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
		if m.Steps != steps {
			d.store(m) // a retry after a restart must not redo a step
		}
		wait := RetryAfter(err)
		if wait <= 0 {
			d.mu.Lock()
			wait = jitter(backoff)
			backoff = min(2*backoff, d.opts.BackoffMax)
			d.mu.Unlock()
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

// Stop ends Run, giving the last delivery round until ctx ends, and waits
// for it; done is what Run's goroutine closes.
func (d *Dispatcher) Stop(ctx context.Context, cancelRun context.CancelFunc, done <-chan struct{}) {
	d.mu.Lock()
	d.flushCtx = ctx
	d.mu.Unlock()
	cancelRun()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// flush tries once more to deliver what is queued at shutdown, stopping
// at the first failure: Slack is evidently still unreachable. With an
// outbox, what is left is sent after the restart.
func (d *Dispatcher) flush() {
	d.mu.Lock()
	ctx := d.flushCtx
	d.mu.Unlock()
	if ctx == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), d.opts.FlushTimeout)
		defer cancel()
	}
	for {
		d.mu.Lock()
		if len(d.queue) == 0 || ctx.Err() != nil || d.paused {
			left, err := len(d.queue), ctx.Err()
			if d.paused && left > 0 {
				err = errors.New("this replica does not lead")
			}
			d.mu.Unlock()
			d.leftBehind(left, err)
			return
		}
		m := d.queue[0]
		d.queue = d.queue[1:]
		d.setQueuedLocked()
		d.mu.Unlock()
		retry, err := d.notifier().Notify(ctx, m)
		if err == nil {
			d.count(m, ResultSent)
			d.unstore(m)
			continue
		}
		if !retry {
			d.count(m, ResultFailed)
			d.unstore(m)
			continue
		}
		d.leftBehind(d.Len()+1, err)
		return
	}
}

func (d *Dispatcher) leftBehind(n int, err error) {
	switch {
	case n == 0:
	case d.opts.Outbox != nil:
		d.log.Warn("alerts not delivered before shutdown are kept in the outbox and sent after the restart", "count", n, "err", err)
	default:
		d.log.Error("alerts not delivered before shutdown", "count", n, "err", err)
	}
}

// Overflow summarises messages folded out of a full queue.
type Overflow struct {
	Count       int
	First, Last time.Time
	ByKind      map[string]int
	Lines       []string // the latest folded, one line each, oldest first
}

const maxOverflowLines = 15

func (o *Overflow) add(m *Message) {
	if m.Overflow != nil { // a summary folded into a summary
		o.Count += m.Overflow.Count
		for k, n := range m.Overflow.ByKind {
			o.bump(k, n)
		}
		o.Lines = append(o.Lines, m.Overflow.Lines...)
		o.span(m.Overflow.First)
		o.span(m.Overflow.Last)
		return
	}
	o.Count++
	o.bump(m.Kind(), 1)
	o.span(m.At)
	o.Lines = append(o.Lines, fmt.Sprintf("%s %s %s: %s", m.At.UTC().Format("2006-01-02 15:04:05Z"), m.Op, m.Kind(), m.Alert.Title))
	if len(o.Lines) > maxOverflowLines {
		o.Lines = o.Lines[len(o.Lines)-maxOverflowLines:]
	}
}

func (o *Overflow) bump(kind string, n int) {
	if o.ByKind == nil {
		o.ByKind = map[string]int{}
	}
	o.ByKind[kind] += n
}

func (o *Overflow) span(t time.Time) {
	if t.IsZero() {
		return
	}
	if o.First.IsZero() || t.Before(o.First) {
		o.First = t
	}
	if t.After(o.Last) {
		o.Last = t
	}
}
