package benchmark

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/IBM/sarama"
	"github.com/raftdrill/raftdrill/cluster/message"
	"github.com/raftdrill/raftdrill/run"
)

// loadSpec is the workload the benchmark runs on one target.
type loadSpec struct {
	run        string
	topic      string
	partitions int32
	messages   int
	size       int
	warmup     int
	// producer is ProducerBatch or
	// ProducerAsync; its batching comes from the sarama
	// client's configuration (benchSaramaConfig).
	producer string
	// rate is the offered load in messages per second (fixed-rate, open
	// loop: message i is due at start + i/rate whatever happened to the
	// ones before it); 0 means as fast as the producer takes them.
	rate float64
	// closedLoop sends one message at a time and times each from its
	// actual send, as the original benchmark did. It is test equipment:
	// it shows what a stall looks like to a measurement that waits for
	// the system it measures (coordinated omission).
	closedLoop bool
	// onSend, if set, is called after message seq was handed to the
	// producer (a test uses it to inject a stall at a known point).
	onSend func(seq int64)
	// timeout bounds one request: after a cancel, the producer is given
	// this long to finish before it is abandoned.
	timeout time.Duration
}

// Latencies are recorded in microseconds, from 1 µs to 10 minutes, with
// three significant digits (an error of at most 0.1 %).
const (
	histLowest  = 1
	histHighest = int64(10 * time.Minute / time.Microsecond)
	histDigits  = 3
)

func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), histLowest), histHighest)
	_ = h.RecordValue(us) // within the trackable range, so never fails
}

// produceStats is what producing one target's workload measured.
type produceStats struct {
	hist       *hdrhistogram.Histogram // send (intended) → ack, µs
	latencies  []time.Duration         // the same, every one, for Prometheus
	latencySum time.Duration           // of the same, exact (the summary's _sum)
	sent       int
	acked      int
	failed     int
	ackedSeq   []bool // by sequence number
	// lo and hi are the lowest and highest acked offsets per partition:
	// the range read back.
	lo, hi    map[int32]int64
	errs      []string // the first few send errors
	start     time.Time
	end       time.Time     // the last answer
	clientCPU time.Duration // this process's CPU time while producing
}

const maxErrSamples = 5

// seconds is the measured produce window.
func (s *produceStats) seconds() float64 { return s.end.Sub(s.start).Seconds() }

// answer records what became of measured message m, answered at at: acked
// at offset, or failed with err.
func (s *produceStats) answer(m loadMsg, offset int64, err error, at time.Time) {
	if at.After(s.end) {
		s.end = at
	}
	if err != nil {
		s.failed++
		if len(s.errs) < maxErrSamples {
			s.errs = append(s.errs, fmt.Sprintf("message %d to partition %d: %v", m.seq, m.partition, err))
		}
		return
	}
	lat := at.Sub(m.intended)
	s.acked++
	s.ackedSeq[m.seq] = true
	recordLatency(s.hist, lat)
	s.latencies = append(s.latencies, lat)
	s.latencySum += lat
	p := m.partition
	if lo, ok := s.lo[p]; !ok || offset < lo {
		s.lo[p] = offset
	}
	if offset > s.hi[p] {
		s.hi[p] = offset
	}
}

// loadMsg is one message of the workload: what the load loop hands to a
// producer, and what the producer hands back with its answer.
type loadMsg struct {
	seq       int64
	partition int32
	intended  time.Time // when the message was due to be sent
	warmup    bool
}

// loadProducer is what the load loop sends through: the batch producer
// (batchLoad, benchmark_batch.go) or sarama's AsyncProducer (asyncLoad).
// Every message send takes is answered exactly once, acked or failed,
// through loadRun.answer; send returns an error only for a message it did
// not take.
type loadProducer interface {
	// send takes m, blocking while the producer is full.
	send(ctx context.Context, m loadMsg) error
	// close sends whatever is buffered and takes no more messages; the
	// answers to what was sent keep coming after it returns.
	close()
}

// produceLoad produces spec's messages with acks=all through spec's
// producer and times each from its intended send to its ack. Warm-up
// messages go first and are waited for; they are neither timed nor read
// back.
func produceLoad(ctx context.Context, client sarama.Client, spec loadSpec) (*produceStats, error) {
	st := &produceStats{
		hist:      newLatencyHistogram(),
		latencies: make([]time.Duration, 0, spec.messages),
		ackedSeq:  make([]bool, spec.messages),
		lo:        map[int32]int64{},
		hi:        map[int32]int64{},
	}
	l := &loadRun{
		spec: spec, st: st, enc: message.NewEncoder(spec.size), warmRun: spec.run + "-warmup",
		warmLeft: spec.warmup, warmDone: make(chan struct{}), answered: make(chan struct{}, 1),
	}
	if spec.warmup == 0 {
		close(l.warmDone)
	}
	var err error
	switch spec.producer {
	case ProducerBatch:
		l.prod, err = newBatchLoad(ctx, client, l)
	case ProducerAsync:
		l.prod, err = newAsyncLoad(client, l)
	default:
		err = fmt.Errorf("unknown producer %q", spec.producer)
	}
	if err != nil {
		return nil, fmt.Errorf("create producer: %w", err)
	}

	sendErr := l.warm(ctx)
	var cpu0 time.Duration
	if sendErr == nil {
		cpu0 = processCPU()
		st.sent, st.start, sendErr = l.measured(ctx)
	}
	l.prod.close()
	answered := make(chan struct{})
	go func() {
		l.pending.Wait()
		close(answered)
	}()
	if !waitOrAbandon(ctx, answered, spec.timeout) {
		// A cancelled run must end even if a node never answers; the
		// producer's goroutines end when its requests time out.
		return nil, fmt.Errorf("producing: %w (the producer did not finish within %s)", ctx.Err(), spec.timeout)
	}
	st.clientCPU = processCPU() - cpu0
	if sendErr != nil {
		return st, sendErr
	}
	if st.acked+st.failed != st.sent {
		return st, fmt.Errorf("producer answered %d of %d messages", st.acked+st.failed, st.sent)
	}
	return st, nil
}

// waitOrAbandon waits for done; once ctx has ended it waits grace more at
// most, and reports whether done came.
func waitOrAbandon(ctx context.Context, done <-chan struct{}, grace time.Duration) bool {
	select {
	case <-done:
		return true
	case <-ctx.Done():
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// loadRun is the load loop: it makes the workload's messages on the
// spec's schedule, hands them to the producer, and takes the answers.
type loadRun struct {
	spec    loadSpec
	st      *produceStats
	enc     *message.Encoder
	warmRun string // the run id of warm-up messages
	prod    loadProducer

	// pending counts the messages handed over and not yet answered.
	pending sync.WaitGroup

	mu       sync.Mutex // guards st and warmLeft: answers come from several goroutines
	warmLeft int
	warmDone chan struct{} // closed once every warm-up message is answered
	answered chan struct{} // one per answered message, in closed loop
}

// value appends m's value, a drill message, to dst. Warm-up messages carry
// another run id, so the read-back skips them.
func (l *loadRun) value(dst []byte, m loadMsg) []byte {
	run := l.spec.run
	if m.warmup {
		run = l.warmRun
	}
	return l.enc.Append(dst, message.Message{Run: run, Partition: m.partition, Seq: m.seq})
}

// answer takes the producer's answer for msgs, all answered at at: acked
// (err nil), the i-th at offset first+i (a batch's records are
// consecutive), or failed.
func (l *loadRun) answer(at time.Time, err error, first int64, msgs ...loadMsg) {
	measured := 0
	l.mu.Lock()
	for i, m := range msgs {
		if m.warmup {
			if l.warmLeft--; l.warmLeft == 0 {
				close(l.warmDone)
			}
			continue
		}
		measured++
		l.st.answer(m, first+int64(i), err, at)
	}
	l.mu.Unlock()
	if l.spec.closedLoop {
		for range measured {
			l.answered <- struct{}{}
		}
	}
	l.pending.Add(-len(msgs))
}

func (l *loadRun) message(seq int64, warmup bool) loadMsg {
	return loadMsg{seq: seq, partition: int32(seq % int64(l.spec.partitions)), warmup: warmup}
}

func (l *loadRun) send(ctx context.Context, m loadMsg) error {
	l.pending.Add(1)
	if err := l.prod.send(ctx, m); err != nil {
		l.pending.Done()
		return err
	}
	return nil
}

// warm sends the warm-up messages and waits for their answers.
func (l *loadRun) warm(ctx context.Context) error {
	for i := 0; i < l.spec.warmup; i++ {
		m := l.message(int64(i), true)
		m.intended = time.Now()
		if err := l.send(ctx, m); err != nil {
			return err
		}
	}
	select {
	case <-l.warmDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("warm-up: %w", ctx.Err())
	}
}

// measured sends the measured messages on the spec's schedule and returns
// how many it handed over and when the first was due.
func (l *loadRun) measured(ctx context.Context) (sent int, start time.Time, err error) {
	spec := l.spec
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	start = time.Now()
	next := start
	for i := 0; i < spec.messages; i++ {
		if spec.rate > 0 {
			if err := sleepUntil(ctx, timer, next); err != nil {
				return sent, start, err
			}
		}
		m := l.message(int64(i), false)
		// Open loop: the message was due at next, however late the
		// sender got here (a backed-up producer is the system's delay,
		// not the generator's). Otherwise it is timed from now.
		m.intended = next
		if spec.rate == 0 || spec.closedLoop {
			m.intended = time.Now()
		}
		if err := l.send(ctx, m); err != nil {
			return sent, start, err
		}
		sent++
		if spec.onSend != nil {
			spec.onSend(int64(i))
		}
		if spec.closedLoop {
			select {
			case <-l.answered:
			case <-ctx.Done():
				return sent, start, fmt.Errorf("producing: %w", ctx.Err())
			}
		}
		next = l.nextDue(start, next, i+1)
	}
	return sent, start, nil
}

// nextDue is when message i is due. Open loop keeps the schedule whatever
// happened; closed loop, having waited, skips the slots it missed rather
// than bursting to catch up (which is exactly how it hides a stall).
func (l *loadRun) nextDue(start, prev time.Time, i int) time.Time {
	if l.spec.rate == 0 {
		return prev // unused: every message is timed from its actual send
	}
	if l.spec.closedLoop {
		next := prev.Add(time.Duration(float64(time.Second) / l.spec.rate))
		if now := time.Now(); now.After(next) {
			return now
		}
		return next
	}
	return start.Add(time.Duration(float64(i) * float64(time.Second) / l.spec.rate))
}

func sleepUntil(ctx context.Context, t *time.Timer, at time.Time) error {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t.Reset(d)
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		t.Stop()
		return fmt.Errorf("producing: %w", ctx.Err())
	}
}

// asyncLoad sends through sarama's AsyncProducer, as applications do: a
// ProducerMessage per message, batched by sarama's goroutines, answered on
// its Successes and Errors channels.
type asyncLoad struct {
	prod sarama.AsyncProducer
	load *loadRun
	pool *msgPool
}

func newAsyncLoad(client sarama.Client, l *loadRun) (*asyncLoad, error) {
	prod, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return nil, err
	}
	a := &asyncLoad{prod: prod, load: l, pool: newMsgPool(l.spec.size)}
	go a.collect()
	return a, nil
}

func (a *asyncLoad) send(ctx context.Context, m loadMsg) error {
	am := a.pool.get()
	am.msg = m
	am.buf = a.load.value(am.buf[:0], m)
	am.pm = sarama.ProducerMessage{
		Topic:     a.load.spec.topic,
		Partition: m.partition,
		Value:     sarama.ByteEncoder(am.buf),
		Metadata:  am,
	}
	select {
	case a.prod.Input() <- &am.pm:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("producing: %w", ctx.Err())
	}
}

// close flushes what sarama buffers; collect sees every answer.
func (a *asyncLoad) close() { a.prod.AsyncClose() }

// collect reads every answer until the producer has closed.
func (a *asyncLoad) collect() {
	succ, errs := a.prod.Successes(), a.prod.Errors()
	for succ != nil || errs != nil {
		var pm *sarama.ProducerMessage
		var perr error
		select {
		case m, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			pm = m
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			pm, perr = e.Msg, e.Err
		}
		am := pm.Metadata.(*asyncMsg)
		a.load.answer(time.Now(), perr, pm.Offset, am.msg)
		a.pool.put(am) // nothing reads am or pm after this
	}
}

// asyncMsg is one message through sarama's AsyncProducer, which hands the
// ProducerMessage back with its answer; Metadata points here.
type asyncMsg struct {
	pm  sarama.ProducerMessage
	buf []byte // the value's storage, reused with the message
	msg loadMsg
}

// msgPool recycles messages and their value buffers: once the producer has
// answered a message it holds no reference to it, so the collector gives it
// back and the sender reuses it. The producer's own allocations then stay
// at what the in-flight window needs instead of a kilobyte and a struct per
// message, which keeps the garbage collector, and so the load generator,
// from becoming the bottleneck of its own measurement.
type msgPool struct {
	free chan *asyncMsg
	size int
}

func newMsgPool(size int) *msgPool {
	return &msgPool{free: make(chan *asyncMsg, 8192), size: size}
}

func (p *msgPool) get() *asyncMsg {
	select {
	case m := <-p.free:
		return m
	default:
		return &asyncMsg{buf: make([]byte, 0, p.size)}
	}
}

// put gives back a message the producer has answered; a full pool drops it.
func (p *msgPool) put(m *asyncMsg) {
	select {
	case p.free <- m:
	default:
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// consumeStats is what reading one target's messages back found.
type consumeStats struct {
	read       int // records of this run read (copies included)
	consumed   int // distinct acked messages read back intact
	lost       int // acked, never read back
	duplicated int // copies beyond the first
	corrupted  int // checksum mismatch, or in the wrong partition
	errors     int // consumer errors
	errs       []string
	examples   map[string][]run.Example
	start, end time.Time
}

func (c *consumeStats) seconds() float64 { return c.end.Sub(c.start).Seconds() }

// partRead is what one partition's consumer saw; each partition is read
// by its own goroutine into its own partRead, and merged afterwards.
type partRead struct {
	seqs      []int64 // of this run's intact messages
	offsets   []int64
	read      int
	corrupted []run.Example
	nerrs     int
	errs      []string // the first few
	end       time.Time
}

// saramaSubscriptionBatch is how long sarama's consumer collects partition
// subscriptions before its first fetch (partitionConsumersBatchTimeout in
// sarama v1.61's consumer.go). That wait is the client's, not the target's,
// and on 10,000 messages it would be most of the consume figure, so the
// consume clock starts after it.
const saramaSubscriptionBatch = 100 * time.Millisecond

// consumeIdle ends a partition's read when no record came for this long
// and the consumer has reached the partition's high watermark: what is
// acked and not there by then is lost, not late.
const consumeIdle = 2 * time.Second

// consumeBack reads every partition from its lowest to its highest acked
// offset with sarama's consumer and checks each record.
func consumeBack(ctx context.Context, client sarama.Client, spec loadSpec, ps *produceStats) (*consumeStats, error) {
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("create consumer: %w", err)
	}
	defer cons.Close()
	cs := &consumeStats{examples: map[string][]run.Example{}}
	type started struct {
		p  int32
		pc sarama.PartitionConsumer
	}
	var pcs []started
	defer func() {
		for _, s := range pcs {
			_ = s.pc.Close() // drains what was fetched beyond hi
		}
	}()
	cs.start = time.Now().Add(saramaSubscriptionBatch)
	for p := int32(0); p < spec.partitions; p++ {
		if _, ok := ps.lo[p]; !ok {
			continue // nothing acked there
		}
		pc, err := cons.ConsumePartition(spec.topic, p, ps.lo[p])
		if err != nil {
			return nil, fmt.Errorf("consume partition %d from offset %d: %w", p, ps.lo[p], err)
		}
		pcs = append(pcs, started{p, pc})
	}
	reads := make([]partRead, len(pcs))
	var wg sync.WaitGroup
	for i, s := range pcs {
		wg.Go(func() { reads[i] = readPartition(ctx, s.pc, spec, s.p, ps.hi[s.p]) })
	}
	wg.Wait()
	cs.tally(spec, ps, reads)
	if err := ctx.Err(); err != nil {
		return cs, fmt.Errorf("consuming: %w", err)
	}
	return cs, nil
}

// readPartition reads records until offset hi, or until the partition has
// nothing more to give (see consumeIdle), or ctx ends.
func readPartition(ctx context.Context, pc sarama.PartitionConsumer, spec loadSpec, p int32, hi int64) partRead {
	var r partRead
	idle := time.NewTimer(consumeIdle)
	defer idle.Stop()
	next := int64(-1)
	for {
		select {
		case <-ctx.Done():
			return r
		case e := <-pc.Errors():
			r.nerrs++
			if len(r.errs) < maxErrSamples {
				r.errs = append(r.errs, fmt.Sprintf("partition %d: %v", p, e.Err))
			}
		case <-idle.C:
			if next >= pc.HighWaterMarkOffset() {
				r.end = time.Now()
				return r
			}
			idle.Reset(consumeIdle)
		case msg := <-pc.Messages():
			r.end = time.Now()
			next = msg.Offset + 1
			r.check(msg, spec, p)
			if msg.Offset >= hi {
				return r
			}
			idle.Reset(consumeIdle)
		}
	}
}

// check classifies one record. Sequence numbers are assigned to partitions
// round-robin (seq % partitions), so a message of this run found in
// another partition is as corrupt as one whose checksum fails.
func (r *partRead) check(msg *sarama.ConsumerMessage, spec loadSpec, p int32) {
	m, err := message.Decode(msg.Value)
	if err != nil || m.Run != spec.run {
		return // not this run's (warm-up, another run, another writer)
	}
	r.read++
	valid := m.Valid && m.Partition == p && m.Seq >= 0 && m.Seq < int64(spec.messages) && m.Seq%int64(spec.partitions) == int64(p)
	if !valid {
		r.corrupted = append(r.corrupted, run.Example{Partition: p, Offset: msg.Offset, Seq: m.Seq})
		return
	}
	r.seqs = append(r.seqs, m.Seq)
	r.offsets = append(r.offsets, msg.Offset)
}

// tally merges the partitions' reads against what was acked.
func (cs *consumeStats) tally(spec loadSpec, ps *produceStats, reads []partRead) {
	seen := make([]uint8, spec.messages)
	for _, r := range reads {
		cs.read += r.read
		if r.end.After(cs.end) {
			cs.end = r.end
		}
		cs.errors += r.nerrs
		cs.errs = append(cs.errs, r.errs...)
		cs.corrupted += len(r.corrupted)
		cs.example(run.KindCorrupt, r.corrupted...)
		for i, seq := range r.seqs {
			if seen[seq] > 0 {
				cs.duplicated++
				cs.example(run.KindDuplicate, run.Example{Partition: int32(seq % int64(spec.partitions)), Offset: r.offsets[i], Seq: seq})
			}
			if seen[seq] < 255 {
				seen[seq]++
			}
		}
	}
	for seq, acked := range ps.ackedSeq {
		switch {
		case acked && seen[seq] == 0:
			cs.lost++
			cs.example(run.KindLostWrite, run.Example{Partition: int32(int64(seq) % int64(spec.partitions)), Offset: -1, Seq: int64(seq)})
		case acked:
			cs.consumed++
		}
	}
	if cs.end.Before(cs.start) {
		cs.end = cs.start
	}
}

func (cs *consumeStats) example(kind string, ex ...run.Example) {
	for _, e := range ex {
		if len(cs.examples[kind]) < run.MaxExamples {
			cs.examples[kind] = append(cs.examples[kind], e)
		}
	}
}

// errNoAcks marks a target on which nothing could be measured.
var errNoAcks = errors.New("no message was acked")
