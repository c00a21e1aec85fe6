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
// not start with the drill message's magic (nor with the magic less one
// damaged byte).
var ErrNotDrillMessage = errors.New("not a raftdrill message")

// Decoded is what a record value says about itself.
type Decoded struct {
	Message
	// Valid: the checksum matches. A record that starts like a drill
	// message but whose header cannot be parsed, or whose checksum fails,
	// is not valid; Message then holds what could be read of it
	// (Partition and Seq -1 where they could not).
	Valid bool
	// Damaged: the header could not be parsed at all, or its magic has one
	// damaged byte.
	Damaged bool
	// Sum identifies the value, so that two copies can be compared without
	// keeping them: a valid message's own checksum, otherwise a CRC-32C of
	// the whole value.
	Sum uint32
}

// Decode parses a record value. A value without the drill magic gives
// ErrNotDrillMessage. Anything after the magic is judged: a damaged header
// or a checksum that does not match gives Valid false, so that corruption
// of the header is reported as corruption, not as someone else's record.
// A magic with one damaged byte is a damaged drill message too.
func Decode(v []byte) (Decoded, error) { return DecodeFor(v, "") }

// DecodeFor is Decode for a reader that expects the run run: a message of
// that run shares the string instead of allocating its own, so that a
// million records decode without a million allocations.
func DecodeFor(v []byte, run string) (Decoded, error) {
	if len(v) < len(magic) || string(v[:len(magic)]) != magic {
		if !nearMagic(v) {
			return Decoded{}, ErrNotDrillMessage
		}
		d := parse(v, run)
		d.Valid, d.Damaged, d.Sum = false, true, crc32.Checksum(v, crcTable)
		return d, nil
	}
	return parse(v, run), nil
}

// nearMagic: the magic with exactly one byte changed.
func nearMagic(v []byte) bool {
	if len(v) < len(magic) {
		return false
	}
	diff := 0
	for i := range len(magic) {
		if v[i] != magic[i] {
			diff++
		}
	}
	return diff == 1
}

// parse reads the header after the magic and checks the checksum.
func parse(v []byte, run string) Decoded {
	d := Decoded{Message: Message{Partition: -1, Seq: -1}}
	rest := v[len(magic):]
	var fields [4][]byte
	for i := range fields {
		j := bytes.IndexByte(rest, '|')
		if j < 0 {
			d.Damaged, d.Sum = true, crc32.Checksum(v, crcTable)
			return d
		}
		fields[i], rest = rest[:j], rest[j+1:]
	}
	if run != "" && string(fields[0]) == run {
		d.Run = run
	} else {
		d.Run = string(fields[0])
	}
	p, ok1 := parseInt(fields[1])
	seq, ok2 := parseInt(fields[2])
	sum, ok3 := parseHex32(fields[3])
	if ok1 && p <= 1<<31-1 {
		d.Partition = int32(p)
	} else {
		ok1 = false
	}
	if ok2 {
		d.Seq = seq
	}
	if !ok1 || !ok2 || !ok3 {
		d.Damaged, d.Sum = true, crc32.Checksum(v, crcTable)
		return d
	}
	headLen := len(v) - len(rest) - len(fields[3]) - 1
	got := crc32.Update(crc32.Checksum(v[:headLen], crcTable), crcTable, rest)
	d.Valid = got == sum
	d.Sum = sum
	if !d.Valid {
		d.Sum = crc32.Checksum(v, crcTable)
	}
	return d
}

// parseInt reads a non-negative decimal as Encode writes it (no sign, no
// leading zeros but for 0 itself).
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseHex32 reads the checksum field: exactly 8 lower-case hex digits.
func parseHex32(b []byte) (uint32, bool) {
	if len(b) != 8 {
		return 0, false
	}
	var n uint32
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | uint32(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | uint32(c-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// String is the message as people read it: run/partition/seq.
func (m Message) String() string { return fmt.Sprintf("%s/%d/%d", m.Run, m.Partition, m.Seq) }
