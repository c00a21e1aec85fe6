package sandbox

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
// A records entry's body is a flags byte, the directives the flags announce
// (test equipment, see faults_data.go), then the record batches as the
// producer sent them:
//
//	flags&dirDivergent: node u32, len u32, value  (node serves value as the first record)
//	flags&dirSwap:      offset i64, len u32, value (every node serves this entry's
//	                    first record at offset and value at this entry's first offset)
//
// A lose entry's body is [from i64][to i64]: every node hides those offsets
// for good. A metadata entry's body is a JSON command (metadata.go).
const (
	entryRecords byte = 1
	entryLose    byte = 2
	entryMetaCmd byte = 3

	entryHeaderLen = 9

	dirDivergent byte = 1
	dirSwap      byte = 2
)

var errBadEntry = errors.New("malformed log entry")

// directives ride in a records entry and change what nodes serve for its
// records, atomically with the records themselves.
type directives struct {
	divergentNode  int32
	divergentValue []byte
	swap           bool
	swapOffset     int64
	swapValue      []byte
}

func encodeRecordsEntry(propID uint64, d directives, records []byte) []byte {
	n := entryHeaderLen + 1 + len(records)
	if d.divergentNode != 0 {
		n += 8 + len(d.divergentValue)
	}
	if d.swap {
		n += 12 + len(d.swapValue)
	}
	out := make([]byte, 0, n)
	out = append(out, entryRecords)
	out = binary.BigEndian.AppendUint64(out, propID)
	var flags byte
	if d.divergentNode != 0 {
		flags |= dirDivergent
	}
	if d.swap {
		flags |= dirSwap
	}
	out = append(out, flags)
	if d.divergentNode != 0 {
		out = binary.BigEndian.AppendUint32(out, uint32(d.divergentNode))
		out = binary.BigEndian.AppendUint32(out, uint32(len(d.divergentValue)))
		out = append(out, d.divergentValue...)
	}
	if d.swap {
		out = binary.BigEndian.AppendUint64(out, uint64(d.swapOffset))
		out = binary.BigEndian.AppendUint32(out, uint32(len(d.swapValue)))
		out = append(out, d.swapValue...)
	}
	return append(out, records...)
}

func encodeLoseEntry(propID uint64, from, to int64) []byte {
	out := make([]byte, 0, entryHeaderLen+16)
	out = append(out, entryLose)
	out = binary.BigEndian.AppendUint64(out, propID)
	out = binary.BigEndian.AppendUint64(out, uint64(from))
	return binary.BigEndian.AppendUint64(out, uint64(to))
}

func encodeMetaEntry(propID uint64, cmd []byte) []byte {
	out := make([]byte, 0, entryHeaderLen+len(cmd))
	out = append(out, entryMetaCmd)
	out = binary.BigEndian.AppendUint64(out, propID)
	return append(out, cmd...)
}

// entryKind returns an entry's kind and proposal id; kind 0 for Raft's own
// empty entries.
func entryKind(data []byte) (kind byte, propID uint64) {
	if len(data) < entryHeaderLen {
		return 0, 0
	}
	return data[0], binary.BigEndian.Uint64(data[1:9])
}

// decodeRecordsEntry splits a records entry into its directives and records.
func decodeRecordsEntry(data []byte) (d directives, records []byte, err error) {
	if len(data) < entryHeaderLen+1 || data[0] != entryRecords {
		return d, nil, errBadEntry
	}
	flags := data[entryHeaderLen]
	rest := data[entryHeaderLen+1:]
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
			return d, nil, errBadEntry
		}
		d.divergentNode = int32(binary.BigEndian.Uint32(h))
		if d.divergentValue, ok = take(int(binary.BigEndian.Uint32(h[4:]))); !ok {
			return d, nil, errBadEntry
		}
	}
	if flags&dirSwap != 0 {
		h, ok := take(12)
		if !ok {
			return d, nil, errBadEntry
		}
		d.swap = true
		d.swapOffset = int64(binary.BigEndian.Uint64(h))
		if d.swapValue, ok = take(int(binary.BigEndian.Uint32(h[8:]))); !ok {
			return d, nil, errBadEntry
		}
	}
	return d, rest, nil
}

func decodeLoseEntry(data []byte) (from, to int64, err error) {
	if len(data) != entryHeaderLen+16 || data[0] != entryLose {
		return 0, 0, errBadEntry
	}
	return int64(binary.BigEndian.Uint64(data[9:])), int64(binary.BigEndian.Uint64(data[17:])), nil
}

// countEntry is how many Kafka offsets an entry takes and the largest
// timestamp of its records: only records entries take any.
func countEntry(data []byte) (count int64, maxTs int64) {
	if kind, _ := entryKind(data); kind != entryRecords {
		return 0, -1
	}
	_, recs, err := decodeRecordsEntry(data)
	if err != nil {
		return 0, -1
	}
	return batch.Count(recs)
}
