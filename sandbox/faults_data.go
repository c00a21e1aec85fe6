package sandbox

import (
	"slices"
	"sync"
)

// Data faults are the faults that damage what the cluster stores or what it
// answers to writes and reads (lost, corrupt, duplicated, divergent,
// reordered, misrouted records; acks that are not acks; refusals that are
// not refusals). They are test equipment like the leadership faults: each
// exists so that a raftdrill check can be shown to catch it. They work on
// the wire (wiretap.go): kfake stores and serves the data, and the tap
// rewrites requests on their way in and answers on their way out.
//
// Counted faults are armed by SetFaults (and New): N means the next N
// occurrences. What they damaged stays damaged when the fault is turned
// off, as damage to a real log would.

// Keys of the counted data faults, as in Faults.
const (
	faultCorrupt   = "corrupt_writes"
	faultDuplicate = "duplicate_writes"
	faultMinusOne  = "ack_offset_minus_one"
	faultRefuse    = "refuse_but_append"
	faultDivergent = "divergent_writes"
	faultReorder   = "reorder_writes"
	faultPhantom   = "phantom_writes"
)

// divergentValue is what a divergent replica serves in place of the record
// the others have: not a raftdrill message, as an old term's entry would not
// be this run's.
var divergentValue = []byte("raftdrill-sandbox: divergent replica: an entry of an older term")

type tp struct {
	topic     string
	partition int32
}

// offRange is the offsets [from, to).
type offRange struct{ from, to int64 }

// servedAs replaces the record at an offset, on one node or (node 0) on
// every node.
type servedAs struct {
	node  int32
	value []byte
}

// partDamage is what is wrong with one partition's log as the nodes serve it.
type partDamage struct {
	lost   []offRange
	served map[int64][]servedAs
}

// pendingSwap is the first record of a reorder pair, waiting for the next.
type pendingSwap struct {
	offset int64
	value  []byte
}

// dataFaults holds the armed counts and the damage done.
type dataFaults struct {
	mu        sync.Mutex
	left      map[string]int
	damage    map[tp]*partDamage
	lastValue map[tp][]byte // last value produced per partition, for phantoms
	swaps     map[tp]*pendingSwap
}

func newDataFaults() *dataFaults {
	return &dataFaults{left: map[string]int{}, damage: map[tp]*partDamage{}, lastValue: map[tp][]byte{}, swaps: map[tp]*pendingSwap{}}
}

// arm replaces the armed counts; damage already done stays.
func (d *dataFaults) arm(f Faults) {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.left)
	for _, fc := range f.Counts() {
		if fc.N > 0 {
			d.left[fc.Key] = fc.N
		}
	}
	clear(d.swaps)
}

// armed reports whether any of the faults has occurrences left.
func (d *dataFaults) armed(keys ...string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		if d.left[k] > 0 {
			return true
		}
	}
	return false
}

// take uses up one occurrence of a fault, if one is left.
func (d *dataFaults) take(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.takeLocked(key)
}

func (d *dataFaults) takeLocked(key string) bool {
	if d.left[key] <= 0 {
		return false
	}
	d.left[key]--
	return true
}

func (d *dataFaults) part(t tp) *partDamage {
	pd := d.damage[t]
	if pd == nil {
		pd = &partDamage{served: map[int64][]servedAs{}}
		d.damage[t] = pd
	}
	return pd
}

// lose hides [from, to) of a partition from every node, for good.
func (d *dataFaults) lose(t tp, from, to int64) {
	if from >= to {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	pd := d.part(t)
	pd.lost = append(pd.lost, offRange{from, to})
}

// appended learns of a record the cluster appended and acked at offset, and
// arms the damage that depends on where records land: a divergent copy on
// replica, a swap with the next record.
func (d *dataFaults) appended(t tp, offset int64, value []byte, replica int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if replica > 0 && d.takeLocked(faultDivergent) {
		pd := d.part(t)
		pd.served[offset] = append(pd.served[offset], servedAs{node: replica, value: divergentValue})
	}
	if d.left[faultReorder] <= 0 {
		return
	}
	first := d.swaps[t]
	if first == nil {
		d.swaps[t] = &pendingSwap{offset: offset, value: value}
		return
	}
	delete(d.swaps, t)
	d.takeLocked(faultReorder)
	pd := d.part(t)
	pd.served[first.offset] = append(pd.served[first.offset], servedAs{value: value})
	pd.served[offset] = append(pd.served[offset], servedAs{value: first.value})
}

// phantomFor returns the last value produced to another partition of the
// same topic, and remembers value as this partition's last, while phantoms
// are armed. ok is false when no phantom is to be written now.
func (d *dataFaults) phantomFor(t tp, value []byte) (phantom []byte, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.left[faultPhantom] <= 0 {
		return nil, false
	}
	defer func() { d.lastValue[t] = slices.Clone(value) }()
	for other, v := range d.lastValue {
		if other.topic == t.topic && other.partition != t.partition && d.takeLocked(faultPhantom) {
			return v, true
		}
	}
	return nil, false
}

// view is the damage node sees in one partition; nil when there is none.
type view struct {
	lost   []offRange
	served map[int64][]byte
}

func (d *dataFaults) viewFor(t tp, node int32) *view {
	d.mu.Lock()
	defer d.mu.Unlock()
	pd := d.damage[t]
	if pd == nil {
		return nil
	}
	v := &view{lost: slices.Clone(pd.lost), served: map[int64][]byte{}}
	for off, ss := range pd.served {
		for _, s := range ss {
			// A node-specific copy wins over one every node serves.
			if s.node == node || (s.node == 0 && v.served[off] == nil) {
				v.served[off] = s.value
			}
		}
	}
	if len(v.lost) == 0 && len(v.served) == 0 {
		return nil
	}
	return v
}

// anyDamage reports whether some partition is damaged, so that a fetch
// answer is only decoded when it may need rewriting.
func (d *dataFaults) anyDamage() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.damage) > 0
}

func (v *view) isLost(off int64) bool {
	for _, r := range v.lost {
		if off >= r.from && off < r.to {
			return true
		}
	}
	return false
}

// touches reports whether the view changes anything in [first, last].
func (v *view) touches(first, last int64) bool {
	for _, r := range v.lost {
		if r.from <= last && r.to > first {
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
			if r.to == hwm && r.from < hwm {
				hwm, changed = r.from, true
			}
		}
	}
	return hwm
}
