package message

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strconv"
)

// A drill message carries what the checker needs to recognise it again: the
// run id, the partition it was produced to, its per-partition sequence
// number, and a CRC-32C over all of it plus the payload. Layout (text header,
// so a person reading the topic with kcat can tell what it is):
//
//	rd1|<run>|<partition>|<seq>|<crc32c hex>|<payload>
const magic = "rd1|"

// crcLen is the checksum field: 8 hex digits and '|'.
const crcLen = 9

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Message identifies one drill message.
type Message struct {
	Run       string
	Partition int32
	Seq       int64
}

// Encode builds a message value of exactly size bytes (or the header
// length, if that is larger). Its payload is derived from the sequence
// number, so a record swapped for another is visible even if its header
// survived.
func Encode(m Message, size int) []byte {
	out := appendHeader(make([]byte, 0, size), m)
	n := max(size-len(out)-crcLen, 0)
	payload := make([]byte, n)
	x := uint32(m.Seq)*2654435761 + uint32(m.Partition)
	for i := range payload {
		x = x*1664525 + 1013904223
		payload[i] = 'a' + byte(x>>24)%26
	}
	return appendSummed(out, 0, payload)
}

func appendHeader(dst []byte, m Message) []byte {
	dst = append(dst, magic...)
	dst = append(dst, m.Run...)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, int64(m.Partition), 10)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, m.Seq, 10)
	return append(dst, '|')
}

// appendSummed appends the checksum of dst[start:] plus payload, then the
// payload.
func appendSummed(dst []byte, start int, payload []byte) []byte {
	sum := crc32.Update(crc32.Checksum(dst[start:], crcTable), crcTable, payload)
	const digits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, digits[(sum>>uint(shift))&0xf])
	}
	dst = append(dst, '|')
	return append(dst, payload...)
}

// Encoder writes drill messages cheaply, for a load that must not make the
// load generator its own bottleneck: payloads are windows into one block of
// random letters, starting at an offset derived from the sequence number,
// so messages differ without a kilobyte of randomness each.
type Encoder struct {
	block []byte
	size  int
}

const payloadWindows = 4096

// NewEncoder returns an encoder of size-byte messages.
func NewEncoder(size int) *Encoder {
	block := make([]byte, size+payloadWindows)
	for i := range block {
		block[i] = 'a' + byte(rand.IntN(26))
	}
	return &Encoder{block: block, size: size}
}

// Append appends message m to dst; m takes the encoder's size unless its
// header alone is longer.
func (e *Encoder) Append(dst []byte, m Message) []byte {
	start := len(dst)
	out := appendHeader(dst, m)
	n := max(e.size-(len(out)-start)-crcLen, 0)
	off := int(uint64(m.Seq)*2654435761) % payloadWindows
	return appendSummed(out, start, e.block[off:off+n])
}

// ErrNotDrillMessage marks a record that raftdrill did not write: it does
// not start with the drill message's magic.
var ErrNotDrillMessage = errors.New("not a raftdrill message")

// Decoded is what a record value says about itself.
type Decoded struct {
	Message
	// Valid: the checksum matches. A record that starts like a drill
	// message but whose header cannot be parsed, or whose checksum fails,
	// is not valid; Message then holds what could be read of it.
	Valid bool
	// Damaged: the header could not be parsed at all.
	Damaged bool
}

// Decode parses a record value. A value without the drill magic gives
// ErrNotDrillMessage. Anything after the magic is judged: a damaged header
// or a checksum that does not match gives Valid false, so that corruption
// of the header is reported as corruption, not as someone else's record.
func Decode(v []byte) (Decoded, error) {
	if !bytes.HasPrefix(v, []byte(magic)) {
		return Decoded{}, ErrNotDrillMessage
	}
	rest := v[len(magic):]
	var fields [4][]byte
	for i := range fields {
		j := bytes.IndexByte(rest, '|')
		if j < 0 {
			return Decoded{Damaged: true}, nil
		}
		fields[i], rest = rest[:j], rest[j+1:]
	}
	var d Decoded
	d.Run = string(fields[0])
	p, err1 := strconv.ParseInt(string(fields[1]), 10, 32)
	seq, err2 := strconv.ParseInt(string(fields[2]), 10, 64)
	sum, err3 := strconv.ParseUint(string(fields[3]), 16, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		d.Damaged = true
		d.Partition, d.Seq = -1, -1
		if err1 == nil {
			d.Partition = int32(p)
		}
		if err2 == nil {
			d.Seq = seq
		}
		return d, nil
	}
	d.Partition, d.Seq = int32(p), seq
	headLen := len(v) - len(rest) - len(fields[3]) - 1
	got := crc32.Update(crc32.Checksum(v[:headLen], crcTable), crcTable, rest)
	d.Valid = got == uint32(sum)
	return d, nil
}

// String is the message as people read it: run/partition/seq.
func (m Message) String() string { return fmt.Sprintf("%s/%d/%d", m.Run, m.Partition, m.Seq) }
