package probes

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/IBM/sarama"
)

// loadSpec is the workload the benchmark runs on one target.
type loadSpec struct {
	run        string
	topic      string
	partitions int32
	messages   int
	size       int
	warmup     int
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
	hist      *hdrhistogram.Histogram // send (intended) → ack, µs
	latencies []time.Duration         // the same, every one, for Prometheus
	sent      int
	acked     int
	failed    int
	ackedSeq  []bool // by sequence number
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

// benchMsg is one message with what the ack side needs to time it. The
// producer hands back the ProducerMessage, whose Metadata points here.
type benchMsg struct {
	pm       sarama.ProducerMessage
	buf      []byte // the value's storage, reused with the message
	seq      int64
	intended time.Time // when the message was due to be sent
	warmup   bool
}

// msgPool recycles messages and their value buffers: once the producer has
// answered a message it holds no reference to it, so the collector gives it
// back and the sender reuses it. The producer's own allocations then stay
// at what the in-flight window needs instead of a kilobyte and a struct per
// message, which keeps the garbage collector, and so the load generator,
// from becoming the bottleneck of its own measurement.
type msgPool struct {
	free chan *benchMsg
	size int
}

func newMsgPool(size int) *msgPool {
	return &msgPool{free: make(chan *benchMsg, 8192), size: size}
}

func (p *msgPool) get() *benchMsg {
	select {
	case m := <-p.free:
		return m
	default:
		return &benchMsg{buf: make([]byte, p.size)}
	}
}

// put gives back a message the producer has answered; a full pool drops it.
func (p *msgPool) put(m *benchMsg) {
	select {
	case p.free <- m:
	default:
	}
}

// msgEncoder writes drill messages in the layout DecodeMessage reads (see
// message.go). Payloads are windows into one block of random letters,
// starting at an offset derived from the sequence number: messages differ
// from each other without generating a kilobyte of randomness for each.
type msgEncoder struct {
	block []byte
	size  int
}

const payloadWindows = 4096

func newMsgEncoder(size int) *msgEncoder {
	block := make([]byte, size+payloadWindows)
	for i := range block {
		block[i] = 'a' + byte(rand.IntN(26))
	}
	return &msgEncoder{block: block, size: size}
}

// encode appends message m to dst[:0]; the result has e.size bytes unless
// the header alone is longer.
func (e *msgEncoder) encode(dst []byte, m Message) []byte {
	out := append(dst[:0], msgMagic...)
	out = append(out, m.Run...)
	out = append(out, '|')
	out = strconv.AppendInt(out, int64(m.Partition), 10)
	out = append(out, '|')
	out = strconv.AppendInt(out, m.Seq, 10)
	out = append(out, '|')
	head := len(out)
	const crcLen = 9 // 8 hex digits and '|'
	n := max(e.size-head-crcLen, 0)
	off := int(uint64(m.Seq)*2654435761) % payloadWindows
	payload := e.block[off : off+n]
	sum := crc32.Update(crc32.Checksum(out, crcTable), crcTable, payload)
	out = appendHex8(out, sum)
	out = append(out, '|')
	return append(out, payload...)
}

func appendHex8(b []byte, v uint32) []byte {
	const digits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, digits[(v>>uint(shift))&0xf])
	}
	return b
}

// produceLoad produces spec's messages with acks=all through sarama's async
// producer and times each from its intended send to its ack. Warm-up
// messages go first and are waited for; they are neither timed nor read
// back.
func produceLoad(ctx context.Context, client sarama.Client, spec loadSpec) (*produceStats, error) {
	prod, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("create producer: %w", err)
	}
	st := &produceStats{
		hist:      newLatencyHistogram(),
		latencies: make([]time.Duration, 0, spec.messages),
		ackedSeq:  make([]bool, spec.messages),
		lo:        map[int32]int64{},
		hi:        map[int32]int64{},
	}
	s := &sender{
		prod: prod, spec: spec, enc: newMsgEncoder(spec.size), pool: newMsgPool(spec.size),
		warmDone: make(chan struct{}), answered: make(chan struct{}, 1),
	}
	if spec.warmup == 0 {
		close(s.warmDone)
	}
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		s.collect(st)
	}()

	defer relaxGC()()
	sendErr := s.warm(ctx)
	var cpu0 time.Duration
	if sendErr == nil {
		cpu0 = processCPU()
		st.sent, st.start, sendErr = s.measured(ctx)
	}
	prod.AsyncClose() // flushes what is buffered; the collector sees every answer
	if !waitOrAbandon(ctx, collected, spec.timeout) {
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

// benchGCPercent is the garbage collector's target while the benchmark
// produces. sarama allocates about two copies of every payload on its way
// to the wire, so at the default of 100 the collector runs every few
// milliseconds and its work was a fifth to a third of the probe's CPU in
// `make bench-compare`: on a small machine, CPU the server under test then
// lacks. Letting the heap grow to five times its live size (a few MiB of
// in-flight messages) for the duration of the produce phase avoids that.
const benchGCPercent = 400

// relaxGC raises the GC target for the produce phase, unless it is already
// higher (or off), and returns the function that restores it.
func relaxGC() (restore func()) {
	old := debug.SetGCPercent(benchGCPercent)
	if old < 0 || old > benchGCPercent {
		debug.SetGCPercent(old)
	}
	return func() { debug.SetGCPercent(old) }
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

// sender feeds the producer; collect reads its answers.
type sender struct {
	prod sarama.AsyncProducer
	spec loadSpec
	enc  *msgEncoder
	pool *msgPool

	warmDone chan struct{} // closed once every warm-up message is answered
	answered chan struct{} // one per answered message, in closed loop
}

func (s *sender) message(seq int64, warmup bool) *benchMsg {
	m := s.pool.get()
	p := int32(seq % int64(s.spec.partitions))
	run := s.spec.run
	if warmup {
		run += "-warmup" // read back as another run's messages: skipped
	}
	m.seq, m.warmup = seq, warmup
	m.pm = sarama.ProducerMessage{
		Topic:     s.spec.topic,
		Partition: p,
		Metadata:  m,
	}
	m.buf = s.enc.encode(m.buf, Message{Run: run, Partition: p, Seq: seq})
	m.pm.Value = sarama.ByteEncoder(m.buf)
	return m
}

func (s *sender) send(ctx context.Context, m *benchMsg) error {
	select {
	case s.prod.Input() <- &m.pm:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("producing: %w", ctx.Err())
	}
}

// warm sends the warm-up messages and waits for their answers.
func (s *sender) warm(ctx context.Context) error {
	for i := 0; i < s.spec.warmup; i++ {
		m := s.message(int64(i), true)
		m.intended = time.Now()
		if err := s.send(ctx, m); err != nil {
			return err
		}
	}
	select {
	case <-s.warmDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("warm-up: %w", ctx.Err())
	}
}

// measured sends the measured messages on the spec's schedule and returns
// how many it handed over and when the first was due.
func (s *sender) measured(ctx context.Context) (sent int, start time.Time, err error) {
	spec := s.spec
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
		m := s.message(int64(i), false)
		// Open loop: the message was due at next, however late the
		// sender got here (a backed-up producer is the system's delay,
		// not the generator's). Otherwise it is timed from now.
		m.intended = next
		if spec.rate == 0 || spec.closedLoop {
			m.intended = time.Now()
		}
		if err := s.send(ctx, m); err != nil {
			return sent, start, err
		}
		sent++
		if spec.onSend != nil {
			spec.onSend(int64(i))
		}
		if spec.closedLoop {
			select {
			case <-s.answered:
			case <-ctx.Done():
				return sent, start, fmt.Errorf("producing: %w", ctx.Err())
			}
		}
		next = s.nextDue(start, next, i+1)
	}
	return sent, start, nil
}

// nextDue is when message i is due. Open loop keeps the schedule whatever
// happened; closed loop, having waited, skips the slots it missed rather
// than bursting to catch up (which is exactly how it hides a stall).
func (s *sender) nextDue(start, prev time.Time, i int) time.Time {
	if s.spec.rate == 0 {
		return prev // unused: every message is timed from its actual send
	}
	if s.spec.closedLoop {
		next := prev.Add(time.Duration(float64(time.Second) / s.spec.rate))
		if now := time.Now(); now.After(next) {
			return now
		}
		return next
	}
	return start.Add(time.Duration(float64(i) * float64(time.Second) / s.spec.rate))
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

// collect reads every answer until the producer closes, timing the acks.
func (s *sender) collect(st *produceStats) {
	succ, errs := s.prod.Successes(), s.prod.Errors()
	warmLeft := s.spec.warmup
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
		now := time.Now()
		m := pm.Metadata.(*benchMsg)
		if m.warmup {
			s.pool.put(m)
			if warmLeft--; warmLeft == 0 {
				close(s.warmDone)
			}
			continue
		}
		st.end = now
		if perr != nil {
			st.failed++
			if len(st.errs) < maxErrSamples {
				st.errs = append(st.errs, fmt.Sprintf("message %d to partition %d: %v", m.seq, pm.Partition, perr))
			}
		} else {
			st.ack(m, pm, now.Sub(m.intended))
		}
		s.pool.put(m) // nothing reads m or pm after this
		if s.spec.closedLoop {
			s.answered <- struct{}{}
		}
	}
}

func (st *produceStats) ack(m *benchMsg, pm *sarama.ProducerMessage, lat time.Duration) {
	st.acked++
	st.ackedSeq[m.seq] = true
	recordLatency(st.hist, lat)
	st.latencies = append(st.latencies, lat)
	p := pm.Partition
	if lo, ok := st.lo[p]; !ok || pm.Offset < lo {
		st.lo[p] = pm.Offset
	}
	if pm.Offset > st.hi[p] {
		st.hi[p] = pm.Offset
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
	examples   map[string][]Example
	start, end time.Time
}

func (c *consumeStats) seconds() float64 { return c.end.Sub(c.start).Seconds() }

// partRead is what one partition's consumer saw; each partition is read
// by its own goroutine into its own partRead, and merged afterwards.
type partRead struct {
	seqs      []int64 // of this run's intact messages
	offsets   []int64
	read      int
	corrupted []Example
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
	cs := &consumeStats{examples: map[string][]Example{}}
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
	m, ok, err := DecodeMessage(msg.Value)
	if err != nil || m.Run != spec.run {
		return // not this run's (warm-up, another run, another writer)
	}
	r.read++
	valid := ok && m.Partition == p && m.Seq >= 0 && m.Seq < int64(spec.messages) && m.Seq%int64(spec.partitions) == int64(p)
	if !valid {
		r.corrupted = append(r.corrupted, Example{Partition: p, Offset: msg.Offset, Seq: m.Seq})
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
		cs.example(KindCorrupt, r.corrupted...)
		for i, seq := range r.seqs {
			if seen[seq] > 0 {
				cs.duplicated++
				cs.example(KindDuplicate, Example{Partition: int32(seq % int64(spec.partitions)), Offset: r.offsets[i], Seq: seq})
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
			cs.example(KindLostWrite, Example{Partition: int32(int64(seq) % int64(spec.partitions)), Offset: -1, Seq: int64(seq)})
		case acked:
			cs.consumed++
		}
	}
	if cs.end.Before(cs.start) {
		cs.end = cs.start
	}
}

func (cs *consumeStats) example(kind string, ex ...Example) {
	for _, e := range ex {
		if len(cs.examples[kind]) < maxExamples {
			cs.examples[kind] = append(cs.examples[kind], e)
		}
	}
}

// errNoAcks marks a target on which nothing could be measured.
var errNoAcks = errors.New("no message was acked")
