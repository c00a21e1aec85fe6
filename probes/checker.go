package probes

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Anomaly kinds, named as in the reference's anomalies.md (after Jepsen's
// Kafka checker where one exists).
const (
	KindLostWrite            = "lost-write"
	KindBogusAck             = "bogus-ack"
	KindCorrupt              = "corrupt"
	KindDuplicate            = "duplicate"
	KindInconsistentOffsets  = "inconsistent-offsets"
	KindNonmonotonic         = "nonmonotonic"
	KindPhantom              = "phantom"
	KindUnackedVisible       = "unacked-visible"
	KindIndeterminateVisible = "indeterminate-visible"
	KindAckWithoutQuorum     = "ack-without-quorum"
	KindLeaderDisagreement   = "leader-disagreement"
	KindStaleLeader          = "stale-leader"
	KindNoElection           = "no-election"
)

// AnomalyKinds lists every kind that fails a drill, so metrics can create
// their series at start-up. indeterminate-visible is counted but is not an
// anomaly.
var AnomalyKinds = []string{
	KindLostWrite, KindBogusAck, KindCorrupt, KindDuplicate, KindInconsistentOffsets,
	KindNonmonotonic, KindPhantom, KindUnackedVisible, KindAckWithoutQuorum,
	KindLeaderDisagreement, KindStaleLeader, KindNoElection,
}

// Example points at one occurrence of an anomaly.
type Example struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	Seq       int64 `json:"seq"`
	Node      int32 `json:"node,omitempty"`
}

// Anomaly is one kind of anomaly found, with its count and a few examples.
type Anomaly struct {
	Kind     string    `json:"kind"`
	Count    int       `json:"count"`
	Detail   string    `json:"detail"`
	Examples []Example `json:"examples,omitempty"`
}

const maxExamples = 5

// CheckInput is what a drill sent and what it read back.
type CheckInput struct {
	Run string
	// Sends per partition, indexed by sequence number.
	Sends map[int32][]Send
	// Reads per node, per partition, in offset order.
	Reads map[int32]map[int32][]Record
	// AllowDuplicates accepts a message read at two offsets (a
	// non-idempotent producer that retries may write one twice).
	AllowDuplicates bool
	// QuorumLost, when set, says whether a majority of the partition's
	// replicas was down for the whole of [start, done]: an ack of a send
	// that began and ended in such a window is ack-without-quorum.
	QuorumLost func(partition int32, start, done time.Time) bool
}

// Report is the checker's verdict.
type Report struct {
	Consumed             int // distinct messages of this run read back, uncorrupted
	Acked                int // sends acked (with any offset)
	AckedRecovered       int // acked sends read back intact
	Lost                 int // acked sends of which no copy, intact or not, was read
	Duplicated           int // extra copies beyond the first
	Corrupted            int // offsets at which a corrupt record of this run was read
	IndeterminateVisible int
	Anomalies            []Anomaly
}

type tally struct {
	byKind map[string]*Anomaly
}

func newTally() *tally { return &tally{byKind: map[string]*Anomaly{}} }

func (t *tally) add(kind string, ex Example, format string, args ...any) {
	a := t.byKind[kind]
	if a == nil {
		a = &Anomaly{Kind: kind, Detail: fmt.Sprintf(format, args...)}
		t.byKind[kind] = a
	}
	a.Count++
	if len(a.Examples) < maxExamples {
		a.Examples = append(a.Examples, ex)
	}
}

// anomalies lists what was found, sorted by kind, leaving out the kinds
// the caller accepts.
func (t *tally) anomalies(accept func(kind string) bool) []Anomaly {
	kinds := make([]string, 0, len(t.byKind))
	for k := range t.byKind {
		if accept == nil || !accept(k) {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	out := make([]Anomaly, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, *t.byKind[k])
	}
	return out
}

// MergeAnomalies combines anomaly lists (the checker's and the leader
// watch's), adding the counts of a kind found by both; sorted by kind.
func MergeAnomalies(lists ...[]Anomaly) []Anomaly {
	t := newTally()
	for _, l := range lists {
		for _, a := range l {
			have := t.byKind[a.Kind]
			if have == nil {
				cp := a
				cp.Examples = append([]Example(nil), a.Examples...)
				t.byKind[a.Kind] = &cp
				continue
			}
			have.Count += a.Count
			for _, ex := range a.Examples {
				if len(have.Examples) < maxExamples {
					have.Examples = append(have.Examples, ex)
				}
			}
		}
	}
	return t.anomalies(nil)
}

// Check classifies every message of the run. It runs in time linear in what
// was sent and read: per partition it works on slices indexed by sequence
// number and by offset, not on maps.
func Check(in CheckInput) Report {
	t := newTally()
	var rep Report
	nodes := make([]int32, 0, len(in.Reads))
	for n := range in.Reads {
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i] < nodes[j] })
	parts := map[int32]bool{}
	for p := range in.Sends {
		parts[p] = true
	}
	for _, n := range nodes {
		for p := range in.Reads[n] {
			parts[p] = true
		}
	}
	for _, p := range sortedIDs(parts) {
		pc := newPartCheck(&in, p, nodes, t, &rep)
		pc.checkAcks()
		for _, node := range nodes {
			pc.readView(node, in.Reads[node][p])
		}
		pc.classifySends()
	}
	rep.Anomalies = t.anomalies(func(kind string) bool { return kind == KindDuplicate && in.AllowDuplicates })
	return rep
}

// Per-sequence flags of what was read.
const (
	seenDuplicate uint8 = 1 << iota // read at a second offset (counted once)
	seenCorrupt                     // a copy failed its checksum
)

// partCheck is the checker's working state for one partition.
type partCheck struct {
	in    *CheckInput
	p     int32
	t     *tally
	rep   *Report
	sends []Send
	// firstOff[seq] is the offset a message was first read intact at (-1
	// unread); seen[seq] holds the seen* flags.
	firstOff []int64
	seen     []uint8
	// atOffset is what the first node that had an offset served there: the
	// sequence number of an intact message of this run and partition, or
	// notOurs, to compare the nodes' views.
	atOffset offsetTable
	// reported holds the offsets already reported for a kind that every
	// node's copy would repeat, so that one bad record read through three
	// nodes counts once. Anomalies are rare: a map is enough.
	reported map[kindAt]bool
}

type kindAt struct {
	kind   string
	offset int64
}

// once reports kind at offset unless it has been already.
func (pc *partCheck) once(kind string, ex Example, format string, args ...any) bool {
	k := kindAt{kind, ex.Offset}
	if pc.reported[k] {
		return false
	}
	if pc.reported == nil {
		pc.reported = map[kindAt]bool{}
	}
	pc.reported[k] = true
	pc.t.add(kind, ex, format, args...)
	return true
}

const notOurs = -2

func newPartCheck(in *CheckInput, p int32, nodes []int32, t *tally, rep *Report) *partCheck {
	sends := in.Sends[p]
	pc := &partCheck{in: in, p: p, t: t, rep: rep, sends: sends,
		firstOff: make([]int64, len(sends)), seen: make([]uint8, len(sends))}
	for i := range pc.firstOff {
		pc.firstOff[i] = -1
	}
	lo, hi, count := int64(-1), int64(-1), 0
	for _, n := range nodes {
		for _, r := range in.Reads[n][p] {
			if lo < 0 || r.Offset < lo {
				lo = r.Offset
			}
			hi = max(hi, r.Offset)
			count++
		}
	}
	pc.atOffset = newOffsetTable(lo, hi, count)
	return pc
}

// checkAcks finds acks that are not acks: offset -1, an offset acked for
// another message too, or an ack given while the majority was down.
func (pc *partCheck) checkAcks() {
	lo, hi, count := int64(-1), int64(-1), 0
	for _, s := range pc.sends {
		if s.Outcome == Acked && s.Offset >= 0 {
			if lo < 0 || s.Offset < lo {
				lo = s.Offset
			}
			hi = max(hi, s.Offset)
			count++
		}
	}
	ackedAt := newOffsetTable(lo, hi, count)
	for seq, s := range pc.sends {
		if s.Outcome != Acked {
			continue
		}
		ex := Example{Partition: pc.p, Offset: s.Offset, Seq: int64(seq), Node: s.Node}
		if pc.in.QuorumLost != nil && pc.in.QuorumLost(pc.p, s.Start, s.Done()) {
			pc.t.add(KindAckWithoutQuorum, ex, "acked while a majority of the partition's replicas was down (split brain)")
		}
		if s.Offset < 0 {
			pc.t.add(KindBogusAck, ex, "acked with offset -1: an ack that is not an ack")
			continue
		}
		if other := ackedAt.get(s.Offset); other >= 0 {
			pc.t.add(KindBogusAck, ex, "acked at an offset already acked for another message (seq %d)", other)
			continue
		}
		ackedAt.set(s.Offset, int64(seq))
	}
}

// readView goes through what one node served for the partition.
func (pc *partCheck) readView(node int32, recs []Record) {
	n := int64(len(pc.sends))
	lastSeq := int64(-1)
	for _, r := range recs {
		ours := !r.Foreign && r.Msg.Run == pc.in.Run
		ident := int64(notOurs)
		if ours && r.Valid && r.Msg.Partition == pc.p {
			ident = r.Msg.Seq
		}
		pc.compareAt(node, r.Offset, ident)
		if !ours {
			continue
		}
		seq := r.Msg.Seq
		ex := Example{Partition: pc.p, Offset: r.Offset, Seq: seq, Node: node}
		inRange := r.Msg.Partition == pc.p && seq >= 0 && seq < n
		if !r.Valid {
			if pc.once(KindCorrupt, ex, "payload checksum does not match") {
				pc.rep.Corrupted++
			}
			if inRange {
				pc.seen[seq] |= seenCorrupt
			}
			continue
		}
		if !inRange {
			pc.once(KindPhantom, ex, "read a message of this run that was never sent (to this partition)")
			continue
		}
		if seq < lastSeq {
			pc.once(KindNonmonotonic, ex, "sequence numbers out of offset order (seq %d after %d)", seq, lastSeq)
		}
		lastSeq = max(lastSeq, seq)
		switch first := pc.firstOff[seq]; {
		case first == -1:
			pc.firstOff[seq] = r.Offset
		case first != r.Offset && pc.seen[seq]&seenDuplicate == 0:
			pc.seen[seq] |= seenDuplicate
			pc.rep.Duplicated++
			pc.t.add(KindDuplicate, ex, "one message read at two offsets (first at %d)", first)
		}
	}
}

// compareAt records what node served at off, or reports that another node
// served a different message there.
func (pc *partCheck) compareAt(node int32, off, ident int64) {
	prev := pc.atOffset.get(off)
	switch {
	case prev == -1:
		pc.atOffset.set(off, ident)
	case prev != ident && (prev >= 0 || ident >= 0):
		pc.once(KindInconsistentOffsets, Example{Partition: pc.p, Offset: off, Seq: ident, Node: node},
			"two different messages read at the same offset (divergent replicas)")
	}
}

// classifySends decides, for every send, whether what was read back agrees
// with how the send ended.
func (pc *partCheck) classifySends() {
	for seq, s := range pc.sends {
		read := pc.firstOff[seq] >= 0
		corrupt := pc.seen[seq]&seenCorrupt != 0
		if read {
			pc.rep.Consumed++
		}
		ex := Example{Partition: pc.p, Offset: s.Offset, Seq: int64(seq), Node: s.Node}
		switch s.Outcome {
		case Acked:
			pc.rep.Acked++
			switch {
			case read:
				pc.rep.AckedRecovered++
			case !corrupt: // a corrupt copy is reported as corrupt, not lost
				pc.rep.Lost++
				pc.t.add(KindLostWrite, ex, "acked, never read back")
			}
		case Failed:
			if read || corrupt {
				ex.Offset = pc.firstOff[seq]
				pc.t.add(KindUnackedVisible, ex, "the cluster refused the write, then it was read back")
			}
		case Indeterminate:
			if read {
				pc.rep.IndeterminateVisible++
			}
		}
	}
}

// offsetTable maps offsets to values (-1: none). Offsets read from a log are
// dense, so it is a slice from the lowest offset; offsets spread thinly (a
// partition whose log starts far from its acks) fall back to a map, so a
// log at offset 10^12 costs no more than one at 0.
type offsetTable struct {
	base   int64
	dense  []int64
	sparse map[int64]int64
}

func newOffsetTable(lo, hi int64, count int) offsetTable {
	if lo < 0 || hi < lo {
		return offsetTable{sparse: map[int64]int64{}}
	}
	span := hi - lo + 1
	if span > 4*int64(count)+1024 {
		return offsetTable{sparse: make(map[int64]int64, count)}
	}
	d := make([]int64, span)
	for i := range d {
		d[i] = -1
	}
	return offsetTable{base: lo, dense: d}
}

func (o *offsetTable) get(off int64) int64 {
	if o.sparse != nil {
		if v, ok := o.sparse[off]; ok {
			return v
		}
		return -1
	}
	i := off - o.base
	if i < 0 || i >= int64(len(o.dense)) {
		return -1
	}
	return o.dense[i]
}

func (o *offsetTable) set(off, v int64) {
	if o.sparse != nil {
		o.sparse[off] = v
		return
	}
	// Callers size the table from the offsets they will set.
	o.dense[off-o.base] = v
}

// Summary renders anomalies as one line each, for logs and errors.
func Summary(as []Anomaly) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = fmt.Sprintf("%s ×%d", a.Kind, a.Count)
	}
	return strings.Join(parts, ", ")
}
