package probes

import (
	"fmt"
	"sort"
	"strings"
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
}

// Report is the checker's verdict.
type Report struct {
	Consumed             int // distinct messages of this run read back, uncorrupted
	Lost                 int
	Duplicated           int // extra copies beyond the first
	Corrupted            int
	IndeterminateVisible int
	Anomalies            []Anomaly
}

type tally struct {
	byKind map[string]*Anomaly
}

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

// Check classifies every message of the run. It runs in time linear in what
// was sent and read: per partition it works on slices indexed by sequence
// number and by offset, not on maps.
func Check(in CheckInput) Report {
	t := &tally{byKind: map[string]*Anomaly{}}
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
		checkPartition(in, p, nodes, t, &rep)
	}
	kinds := make([]string, 0, len(t.byKind))
	for k := range t.byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		if k == KindDuplicate && in.AllowDuplicates {
			continue
		}
		rep.Anomalies = append(rep.Anomalies, *t.byKind[k])
	}
	return rep
}

func checkPartition(in CheckInput, p int32, nodes []int32, t *tally, rep *Report) {
	sends := in.Sends[p]
	n := int64(len(sends))
	// firstOff[seq] is the offset a message was first read at (-1 unread);
	// dupOff remembers a second distinct offset, once.
	firstOff := make([]int64, n)
	for i := range firstOff {
		firstOff[i] = -1
	}
	dupSeen := make([]bool, n)
	// atOffset[off] is the seq read at off by the first node that had it
	// (-1 none, -2 corrupt or foreign), to compare nodes' views.
	var atOffset []int64
	// ackedAt[off] is the seq acked at off, to find offsets acked twice.
	ackedAt := map[int64]int64{}
	for seq, s := range sends {
		if s.Outcome != Acked {
			continue
		}
		if s.Offset < 0 {
			t.add(KindBogusAck, Example{Partition: p, Offset: s.Offset, Seq: int64(seq), Node: s.Node},
				"acked with offset -1: an ack that is not an ack")
			continue
		}
		if other, dup := ackedAt[s.Offset]; dup {
			t.add(KindBogusAck, Example{Partition: p, Offset: s.Offset, Seq: int64(seq), Node: s.Node},
				"acked at an offset already acked for another message (seq %d)", other)
			continue
		}
		ackedAt[s.Offset] = int64(seq)
	}

	for _, node := range nodes {
		recs := in.Reads[node][p]
		lastSeq := int64(-1)
		for _, r := range recs {
			if r.Offset >= int64(len(atOffset)) {
				grow := make([]int64, r.Offset+1-int64(len(atOffset)))
				for i := range grow {
					grow[i] = -1
				}
				atOffset = append(atOffset, grow...)
			}
			ident := int64(-2)
			ours := !r.Foreign && r.Msg.Run == in.Run
			if ours && r.Valid {
				ident = r.Msg.Seq
			}
			if prev := atOffset[r.Offset]; prev == -1 {
				atOffset[r.Offset] = ident
			} else if prev != ident && (prev >= 0 || ident >= 0) {
				t.add(KindInconsistentOffsets, Example{Partition: p, Offset: r.Offset, Seq: ident, Node: node},
					"two different messages read at the same offset (divergent replicas)")
			}
			if !ours {
				continue
			}
			ex := Example{Partition: p, Offset: r.Offset, Seq: r.Msg.Seq, Node: node}
			if !r.Valid {
				rep.Corrupted++
				t.add(KindCorrupt, ex, "payload checksum does not match")
				continue
			}
			seq := r.Msg.Seq
			if r.Msg.Partition != p || seq < 0 || seq >= n {
				t.add(KindPhantom, ex, "read a message of this run that was never sent")
				continue
			}
			if seq < lastSeq {
				t.add(KindNonmonotonic, ex, "sequence numbers out of offset order (seq %d after %d)", seq, lastSeq)
			}
			lastSeq = max(lastSeq, seq)
			switch first := firstOff[seq]; {
			case first == -1:
				firstOff[seq] = r.Offset
			case first != r.Offset && !dupSeen[seq]:
				dupSeen[seq] = true
				rep.Duplicated++
				t.add(KindDuplicate, ex, "one message read at two offsets (first at %d)", first)
			}
		}
	}

	for seq := int64(0); seq < n; seq++ {
		s := sends[seq]
		read := firstOff[seq] >= 0
		if read {
			rep.Consumed++
		}
		ex := Example{Partition: p, Offset: s.Offset, Seq: seq, Node: s.Node}
		switch s.Outcome {
		case Acked:
			if !read {
				rep.Lost++
				t.add(KindLostWrite, ex, "acked, never read back")
			}
		case Failed:
			if read {
				ex.Offset = firstOff[seq]
				t.add(KindUnackedVisible, ex, "the cluster refused the write, then it was read back")
			}
		case Indeterminate:
			if read {
				rep.IndeterminateVisible++
			}
		}
	}
}

// Summary renders anomalies as one line each, for logs and errors.
func Summary(as []Anomaly) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = fmt.Sprintf("%s ×%d", a.Kind, a.Count)
	}
	return strings.Join(parts, ", ")
}
