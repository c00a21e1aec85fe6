package check

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/run"
)

// Input is what a drill sent and what it read back.
type Input struct {
	Run string
	// Sends per partition, indexed by sequence number.
	Sends map[int32][]kafka.Send
	// Parts is what was read back of each partition.
	Parts map[int32]Partition
	// AllowDuplicates accepts a message read at two offsets (a
	// non-idempotent producer that retries may write one twice).
	AllowDuplicates bool
	// QuorumLost, when set, says whether a majority of the partition's
	// replicas was down for the whole of [start, done]: an ack of a send
	// that began and ended in such a window is ack-without-quorum.
	QuorumLost func(partition int32, start, done time.Time) bool
	// Streams are the writes of other producers to the same partitions,
	// each under its own run id so that it has its own sequence numbers
	// (the split-brain drill's writes pinned to the old leader). Their acks
	// are judged against the same committed log, and their messages are
	// no phantoms; the log and the replicas are judged once, with Sends.
	Streams []Stream
}

// Stream is one more producer's writes.
type Stream struct {
	Run   string
	Sends map[int32][]kafka.Send
}

// Partition is what was read back of one partition.
type Partition struct {
	// Leader is the node the live nodes named leader at read-back: what it
	// serves below its high watermark is the committed log, the reference
	// every ack and every replica is judged against. -1: none was named.
	Leader int32
	// From is where the run's writes begin: the partition's end before
	// the drill wrote.
	From int64
	// CatchUpTo is the leader's high watermark once the drill had stopped
	// writing: every live replica must have reached it (0: the committed
	// log's end). The committed log itself may run further, when writes
	// from elsewhere (the quorum probe's canary) went on during read-back.
	CatchUpTo int64
	// Logs are the replicas read, by node, the leader's among them.
	Logs map[int32]*kafka.LogRead
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
	Consumed int // distinct messages of the run (and its streams) intact in the committed log
	// StreamsConsumed is the part of Consumed that Input.Streams wrote.
	StreamsConsumed int
	Acked           int // sends acked (with any offset)
	AckedRecovered  int // acked sends whose message is intact in the committed log
	Lost            int // acked sends whose message is nowhere in the committed log
	Duplicated      int // extra copies in the committed log beyond the first
	Corrupted       int // offsets at which some replica served a damaged record or batch
	// Unjudged counts acked sends whose offset lies where no committed log
	// could be read (no leader, or the leader's read stopped short).
	Unjudged             int
	IndeterminateVisible int
	Anomalies            []run.Anomaly
}

// Check judges every message of the run against each partition's committed
// log (docs/anomalies.md gives the rules and which kind wins when two
// apply). It runs in time linear in what was sent and read: per partition
// it works on slices indexed by sequence number and by offset, and walks
// each replica's log beside the committed one.
func Check(in Input) Report {
	t := run.NewTally()
	var rep Report
	parts := map[int32]bool{}
	for p := range in.Sends {
		parts[p] = true
	}
	for p := range in.Parts {
		parts[p] = true
	}
	for _, p := range slices.Sorted(maps.Keys(parts)) {
		pc := newPartCheck(&in, p, t, &rep, false)
		pc.judgeAcks()
		pc.scanCommitted()
		pc.classifyUnacked()
		for _, node := range slices.Sorted(maps.Keys(pc.part.Logs)) {
			if node != pc.part.Leader {
				pc.compareReplica(node, pc.part.Logs[node])
			}
		}
	}
	for _, st := range in.Streams {
		sin := in
		sin.Run, sin.Sends, sin.Streams = st.Run, st.Sends, nil
		for _, p := range slices.Sorted(maps.Keys(st.Sends)) {
			pc := newPartCheck(&sin, p, t, &rep, true)
			pc.judgeAcks()
			pc.scanCommitted()
			pc.classifyUnacked()
		}
	}
	rep.Anomalies = t.Anomalies(func(kind string) bool { return kind == run.KindDuplicate && in.AllowDuplicates })
	return rep
}

// What an offset of the committed log holds, besides a record's index.
const (
	absent = -1 // no record (a gap, or past the end)
	badAt  = -2 // inside a batch that failed its CRC or could not be decoded
)

// Verdicts on an acked send.
const (
	ackFine      uint8 = iota + 1
	ackLost            // its message is nowhere in the committed log
	ackMisplaced       // its message is in the committed log at another offset
	ackReordered       // misplaced within a reordering of acked offsets
	ackDisplaced       // misplaced into the offset of a lost (or displaced) message
	ackCorrupt         // the offset it names holds a damaged record
	ackUnjudged        // no committed log there to judge against
	ackNoQuorum        // acked without a quorum: that is the anomaly
)

// partCheck is the checker's working state for one partition.
type partCheck struct {
	in    *Input
	p     int32
	t     *run.Tally
	rep   *Report
	sends []kafka.Send
	part  Partition

	// lostNamed: a lost write's detail has named its surviving copies
	// (once: finding them walks every replica).
	lostNamed bool
	// The committed log: what the leader served in [lo, hi); complete
	// when the read reached its high watermark.
	c        *kafka.LogRead
	lo, hi   int64
	complete bool
	at       offsetTable // offset → index in c.Records

	// seqOff[seq] is the first offset of the committed log holding the
	// message intact (-1: none); verdict[seq] judges an acked send.
	seqOff  []int64
	verdict []uint8
	// explained marks offsets whose acked message is missing (lost or
	// misplaced): what stands there instead is part of that one fault, not
	// also a duplicate, phantom or reordering.
	explained map[int64]bool
	// corruptAt holds offsets already counted corrupt, so one bad record
	// served by three nodes counts once.
	corruptAt    map[int64]bool
	nonmonotonic bool
	// stream: this is one of Input.Streams, whose acks alone are judged
	// here; damage and unreadable replicas are the main check's findings.
	stream bool
}

func newPartCheck(in *Input, p int32, t *run.Tally, rep *Report, stream bool) *partCheck {
	sends := in.Sends[p]
	pc := &partCheck{in: in, p: p, t: t, rep: rep, sends: sends, part: in.Parts[p], stream: stream,
		seqOff: make([]int64, len(sends)), verdict: make([]uint8, len(sends)),
		explained: map[int64]bool{}, corruptAt: map[int64]bool{}}
	for i := range pc.seqOff {
		pc.seqOff[i] = -1
	}
	if pc.part.Leader >= 0 {
		pc.c = pc.part.Logs[pc.part.Leader]
	}
	if pc.c == nil {
		pc.at = newOffsetTable(-1, -1, 0)
		return pc
	}
	// From the run's first offset: records the leader no longer has because
	// its log now starts later are gone, not out of scope.
	pc.lo, pc.hi, pc.complete = pc.c.From, pc.c.End, pc.c.Err == nil
	if pc.c.Err != nil && !stream {
		pc.unreadable(pc.part.Leader, pc.c)
	}
	recs := pc.c.Records
	lo, hi := pc.lo, pc.lo-1
	if len(recs) > 0 {
		hi = recs[len(recs)-1].Offset
	}
	pc.at = newOffsetTable(lo, hi, len(recs))
	n := int64(len(sends))
	for i, r := range recs {
		pc.at.set(r.Offset, int64(i))
		if r.Valid && r.Msg.Run == in.Run && r.Msg.Partition == p && r.Msg.Seq >= 0 && r.Msg.Seq < n && pc.seqOff[r.Msg.Seq] < 0 {
			pc.seqOff[r.Msg.Seq] = r.Offset
		}
	}
	return pc
}

// committed says what the committed log holds at off: a record's index,
// absent or badAt.
func (pc *partCheck) committed(off int64) int64 {
	if pc.c == nil || off < pc.lo || off >= pc.hi {
		return absent
	}
	if i := pc.at.get(off); i >= 0 {
		return i
	}
	if inBad(pc.c.Bad, off) {
		return badAt
	}
	return absent
}

func inBad(bad []kafka.BadBatch, off int64) bool {
	i, _ := slices.BinarySearchFunc(bad, off, func(b kafka.BadBatch, off int64) int {
		switch {
		case b.Last < off:
			return -1
		case b.First > off:
			return 1
		}
		return 0
	})
	return i < len(bad) && bad[i].First <= off && off <= bad[i].Last
}

// isMessage reports whether r is the intact message seq of this partition.
func (pc *partCheck) isMessage(r kafka.Record, seq int64) bool {
	return r.Valid && r.Msg.Seq == seq && r.Msg.Partition == pc.p && r.Msg.Run == pc.in.Run
}

// ours reports whether r is an intact message of this run.
func (pc *partCheck) ours(r kafka.Record) bool { return r.Valid && r.Msg.Run == pc.in.Run }

// damaged: a drill message that failed its checksum or whose header is
// broken, whatever run it claims: corruption in the run's range.
func damaged(r kafka.Record) bool { return !r.Foreign && !r.Valid }

// judgeAcks checks every acked send at the offset its ack named: that
// offset of the committed log must hold exactly its message.
func (pc *partCheck) judgeAcks() {
	var misplaced []int64 // seqs
	for seq, s := range pc.sends {
		if s.Outcome != kafka.Acked {
			continue
		}
		pc.rep.Acked++
		seq := int64(seq)
		found := pc.seqOff[seq]
		ex := run.Example{Partition: pc.p, Offset: s.Offset, Seq: seq, Node: s.Node}
		if pc.in.QuorumLost != nil && pc.in.QuorumLost(pc.p, s.Start, s.Done()) {
			pc.verdict[seq] = ackNoQuorum
			pc.t.Add(run.KindAckWithoutQuorum, ex, "acked while a majority of the partition's replicas was down (split brain)")
			if found >= 0 {
				pc.rep.AckedRecovered++
			} else {
				pc.explain(s.Offset)
			}
			continue
		}
		if s.Offset < 0 {
			pc.verdict[seq] = ackMisplaced
			pc.t.Add(run.KindBogusAck, ex, "acked with offset %d: an ack that is not an ack", s.Offset)
			if found >= 0 {
				pc.rep.AckedRecovered++
			}
			continue
		}
		if s.Offset < pc.part.From {
			pc.verdict[seq] = ackMisplaced
			pc.t.Add(run.KindBogusAck, ex, "acked at offset %d, before the run's first offset %d", s.Offset, pc.part.From)
			if found >= 0 {
				pc.rep.AckedRecovered++
			}
			continue
		}
		at := pc.committed(s.Offset)
		switch {
		case at >= 0 && pc.isMessage(pc.c.Records[at], seq):
			pc.verdict[seq] = ackFine
			pc.rep.AckedRecovered++
		case found >= 0:
			pc.verdict[seq] = ackMisplaced
			misplaced = append(misplaced, seq)
		case at == badAt || (at >= 0 && damaged(pc.c.Records[at])):
			pc.verdict[seq] = ackCorrupt // counted where the committed log is scanned
		case pc.c == nil || (s.Offset >= pc.hi && !pc.complete):
			pc.verdict[seq] = ackUnjudged
			pc.rep.Unjudged++
		default:
			pc.verdict[seq] = ackLost
			pc.rep.Lost++
			pc.explain(s.Offset)
			survivors := ""
			if !pc.lostNamed {
				pc.lostNamed, survivors = true, pc.survivors(seq)
			}
			pc.t.Add(run.KindLostWrite, ex, "acked at offset %d, but the committed log (leader node %d, high watermark %d) %s%s",
				s.Offset, pc.part.Leader, pc.hi, pc.describeCommitted(at), survivors)
		}
	}
	pc.resolveMisplaced(misplaced)
}

// explain marks off as the place of a missing acked message.
func (pc *partCheck) explain(off int64) {
	if off >= 0 {
		pc.explained[off] = true
	}
}

// describeCommitted says what the committed log holds at an offset, for a
// lost write's detail.
func (pc *partCheck) describeCommitted(at int64) string {
	switch {
	case at == absent:
		return "has no record there and holds the message nowhere"
	case pc.ours(pc.c.Records[at]):
		return "holds another message there (" + pc.c.Records[at].Msg.String() + ") and this one nowhere"
	default:
		return "holds another record there and this message nowhere"
	}
}

// survivors names the replicas that still serve a message the committed
// log lost: a copy there does not make the write durable.
func (pc *partCheck) survivors(seq int64) string {
	var nodes []int32
	for _, n := range slices.Sorted(maps.Keys(pc.part.Logs)) {
		if n == pc.part.Leader {
			continue
		}
		for _, r := range pc.part.Logs[n].Records {
			if pc.isMessage(r, seq) {
				nodes = append(nodes, n)
				break
			}
		}
	}
	if len(nodes) == 0 {
		return ""
	}
	return "; only non-leader replicas serve it (nodes " + joinIDs(nodes) + "), which does not make it committed"
}

// resolveMisplaced tells a reordering from a bogus ack. Following, from a
// misplaced message's ack offset, the message found there to its own ack
// offset, and so on: if the walk comes back to where the message was found,
// the acked messages fill exactly the acked offsets in another order, and
// that is nonmonotonic's finding. Otherwise the ack named an offset that
// does not hold its message: bogus-ack.
func (pc *partCheck) resolveMisplaced(seqs []int64) {
	for _, seq := range seqs {
		start, x := pc.seqOff[seq], pc.sends[seq].Offset
		cycle := false
		for range len(seqs) + 1 {
			if x == start {
				cycle = true
				break
			}
			at := pc.committed(x)
			if at < 0 {
				break
			}
			r := pc.c.Records[at]
			if !pc.isMessage(r, r.Msg.Seq) || r.Msg.Seq >= int64(len(pc.sends)) || pc.sends[r.Msg.Seq].Outcome != kafka.Acked {
				break
			}
			x = pc.sends[r.Msg.Seq].Offset
		}
		pc.rep.AckedRecovered++
		if cycle {
			pc.verdict[seq] = ackReordered
			continue
		}
		pc.explain(pc.sends[seq].Offset)
	}
	// A message sitting at the offset a lost message was acked at, and so
	// on down the chain, was moved by that loss (the log shifted around
	// it): the loss is the one finding.
	for seq, v := range pc.verdict {
		if v != ackLost {
			continue
		}
		off := pc.sends[seq].Offset
		for range len(seqs) {
			at := pc.committed(off)
			if at < 0 {
				break
			}
			r := pc.c.Records[at]
			if !pc.isMessage(r, r.Msg.Seq) || r.Msg.Seq >= int64(len(pc.sends)) || pc.verdict[r.Msg.Seq] != ackMisplaced {
				break
			}
			pc.verdict[r.Msg.Seq] = ackDisplaced
			off = pc.sends[r.Msg.Seq].Offset
		}
	}
}

// scanCommitted reads the committed log in offset order: damaged records
// and bad batches (corrupt), messages never sent here (phantom), a message
// twice (duplicate), sequence numbers going back (nonmonotonic). Offsets
// explained by a missing acked message are left to that finding.
func (pc *partCheck) scanCommitted() {
	if pc.c == nil {
		pc.reportMisplaced()
		return
	}
	if !pc.stream {
		for _, b := range pc.c.Bad {
			pc.corruptBatch(pc.part.Leader, b)
		}
	}
	n := int64(len(pc.sends))
	lastSeq := int64(-1)
	seen := make([]bool, n)
	for _, r := range pc.c.Records {
		ex := run.Example{Partition: pc.p, Offset: r.Offset, Seq: r.Msg.Seq, Node: pc.part.Leader}
		if damaged(r) {
			if !pc.stream {
				pc.corrupt(ex, "a record whose checksum does not match (or whose header is damaged)")
			}
			continue
		}
		if !pc.ours(r) || pc.explained[r.Offset] {
			continue
		}
		seq := r.Msg.Seq
		if r.Msg.Partition != pc.p || seq < 0 || seq >= n {
			pc.t.Add(run.KindPhantom, ex, "the committed log holds a message of this run that was never sent to this partition (%s)", r.Msg)
			continue
		}
		if seq < lastSeq {
			pc.nonmonotonic = true
			pc.t.Add(run.KindNonmonotonic, ex, "sequence numbers out of offset order in the committed log (seq %d after %d)", seq, lastSeq)
		}
		lastSeq = max(lastSeq, seq)
		if seen[seq] {
			pc.rep.Duplicated++
			pc.t.Add(run.KindDuplicate, ex, "one message read at two offsets of the committed log (first at %d)", pc.seqOff[seq])
		}
		seen[seq] = true
	}
	pc.reportMisplaced()
}

// reportMisplaced reports the misplaced acks: bogus-ack, or, for a
// reordering the scan saw as nonmonotonic, nothing more.
func (pc *partCheck) reportMisplaced() {
	for seq, v := range pc.verdict {
		if v != ackMisplaced && (v != ackReordered || pc.nonmonotonic) {
			continue
		}
		s := pc.sends[seq]
		if s.Offset < 0 || s.Offset < pc.part.From {
			continue // reported when judged
		}
		pc.t.Add(run.KindBogusAck, run.Example{Partition: pc.p, Offset: s.Offset, Seq: int64(seq), Node: s.Node},
			"acked at offset %d, but the committed log holds the message at offset %d", s.Offset, pc.seqOff[seq])
	}
}

// classifyUnacked: a refused send must not be in the committed log; an
// indeterminate one may be (counted).
func (pc *partCheck) classifyUnacked() {
	for seq, s := range pc.sends {
		off := pc.seqOff[seq]
		if off >= 0 {
			pc.rep.Consumed++
			if pc.stream {
				pc.rep.StreamsConsumed++
			}
		}
		switch {
		case off < 0:
		case s.Outcome == kafka.Failed:
			pc.t.Add(run.KindUnackedVisible, run.Example{Partition: pc.p, Offset: off, Seq: int64(seq), Node: s.Node},
				"the cluster refused the write, then it was in the committed log")
		case s.Outcome == kafka.Indeterminate:
			pc.rep.IndeterminateVisible++
		}
	}
}

// corrupt counts a damaged record once per offset, whichever nodes serve it.
func (pc *partCheck) corrupt(ex run.Example, format string, args ...any) {
	if pc.corruptAt[ex.Offset] {
		return
	}
	pc.corruptAt[ex.Offset] = true
	pc.rep.Corrupted++
	pc.t.Add(run.KindCorrupt, ex, "node %d: "+format, append([]any{ex.Node}, args...)...)
}

func (pc *partCheck) corruptBatch(node int32, b kafka.BadBatch) {
	for off := max(b.First, pc.part.From); off <= b.Last; off++ {
		pc.corrupt(run.Example{Partition: pc.p, Offset: off, Seq: -1, Node: node}, "a record batch at offsets %d–%d failed: %s", b.First, b.Last, b.Reason)
	}
}

// unreadable reports a replica whose read stopped short.
func (pc *partCheck) unreadable(node int32, lr *kafka.LogRead) {
	pc.t.Add(run.KindUnreadableReplica, run.Example{Partition: pc.p, Offset: lr.End, Seq: -1, Node: node},
		"node %d could not be read back from offset %d: %v", node, lr.End, lr.Err)
}

// ackedHere reports whether r is an acked message whose ack named off but
// which the committed log does not hold there (lost, misplaced, moved): a
// replica that serves it there agrees with the ack and differs from the
// committed log because of that one fault, already named.
func (pc *partCheck) ackedHere(r kafka.Record, off int64) bool {
	seq := r.Msg.Seq
	if !pc.ours(r) || r.Msg.Partition != pc.p || seq < 0 || seq >= int64(len(pc.sends)) || pc.sends[seq].Offset != off {
		return false
	}
	switch pc.verdict[seq] {
	case ackLost, ackMisplaced, ackDisplaced, ackReordered:
		return true
	}
	return false
}

// compareReplica walks one replica's log beside the committed log over the
// whole range read: a missing offset, an extra record or a different record
// is inconsistent-offsets; a damaged record or batch is corrupt; a replica
// that stopped short of the high watermark lags (lagging-replica) or could
// not be read (unreadable-replica).
func (pc *partCheck) compareReplica(node int32, lr *kafka.LogRead) {
	for _, b := range lr.Bad {
		pc.corruptBatch(node, b)
	}
	switch {
	case lr.Err != nil:
		pc.unreadable(node, lr)
	case pc.c != nil && pc.complete && lr.End < pc.catchUpTo():
		to := pc.catchUpTo()
		pc.t.Add(run.KindLaggingReplica, run.Example{Partition: pc.p, Offset: lr.End, Seq: -1, Node: node},
			"node %d had not caught up when the read-back's wait ended: it serves up to offset %d, %d behind the leader's high watermark %d",
			node, lr.End, to-lr.End, to)
	}
	if pc.c == nil {
		return
	}
	diff := differ{pc: pc, node: node}
	cr, rr := pc.c.Records, lr.Records
	i, j := 0, 0
	for i < len(cr) || j < len(rr) {
		switch {
		case j == len(rr) || (i < len(cr) && cr[i].Offset < rr[j].Offset):
			c := cr[i]
			i++
			if c.Offset >= lr.From && c.Offset < lr.End && !inBad(lr.Bad, c.Offset) {
				diff.add(c.Offset, "serves no record at offset %d, where the committed log holds one", c.Offset)
			}
		case i == len(cr) || rr[j].Offset < cr[i].Offset:
			r := rr[j]
			j++
			if damaged(r) {
				pc.corrupt(run.Example{Partition: pc.p, Offset: r.Offset, Seq: r.Msg.Seq, Node: node}, "a record whose checksum does not match (or whose header is damaged)")
				continue
			}
			if r.Offset < pc.lo || (r.Offset >= pc.hi && !pc.complete) || pc.committed(r.Offset) == badAt || pc.ackedHere(r, r.Offset) {
				continue
			}
			where := "where the committed log has none"
			if r.Offset >= pc.hi {
				where = "past the committed log's end"
			}
			diff.add(r.Offset, "serves a record at offset %d %s", r.Offset, where)
		default:
			c, r := cr[i], rr[j]
			i++
			j++
			switch {
			case damaged(r):
				pc.corrupt(run.Example{Partition: pc.p, Offset: r.Offset, Seq: r.Msg.Seq, Node: node}, "a record whose checksum does not match (or whose header is damaged)")
			case damaged(c) || c.Same(r) || pc.ackedHere(r, r.Offset):
			default:
				diff.add(r.Offset, "serves a different record at offset %d than the committed log", r.Offset)
			}
		}
	}
}

// catchUpTo is where every replica must have got to.
func (pc *partCheck) catchUpTo() int64 {
	if pc.part.CatchUpTo > 0 {
		return min(pc.part.CatchUpTo, pc.hi)
	}
	return pc.hi
}

// differ reports one replica's differences from the committed log.
type differ struct {
	pc   *partCheck
	node int32
}

func (d differ) add(off int64, format string, args ...any) {
	pc := d.pc
	pc.t.Add(run.KindInconsistentOffsets, run.Example{Partition: pc.p, Offset: off, Seq: -1, Node: d.node},
		"node %d "+format+" (leader node %d)", append(append([]any{d.node}, args...), pc.part.Leader)...)
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

func joinIDs(ids []int32) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ", "
		}
		out += strconv.Itoa(int(id))
	}
	return out
}
