package message

import (
	"strings"
	"testing"
)

func TestEncodersWriteWhatDecodeReads(t *testing.T) {
	t.Parallel()
	enc := NewEncoder(1024)
	var buf []byte
	seen := map[string]bool{}
	for seq := int64(0); seq < 50; seq++ {
		m := Message{Run: "20260101T000000Z-abcdef", Partition: int32(seq % 3), Seq: seq}
		for name, v := range map[string][]byte{"Encode": Encode(m, 1024), "Encoder": enc.Append(buf[:0], m)} {
			if len(v) != 1024 {
				t.Fatalf("%s seq %d: %d bytes", name, seq, len(v))
			}
			d, err := Decode(v)
			if err != nil || !d.Valid || d.Message != m {
				t.Fatalf("%s seq %d: decoded %+v err=%v", name, seq, d, err)
			}
			v[len(v)-1] ^= 1
			if d, _ := Decode(v); d.Valid {
				t.Fatalf("%s seq %d: a flipped payload bit passes the checksum", name, seq)
			}
		}
		v := enc.Append(nil, m)
		payload := string(v[len(v)-900:])
		if seen[payload] {
			t.Fatalf("seq %d: same payload as an earlier message", seq)
		}
		seen[payload] = true
	}
	// A header longer than the size wins over the size.
	long := enc.Append(nil, Message{Run: strings.Repeat("r", 2000), Seq: 1})
	if d, err := Decode(long); err != nil || !d.Valid {
		t.Fatalf("long header: %+v err=%v", d, err)
	}
	// Append appends: the batch producer writes a batch's values back to back.
	two := enc.Append(enc.Append(nil, Message{Run: "r", Seq: 1}), Message{Run: "r", Seq: 2})
	for i, v := range [][]byte{two[:1024], two[1024:]} {
		if d, err := Decode(v); err != nil || !d.Valid || d.Seq != int64(i+1) {
			t.Fatalf("appended message %d: %+v err=%v", i, d, err)
		}
	}
}

// A damaged header is corruption, not someone else's record: only a value
// without the magic is not a drill message.
func TestDecodeJudgesDamagedHeaders(t *testing.T) {
	t.Parallel()
	good := Encode(Message{Run: "run-1", Partition: 2, Seq: 7}, 200)
	for _, tc := range []struct {
		name    string
		value   []byte
		foreign bool
		damaged bool
	}{
		{"someone else's record", []byte("hello"), true, false},
		{"run id changed", []byte(strings.Replace(string(good), "run-1", "run-2", 1)), false, false},
		{"sequence not a number", []byte(strings.Replace(string(good), "|7|", "|x|", 1)), false, true},
		{"separators gone", good[:6], false, true},
	} {
		d, err := Decode(tc.value)
		if (err == ErrNotDrillMessage) != tc.foreign || d.Damaged != tc.damaged || (!tc.foreign && d.Valid) {
			t.Errorf("%s: %+v err=%v", tc.name, d, err)
		}
	}
}

// One damaged byte anywhere in the header, the magic included, is damage to
// a drill message, never a stranger's record; and every damaged copy is
// told apart from the intact one by its Sum.
func TestDecodeNamesEveryHeaderByteDamaged(t *testing.T) {
	t.Parallel()
	good := Encode(Message{Run: "run-1", Partition: 2, Seq: 7}, 120)
	want, err := Decode(good)
	if err != nil || !want.Valid {
		t.Fatalf("%+v %v", want, err)
	}
	headEnd := strings.LastIndexByte(string(good[:40]), '|') + 1
	for i := range headEnd {
		v := append([]byte(nil), good...)
		v[i] ^= 0x04
		d, err := Decode(v)
		if err != nil {
			t.Fatalf("byte %d flipped: read as not ours (%v)", i, err)
		}
		if d.Valid || d.Sum == want.Sum {
			t.Fatalf("byte %d flipped: %+v", i, d)
		}
	}
	if _, err := Decode([]byte("rq2|x")); err != ErrNotDrillMessage {
		t.Fatalf("two bytes of the magic changed: %v", err)
	}
}

// DecodeFor shares the expected run's string: no allocation per record.
func TestDecodeForDoesNotAllocate(t *testing.T) {
	run := "20260101T000000Z-abcdef"
	v := Encode(Message{Run: run, Partition: 1, Seq: 123456}, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		d, err := DecodeFor(v, run)
		if err != nil || !d.Valid || d.Run != run || d.Seq != 123456 {
			t.Fatalf("%+v %v", d, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per decode", allocs)
	}
}
