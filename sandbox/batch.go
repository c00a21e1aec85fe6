package sandbox

import (
	"encoding/binary"
	"errors"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record batches are stored as the producer sent them: a v2 batch's CRC
// covers everything from its attributes on, so the two fields a broker
// assigns, the base offset and the partition leader epoch, can be set when
// the batch is served without recomputing it.

// Offsets of the fields of a v2 record batch header.
const (
	batchBaseOffset      = 0
	batchLengthAt        = 8
	batchLeaderEpochAt   = 12
	batchMagicAt         = 16
	batchCRCAt           = 17
	batchAttributesAt    = 21
	batchLastDeltaAt     = 23
	batchMaxTimestampAt  = 35
	batchNumRecordsAt    = 57
	batchHeaderLen       = 61
	batchLogOverhead     = 12 // base offset and length, outside the length
	maxRecordsPerRequest = 64 << 20
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

var (
	errCorruptBatch = errors.New("corrupt record batch")
	errInvalidBatch = errors.New("invalid record batch")
)

// eachBatch calls fn with every whole batch in raw, in order. A trailing
// partial batch (a fetch answer cut at its size limit) is ignored.
func eachBatch(raw []byte, fn func(b []byte) bool) {
	for len(raw) >= batchLogOverhead {
		n := int(int32(binary.BigEndian.Uint32(raw[batchLengthAt:])))
		end := batchLogOverhead + n
		if n < 0 || end > len(raw) {
			return
		}
		if !fn(raw[:end]) {
			return
		}
		raw = raw[end:]
	}
}

// validateRecords checks the records of one produced partition: one or more
// v2 batches, each with a correct CRC-32C. It returns how many offsets they
// take and their largest timestamp.
func validateRecords(raw []byte) (count int64, maxTs int64, err error) {
	if len(raw) == 0 || len(raw) > maxRecordsPerRequest {
		return 0, 0, errInvalidBatch
	}
	rest := raw
	maxTs = -1
	for len(rest) > 0 {
		if len(rest) < batchHeaderLen {
			return 0, 0, errCorruptBatch
		}
		n := int(int32(binary.BigEndian.Uint32(rest[batchLengthAt:])))
		end := batchLogOverhead + n
		if n < batchHeaderLen-batchLogOverhead || end > len(rest) {
			return 0, 0, errCorruptBatch
		}
		b := rest[:end]
		if b[batchMagicAt] != 2 {
			return 0, 0, errInvalidBatch
		}
		if binary.BigEndian.Uint32(b[batchCRCAt:]) != crc32.Checksum(b[batchAttributesAt:], crc32c) {
			return 0, 0, errCorruptBatch
		}
		delta := int32(binary.BigEndian.Uint32(b[batchLastDeltaAt:]))
		if delta < 0 {
			return 0, 0, errInvalidBatch
		}
		count += int64(delta) + 1
		maxTs = max(maxTs, int64(binary.BigEndian.Uint64(b[batchMaxTimestampAt:])))
		rest = rest[end:]
	}
	return count, maxTs, nil
}

// recordsCount is validateRecords for records already validated.
func recordsCount(raw []byte) (count int64, maxTs int64) {
	maxTs = -1
	eachBatch(raw, func(b []byte) bool {
		if len(b) < batchHeaderLen {
			return false
		}
		count += int64(int32(binary.BigEndian.Uint32(b[batchLastDeltaAt:]))) + 1
		maxTs = max(maxTs, int64(binary.BigEndian.Uint64(b[batchMaxTimestampAt:])))
		return true
	})
	return count, maxTs
}

// appendServed appends the batches of raw, the records of one log entry
// whose first offset is base, to dst as a fetch serves them: with their
// offsets and leader epoch set. Batches that end before from are skipped.
func appendServed(dst, raw []byte, base, from int64, epoch int32) []byte {
	next := base
	eachBatch(raw, func(b []byte) bool {
		last := next + int64(int32(binary.BigEndian.Uint32(b[batchLastDeltaAt:])))
		if last >= from {
			at := len(dst)
			dst = append(dst, b...)
			binary.BigEndian.PutUint64(dst[at+batchBaseOffset:], uint64(next))
			binary.BigEndian.PutUint32(dst[at+batchLeaderEpochAt:], uint32(epoch))
		}
		next = last + 1
		return true
	})
	return dst
}

// decodeBatch decodes one uncompressed record batch; ok is false for
// anything else (compressed, control, a legacy message set).
func decodeBatch(raw []byte) ([]kmsg.Record, kmsg.RecordBatch, bool) {
	var b kmsg.RecordBatch
	if err := b.ReadFrom(raw); err != nil || b.Magic != 2 || b.Attributes&0x0027 != 0 {
		return nil, b, false
	}
	recs := make([]kmsg.Record, 0, max(b.NumRecords, 0))
	src := b.Records
	for len(src) > 0 {
		l, n := kbin.Varint(src)
		if n == 0 || l < 0 || n+int(l) > len(src) {
			return nil, b, false
		}
		var r kmsg.Record
		if err := r.ReadFrom(src[:n+int(l)]); err != nil {
			return nil, b, false
		}
		recs = append(recs, r)
		src = src[n+int(l):]
	}
	return recs, b, true
}

// encodeBatch re-encodes a batch with the given records, keeping its first
// offset and last offset delta (as log compaction does), with its length and
// CRC computed afresh.
func encodeBatch(b kmsg.RecordBatch, recs []kmsg.Record) []byte {
	var body []byte
	for i := range recs {
		body = appendRecord(body, recs[i])
	}
	b.Records = body
	b.NumRecords = int32(len(recs))
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[batchLengthAt:], uint32(len(out)-batchLogOverhead))
	binary.BigEndian.PutUint32(out[batchCRCAt:], crc32.Checksum(out[batchAttributesAt:], crc32c))
	return out
}

func appendRecord(dst []byte, r kmsg.Record) []byte {
	r.Length = 0
	enc := r.AppendTo(nil)[1:] // a zero length is one varint byte
	dst = kbin.AppendVarint(dst, int32(len(enc)))
	return append(dst, enc...)
}

// firstValue returns the value of the first record of the first batch of
// raw, if that batch is uncompressed.
func firstValue(raw []byte) ([]byte, bool) {
	var out []byte
	ok := false
	eachBatch(raw, func(b []byte) bool {
		recs, _, good := decodeBatch(b)
		if good && len(recs) > 0 {
			out, ok = recs[0].Value, true
		}
		return false
	})
	return out, ok
}

// withFirstValue returns a copy of raw's first batch with the value of its
// first record changed; ok is false when it cannot be rewritten
// (compressed, say). Any further batches follow unchanged.
func withFirstValue(raw []byte, change func([]byte) []byte) ([]byte, bool) {
	var out []byte
	ok := false
	first := true
	eachBatch(raw, func(b []byte) bool {
		if first {
			first = false
			recs, hdr, good := decodeBatch(b)
			if good && len(recs) > 0 {
				recs[0].Value = change(recs[0].Value)
				out = append(out, encodeBatch(hdr, recs)...)
				ok = true
				return true
			}
		}
		out = append(out, b...)
		return true
	})
	return out, ok
}

// LogRecord is one record of a node's log as the sandbox's accessors show
// it (Cluster.Log, Cluster.Truncated).
type LogRecord struct {
	Offset int64  `json:"offset"`
	Key    []byte `json:"key,omitempty"`
	Value  []byte `json:"value"`
	// Term and Index are the Raft entry that holds the record.
	Term  uint64 `json:"term"`
	Index uint64 `json:"index"`
	// Compressed records cannot be listed one by one: a compressed batch
	// shows as one LogRecord with Compressed set and no value.
	Compressed bool `json:"compressed,omitempty"`
}

// appendLogRecords decodes the records of one log entry.
func appendLogRecords(dst []LogRecord, raw []byte, base int64, term, index uint64) []LogRecord {
	next := base
	eachBatch(raw, func(b []byte) bool {
		last := next + int64(int32(binary.BigEndian.Uint32(b[batchLastDeltaAt:])))
		recs, _, ok := decodeBatch(b)
		if !ok {
			dst = append(dst, LogRecord{Offset: next, Term: term, Index: index, Compressed: true})
		} else {
			for _, r := range recs {
				dst = append(dst, LogRecord{Offset: next + int64(r.OffsetDelta), Key: r.Key, Value: r.Value, Term: term, Index: index})
			}
		}
		next = last + 1
		return true
	})
	return dst
}
