package damage

import (
	"encoding/binary"
	"slices"

	"github.com/raftdrill/raftdrill/sandbox/internal/batch"
)

// Range is the offsets [From, To).
type Range struct{ From, To int64 }

// servedAs replaces the record at an offset, on one node or (node 0) on
// every node.
type servedAs struct {
	Node  int32  `json:"node"`
	Value []byte `json:"value"`
}

// Table is the damage in one partition as its committed log says: every
// replica holds the same table, though some of it only one node serves.
type Table struct {
	lost   []Range
	served map[int64][]servedAs
}

// Export is a damage table in a snapshot.
type Export struct {
	Lost   []Range              `json:"lost,omitempty"`
	Served map[int64][]servedAs `json:"served,omitempty"`
}

// NewTable is a table of no damage.
func NewTable() Table { return Table{served: map[int64][]servedAs{}} }

// Lose hides offsets [from, to) on every node.
func (d *Table) Lose(from, to int64) {
	if from < to {
		d.lost = append(d.lost, Range{from, to})
	}
}

// Serve makes node (0: every node) serve value as the record at offset.
func (d *Table) Serve(offset int64, node int32, value []byte) {
	d.served[offset] = append(d.served[offset], servedAs{Node: node, Value: value})
}

// Export is the table for a snapshot.
func (d *Table) Export() Export {
	return Export{Lost: slices.Clone(d.lost), Served: d.served}
}

// Load starts from a snapshot's table.
func (d *Table) Load(ex Export) {
	d.lost = ex.Lost
	if ex.Served != nil {
		d.served = ex.Served
	}
}

// View is the damage one node serves in one partition; nil when none.
type View struct {
	lost   []Range
	served map[int64][]byte
}

// ViewFor is the damage node serves, with the offsets it hides besides
// (before a lose entry says so durably).
func (d *Table) ViewFor(node int32, hides []Range) *View {
	if len(d.lost) == 0 && len(d.served) == 0 && len(hides) == 0 {
		return nil
	}
	v := &View{lost: append(slices.Clone(d.lost), hides...), served: map[int64][]byte{}}
	for off, ss := range d.served {
		for _, s := range ss {
			// A node-specific copy wins over one every node serves.
			if s.Node == node || (s.Node == 0 && v.served[off] == nil) {
				v.served[off] = s.Value
			}
		}
	}
	if len(v.lost) == 0 && len(v.served) == 0 {
		return nil
	}
	return v
}

func (v *View) isLost(off int64) bool {
	for _, r := range v.lost {
		if off >= r.From && off < r.To {
			return true
		}
	}
	return false
}

// touches reports whether the view changes anything in [first, last].
func (v *View) touches(first, last int64) bool {
	for _, r := range v.lost {
		if r.From <= last && r.To > first {
			return true
		}
	}
	for off := range v.served {
		if off >= first && off <= last {
			return true
		}
	}
	return false
}

// VisibleEnd is the high watermark a reader may see: a log whose tail was
// lost ends where the loss begins, as a truncated log would.
func (v *View) VisibleEnd(hwm int64) int64 {
	for changed := true; changed; {
		changed = false
		for _, r := range v.lost {
			if r.To >= hwm && r.From < hwm {
				hwm, changed = r.From, true
			}
		}
	}
	return hwm
}

// Rewrite applies a view to served record batches. Batches it does not
// touch pass as they are.
func Rewrite(raw []byte, v *View) []byte {
	var out []byte
	batch.Each(raw, func(b []byte) bool {
		out = append(out, rewriteBatch(b, v)...)
		return true
	})
	return out
}

func rewriteBatch(raw []byte, v *View) []byte {
	if len(raw) < batch.HeaderLen {
		return raw
	}
	first := int64(binary.BigEndian.Uint64(raw[batch.BaseOffsetAt:]))
	last := first + int64(int32(binary.BigEndian.Uint32(raw[batch.LastDeltaAt:])))
	if !v.touches(first, last) {
		return raw
	}
	recs, b, ok := batch.Decode(raw)
	if !ok {
		return raw
	}
	kept := recs[:0]
	for _, r := range recs {
		off := first + int64(r.OffsetDelta)
		if v.isLost(off) {
			continue
		}
		if val, ok := v.served[off]; ok {
			r.Value = val
		}
		kept = append(kept, r)
	}
	if len(kept) == 0 {
		return nil
	}
	return batch.Encode(b, kept)
}
