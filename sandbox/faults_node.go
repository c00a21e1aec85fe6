package sandbox

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/raftdrill/raftdrill/sandbox/internal/batch"
	"go.etcd.io/raft/v3"
)

// Per-node faults (node_faults) change what one replica serves, not what
// the log holds: its Fetch answers and its produce answers. The data
// faults travel inside Raft entries so that every replica applies them
// alike; these are the opposite, one node lying about an intact log, as a
// broker with a bad disk path, a stale cache or a stuck fetcher would. They
// are applied where the node answers, at answer time, so the log (and
// Cluster.Log) stays true and turning a fault off heals what is served.
//
// Which records a counted fault damages is decided once, cluster-wide,
// when they are acked (the next N acked records after the fault was set),
// and kept with the fault state; which node serves the damage is decided
// at each answer, by the key: a node id, or the role the node plays for
// the partition at that moment (leader, or follower: the highest-numbered
// replica that does not lead).

// NodeFaults are the faults of one node, or of whichever node plays a role
// (Faults.NodeFaults).
type NodeFaults struct {
	// BadCRCBatches N: the next N acked records are served in batches
	// whose CRC fails (a payload byte flipped, the stored CRC kept).
	BadCRCBatches int `mapstructure:"bad_crc_batches" json:"bad_crc_batches,omitempty"`
	// FlippedBytes N: the next N acked records are served with one
	// payload byte flipped and the batch CRC recomputed, so only an
	// end-to-end checksum notices.
	FlippedBytes int `mapstructure:"flipped_bytes" json:"flipped_bytes,omitempty"`
	// DamagedHeaders N: the next N acked records are served with one byte
	// of the drill header (the run id) flipped, batch CRC recomputed.
	DamagedHeaders int `mapstructure:"damaged_headers" json:"damaged_headers,omitempty"`
	// DropAcked N: while the node leads, it serves the next N acked
	// records as missing (a gap), which the other replicas keep.
	DropAcked int `mapstructure:"drop_acked" json:"drop_acked,omitempty"`
	// AckOffsetShift D with AckOffsetShiftCount N: the node answers the
	// next N successful produces with the base offset plus D.
	AckOffsetShift      int64 `mapstructure:"ack_offset_shift" json:"ack_offset_shift,omitempty"`
	AckOffsetShiftCount int   `mapstructure:"ack_offset_shift_count" json:"ack_offset_shift_count,omitempty"`
	// StaleRecords N: at the next N acked offsets the node serves the
	// record of the offset before (an older entry it failed to replace).
	StaleRecords int `mapstructure:"stale_records" json:"stale_records,omitempty"`
	// NeverCatchUp: the node stops replicating, as its answers show: it
	// serves and reports its high watermark as it was when the fault was
	// set (a restarted node, as its log starts replaying), and, as a
	// replica that far behind could not win an election, it does not
	// stand for one and hands over what it leads. Raft underneath goes
	// on: it still votes, and its leader still counts it in the ISR.
	NeverCatchUp bool `mapstructure:"never_catch_up" json:"never_catch_up,omitempty"`
	// RefuseFetch: the node answers every Fetch NOT_LEADER_OR_FOLLOWER.
	RefuseFetch bool `mapstructure:"refuse_fetch" json:"refuse_fetch,omitempty"`
}

// The roles a node_faults key may name instead of a node id.
const (
	roleLeader   = "leader"
	roleFollower = "follower"
)

// damageKind is what a counted per-node fault does to one served record.
type damageKind uint8

const (
	damageBadCRC damageKind = 1 << iota
	damageFlip
	damageHeader
	damageDrop
	damageStale
)

// nodeCount is one counted field of a NodeFaults entry.
type nodeCount struct {
	field  string
	n      int
	damage damageKind // 0: not a serve-time damage (ack_offset_shift_count)
}

func (nf NodeFaults) counts() []nodeCount {
	return []nodeCount{
		{"bad_crc_batches", nf.BadCRCBatches, damageBadCRC},
		{"flipped_bytes", nf.FlippedBytes, damageFlip},
		{"damaged_headers", nf.DamagedHeaders, damageHeader},
		{"drop_acked", nf.DropAcked, damageDrop},
		{"stale_records", nf.StaleRecords, damageStale},
		{"ack_offset_shift_count", nf.AckOffsetShiftCount, 0},
	}
}

// nodeCountKey is a counted per-node fault's key path, as Counts and
// validation name it.
func nodeCountKey(sel, field string) string { return "node_faults." + sel + "." + field }

// nodeSelectors are the keys of NodeFaults in a fixed order, so that which
// entry takes an ack does not depend on map order.
func (f Faults) nodeSelectors() []string {
	return slices.Sorted(maps.Keys(f.NodeFaults))
}

// FaultProblem is one thing wrong with a Faults value, by key path under
// the faults (e.g. "node_faults.follower.drop_acked").
type FaultProblem struct {
	Key string
	Msg string
}

// Problems lists what is wrong with the faults for a sandbox of nodes
// nodes: negative counts, node_faults keys that name no node nor role, and
// per-node faults that could never act where they are set.
func (f Faults) Problems(nodes int) []FaultProblem {
	var out []FaultProblem
	for _, fc := range f.Counts() {
		if fc.N < 0 {
			out = append(out, FaultProblem{fc.Key, "must be >= 0 (0: off)"})
		}
	}
	for _, sel := range f.nodeSelectors() {
		nf := f.NodeFaults[sel]
		key := "node_faults." + sel
		if sel != roleLeader && sel != roleFollower {
			if id, err := strconv.Atoi(sel); err != nil || id < 1 || id > nodes || strconv.Itoa(id) != sel {
				out = append(out, FaultProblem{key, fmt.Sprintf("unknown node or role %q (want a node id 1..%d, %s or %s)", sel, nodes, roleLeader, roleFollower)})
				continue
			}
		}
		switch {
		case nf.AckOffsetShift != 0 && nf.AckOffsetShiftCount == 0:
			out = append(out, FaultProblem{key + ".ack_offset_shift_count", "must be > 0 with ack_offset_shift (how many answers to shift)"})
		case nf.AckOffsetShift == 0 && nf.AckOffsetShiftCount > 0:
			out = append(out, FaultProblem{key + ".ack_offset_shift", "must not be 0 with ack_offset_shift_count"})
		}
		if sel == roleFollower && nf.AckOffsetShiftCount > 0 {
			out = append(out, FaultProblem{key + ".ack_offset_shift_count", "a follower answers no produce: name the leader or a node id"})
		}
		if sel == roleFollower && nf.DropAcked > 0 {
			out = append(out, FaultProblem{key + ".drop_acked", "acts while the node leads, which a follower never does: name the leader or a node id"})
		}
		if sel == roleLeader && nf.NeverCatchUp {
			out = append(out, FaultProblem{key + ".never_catch_up", "a replica that stops replicating cannot lead: name a node id or the follower"})
		}
	}
	return out
}

// servePlan is what the nodes need to answer with the per-node faults: the
// faults by key and the records the counted ones damage. Immutable once
// published; a new one replaces it at every change.
type servePlan struct {
	// Gen counts the times the faults were set: a never_catch_up replica
	// freezes once per generation.
	Gen     uint64       `json:"gen"`
	Entries []serveEntry `json:"entries"`
}

type serveEntry struct {
	Sel          string      `json:"sel"`
	NeverCatchUp bool        `json:"never_catch_up,omitempty"`
	RefuseFetch  bool        `json:"refuse_fetch,omitempty"`
	Marks        []serveMark `json:"marks,omitempty"`

	byTP map[tp]map[int64]damageKind
}

// serveMark is one acked record a counted fault damages.
type serveMark struct {
	TP     tp         `json:"tp"`
	Offset int64      `json:"offset"`
	Damage damageKind `json:"damage"`
}

// index builds the lookup of the marks by partition; a plan that crossed to
// a child process is indexed again there.
func (pl *servePlan) index() *servePlan {
	if pl == nil {
		return nil
	}
	for i := range pl.Entries {
		e := &pl.Entries[i]
		e.byTP = map[tp]map[int64]damageKind{}
		for _, m := range e.Marks {
			if e.byTP[m.TP] == nil {
				e.byTP[m.TP] = map[int64]damageKind{}
			}
			e.byTP[m.TP][m.Offset] |= m.Damage
		}
	}
	return pl
}

// freezes reports whether a never_catch_up fault is set anywhere.
func (pl *servePlan) freezes() bool {
	if pl == nil {
		return false
	}
	for _, e := range pl.Entries {
		if e.NeverCatchUp {
			return true
		}
	}
	return false
}

// noCampaign reports whether node id stopped replicating (never_catch_up
// by its id), so must neither lead nor stand for election.
func (pl *servePlan) noCampaign(id int32) bool {
	if pl == nil {
		return false
	}
	sel := strconv.Itoa(int(id))
	for _, e := range pl.Entries {
		if e.NeverCatchUp && e.Sel == sel {
			return true
		}
	}
	return false
}

// rebuildPlanLocked publishes the plan for the current faults and marks.
// Callers hold s.mu.
func (s *faultState) rebuildPlanLocked() {
	if len(s.f.NodeFaults) == 0 {
		s.plan.Store(nil)
		return
	}
	pl := &servePlan{Gen: s.gen}
	for _, sel := range s.f.nodeSelectors() {
		nf := s.f.NodeFaults[sel]
		pl.Entries = append(pl.Entries, serveEntry{Sel: sel, NeverCatchUp: nf.NeverCatchUp, RefuseFetch: nf.RefuseFetch, Marks: slices.Clone(s.marks[sel])})
	}
	s.plan.Store(pl.index())
}

// shiftLocked is the shift the per-node faults put on an ack node answers,
// taking one from its count. Callers hold s.mu.
func (s *faultState) shiftLocked(node int32) int64 {
	id := strconv.Itoa(int(node))
	for _, sel := range s.f.nodeSelectors() {
		nf := s.f.NodeFaults[sel]
		// The node that acks leads: "leader" is whoever answers.
		if nf.AckOffsetShift == 0 || (sel != roleLeader && sel != id) {
			continue
		}
		if s.takeLocked(nodeCountKey(sel, "ack_offset_shift_count")) {
			return nf.AckOffsetShift
		}
	}
	return 0
}

// markLocked lets the armed per-node damage take the acked records
// [base, base+n) of a partition, one count each. Callers hold s.mu.
func (s *faultState) markLocked(p tp, base, n int64) {
	changed := false
	for _, sel := range s.f.nodeSelectors() {
		for _, c := range s.f.NodeFaults[sel].counts() {
			if c.damage == 0 {
				continue
			}
			for off := base; off < base+n && s.takeLocked(nodeCountKey(sel, c.field)); off++ {
				s.marks[sel] = append(s.marks[sel], serveMark{TP: p, Offset: off, Damage: c.damage})
				changed = true
			}
		}
	}
	if changed {
		s.rebuildPlanLocked()
	}
}

// served is what the per-node faults make of one partition's answer on
// this node now.
type served struct {
	refuse bool
	frozen int64 // the high watermark to report; -1: the true one
	marks  map[int64]damageKind
}

var noServeFaults = served{frozen: -1}

// cap is the high watermark the node reports.
func (sf served) cap(hwm int64) int64 {
	if sf.frozen >= 0 {
		return min(hwm, sf.frozen)
	}
	return hwm
}

// servedFaults says what this replica's answers are to show now, by the
// role it plays at this moment.
func (p *partition) servedFaults() served {
	pl := p.n.env.servePlan()
	if pl == nil {
		return noServeFaults
	}
	sf := noServeFaults
	key := tp{p.topic, p.index}
	gs := p.g.state()
	leads := gs.state == raft.StateLeader
	for i := range pl.Entries {
		e := &pl.Entries[i]
		if !p.plays(e.Sel, gs) {
			continue
		}
		sf.refuse = sf.refuse || e.RefuseFetch
		if e.NeverCatchUp {
			sf.frozen = p.frozenAt(pl.Gen)
		}
		for off, d := range e.byTP[key] {
			if d&damageDrop != 0 && !leads {
				d &^= damageDrop // drop_acked acts while the node leads
			}
			if d == 0 {
				continue
			}
			if sf.marks == nil {
				sf.marks = map[int64]damageKind{}
			}
			sf.marks[off] |= d
		}
	}
	return sf
}

// plays reports whether this node is what sel names for the partition,
// given its group's state: its id, the leader, or the follower (the
// highest-numbered replica other than the leader it knows or last knew).
func (p *partition) plays(sel string, gs groupState) bool {
	me := p.n.spec.ID
	switch sel {
	case roleLeader:
		return gs.state == raft.StateLeader
	case roleFollower:
		if gs.state == raft.StateLeader {
			return false
		}
		lead := int32(gs.lead)
		if lead == 0 {
			lead = int32(gs.lastLead)
		}
		return p.highestReplicaBut(lead) == me
	}
	return sel == strconv.Itoa(int(me))
}

// frozenAt is the high watermark a never_catch_up replica shows for the
// faults of generation gen: where it was when they were set. applied
// freezes it before the first commit after that; with none since, it is
// where it is now.
func (p *partition) frozenAt(gen uint64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozenGen != gen {
		p.frozen, p.frozenGen = p.hwm, gen
	}
	return p.frozen
}

// staleValue is what a replica serves for the record before an offset
// that has none (the first of the log).
var staleValue = []byte("raftdrill-sandbox: stale replica: an entry of an older term")

// damageServed applies the per-node damage to served batches. A batch
// whose records are all dropped is served empty (its offsets kept, as
// compaction leaves it), so that a reader moves past the gap.
func (p *partition) damageServed(raw []byte, marks map[int64]damageKind) []byte {
	var out []byte
	batch.Each(raw, func(b []byte) bool {
		out = append(out, p.damageBatch(b, marks)...)
		return true
	})
	return out
}

func (p *partition) damageBatch(raw []byte, marks map[int64]damageKind) []byte {
	if len(raw) < batch.HeaderLen {
		return raw
	}
	first := int64(binary.BigEndian.Uint64(raw[batch.BaseOffsetAt:]))
	last := first + int64(int32(binary.BigEndian.Uint32(raw[batch.LastDeltaAt:])))
	touched := false
	for off := range marks {
		touched = touched || (off >= first && off <= last)
	}
	if !touched {
		return raw
	}
	recs, hdr, ok := batch.Decode(raw)
	if !ok {
		return raw // compressed: passes untouched, as the data faults' do
	}
	badCRC := false
	kept := recs[:0]
	for _, r := range recs {
		off := first + int64(r.OffsetDelta)
		d := marks[off]
		if d&damageDrop != 0 {
			continue
		}
		if d&damageStale != 0 {
			r.Value = p.valueAt(off - 1)
		}
		if d&(damageFlip|damageBadCRC) != 0 && len(r.Value) > 0 {
			r.Value = slices.Clone(r.Value)
			r.Value[len(r.Value)-1] ^= 0x04
		}
		if d&damageHeader != 0 && len(r.Value) > 0 {
			// A raftdrill message starts "rd1|<run id>|": its seventh
			// byte is in the run id.
			r.Value = slices.Clone(r.Value)
			r.Value[min(6, len(r.Value)-1)] ^= 0x04
		}
		badCRC = badCRC || d&damageBadCRC != 0
		kept = append(kept, r)
	}
	out := batch.Encode(hdr, kept)
	if badCRC {
		// The CRC the producer computed, over what it sent: it no longer
		// matches what is served.
		crc := binary.BigEndian.Uint32(raw[batch.CRCAt:])
		if crc == batch.CRC(out) {
			crc = ^crc
		}
		binary.BigEndian.PutUint32(out[batch.CRCAt:], crc)
	}
	return out
}

// valueAt is the value this replica's log holds at offset off, or
// staleValue if it holds none there.
func (p *partition) valueAt(off int64) []byte {
	if off < p.g.st.LogStart() {
		return staleValue
	}
	raw, err := readRecords(p.g.st, nil, off, off+1, 1)
	if err != nil {
		return staleValue
	}
	v := staleValue
	batch.Each(raw, func(b []byte) bool {
		first := int64(binary.BigEndian.Uint64(b[batch.BaseOffsetAt:]))
		recs, _, ok := batch.Decode(b)
		for _, r := range recs {
			if ok && first+int64(r.OffsetDelta) == off {
				v = r.Value
				return false
			}
		}
		return true
	})
	return v
}
