// Package kbatch writes and rewrites Kafka record batches (magic 2) as a
// broker serves them in a fetch answer: the test equipment that builds a
// million records for the checker's benchmark, crafts damaged batches for
// the read path's tests, and lets the lying proxy (internal/lieproxy)
// change what a node serves.
package kbatch

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// Record is one record of a batch.
type Record struct {
	OffsetDelta int32
	Key, Value  []byte
}

// Append appends an uncompressed batch at base holding values, one record
// per value at consecutive offsets.
func Append(dst []byte, base int64, values ...[]byte) []byte {
	recs := make([]Record, len(values))
	for i, v := range values {
		recs[i] = Record{OffsetDelta: int32(i), Value: v}
	}
	return AppendRecords(dst, base, int32(len(values)-1), recs)
}

// AppendRecords appends an uncompressed batch at base with the given last
// offset delta and records (a compacted batch keeps its last offset delta
// and loses records).
func AppendRecords(dst []byte, base int64, lastDelta int32, recs []Record) []byte {
	start := len(dst)
	b := kmsg.RecordBatch{
		FirstOffset: base, Magic: 2, LastOffsetDelta: lastDelta,
		FirstTimestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		ProducerID:     -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(recs)),
	}
	b.MaxTimestamp = b.FirstTimestamp
	var body []byte
	for _, r := range recs {
		body = appendRecord(body, r)
	}
	b.Records = body
	dst = b.AppendTo(dst)
	out := dst[start:]
	binary.BigEndian.PutUint32(out[8:12], uint32(len(out)-12))
	FixCRC(out)
	return dst
}

func appendRecord(dst []byte, r Record) []byte {
	var rec []byte
	rec = append(rec, 0) // attributes
	rec = kbin.AppendVarlong(rec, 0)
	rec = kbin.AppendVarint(rec, r.OffsetDelta)
	if r.Key == nil {
		rec = kbin.AppendVarint(rec, -1)
	} else {
		rec = kbin.AppendVarint(rec, int32(len(r.Key)))
		rec = append(rec, r.Key...)
	}
	if r.Value == nil {
		rec = kbin.AppendVarint(rec, -1)
	} else {
		rec = kbin.AppendVarint(rec, int32(len(r.Value)))
		rec = append(rec, r.Value...)
	}
	rec = kbin.AppendVarint(rec, 0) // headers
	dst = kbin.AppendVarint(dst, int32(len(rec)))
	return append(dst, rec...)
}

// FixCRC recomputes the CRC of one whole batch in place.
func FixCRC(batch []byte) {
	binary.BigEndian.PutUint32(batch[17:21], crc32.Checksum(batch[21:], crc32c))
}

// Batch is one batch of a fetch answer, decoded.
type Batch struct {
	Base      int64
	LastDelta int32
	Records   []Record
	// Raw is the batch's bytes as served; Decoded is false for a batch
	// this package does not rewrite (compressed, control, not magic 2).
	Raw     []byte
	Decoded bool
	header  kmsg.RecordBatch // the rest of the batch's header, kept as served
}

// Split cuts a fetch answer's record batches into batches, decoding the
// records of the plain ones; a partial batch at the end is returned raw in
// rest.
func Split(raw []byte) (batches []Batch, rest []byte, err error) {
	for len(raw) >= 12 {
		size := 12 + int(int32(binary.BigEndian.Uint32(raw[8:12])))
		if size < 12 || size > len(raw) {
			break
		}
		b := Batch{Base: int64(binary.BigEndian.Uint64(raw)), Raw: raw[:size]}
		raw = raw[size:]
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b.Raw); err == nil && rb.Magic == 2 && rb.Attributes&0x27 == 0 {
			b.LastDelta = rb.LastOffsetDelta
			if b.Records, err = decodeRecords(rb.Records, int(rb.NumRecords)); err != nil {
				return nil, nil, err
			}
			b.Decoded, b.header = true, rb
		}
		batches = append(batches, b)
	}
	return batches, raw, nil
}

func decodeRecords(src []byte, n int) ([]Record, error) {
	out := make([]Record, 0, n)
	for len(src) > 0 {
		l, k := kbin.Varint(src)
		if k == 0 || l < 0 || k+int(l) > len(src) {
			return nil, errors.New("kbatch: bad record length")
		}
		var r kmsg.Record
		if err := r.ReadFrom(src[:k+int(l)]); err != nil {
			return nil, err
		}
		out = append(out, Record{OffsetDelta: r.OffsetDelta, Key: r.Key, Value: r.Value})
		src = src[k+int(l):]
	}
	return out, nil
}

// Encode writes a decoded batch back (its records as they are now, the rest
// of its header as served), with length and CRC computed afresh.
func (b Batch) Encode(dst []byte) []byte {
	if !b.Decoded {
		return append(dst, b.Raw...)
	}
	h := b.header
	var body []byte
	for _, r := range b.Records {
		body = appendRecord(body, r)
	}
	h.Records, h.NumRecords = body, int32(len(b.Records))
	start := len(dst)
	dst = h.AppendTo(dst)
	out := dst[start:]
	binary.BigEndian.PutUint32(out[8:12], uint32(len(out)-12))
	FixCRC(out)
	return dst
}
