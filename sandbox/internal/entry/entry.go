package entry

import (
	"encoding/binary"
	"errors"

	"github.com/raftdrill/raftdrill/sandbox/internal/batch"
)

// The data of a Raft entry in the sandbox's groups. Raft's own empty entries
// (a new leader's first) have no data. Every other entry starts with a kind
// and the id of the proposal that made it, so that the node that proposed it
// knows, when an entry at that index is committed, whether it is its own.
//
//	[0]    kind
//	[1:9]  proposal id
//	[9:]   body
//
// A records entry's body is a flags byte, the directives the flags
// announce (test equipment: the damage of the sandbox's data faults), then
// the record batches as the producer sent them:
//
//	flags&dirDivergent: node u32, len u32, value  (node serves value as the first record)
//	flags&dirSwap:      offset i64, len u32, value (every node serves this entry's
//	                    first record at offset and value at this entry's first offset)
//
// A lose entry's body is [from i64][to i64]: every node hides those offsets
// for good. A metadata entry's body is a JSON command (the sandbox's
// metadata.go).
const (
	Records byte = 1
	Lose    byte = 2
	MetaCmd byte = 3

	HeaderLen = 9

	dirDivergent byte = 1
	dirSwap      byte = 2
)

var errBad = errors.New("malformed log entry")

// Directives ride in a records entry and change what nodes serve for its
// records, atomically with the records themselves.
type Directives struct {
	DivergentNode  int32
	DivergentValue []byte
	Swap           bool
	SwapOffset     int64
	SwapValue      []byte
}

// EncodeRecords is the data of a records entry.
func EncodeRecords(propID uint64, d Directives, records []byte) []byte {
	n := HeaderLen + 1 + len(records)
	if d.DivergentNode != 0 {
		n += 8 + len(d.DivergentValue)
	}
	if d.Swap {
		n += 12 + len(d.SwapValue)
	}
	out := make([]byte, 0, n)
	out = append(out, Records)
	out = binary.BigEndian.AppendUint64(out, propID)
	var flags byte
	if d.DivergentNode != 0 {
		flags |= dirDivergent
	}
	if d.Swap {
		flags |= dirSwap
	}
	out = append(out, flags)
	if d.DivergentNode != 0 {
		out = binary.BigEndian.AppendUint32(out, uint32(d.DivergentNode))
		out = binary.BigEndian.AppendUint32(out, uint32(len(d.DivergentValue)))
		out = append(out, d.DivergentValue...)
	}
	if d.Swap {
		out = binary.BigEndian.AppendUint64(out, uint64(d.SwapOffset))
		out = binary.BigEndian.AppendUint32(out, uint32(len(d.SwapValue)))
		out = append(out, d.SwapValue...)
	}
	return append(out, records...)
}

// EncodeLose is the data of a lose entry: offsets [from, to) are lost.
func EncodeLose(propID uint64, from, to int64) []byte {
	out := make([]byte, 0, HeaderLen+16)
	out = append(out, Lose)
	out = binary.BigEndian.AppendUint64(out, propID)
	out = binary.BigEndian.AppendUint64(out, uint64(from))
	return binary.BigEndian.AppendUint64(out, uint64(to))
}

// EncodeMeta is the data of a metadata entry.
func EncodeMeta(propID uint64, cmd []byte) []byte {
	out := make([]byte, 0, HeaderLen+len(cmd))
	out = append(out, MetaCmd)
	out = binary.BigEndian.AppendUint64(out, propID)
	return append(out, cmd...)
}

// Kind returns an entry's kind and proposal id; kind 0 for Raft's own
// empty entries.
func Kind(data []byte) (kind byte, propID uint64) {
	if len(data) < HeaderLen {
		return 0, 0
	}
	return data[0], binary.BigEndian.Uint64(data[1:9])
}

// DecodeRecords splits a records entry into its directives and records.
func DecodeRecords(data []byte) (d Directives, records []byte, err error) {
	if len(data) < HeaderLen+1 || data[0] != Records {
		return d, nil, errBad
	}
	flags := data[HeaderLen]
	rest := data[HeaderLen+1:]
	take := func(n int) ([]byte, bool) {
		if n < 0 || len(rest) < n {
			return nil, false
		}
		b := rest[:n]
		rest = rest[n:]
		return b, true
	}
	if flags&dirDivergent != 0 {
		h, ok := take(8)
		if !ok {
			return d, nil, errBad
		}
		d.DivergentNode = int32(binary.BigEndian.Uint32(h))
		if d.DivergentValue, ok = take(int(binary.BigEndian.Uint32(h[4:]))); !ok {
			return d, nil, errBad
		}
	}
	if flags&dirSwap != 0 {
		h, ok := take(12)
		if !ok {
			return d, nil, errBad
		}
		d.Swap = true
		d.SwapOffset = int64(binary.BigEndian.Uint64(h))
		if d.SwapValue, ok = take(int(binary.BigEndian.Uint32(h[8:]))); !ok {
			return d, nil, errBad
		}
	}
	return d, rest, nil
}

// DecodeLose reads the offsets [from, to) a lose entry loses.
func DecodeLose(data []byte) (from, to int64, err error) {
	if len(data) != HeaderLen+16 || data[0] != Lose {
		return 0, 0, errBad
	}
	return int64(binary.BigEndian.Uint64(data[9:])), int64(binary.BigEndian.Uint64(data[17:])), nil
}

// Count is how many Kafka offsets an entry takes and the largest
// timestamp of its records: only records entries take any.
func Count(data []byte) (count int64, maxTs int64) {
	if kind, _ := Kind(data); kind != Records {
		return 0, -1
	}
	_, recs, err := DecodeRecords(data)
	if err != nil {
		return 0, -1
	}
	return batch.Count(recs)
}
