package sandbox

import (
	"encoding/binary"
	"slices"

	"github.com/raftdrill/raftdrill/sandbox/internal/batch"
)

// The damage a partition's replica serves: records hidden (lost) and
// records served with another value, on one node or on all of them. It is
// built from the fault directives and lose entries in the committed log
// (internal/entry), so every replica applies the same damage at the same
// point of the log, a restarted node rebuilds it from its disk, and a
// snapshot carries it. What is damaged stays damaged when the fault is turned off,
// as damage to a real log would.

// divergentValue is what a divergent replica serves in place of the record
// the others have: not a raftdrill message, as an old term's entry would not
// be this run's.
var divergentValue = []byte("raftdrill-sandbox: divergent replica: an entry of an older term")

// offRange is the offsets [from, to).
type offRange struct{ From, To int64 }

// servedAs replaces the record at an offset, on one node or (node 0) on
// every node.
type servedAs struct {
	Node  int32  `json:"node"`
	Value []byte `json:"value"`
}

type damageTable struct {
	lost   []offRange
	served map[int64][]servedAs
}

// damageExport is a damage table in a snapshot.
type damageExport struct {
	Lost   []offRange           `json:"lost,omitempty"`
	Served map[int64][]servedAs `json:"served,omitempty"`
}

func newDamageTable() damageTable { return damageTable{served: map[int64][]servedAs{}} }

func (d *damageTable) lose(from, to int64) {
	if from < to {
		d.lost = append(d.lost, offRange{from, to})
	}
}

func (d *damageTable) serve(offset int64, node int32, value []byte) {
	d.served[offset] = append(d.served[offset], servedAs{Node: node, Value: value})
}

func (d *damageTable) export() damageExport {
	return damageExport{Lost: slices.Clone(d.lost), Served: d.served}
}

func (d *damageTable) load(ex damageExport) {
	d.lost = ex.Lost
	if ex.Served != nil {
		d.served = ex.Served
	}
}

// view is the damage one node serves in one partition; nil when none.
type view struct {
	lost   []offRange
	served map[int64][]byte
}

func (d *damageTable) viewFor(node int32, hides []offRange) *view {
	if len(d.lost) == 0 && len(d.served) == 0 && len(hides) == 0 {
		return nil
	}
	v := &view{lost: append(slices.Clone(d.lost), hides...), served: map[int64][]byte{}}
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

func (v *view) isLost(off int64) bool {
	for _, r := range v.lost {
		if off >= r.From && off < r.To {
			return true
		}
	}
	return false
}

// touches reports whether the view changes anything in [first, last].
func (v *view) touches(first, last int64) bool {
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

// visibleEnd is the high watermark a reader may see: a log whose tail was
// lost ends where the loss begins, as a truncated log would.
func (v *view) visibleEnd(hwm int64) int64 {
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

// rewriteBatches applies a view to served record batches. Batches it does
// not touch pass as they are.
func rewriteBatches(raw []byte, v *view) []byte {
	var out []byte
	batch.Each(raw, func(b []byte) bool {
		out = append(out, rewriteBatch(b, v)...)
		return true
	})
	return out
}

func rewriteBatch(raw []byte, v *view) []byte {
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
