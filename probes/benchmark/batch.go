package benchmark

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// batchLoad is the benchmark's default producer (config.BenchmarkBatchProducer).
// It appends each message's value to its partition's open batch and sends
// the batch once it is full (flush_bytes, flush_messages,
// flush_max_messages, or the largest batch the broker takes) or has waited
// flush_frequency (linger): one record batch in one produce request, with
// acks=all, through sarama's low-level (*Broker).AsyncProduce, to the
// partition's leader from the client's metadata, with up to max_in_flight
// requests unanswered per broker (sarama's Net.MaxOpenRequests). Every
// message of a batch gets the batch's answer; nothing is retried.
//
// Why not sarama's AsyncProducer (asyncLoad, still there for a
// client-realistic figure): it moves every message through several
// goroutines and channels, which on a small machine made the probe, not the
// target, the bottleneck of its own measurement (docs/benchmark.md). Here a
// message costs an append to a buffer; the rest is paid once per batch.
type batchLoad struct {
	ctx     context.Context // the run's: a batch waiting for a busy broker gives up when it ends
	client  sarama.Client
	conf    *sarama.Config
	load    *loadRun
	version int16 // of the produce requests
	// maxBytes is the largest batch sent (sarama's Producer.MaxMessageBytes,
	// below the broker's message.max.bytes).
	maxBytes int
	arena    int // the capacity a batch's values start with
	batches  sync.Pool

	// refresh asks for fresh metadata before the next leader lookup: set
	// after a failure, which may mean that a leader moved.
	refresh atomic.Bool

	// mu guards what follows. It is held while a batch is handed to its
	// broker's lane, so a broker that is behind holds the sender back (the
	// back-pressure that makes a throughput run measure the target), and a
	// partition's batches go in order.
	mu     sync.Mutex
	open   []*partBatch    // by partition: the batch being filled
	linger []*time.Timer   // by partition: sends a batch that has waited long enough
	lanes  map[int32]*lane // by broker id
	closed bool
}

// partBatch is one partition's record batch: its messages, and their values back
// to back.
type partBatch struct {
	partition int32
	msgs      []loadMsg
	values    []byte
	ends      []int     // msgs[i]'s value ends at values[ends[i]]
	size      int       // estimated size on the wire
	started   time.Time // when the first message was added
	broker    *sarama.Broker
	records   []sarama.Record
	ptrs      []*sarama.Record
}

// lane sends one broker's batches, in order, from one goroutine (drive).
type lane struct {
	batches chan *partBatch
	// broken is set to the broker after a request to it failed: its
	// connection may be dead, so the lane reconnects before the next.
	broken atomic.Pointer[sarama.Broker]
	// unsent counts the batches handed to the lane and not yet written
	// (waiting for a request slot).
	unsent atomic.Int32
}

// The sizes sarama's producer estimates for a record batch's header and a
// record's framing (record_batch.go, record.go), so that flush_bytes and the
// size limit mean what they mean with the async producer.
const (
	batchOverhead  = 49
	recordOverhead = 36
)

func newBatchLoad(ctx context.Context, client sarama.Client, l *loadRun) (*batchLoad, error) {
	conf := client.Config()
	version, err := produceVersion(conf.Version)
	if err != nil {
		return nil, err
	}
	bl := &batchLoad{
		ctx: ctx, client: client, conf: conf, load: l, version: version,
		maxBytes: conf.Producer.MaxMessageBytes,
		arena:    conf.Producer.MaxMessageBytes,
		batches:  sync.Pool{New: func() any { return new(partBatch) }},
		open:     make([]*partBatch, l.spec.partitions),
		linger:   make([]*time.Timer, l.spec.partitions),
		lanes:    map[int32]*lane{},
	}
	if f := conf.Producer.Flush.Bytes; f > 0 {
		bl.arena = min(bl.arena, f+l.spec.size) // the last value may cross f
	}
	for p := range l.spec.partitions {
		bl.open[p] = bl.newBatch(p)
		bl.linger[p] = time.AfterFunc(time.Hour, func() { bl.lingered(p) })
		bl.linger[p].Stop()
	}
	return bl, nil
}

// produceVersion is the produce request version sarama's own producer uses
// with a cluster of version v (produce_set.go), from 3, the first with
// record batches.
func produceVersion(v sarama.KafkaVersion) (int16, error) {
	for _, s := range []struct {
		kafka   sarama.KafkaVersion
		request int16
	}{
		{sarama.V3_7_0_0, 10}, {sarama.V2_8_0_0, 9}, {sarama.V2_4_0_0, 8}, {sarama.V2_1_0_0, 7},
		{sarama.V2_0_0_0, 6}, {sarama.V1_0_0_0, 5}, {sarama.V0_11_0_0, 3},
	} {
		if v.IsAtLeast(s.kafka) {
			return s.request, nil
		}
	}
	return 0, fmt.Errorf("the batch producer needs cluster.kafka_version 0.11.0 or later (record batches), not %s; set drills.benchmark.producer.type: async", v)
}

func (bl *batchLoad) newBatch(p int32) *partBatch {
	b := bl.batches.Get().(*partBatch)
	b.partition, b.size, b.broker = p, batchOverhead, nil
	b.msgs, b.values, b.ends = b.msgs[:0], b.values[:0], b.ends[:0]
	if cap(b.values) == 0 {
		// Room for a full batch at once: growing it by appends copied
		// each value again, a tenth of the probe's CPU.
		b.values = make([]byte, 0, bl.arena)
	}
	return b
}

func (bl *batchLoad) send(ctx context.Context, m loadMsg) error {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("producing: %w", err)
	}
	p := m.partition
	b := bl.open[p]
	n := len(b.values)
	b.values = bl.load.value(b.values, m)
	rec := len(b.values) - n + recordOverhead
	if len(b.msgs) > 0 && b.size+rec > bl.maxBytes {
		// m does not fit: the batch goes without it, and m opens the next.
		b.values = b.values[:n]
		bl.flush(ctx, p)
		b = bl.open[p]
		b.values = bl.load.value(b.values, m)
	}
	if len(b.msgs) == 0 {
		b.started = time.Now()
		bl.linger[p].Reset(bl.conf.Producer.Flush.Frequency)
	}
	b.msgs = append(b.msgs, m)
	b.ends = append(b.ends, len(b.values))
	b.size += rec
	if f := bl.conf.Producer.Flush; f.Bytes > 0 && b.size >= f.Bytes ||
		f.Messages > 0 && len(b.msgs) >= f.Messages || f.MaxMessages > 0 && len(b.msgs) >= f.MaxMessages {
		bl.flush(ctx, p)
	}
	return nil
}

// lingered sends partition p's batch once it has waited flush_frequency.
func (bl *batchLoad) lingered(p int32) {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	b := bl.open[p]
	// A batch younger than the linger is not the one this timer was set for
	// (that one went full meanwhile); its own timer is set.
	if bl.closed || len(b.msgs) == 0 || time.Since(b.started) < bl.conf.Producer.Flush.Frequency {
		return
	}
	// A broker with a batch not yet written (waiting for a request slot)
	// gets no partial batch: this one keeps filling, as the Java
	// producer's does while its broker is busy, and is looked at again
	// after another linger. Fuller batches, fewer requests per message.
	if ln, err := bl.lane(b); err == nil && ln.unsent.Load() > 0 {
		bl.linger[p].Reset(bl.conf.Producer.Flush.Frequency)
		return
	}
	bl.flush(bl.ctx, p)
}

// flush hands partition p's batch to its leader's lane and opens the next.
// The caller holds mu.
func (bl *batchLoad) flush(ctx context.Context, p int32) {
	b := bl.open[p]
	if len(b.msgs) == 0 {
		return
	}
	bl.linger[p].Stop()
	bl.open[p] = bl.newBatch(p)
	ln, err := bl.lane(b)
	if err != nil {
		bl.answer(b, nil, err)
		return
	}
	ln.unsent.Add(1)
	select {
	case ln.batches <- b:
	case <-ctx.Done():
		ln.unsent.Add(-1)
		bl.answer(b, nil, fmt.Errorf("producing: %w", ctx.Err()))
	}
}

// lane looks up the leader of b's partition in the client's metadata and
// returns its broker's lane, started on first use. The caller holds mu.
func (bl *batchLoad) lane(b *partBatch) (*lane, error) {
	topic := bl.load.spec.topic
	if bl.refresh.Swap(false) {
		if err := bl.client.RefreshMetadata(topic); err != nil {
			bl.refresh.Store(true)
			return nil, fmt.Errorf("refresh metadata: %w", err)
		}
	}
	br, err := bl.client.Leader(topic, b.partition)
	if err != nil {
		bl.refresh.Store(true)
		return nil, fmt.Errorf("leader of partition %d: %w", b.partition, err)
	}
	b.broker = br
	ln := bl.lanes[br.ID()]
	if ln == nil {
		ln = &lane{batches: make(chan *partBatch, 1)}
		bl.lanes[br.ID()] = ln
		go bl.drive(ln)
	}
	return ln, nil
}

// drive sends ln's batches. AsyncProduce returns once the request is
// written, and blocks while max_in_flight requests to the broker are
// unanswered: that is the pipelining, and the back-pressure.
func (bl *batchLoad) drive(ln *lane) {
	for b := range ln.batches {
		if br := ln.broken.Swap(nil); br != nil {
			// As sarama's producer does after a failed request: a fresh
			// connection rather than one that may be dead.
			_ = br.Close()
			_ = br.Open(bl.conf)
		}
		err := b.broker.AsyncProduce(bl.request(b), func(resp *sarama.ProduceResponse, err error) {
			if err != nil {
				ln.broken.Store(b.broker)
			}
			bl.answer(b, resp, err)
		})
		ln.unsent.Add(-1)
		if err != nil { // not sent: AsyncProduce does not call back
			ln.broken.Store(b.broker)
			bl.answer(b, nil, err)
		}
	}
}

// request is b as a produce request: one record batch, acks and timeout
// from the client's configuration, records timestamped with their messages'
// intended send times.
func (bl *batchLoad) request(b *partBatch) *sarama.ProduceRequest {
	first := b.msgs[0].intended.Truncate(time.Millisecond)
	var last time.Duration
	b.records, b.ptrs = b.records[:0], b.ptrs[:0]
	start := 0
	for i, m := range b.msgs {
		delta := max(m.intended.Sub(first), 0)
		last = max(last, delta)
		b.records = append(b.records, sarama.Record{TimestampDelta: delta, OffsetDelta: int64(i), Value: b.values[start:b.ends[i]]})
		start = b.ends[i]
	}
	for i := range b.records {
		b.ptrs = append(b.ptrs, &b.records[i])
	}
	req := &sarama.ProduceRequest{
		RequiredAcks: bl.conf.Producer.RequiredAcks,
		Timeout:      int32(bl.conf.Producer.Timeout / time.Millisecond),
		Version:      bl.version,
	}
	req.AddBatch(bl.load.spec.topic, b.partition, &sarama.RecordBatch{
		Version:          2,
		Codec:            bl.conf.Producer.Compression,
		CompressionLevel: bl.conf.Producer.CompressionLevel,
		FirstTimestamp:   first,
		MaxTimestamp:     first.Add(last),
		LastOffsetDelta:  int32(len(b.records) - 1),
		ProducerID:       -1, // not idempotent
		ProducerEpoch:    -1,
		FirstSequence:    -1,
		Records:          b.ptrs,
	})
	return req
}

// answer gives every message of b the batch's answer, at one time: acked
// at consecutive offsets, or failed (a request error, or the partition's
// error), and recycles b.
func (bl *batchLoad) answer(b *partBatch, resp *sarama.ProduceResponse, err error) {
	at := time.Now()
	first := int64(-1)
	if err == nil {
		switch blk := resp.GetBlock(bl.load.spec.topic, b.partition); {
		case blk == nil:
			err = errors.New("no answer for the partition in the produce response")
		case blk.Err != sarama.ErrNoError:
			err = blk.Err
		default:
			first = blk.Offset
		}
	}
	if err != nil {
		bl.refresh.Store(true)
	}
	bl.load.answer(at, err, first, b.msgs...)
	bl.batches.Put(b)
}

// close sends every open batch and stops the lanes once they have sent
// theirs.
func (bl *batchLoad) close() {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	for p := range bl.open {
		bl.flush(bl.ctx, int32(p))
	}
	bl.closed = true
	for _, t := range bl.linger {
		t.Stop()
	}
	for _, ln := range bl.lanes {
		close(ln.batches)
	}
}
