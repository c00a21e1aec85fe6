package entry

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/raftdrill/raftdrill/sandbox/internal/batch"
)

// Each kind of entry reads back as written, with its proposal id; only a
// records entry takes Kafka offsets.
func TestEntries(t *testing.T) {
	recs := batch.Encode(kmsg.RecordBatch{Magic: 2, LastOffsetDelta: 1, MaxTimestamp: 5, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1},
		[]kmsg.Record{{Value: []byte("a")}, {OffsetDelta: 1, Value: []byte("b")}})
	dirs := Directives{DivergentNode: 3, DivergentValue: []byte("x"), Swap: true, SwapOffset: 9, SwapValue: []byte("y")}
	data := EncodeRecords(41, dirs, recs)
	if kind, id := Kind(data); kind != Records || id != 41 {
		t.Fatalf("records entry: kind %d, id %d", kind, id)
	}
	d, got, err := DecodeRecords(data)
	if err != nil || !bytes.Equal(got, recs) || d.DivergentNode != 3 || string(d.DivergentValue) != "x" || !d.Swap || d.SwapOffset != 9 || string(d.SwapValue) != "y" {
		t.Fatalf("records entry: %+v, %v", d, err)
	}
	if n, ts := Count(data); n != 2 || ts != 5 {
		t.Fatalf("records entry takes %d offsets, max timestamp %d", n, ts)
	}
	if _, _, err := DecodeRecords(data[:HeaderLen+3]); err == nil {
		t.Fatal("a cut records entry decoded")
	}
	lose := EncodeLose(42, 7, 11)
	if from, to, err := DecodeLose(lose); err != nil || from != 7 || to != 11 {
		t.Fatalf("lose entry: [%d, %d) %v", from, to, err)
	}
	meta := EncodeMeta(43, []byte(`{"op":"create"}`))
	if kind, id := Kind(meta); kind != MetaCmd || id != 43 || string(meta[HeaderLen:]) != `{"op":"create"}` {
		t.Fatalf("metadata entry: kind %d, id %d", kind, id)
	}
	for _, d := range [][]byte{lose, meta, nil} {
		if n, _ := Count(d); n != 0 {
			t.Fatalf("%q takes %d offsets", d, n)
		}
	}
}
