package probes

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
)

// A drill message carries what the checker needs to recognise it again: the
// run id, the partition it was produced to, its per-partition sequence
// number, and a CRC-32C over all of it plus the payload. Layout (text header,
// so a person reading the topic with kcat can tell what it is):
//
//	rd1|<run>|<partition>|<seq>|<crc32c hex>|<payload>
const msgMagic = "rd1|"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Message identifies one drill message.
type Message struct {
	Run       string
	Partition int32
	Seq       int64
}

// EncodeMessage builds a message value of exactly size bytes (or the header
// length, if that is larger).
func EncodeMessage(m Message, size int) []byte {
	head := fmt.Appendf(nil, "%s%s|%d|%d|", msgMagic, m.Run, m.Partition, m.Seq)
	const crcLen = 9 // 8 hex digits and '|'
	n := max(size-len(head)-crcLen, 0)
	payload := make([]byte, n)
	// A payload that changes with the sequence number makes a record
	// swapped for another one visible even if its header survived.
	x := uint32(m.Seq)*2654435761 + uint32(m.Partition)
	for i := range payload {
		x = x*1664525 + 1013904223
		payload[i] = 'a' + byte(x>>24)%26
	}
	sum := crc32.Update(crc32.Checksum(head, crcTable), crcTable, payload)
	out := make([]byte, 0, len(head)+crcLen+n)
	out = append(out, head...)
	out = fmt.Appendf(out, "%08x|", sum)
	return append(out, payload...)
}

// ErrNotDrillMessage marks a record that raftdrill did not write.
var ErrNotDrillMessage = errors.New("not a raftdrill message")

// DecodeMessage parses a record value. A record that is not a drill message
// gives ErrNotDrillMessage; one whose checksum does not match gives the
// identity it claims with ok=false (corrupt).
func DecodeMessage(v []byte) (m Message, ok bool, err error) {
	if !bytes.HasPrefix(v, []byte(msgMagic)) {
		return m, false, ErrNotDrillMessage
	}
	rest := v[len(msgMagic):]
	var fields [4][]byte
	for i := range fields {
		j := bytes.IndexByte(rest, '|')
		if j < 0 {
			return m, false, ErrNotDrillMessage
		}
		fields[i], rest = rest[:j], rest[j+1:]
	}
	p, err1 := strconv.ParseInt(string(fields[1]), 10, 32)
	seq, err2 := strconv.ParseInt(string(fields[2]), 10, 64)
	sum, err3 := strconv.ParseUint(string(fields[3]), 16, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return m, false, ErrNotDrillMessage
	}
	m = Message{Run: string(fields[0]), Partition: int32(p), Seq: seq}
	headLen := len(v) - len(rest) - len(fields[3]) - 1
	got := crc32.Update(crc32.Checksum(v[:headLen], crcTable), crcTable, rest)
	return m, got == uint32(sum), nil
}
