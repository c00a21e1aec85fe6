package check

import (
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/run"
)

// Input is what a drill sent and what it read back.
type Input struct {
	Run string
	// Sends per partition, indexed by sequence number.
	Sends map[int32][]kafka.Send
	// Reads per node, per partition, in offset order.
	Reads map[int32]map[int32][]kafka.Record
	// AllowDuplicates accepts a message read at two offsets (a
	// non-idempotent producer that retries may write one twice).
	AllowDuplicates bool
	// QuorumLost, when set, says whether a majority of the partition's
	// replicas was down for the whole of [start, done]: an ack of a send
	// that began and ended in such a window is ack-without-quorum.
	QuorumLost func(partition int32, start, done time.Time) bool
}

// Measure records the report's figures in a run's measurements.
func (rep Report) Measure(m run.Measurements) {
	m.Set(run.MessagesAcked, float64(rep.Acked))
	m.Set(run.MessagesConsumed, float64(rep.Consumed))
	m.Set(run.MessagesLost, float64(rep.Lost))
	m.Set(run.MessagesDup, float64(rep.Duplicated))
	m.Set(run.MessagesCorrupt, float64(rep.Corrupted))
	m.Set(run.IndetVisible, float64(rep.IndeterminateVisible))
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
	Anomalies            []run.Anomaly
}

// Check classifies every message of the run. It runs in time linear in what
// was sent and read: per partition it works on slices indexed by sequence
// number and by offset, not on maps.
func Check(in Input) Report {
	t := run.NewTally()
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
	for _, p := range slices.Sorted(maps.Keys(parts)) {
		pc := newPartCheck(&in, p, nodes, t, &rep)
		pc.checkAcks()
		for _, node := range nodes {
			pc.readView(node, in.Reads[node][p])
		}
		pc.classifySends()
	}
	rep.Anomalies = t.Anomalies(func(kind string) bool { return kind == run.KindDuplicate && in.AllowDuplicates })
	return rep
}

// Per-sequence flags of what was read.
const (
	seenDuplicate uint8 = 1 << iota // read at a second offset (counted once)
	seenCorrupt                     // a copy failed its checksum
)

// partCheck is the checker's working state for one partition.
type partCheck struct {
	in    *Input
	p     int32
	t     *run.Tally
	rep   *Report
	sends []kafka.Send
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
func (pc *partCheck) once(kind string, ex run.Example, format string, args ...any) bool {
	k := kindAt{kind, ex.Offset}
	if pc.reported[k] {
		return false
	}
	if pc.reported == nil {
		pc.reported = map[kindAt]bool{}
	}
	pc.reported[k] = true
	pc.t.Add(kind, ex, format, args...)
	return true
}

const notOurs = -2

func newPartCheck(in *Input, p int32, nodes []int32, t *run.Tally, rep *Report) *partCheck {
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
		if s.Outcome == kafka.Acked && s.Offset >= 0 {
			if lo < 0 || s.Offset < lo {
				lo = s.Offset
			}
			hi = max(hi, s.Offset)
			count++
		}
	}
	ackedAt := newOffsetTable(lo, hi, count)
	for seq, s := range pc.sends {
		if s.Outcome != kafka.Acked {
			continue
		}
		ex := run.Example{Partition: pc.p, Offset: s.Offset, Seq: int64(seq), Node: s.Node}
		if pc.in.QuorumLost != nil && pc.in.QuorumLost(pc.p, s.Start, s.Done()) {
			pc.t.Add(run.KindAckWithoutQuorum, ex, "acked while a majority of the partition's replicas was down (split brain)")
		}
		if s.Offset < 0 {
			pc.t.Add(run.KindBogusAck, ex, "acked with offset -1: an ack that is not an ack")
			continue
		}
		if other := ackedAt.get(s.Offset); other >= 0 {
			pc.t.Add(run.KindBogusAck, ex, "acked at an offset already acked for another message (seq %d)", other)
			continue
		}
		ackedAt.set(s.Offset, int64(seq))
	}
}

// readView goes through what one node served for the partition.
func (pc *partCheck) readView(node int32, recs []kafka.Record) {
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
		ex := run.Example{Partition: pc.p, Offset: r.Offset, Seq: seq, Node: node}
		inRange := r.Msg.Partition == pc.p && seq >= 0 && seq < n
		if !r.Valid {
			if pc.once(run.KindCorrupt, ex, "payload checksum does not match") {
				pc.rep.Corrupted++
			}
			if inRange {
				pc.seen[seq] |= seenCorrupt
			}
			continue
		}
		if !inRange {
			pc.once(run.KindPhantom, ex, "read a message of this run that was never sent (to this partition)")
			continue
		}
		if seq < lastSeq {
			pc.once(run.KindNonmonotonic, ex, "sequence numbers out of offset order (seq %d after %d)", seq, lastSeq)
		}
		lastSeq = max(lastSeq, seq)
		switch first := pc.firstOff[seq]; {
		case first == -1:
			pc.firstOff[seq] = r.Offset
		case first != r.Offset && pc.seen[seq]&seenDuplicate == 0:
			pc.seen[seq] |= seenDuplicate
			pc.rep.Duplicated++
			pc.t.Add(run.KindDuplicate, ex, "one message read at two offsets (first at %d)", first)
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
		pc.once(run.KindInconsistentOffsets, run.Example{Partition: pc.p, Offset: off, Seq: ident, Node: node},
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
		ex := run.Example{Partition: pc.p, Offset: s.Offset, Seq: int64(seq), Node: s.Node}
		switch s.Outcome {
		case kafka.Acked:
			pc.rep.Acked++
			switch {
			case read:
				pc.rep.AckedRecovered++
			case !corrupt: // a corrupt copy is reported as corrupt, not lost
				pc.rep.Lost++
				pc.t.Add(run.KindLostWrite, ex, "acked, never read back")
			}
		case kafka.Failed:
			if read || corrupt {
				ex.Offset = pc.firstOff[seq]
				pc.t.Add(run.KindUnackedVisible, ex, "the cluster refused the write, then it was read back")
			}
		case kafka.Indeterminate:
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
