package batch

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
	BaseOffsetAt         = 0
	lengthAt             = 8
	leaderEpochAt        = 12
	magicAt              = 16
	CRCAt                = 17
	attributesAt         = 21
	LastDeltaAt          = 23
	maxTimestampAt       = 35
	HeaderLen            = 61
	logOverhead          = 12 // base offset and length, outside the length
	maxRecordsPerRequest = 64 << 20
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// Errors of Validate: Kafka's CORRUPT_MESSAGE and INVALID_RECORD.
var (
	ErrCorrupt = errors.New("corrupt record batch")
	ErrInvalid = errors.New("invalid record batch")
)

// CRC is the CRC-32C a batch's header should hold: over everything from
// its attributes on.
func CRC(b []byte) uint32 { return crc32.Checksum(b[attributesAt:], crc32c) }

// Each calls fn with every whole batch in raw, in order. A trailing
// partial batch (a fetch answer cut at its size limit) is ignored.
func Each(raw []byte, fn func(b []byte) bool) {
	for len(raw) >= logOverhead {
		n := int(int32(binary.BigEndian.Uint32(raw[lengthAt:])))
		end := logOverhead + n
		if n < 0 || end > len(raw) {
			return
		}
		if !fn(raw[:end]) {
			return
		}
		raw = raw[end:]
	}
}

// Validate checks the records of one produced partition: one or more
// v2 batches, each with a correct CRC-32C. It returns how many offsets they
// take and their largest timestamp.
func Validate(raw []byte) (count int64, maxTs int64, err error) {
	if len(raw) == 0 || len(raw) > maxRecordsPerRequest {
		return 0, 0, ErrInvalid
	}
	rest := raw
	maxTs = -1
	for len(rest) > 0 {
		if len(rest) < HeaderLen {
			return 0, 0, ErrCorrupt
		}
		n := int(int32(binary.BigEndian.Uint32(rest[lengthAt:])))
		end := logOverhead + n
		if n < HeaderLen-logOverhead || end > len(rest) {
			return 0, 0, ErrCorrupt
		}
		b := rest[:end]
		if b[magicAt] != 2 {
			return 0, 0, ErrInvalid
		}
		if binary.BigEndian.Uint32(b[CRCAt:]) != CRC(b) {
			return 0, 0, ErrCorrupt
		}
		delta := int32(binary.BigEndian.Uint32(b[LastDeltaAt:]))
		if delta < 0 {
			return 0, 0, ErrInvalid
		}
		count += int64(delta) + 1
		maxTs = max(maxTs, int64(binary.BigEndian.Uint64(b[maxTimestampAt:])))
		rest = rest[end:]
	}
	return count, maxTs, nil
}

// Count is Validate for records already validated.
func Count(raw []byte) (count int64, maxTs int64) {
	maxTs = -1
	Each(raw, func(b []byte) bool {
		if len(b) < HeaderLen {
			return false
		}
		count += int64(int32(binary.BigEndian.Uint32(b[LastDeltaAt:]))) + 1
		maxTs = max(maxTs, int64(binary.BigEndian.Uint64(b[maxTimestampAt:])))
		return true
	})
	return count, maxTs
}

// AppendServed appends the batches of raw, the records of one log entry
// whose first offset is base, to dst as a fetch serves them: with their
// offsets and leader epoch set. Batches that end before from are skipped.
func AppendServed(dst, raw []byte, base, from int64, epoch int32) []byte {
	next := base
	Each(raw, func(b []byte) bool {
		last := next + int64(int32(binary.BigEndian.Uint32(b[LastDeltaAt:])))
		if last >= from {
			at := len(dst)
			dst = append(dst, b...)
			binary.BigEndian.PutUint64(dst[at+BaseOffsetAt:], uint64(next))
			binary.BigEndian.PutUint32(dst[at+leaderEpochAt:], uint32(epoch))
		}
		next = last + 1
		return true
	})
	return dst
}

// Decode decodes one uncompressed record batch; ok is false for
// anything else (compressed, control, a legacy message set).
func Decode(raw []byte) ([]kmsg.Record, kmsg.RecordBatch, bool) {
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

// Encode re-encodes a batch with the given records, keeping its first
// offset and last offset delta (as log compaction does), with its length and
// CRC computed afresh.
func Encode(b kmsg.RecordBatch, recs []kmsg.Record) []byte {
	var body []byte
	for i := range recs {
		body = appendRecord(body, recs[i])
	}
	b.Records = body
	b.NumRecords = int32(len(recs))
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[lengthAt:], uint32(len(out)-logOverhead))
	binary.BigEndian.PutUint32(out[CRCAt:], CRC(out))
	return out
}

func appendRecord(dst []byte, r kmsg.Record) []byte {
	r.Length = 0
	enc := r.AppendTo(nil)[1:] // a zero length is one varint byte
	dst = kbin.AppendVarint(dst, int32(len(enc)))
	return append(dst, enc...)
}

// FirstValue returns the value of the first record of the first batch of
// raw, if that batch is uncompressed.
func FirstValue(raw []byte) ([]byte, bool) {
	var out []byte
	ok := false
	Each(raw, func(b []byte) bool {
		recs, _, good := Decode(b)
		if good && len(recs) > 0 {
			out, ok = recs[0].Value, true
		}
		return false
	})
	return out, ok
}

// WithFirstValue returns a copy of raw's first batch with the value of its
// first record changed; ok is false when it cannot be rewritten
// (compressed, say). Any further batches follow unchanged.
func WithFirstValue(raw []byte, change func([]byte) []byte) ([]byte, bool) {
	var out []byte
	ok := false
	first := true
	Each(raw, func(b []byte) bool {
		if first {
			first = false
			recs, hdr, good := Decode(b)
			if good && len(recs) > 0 {
				recs[0].Value = change(recs[0].Value)
				out = append(out, Encode(hdr, recs)...)
				ok = true
				return true
			}
		}
		out = append(out, b...)
		return true
	})
	return out, ok
}
