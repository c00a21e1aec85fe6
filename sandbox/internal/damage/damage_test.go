package damage

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/raftdrill/raftdrill/sandbox/internal/batch"
)

// served is what a node reads of a batch at offset 0 of values v0..v7
// through a view, offset by offset.
func served(t *testing.T, v *View) []string {
	t.Helper()
	var recs []kmsg.Record
	for i := range 8 {
		recs = append(recs, kmsg.Record{OffsetDelta: int32(i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	raw := batch.Encode(kmsg.RecordBatch{Magic: 2, LastOffsetDelta: 7, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}, recs)
	var out []string
	batch.Each(Rewrite(raw, v), func(b []byte) bool {
		first := int64(binary.BigEndian.Uint64(b[batch.BaseOffsetAt:]))
		rs, _, _ := batch.Decode(b)
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%d:%s", first+int64(r.OffsetDelta), r.Value))
		}
		return true
	})
	return out
}

// Lost records are gone on every node and end the visible log when they
// are its tail; a record served as another value is so on the node named,
// or on every node, the named node's copy first; a snapshot keeps it all.
func TestDamage(t *testing.T) {
	d := NewTable()
	if d.ViewFor(1, nil) != nil {
		t.Fatal("a view of no damage")
	}
	d.Lose(5, 8)
	d.Serve(2, 0, []byte("all"))
	d.Serve(2, 3, []byte("three"))
	b, err := json.Marshal(d.Export())
	if err != nil {
		t.Fatal(err)
	}
	var ex Export
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatal(err)
	}
	restored := NewTable()
	restored.Load(ex)
	for _, tc := range []struct {
		node  int32
		hides []Range
		want  []string
	}{
		{1, nil, []string{"0:v0", "1:v1", "2:all", "3:v3", "4:v4"}},
		{3, nil, []string{"0:v0", "1:v1", "2:three", "3:v3", "4:v4"}},
		{1, []Range{{From: 0, To: 1}}, []string{"1:v1", "2:all", "3:v3", "4:v4"}},
	} {
		for _, tb := range []*Table{&d, &restored} {
			v := tb.ViewFor(tc.node, tc.hides)
			if got := served(t, v); !slices.Equal(got, tc.want) {
				t.Errorf("node %d hiding %v serves %v, want %v", tc.node, tc.hides, got, tc.want)
			}
			if end := v.VisibleEnd(8); end != 5 {
				t.Errorf("visible end %d, want 5 (where the lost tail starts)", end)
			}
			if end := v.VisibleEnd(9); end != 9 {
				t.Errorf("visible end %d, want 9 (a record after the loss)", end)
			}
		}
	}
}
