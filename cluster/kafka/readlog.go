package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/raftdrill/raftdrill/cluster/message"
)

// Record is one record read back, decoded.
type Record struct {
	Offset  int64
	Msg     message.Message
	Valid   bool // a drill message whose checksum matches
	Foreign bool // not a raftdrill message
	// Damaged: a drill message whose header could not be parsed (its
	// Msg fields are what could be read, -1 where none).
	Damaged bool
	// Sum identifies the value (message.Decoded.Sum; for a foreign
	// record, a CRC-32C of its value), so that two nodes' copies can be
	// compared.
	Sum uint32
}

// Same reports whether two records hold the same value, as far as a
// drill can tell.
func (r Record) Same(o Record) bool {
	return r.Sum == o.Sum && r.Valid == o.Valid && r.Foreign == o.Foreign && r.Damaged == o.Damaged &&
		r.Msg.Seq == o.Msg.Seq && r.Msg.Partition == o.Msg.Partition && r.Msg.Run == o.Msg.Run
}

// BadBatch is a stretch of offsets a node served in a record batch that
// failed its CRC or could not be decoded: what it held is unknown.
type BadBatch struct {
	First, Last int64
	Reason      string
}

// LogRead is what one node served of one partition's log, read from From
// towards that node's high watermark. Everything in [From, End) has been
// read: as records, as bad batches, or as offsets the node has no record
// at (a gap).
type LogRead struct {
	Node      int32
	Topic     string
	Partition int32
	From      int64
	// Start is where the node's log began, when retention had removed
	// offsets from From on; otherwise From.
	Start int64
	End   int64
	// HighWatermark is the node's last reported high watermark (-1: it
	// never answered).
	HighWatermark int64
	Records       []Record // in offset order
	Bad           []BadBatch
	// Err says why reading stopped short of the high watermark, if it
	// did; what came before is kept.
	Err error
	// Fetches counts the fetch requests the read took.
	Fetches int
	run     string
}

// NewLogRead returns an empty read of topic/partition through node from
// offset from; run is the run id the reader expects (its messages share
// the string instead of each allocating one).
func NewLogRead(node int32, topic string, partition int32, from int64, run string) *LogRead {
	return &LogRead{Node: node, Topic: topic, Partition: partition, From: from, Start: from, End: from, HighWatermark: -1, run: run}
}

// Lag is how far the read is behind offset hwm (0 when it reached it).
func (lr *LogRead) Lag(hwm int64) int64 { return max(hwm-lr.End, 0) }

// Batch layout (Kafka's record batch, magic 2): the fields before the CRC
// are not covered by it.
const (
	batchLengthAt     = 8
	batchMagicAt      = 16
	batchCRCAt        = 17
	batchAttrsAt      = 21
	batchLastDeltaAt  = 23
	batchNumRecordsAt = 57
	batchHeaderLen    = 61
)

// maxPrealloc bounds the records reserved ahead of reading them.
const maxPrealloc = 1 << 21

var (
	crc32c       = crc32.MakeTable(crc32.Castagnoli)
	decompressor = kgo.DefaultDecompressor()
)

// AppendBatches decodes the record batches of one fetch answer (raw, as the
// wire carries them) onto the read, keeping what lies in [End, hwm). A
// batch that fails its CRC, or whose records cannot be decoded, is kept as
// a BadBatch and reading goes on after it; a partial batch at the end (the
// answer's size limit) is left for the next fetch. It reports whether End
// moved.
func (lr *LogRead) AppendBatches(raw []byte, hwm int64) bool {
	before := lr.End
	if len(lr.Records) == cap(lr.Records) && hwm > lr.End {
		// Room for every offset up to the high watermark at once, rather
		// than growing (and copying) a million records step by step; a
		// node claiming an absurd high watermark gets a bounded guess.
		lr.Records = slices.Grow(lr.Records, int(min(hwm-lr.End, maxPrealloc)))
	}
	for len(raw) >= batchLengthAt+4 && lr.End < hwm {
		base := int64(binary.BigEndian.Uint64(raw))
		length := int64(int32(binary.BigEndian.Uint32(raw[batchLengthAt:])))
		size := batchLengthAt + 4 + length
		if length < batchHeaderLen-batchLengthAt-4 {
			// The framing itself is broken: nothing after it in this
			// answer can be found. The offset asked for is bad.
			lr.bad(lr.End, lr.End, fmt.Sprintf("batch length %d", length))
			break
		}
		if size > int64(len(raw)) {
			break // partial: the next fetch starts with it
		}
		b := raw[:size]
		raw = raw[size:]
		if base >= hwm {
			lr.End = hwm // nothing in [End, hwm): a gap up to the end
			break
		}
		last := base + int64(int32(binary.BigEndian.Uint32(b[batchLastDeltaAt:])))
		if magic := b[batchMagicAt]; magic != 2 {
			if magic < 2 {
				lr.Err = fmt.Errorf("offset %d: message format v%d (before Kafka 0.11) is not read back", base, magic)
				return lr.End != before
			}
			lr.badBatch(base, last, raw, hwm, fmt.Sprintf("magic byte %d", magic))
			continue
		}
		if want, got := binary.BigEndian.Uint32(b[batchCRCAt:]), crc32.Checksum(b[batchAttrsAt:], crc32c); want != got {
			lr.badBatch(base, last, raw, hwm, fmt.Sprintf("batch CRC %08x, computed %08x", want, got))
			continue
		}
		if last < lr.End {
			continue // read already (an answer starts with the batch that holds the offset asked for)
		}
		attrs := binary.BigEndian.Uint16(b[batchAttrsAt:])
		if attrs&0x20 != 0 { // a control batch (transaction markers) holds no data
			lr.End = min(max(lr.End, last+1), hwm)
			continue
		}
		recs := b[batchHeaderLen:]
		if codec := attrs & 0x07; codec != 0 {
			var err error
			if recs, err = decompressor.Decompress(recs, kgo.CompressionCodecType(codec)); err != nil {
				lr.badBatch(base, last, raw, hwm, "decompress: "+err.Error())
				continue
			}
		}
		n := int(int32(binary.BigEndian.Uint32(b[batchNumRecordsAt:])))
		if off, err := lr.appendRecords(base, recs, n, hwm); err != nil {
			lr.badBatch(max(off, base), last, raw, hwm, err.Error())
			continue
		}
		lr.End = min(max(lr.End, last+1), hwm)
	}
	return lr.End != before
}

// appendRecords decodes n records of a batch at base; on failure it returns
// the offset of the record that could not be decoded.
func (lr *LogRead) appendRecords(base int64, src []byte, n int, hwm int64) (int64, error) {
	next := base
	for i := 0; i < n; i++ {
		l, k := binary.Varint(src)
		if k <= 0 || l < 0 || int64(k)+l > int64(len(src)) {
			return next, fmt.Errorf("record %d of the batch at %d: bad length", i, base)
		}
		rec := src[k : k+int(l)]
		src = src[k+int(l):]
		off, val, ok := recordValue(rec)
		if !ok {
			return next, fmt.Errorf("record %d of the batch at %d: undecodable", i, base)
		}
		off += base
		next = off + 1
		if off < lr.End {
			continue
		}
		if off >= hwm {
			break
		}
		lr.Records = append(lr.Records, decodeRecord(off, val, lr.run))
		lr.End = off + 1
	}
	return next, nil
}

// recordValue reads a record's offset delta and value: attributes (int8),
// timestamp delta (varlong), offset delta, key and value (varint length,
// -1 null); its headers are not needed.
func recordValue(rec []byte) (int64, []byte, bool) {
	if len(rec) < 1 {
		return 0, nil, false
	}
	rec = rec[1:]
	_, k := binary.Varint(rec)
	if k <= 0 {
		return 0, nil, false
	}
	rec = rec[k:]
	delta, k := binary.Varint(rec)
	if k <= 0 {
		return 0, nil, false
	}
	rec = rec[k:]
	keyLen, k := binary.Varint(rec)
	if k <= 0 || keyLen > int64(len(rec)-k) {
		return 0, nil, false
	}
	rec = rec[k+int(max(keyLen, 0)):]
	valLen, k := binary.Varint(rec)
	if k <= 0 || valLen > int64(len(rec)-k) {
		return 0, nil, false
	}
	if valLen < 0 {
		return delta, nil, true
	}
	return delta, rec[k : k+int(valLen)], true
}

func decodeRecord(off int64, v []byte, run string) Record {
	d, err := message.DecodeFor(v, run)
	if err != nil {
		return Record{Offset: off, Foreign: true, Msg: message.Message{Partition: -1, Seq: -1}, Sum: crc32.Checksum(v, crc32c)}
	}
	return Record{Offset: off, Msg: d.Message, Valid: d.Valid, Damaged: d.Damaged, Sum: d.Sum}
}

// badBatch records a batch whose content is unknown. Its own last offset
// is not covered by the CRC, so it is trusted only as far as the next
// batch's start and the high watermark allow; a batch that claims to end
// before the offset asked for marks that one offset.
func (lr *LogRead) badBatch(first, last int64, rest []byte, hwm int64, reason string) {
	if len(rest) >= 8 {
		if next := int64(binary.BigEndian.Uint64(rest)); next > first {
			last = min(last, next-1)
		}
	}
	last = min(last, hwm-1)
	first = max(first, lr.End)
	if last < first {
		last = first
	}
	lr.bad(first, last, reason)
}

func (lr *LogRead) bad(first, last int64, reason string) {
	lr.Bad = append(lr.Bad, BadBatch{First: first, Last: last, Reason: reason})
	lr.End = last + 1
}

// LogReader reads partitions through one node over one connection.
type LogReader struct {
	c    *Client
	node Node
	conn *rawConn
}

// NewLogReader returns a reader of node id's logs; close it when done.
func (c *Client) NewLogReader(id int32) (*LogReader, error) {
	n, ok := c.Node(id)
	if !ok {
		return nil, fmt.Errorf("node %d: %w", id, ErrUnknownNode)
	}
	return &LogReader{c: c, node: n}, nil
}

// Close closes the reader's connection.
func (r *LogReader) Close() {
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
}

// fetchAttempts: a fetch that fails at the connection is tried again on a
// new one this many times in all (a node that has just restarted may drop
// the first).
const fetchAttempts = 3

// stuckAfter: this many answers in a row that move nothing below the high
// watermark end the read as stuck.
const stuckAfter = 20

// Read reads lr on from its End up to the node's high watermark, fetching
// raw record batches (franz-go's kmsg framing) so that a batch failing its
// CRC is recorded and read past rather than failing the whole fetch, as
// sarama would. A node that refuses or fails is recorded in lr.Err; call
// Read again to read on (a replica catching up).
func (r *LogReader) Read(ctx context.Context, lr *LogRead) {
	lr.Err = nil
	still := 0
	for {
		if err := ctx.Err(); err != nil {
			lr.Err = err
			return
		}
		part, err := r.fetch(lr)
		if err != nil {
			lr.Err = fmt.Errorf("fetch %s/%d at %d from node %d: %w", lr.Topic, lr.Partition, lr.End, lr.Node, err)
			return
		}
		switch e := kerr.ErrorForCode(part.ErrorCode); {
		case e == nil:
		case errors.Is(e, kerr.OffsetOutOfRange) && part.LogStartOffset > lr.End:
			// Retention removed the start: what is gone is gone.
			if lr.End == lr.From {
				lr.Start = part.LogStartOffset
			}
			lr.End = part.LogStartOffset
			continue
		case errors.Is(e, kerr.OffsetOutOfRange):
			// The node's log ends before End: nothing more to read yet.
			return
		default:
			lr.Err = fmt.Errorf("fetch %s/%d at %d from node %d: %w", lr.Topic, lr.Partition, lr.End, lr.Node, e)
			return
		}
		lr.HighWatermark = part.HighWatermark
		if lr.End >= part.HighWatermark {
			return
		}
		if lr.AppendBatches(part.RecordBatches, part.HighWatermark) {
			still = 0
			continue
		}
		if lr.Err != nil {
			return
		}
		if still++; still >= stuckAfter {
			lr.Err = fmt.Errorf("fetch %s/%d from node %d: stuck at offset %d below its high watermark %d", lr.Topic, lr.Partition, lr.Node, lr.End, part.HighWatermark)
			return
		}
	}
}

// fetch asks for lr's partition at lr.End, on a fresh connection if the
// last one failed.
func (r *LogReader) fetch(lr *LogRead) (*kmsg.FetchResponseTopicPartition, error) {
	var last error
	for attempt := range fetchAttempts {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
		if r.conn == nil {
			conn, err := dialRaw(r.node, r.c.timeout, r.c.fetchVersion(), security{r.c.tls, r.c.sasl})
			var ae *AuthError
			if errors.As(err, &ae) {
				return nil, err // the next attempt would be refused the same way
			}
			if err != nil {
				last = err
				continue
			}
			if conn.maxFetch < 4 {
				conn.Close()
				return nil, fmt.Errorf("node speaks Fetch up to v%d: record batches need v4", conn.maxFetch)
			}
			r.conn = conn
		}
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(r.conn.maxFetch)
		req.MaxWaitMillis = 10
		req.MinBytes = 1
		req.MaxBytes = 32 << 20
		req.IsolationLevel = 0 // read uncommitted: the high watermark bounds it
		t := kmsg.NewFetchRequestTopic()
		t.Topic = lr.Topic
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = lr.Partition
		p.FetchOffset = lr.End
		p.PartitionMaxBytes = 8 << 20
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		lr.Fetches++
		resp, err := r.conn.do(req)
		if err != nil {
			r.Close()
			last = err
			continue
		}
		fr := resp.(*kmsg.FetchResponse)
		if fr.ErrorCode != 0 {
			return nil, kerr.ErrorForCode(fr.ErrorCode)
		}
		for i := range fr.Topics {
			for j := range fr.Topics[i].Partitions {
				if rp := &fr.Topics[i].Partitions[j]; rp.Partition == lr.Partition {
					return rp, nil
				}
			}
		}
		return nil, errors.New("partition missing from the answer")
	}
	return nil, last
}

// ReadLog reads a partition through one node from offset from to that
// node's high watermark.
func (c *Client) ReadLog(ctx context.Context, via int32, topic string, partition int32, from int64, run string) *LogRead {
	lr := NewLogRead(via, topic, partition, from, run)
	r, err := c.NewLogReader(via)
	if err != nil {
		lr.Err = err
		return lr
	}
	defer r.Close()
	r.Read(ctx, lr)
	return lr
}

// ReadPartition reads a partition from offset from (or its log start, if
// retention removed that) to its high watermark through one node, and
// fails if any of it could not be read.
func (c *Client) ReadPartition(ctx context.Context, via int32, topic string, partition int32, from int64) ([]Record, error) {
	lr := c.ReadLog(ctx, via, topic, partition, from, "")
	if lr.Err == nil && len(lr.Bad) > 0 {
		b := lr.Bad[0]
		lr.Err = fmt.Errorf("node %d served a bad batch at offsets %d–%d of %s/%d: %s", via, b.First, b.Last, topic, partition, b.Reason)
	}
	return lr.Records, lr.Err
}
