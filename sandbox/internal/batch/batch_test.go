package batch

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// of is one uncompressed batch of records with these values.
func of(values ...string) []byte {
	var recs []kmsg.Record
	for i, v := range values {
		recs = append(recs, kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)})
	}
	return Encode(kmsg.RecordBatch{Magic: 2, LastOffsetDelta: int32(len(values) - 1), MaxTimestamp: 7, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}, recs)
}

// Batches as a producer sends them validate, are served at the offsets a
// broker assigns (from the batch that holds offset from on), and read back
// as they were written; a flipped byte fails the CRC.
func TestBatches(t *testing.T) {
	raw := append(of("a", "b"), of("c")...)
	count, maxTs, err := Validate(raw)
	if err != nil || count != 3 || maxTs != 7 {
		t.Fatalf("validate: %d records, max timestamp %d, %v", count, maxTs, err)
	}
	if c, ts := Count(raw); c != count || ts != maxTs {
		t.Fatalf("count: %d, %d", c, ts)
	}
	served := AppendServed(nil, raw, 10, 12, 4)
	var firsts []int64
	Each(served, func(b []byte) bool {
		firsts = append(firsts, int64(binary.BigEndian.Uint64(b[BaseOffsetAt:])))
		recs, _, ok := Decode(b)
		if !ok || len(recs) != 1 || string(recs[0].Value) != "c" {
			t.Errorf("served batch %v, ok %v", recs, ok)
		}
		return true
	})
	if len(firsts) != 1 || firsts[0] != 12 {
		t.Fatalf("served from offset 12: batches at %v", firsts)
	}
	changed, ok := WithFirstValue(raw, func(v []byte) []byte { return append(v, '!') })
	if v, _ := FirstValue(changed); !ok || string(v) != "a!" {
		t.Fatalf("first value after the change: %q", v)
	}
	if _, _, err := Validate(changed); err != nil {
		t.Fatalf("a rewritten batch: %v", err)
	}
	changed[len(changed)-2] ^= 1
	if _, _, err := Validate(changed); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a flipped byte: %v", err)
	}
}
