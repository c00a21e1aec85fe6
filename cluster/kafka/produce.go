package kafka

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/raftdrill/raftdrill/cluster/message"
)

// Outcome is how one send ended.
type Outcome uint8

const (
	// Acked: the cluster confirmed the write (with an offset).
	Acked Outcome = iota + 1
	// Failed: the cluster refused it, or it never reached the cluster; the
	// write did not happen.
	Failed
	// Indeterminate: the request was sent but no answer came (timeout,
	// connection died), or the answer says it may have been applied.
	Indeterminate
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Failed:
		return "failed"
	case Indeterminate:
		return "indeterminate"
	}
	return "unsent"
}

// Send is the record of one produce attempt of one message.
type Send struct {
	Seq     int64
	Outcome Outcome
	Offset  int64         // the acked offset; -1 otherwise
	Node    int32         // the node it was sent to (-1: none)
	Start   time.Time     // when the send began
	Latency time.Duration // until the answer (or the error)
	Err     error
}

// Done is when the send's answer (or error) came.
func (s Send) Done() time.Time { return s.Start.Add(s.Latency) }

// Producer produces drill messages to one partition, one message at a time,
// straight to the node it believes leads it. It never retries a message on
// its own: every attempt is a send with its own outcome, so nothing is
// hidden.
type Producer struct {
	c         *Client
	pool      *Pool
	topic     string
	partition int32
	run       string
	size      int
	acks      sarama.RequiredAcks
	leader    int32 // -1: look it up before the next send
	pinned    bool  // never look it up: send to leader, always
	rr        int   // rotates the node asked for metadata
}

// ProducerOptions shape a Producer.
type ProducerOptions struct {
	Topic     string
	Partition int32
	Run       string // the run id the messages carry
	Size      int    // message size in bytes
	// Acks is the acknowledgement each send asks for: sarama.WaitForAll
	// (acks=all, the default when zero) or sarama.WaitForLocal (acks=1).
	Acks sarama.RequiredAcks
	// Leader, when >= 0, is the node to send to first (the quorum probe's
	// canary knows it already); otherwise it is looked up.
	Leader int32
	// Pinned keeps every send on Leader, whatever it answers: the
	// split-brain drill's writes to a leader it has cut off, which must
	// not follow the cluster to the new one.
	Pinned bool
}

// NewProducer returns a producer; close it when done.
func (c *Client) NewProducer(o ProducerOptions) *Producer {
	if o.Acks == 0 {
		o.Acks = sarama.WaitForAll
	}
	return &Producer{c: c, pool: c.Pool(), topic: o.Topic, partition: o.Partition, run: o.Run, size: o.Size, acks: o.Acks, leader: o.Leader, pinned: o.Pinned}
}

// Close closes the producer's connections.
func (pp *Producer) Close() { pp.pool.Close() }

// findLeader asks the nodes in turn for metadata until one names a live
// leader; it tries each node at most once.
func (pp *Producer) findLeader() int32 {
	nodes := pp.c.nodes
	for i := range nodes {
		n := nodes[(pp.rr+i)%len(nodes)]
		v := pp.pool.Metadata(n.ID, pp.topic)
		if v.Err != nil {
			continue
		}
		if l, ok := v.LiveLeader(pp.partition); ok {
			pp.rr = (pp.rr + i) % len(nodes)
			return l
		}
	}
	pp.rr++
	return -1
}

func (c *Client) produceVersion() int16 {
	switch {
	case c.version.IsAtLeast(sarama.V2_1_0_0):
		return 7
	case c.version.IsAtLeast(sarama.V1_0_0_0):
		return 5
	default:
		return 3
	}
}

// Send produces message seq and classifies the outcome.
func (pp *Producer) Send(seq int64) Send {
	s := Send{Seq: seq, Offset: -1, Node: -1, Start: time.Now()}
	defer func() { s.Latency = time.Since(s.Start) }()
	if pp.leader < 0 {
		pp.leader = pp.findLeader()
		if pp.leader < 0 {
			s.Outcome, s.Err = Failed, errors.New("no live leader")
			s.Latency = time.Since(s.Start)
			return s
		}
	}
	s.Node = pp.leader
	b, err := pp.pool.Broker(pp.leader)
	if err != nil {
		pp.askOthersFirst(pp.leader)
		pp.forget()
		s.Outcome, s.Err = Failed, err // never left this process
		s.Latency = time.Since(s.Start)
		return s
	}
	value := message.Encode(message.Message{Run: pp.run, Partition: pp.partition, Seq: seq}, pp.size)
	req := &sarama.ProduceRequest{
		RequiredAcks: pp.acks,
		Timeout:      int32(pp.c.timeout / time.Millisecond),
		Version:      pp.c.produceVersion(),
	}
	now := time.Now()
	req.AddBatch(pp.topic, pp.partition, &sarama.RecordBatch{
		Version:        2,
		FirstTimestamp: now,
		MaxTimestamp:   now,
		ProducerID:     -1,
		ProducerEpoch:  -1,
		FirstSequence:  -1,
		Records:        []*sarama.Record{{Key: fmt.Appendf(nil, "%d", seq), Value: value}},
	})
	resp, err := b.Produce(req)
	if err != nil {
		// The request may have reached the node before the connection
		// died: the write may or may not have happened.
		pp.pool.Drop(pp.leader)
		pp.askOthersFirst(pp.leader)
		pp.forget()
		s.Outcome, s.Err = Indeterminate, err
		s.Latency = time.Since(s.Start)
		return s
	}
	blk := resp.GetBlock(pp.topic, pp.partition)
	switch {
	case blk == nil:
		s.Outcome, s.Err = Indeterminate, errors.New("produce response without this partition")
	case blk.Err == sarama.ErrNoError:
		s.Outcome, s.Offset = Acked, blk.Offset
	case blk.Err == sarama.ErrRequestTimedOut || blk.Err == sarama.ErrNotEnoughReplicasAfterAppend:
		// Kafka answers these after appending locally: may be visible.
		s.Outcome, s.Err = Indeterminate, blk.Err
	case blk.Err == sarama.ErrNotLeaderForPartition:
		// Not only "I never led": a leader that loses its leadership
		// answers the writes it was waiting to commit so (Kafka's
		// purgatory, Redpanda), and the new leader may still commit
		// them. Not a refusal, then.
		s.Outcome, s.Err = Indeterminate, blk.Err
		pp.forget()
	default:
		s.Outcome, s.Err = Failed, blk.Err
		switch blk.Err {
		case sarama.ErrLeaderNotAvailable, sarama.ErrUnknownTopicOrPartition, sarama.ErrFencedLeaderEpoch:
			pp.forget()
		}
	}
	s.Latency = time.Since(s.Start)
	return s
}

// askOthersFirst makes the next leader lookup ask node id last: a node
// that did not answer a produce in time (dead, frozen, cut off) would
// most likely not answer a metadata request either, and each costs a
// request timeout.
func (pp *Producer) askOthersFirst(id int32) {
	for i, n := range pp.c.nodes {
		if n.ID == id {
			pp.rr = i + 1
			return
		}
	}
}

// forget makes the next send look the leader up again, unless pinned.
func (pp *Producer) forget() {
	if !pp.pinned {
		pp.leader = -1
	}
}

// fetchVersion is the Fetch version the client's Kafka version implies,
// for a node that does not say which it speaks.
func (c *Client) fetchVersion() int16 {
	switch {
	case c.version.IsAtLeast(sarama.V2_3_0_0):
		return 11
	case c.version.IsAtLeast(sarama.V0_11_0_0):
		return 4
	default:
		return 0
	}
}

// EndOffsets returns each partition's high watermark, asked of its leader:
// where this run's messages will begin. A drill reads back from there, so
// its read-back does not grow with the topic's history. A partition whose
// leader cannot say is read from its start (0), which is slower but sound.
func (c *Client) EndOffsets(topic string, partitions int32) map[int32]int64 {
	out := map[int32]int64{}
	views := c.Views(topic)
	p := c.Pool()
	defer p.Close()
	for part := int32(0); part < partitions; part++ {
		leader := CurrentLeader(views, part)
		if leader < 0 {
			continue
		}
		b, err := p.Broker(leader)
		if err != nil {
			continue
		}
		req := &sarama.OffsetRequest{Version: 1}
		req.AddBlock(topic, part, sarama.OffsetNewest, 1)
		resp, err := b.GetAvailableOffsets(req)
		if err != nil {
			p.Drop(leader)
			continue
		}
		if blk := resp.GetBlock(topic, part); blk != nil && blk.Err == sarama.ErrNoError && blk.Offset > 0 {
			out[part] = blk.Offset
		}
	}
	return out
}
