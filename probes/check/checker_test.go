package check

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/cluster/message"
	"github.com/raftdrill/raftdrill/run"
)

const testRun = "20260101T000000Z-a1b2c3"

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ackedAt(seq, off int64) kafka.Send {
	return kafka.Send{Seq: seq, Outcome: kafka.Acked, Offset: off, Node: 1, Start: t0.Add(time.Duration(seq) * time.Millisecond), Latency: time.Millisecond}
}

func refused(seq int64) kafka.Send {
	return kafka.Send{Seq: seq, Outcome: kafka.Failed, Offset: -1, Node: 1, Start: t0.Add(time.Duration(seq) * time.Millisecond), Err: errors.New("NOT_ENOUGH_REPLICAS")}
}

func timedOut(seq int64) kafka.Send {
	return kafka.Send{Seq: seq, Outcome: kafka.Indeterminate, Offset: -1, Node: 1, Start: t0.Add(time.Duration(seq) * time.Millisecond), Err: errors.New("i/o timeout")}
}

// ackedRun is n sends acked at offsets 0..n-1.
func ackedRun(n int) []kafka.Send {
	out := make([]kafka.Send, n)
	for i := range out {
		out[i] = ackedAt(int64(i), int64(i))
	}
	return out
}

// sumOf is the checksum a message's header would carry.
func sumOf(p int32, seq int64) uint32 { return uint32(seq)*2654435761 + uint32(p)*40503 + 17 }

func msgAt(off int64, p int32, seq int64) kafka.Record {
	return kafka.Record{Offset: off, Msg: message.Message{Run: testRun, Partition: p, Seq: seq}, Valid: true, Sum: sumOf(p, seq)}
}

// damagedAt is a drill message whose checksum failed: its header may say
// anything (here: another run).
func damagedAt(off int64) kafka.Record {
	return kafka.Record{Offset: off, Msg: message.Message{Run: "2026O101T000000Z-a1b2c3", Partition: 0, Seq: off}, Sum: 99}
}

func foreignAt(off int64) kafka.Record {
	return kafka.Record{Offset: off, Foreign: true, Msg: message.Message{Partition: -1, Seq: -1}, Sum: 7}
}

// inOrder is what a healthy partition holds: seq i at offset i.
func inOrder(p int32, n int) []kafka.Record {
	out := make([]kafka.Record, n)
	for i := range out {
		out[i] = msgAt(int64(i), p, int64(i))
	}
	return out
}

func replace(recs []kafka.Record, i int, r kafka.Record) []kafka.Record {
	cp := slices.Clone(recs)
	cp[i] = r
	return cp
}

func without(recs []kafka.Record, i int) []kafka.Record {
	return slices.Delete(slices.Clone(recs), i, i+1)
}

// logOf is a replica's log read in full up to end (its high watermark).
func logOf(node int32, recs []kafka.Record, end int64, bad ...kafka.BadBatch) *kafka.LogRead {
	return &kafka.LogRead{Node: node, From: 0, Start: 0, End: end, HighWatermark: end, Records: recs, Bad: bad}
}

// part0 is partition 0 led by node 1, with each node's log.
func part0(logs ...*kafka.LogRead) map[int32]Partition {
	p := Partition{Leader: 1, Logs: map[int32]*kafka.LogRead{}}
	for _, l := range logs {
		p.Logs[l.Node] = l
	}
	return map[int32]Partition{0: p}
}

// everyNode is partition 0 with the same log on nodes 1, 2 and 3.
func everyNode(recs []kafka.Record, end int64, bad ...kafka.BadBatch) map[int32]Partition {
	return part0(logOf(1, recs, end, bad...), logOf(2, recs, end, bad...), logOf(3, recs, end, bad...))
}

// Each case breaks one rule in the smallest way, as a lying cluster would,
// and wants exactly the kinds (with counts) that one fault is named by;
// the clean cases want none.
func TestCheckJudgesAgainstTheCommittedLog(t *testing.T) {
	t.Parallel()
	healthy := inOrder(0, 5)
	swapped := replace(replace(healthy, 2, msgAt(2, 0, 3)), 3, msgAt(3, 0, 2))
	shifted := make([]kafka.Send, 5)
	for i := range shifted {
		shifted[i] = ackedAt(int64(i), int64(i)+1)
	}
	cases := []struct {
		name  string
		in    Input
		want  map[string]int
		check func(t *testing.T, r Report)
	}{
		{
			name: "clean",
			in:   Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Parts: everyNode(healthy, 5)},
			want: map[string]int{},
			check: func(t *testing.T, r Report) {
				if r.Consumed != 5 || r.Acked != 5 || r.AckedRecovered != 5 || r.Lost+r.Duplicated+r.Corrupted+r.Unjudged != 0 {
					t.Fatalf("report %+v", r)
				}
			},
		},
		{
			name: "clean, with records of other runs and strangers in the range",
			in: Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 2)}}, Parts: everyNode([]kafka.Record{
				foreignAt(0),
				{Offset: 1, Msg: message.Message{Run: "quorum-canary", Partition: 0, Seq: 7}, Valid: true, Sum: 3},
				msgAt(2, 0, 0),
			}, 3)},
			want: map[string]int{},
		},
		{
			name: "clean: a replica past the catch-up mark serves what the committed log does",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Parts: func() map[int32]Partition {
				ps := everyNode(healthy, 5)
				p := ps[0]
				p.CatchUpTo = 4
				p.Logs[3] = logOf(3, healthy[:4], 4)
				ps[0] = p
				return ps
			}()},
			want: map[string]int{},
		},
		{
			name: "lost-write: gone from every replica",
			in:   Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Parts: everyNode(without(healthy, 2), 5)},
			want: map[string]int{run.KindLostWrite: 1},
			check: func(t *testing.T, r Report) {
				wantInt(t, "lost", r.Lost, 1)
				wantInt(t, "acked recovered", r.AckedRecovered, 4)
			},
		},
		{
			name: "lost-write: the leader dropped it, the other replicas keep it",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, without(healthy, 2), 5), logOf(2, healthy, 5), logOf(3, healthy, 5))},
			want:  map[string]int{run.KindLostWrite: 1},
			check: func(t *testing.T, r Report) { wantInt(t, "lost", r.Lost, 1) },
		},
		{
			name: "lost-write: the leader lost its tail, a replica keeps it past the leader's end",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, healthy[:3], 3), logOf(2, healthy, 5), logOf(3, healthy[:3], 3))},
			want:  map[string]int{run.KindLostWrite: 2},
			check: func(t *testing.T, r Report) { wantInt(t, "lost", r.Lost, 2) },
		},
		{
			name: "lost-write: the leader serves a stale record where the acked one was",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, replace(healthy, 2, msgAt(2, 0, 1)), 5), logOf(2, healthy, 5), logOf(3, healthy, 5))},
			want: map[string]int{run.KindLostWrite: 1},
		},
		{
			name: "lost-write: the leader's log shifted down over a lost record",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, []kafka.Record{msgAt(0, 0, 0), msgAt(1, 0, 2), msgAt(2, 0, 3), msgAt(3, 0, 4)}, 4), logOf(2, healthy, 5), logOf(3, healthy, 5))},
			want:  map[string]int{run.KindLostWrite: 1},
			check: func(t *testing.T, r Report) { wantInt(t, "acked recovered", r.AckedRecovered, 4) },
		},
		{
			name: "lost-write: a stale record pushed the acked ones along",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, []kafka.Record{msgAt(0, 0, 0), msgAt(1, 0, 0), msgAt(2, 0, 1), msgAt(3, 0, 3), msgAt(4, 0, 4)}, 5), logOf(2, healthy, 5), logOf(3, healthy, 5))},
			want: map[string]int{run.KindLostWrite: 1},
		},
		{
			name: "nonmonotonic: the leader reordered what the followers hold in acked order",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, swapped, 5), logOf(2, healthy, 5), logOf(3, healthy, 5))},
			want: map[string]int{run.KindNonmonotonic: 1},
		},
		{
			name: "lost-write: the leader's log now starts past acked offsets",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: func() map[int32]Partition {
					ps := everyNode(healthy, 5)
					l := logOf(1, healthy[2:], 5)
					l.Start = 2
					ps[0].Logs[1] = l
					return ps
				}()},
			want: map[string]int{run.KindLostWrite: 2},
		},
		{
			name: "lost-write: a stranger's record stands where the acked one was",
			in:   Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Parts: everyNode(replace(healthy, 4, foreignAt(4)), 5)},
			want: map[string]int{run.KindLostWrite: 1},
		},
		{
			name: "bogus-ack: offset -1",
			in:   Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 0), ackedAt(1, -1)}}, Parts: everyNode(healthy[:2], 2)},
			want: map[string]int{run.KindBogusAck: 1},
		},
		{
			name: "bogus-ack: one ack off by one",
			in: Input{Sends: map[int32][]kafka.Send{0: replace2(ackedRun(5), 2, ackedAt(2, 3))},
				Parts: everyNode(healthy, 5)},
			want:  map[string]int{run.KindBogusAck: 1},
			check: func(t *testing.T, r Report) { wantInt(t, "lost", r.Lost, 0) },
		},
		{
			name: "bogus-ack: every ack off by one",
			in:   Input{Sends: map[int32][]kafka.Send{0: shifted}, Parts: everyNode(healthy, 5)},
			want: map[string]int{run.KindBogusAck: 5},
		},
		{
			name: "bogus-ack: an offset before the run began",
			in: Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 3), ackedAt(1, 1)}},
				Parts: func() map[int32]Partition {
					recs := []kafka.Record{msgAt(3, 0, 0), msgAt(4, 0, 1)}
					ps := everyNode(recs, 5)
					for n, l := range ps[0].Logs {
						l.From, l.Start = 3, 3
						ps[0].Logs[n] = l
					}
					p := ps[0]
					p.From = 3
					ps[0] = p
					return ps
				}()},
			want: map[string]int{run.KindBogusAck: 1},
		},
		{
			name: "bogus-ack: an offset acked for two messages",
			in:   Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 0), ackedAt(1, 0), ackedAt(2, 2)}}, Parts: everyNode(healthy[:3], 3)},
			want: map[string]int{run.KindBogusAck: 1},
		},
		{
			name: "nonmonotonic: two records served each at the other's acked offset",
			in:   Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Parts: everyNode(swapped, 5)},
			want: map[string]int{run.KindNonmonotonic: 1},
		},
		{
			name: "corrupt: a record whose checksum fails, on every node, counted once and not as lost",
			in:   Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Parts: everyNode(replace(healthy, 3, damagedAt(3)), 5)},
			want: map[string]int{run.KindCorrupt: 1},
			check: func(t *testing.T, r Report) {
				wantInt(t, "corrupted", r.Corrupted, 1)
				wantInt(t, "acked recovered", r.AckedRecovered, 4)
				wantInt(t, "lost", r.Lost, 0)
			},
		},
		{
			name: "corrupt: a damaged header (run id and all), on the leader only",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, replace(healthy, 1, kafka.Record{Offset: 1, Damaged: true, Msg: message.Message{Partition: -1, Seq: -1}, Sum: 5}), 5), logOf(2, healthy, 5), logOf(3, healthy, 5))},
			want: map[string]int{run.KindCorrupt: 1},
		},
		{
			name: "corrupt: a batch failing its CRC on one replica",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, healthy, 5), logOf(2, without(healthy, 2), 5, kafka.BadBatch{First: 2, Last: 2, Reason: "crc"}), logOf(3, healthy, 5))},
			want: map[string]int{run.KindCorrupt: 1},
		},
		{
			name: "corrupt: a batch failing its CRC on the leader",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, without(healthy, 2), 5, kafka.BadBatch{First: 2, Last: 2, Reason: "crc"}), logOf(2, healthy, 5), logOf(3, healthy, 5))},
			want:  map[string]int{run.KindCorrupt: 1},
			check: func(t *testing.T, r Report) { wantInt(t, "lost", r.Lost, 0) },
		},
		{
			name: "corrupt: a two-record batch failing its CRC on every node",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: everyNode(append(slices.Clone(healthy[:1]), healthy[3:]...), 5, kafka.BadBatch{First: 1, Last: 2, Reason: "crc"})},
			want:  map[string]int{run.KindCorrupt: 2},
			check: func(t *testing.T, r Report) { wantInt(t, "lost", r.Lost, 0) },
		},
		{
			name: "duplicate",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: everyNode(append(slices.Clone(healthy), msgAt(5, 0, 4)), 6)},
			want:  map[string]int{run.KindDuplicate: 1},
			check: func(t *testing.T, r Report) { wantInt(t, "duplicated", r.Duplicated, 1) },
		},
		{
			name: "duplicate allowed by config",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, AllowDuplicates: true,
				Parts: everyNode(append(slices.Clone(healthy), msgAt(5, 0, 4)), 6)},
			want: map[string]int{},
		},
		{
			name: "inconsistent-offsets: one replica serves something else",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, healthy, 5), logOf(2, healthy, 5), logOf(3, replace(healthy, 2, foreignAt(2)), 5))},
			want: map[string]int{run.KindInconsistentOffsets: 1},
		},
		{
			name: "inconsistent-offsets: a stale record on one replica",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, healthy, 5), logOf(2, replace(healthy, 3, msgAt(3, 0, 2)), 5), logOf(3, healthy, 5))},
			want: map[string]int{run.KindInconsistentOffsets: 1},
		},
		{
			name: "inconsistent-offsets: a replica misses an offset below its end",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, healthy, 5), logOf(2, without(healthy, 1), 5), logOf(3, healthy, 5))},
			want: map[string]int{run.KindInconsistentOffsets: 1},
		},
		{
			name: "inconsistent-offsets: a replica serves a record past the committed log's end",
			in: Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 0), ackedAt(1, 1), refused(2)}},
				Parts: part0(logOf(1, healthy[:2], 2), logOf(2, healthy[:3], 3), logOf(3, healthy[:2], 2))},
			want: map[string]int{run.KindInconsistentOffsets: 1},
		},
		{
			name: "inconsistent-offsets, not duplicate: a copy only one replica serves",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, healthy, 5), logOf(2, healthy, 5), logOf(3, append(slices.Clone(healthy), msgAt(5, 0, 4)), 6))},
			want: map[string]int{run.KindInconsistentOffsets: 1},
		},
		{
			name: "phantom: never sent, or sent to another partition",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5), 1: ackedRun(1)}, Parts: map[int32]Partition{
				0: {Leader: 1, Logs: map[int32]*kafka.LogRead{1: logOf(1, append(slices.Clone(healthy), msgAt(5, 0, 99)), 6)}},
				1: {Leader: 1, Logs: map[int32]*kafka.LogRead{1: logOf(1, []kafka.Record{msgAt(0, 1, 0), msgAt(1, 0, 3)}, 2)}},
			}},
			want: map[string]int{run.KindPhantom: 2},
		},
		{
			name: "unacked-visible",
			in:   Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 0), ackedAt(1, 1), refused(2)}}, Parts: everyNode(healthy[:3], 3)},
			want: map[string]int{run.KindUnackedVisible: 1},
		},
		{
			name:  "indeterminate-visible is counted, not an anomaly",
			in:    Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 0), timedOut(1), timedOut(2)}}, Parts: everyNode(healthy[:2], 2)},
			want:  map[string]int{},
			check: func(t *testing.T, r Report) { wantInt(t, "indeterminate visible", r.IndeterminateVisible, 1) },
		},
		{
			name: "ack-without-quorum",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Parts: everyNode(healthy, 5),
				// The majority was down from seq 3's send to the end.
				QuorumLost: func(p int32, start, done time.Time) bool { return !start.Before(t0.Add(3 * time.Millisecond)) }},
			want: map[string]int{run.KindAckWithoutQuorum: 2},
		},
		{
			name: "ack-without-quorum, not also lost",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Parts: everyNode(healthy[:3], 3),
				QuorumLost: func(p int32, start, done time.Time) bool { return !start.Before(t0.Add(3 * time.Millisecond)) }},
			want: map[string]int{run.KindAckWithoutQuorum: 2},
		},
		{
			name: "lagging-replica: behind the catch-up mark, named with its lag",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: part0(logOf(1, healthy, 5), logOf(2, healthy, 5), logOf(3, healthy[:2], 2))},
			want: map[string]int{run.KindLaggingReplica: 1},
		},
		{
			name: "unreadable-replica: a replica whose fetches fail",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: func() map[int32]Partition {
					ps := everyNode(healthy, 5)
					ps[0].Logs[2] = &kafka.LogRead{Node: 2, End: 0, HighWatermark: -1, Err: errors.New("NOT_LEADER_OR_FOLLOWER")}
					return ps
				}()},
			want: map[string]int{run.KindUnreadableReplica: 1},
		},
		{
			name: "unreadable-replica: the leader stops at offset 3; acks past it are not judged",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Parts: func() map[int32]Partition {
					ps := everyNode(healthy, 5)
					ps[0].Logs[1] = &kafka.LogRead{Node: 1, End: 3, HighWatermark: 5, Records: healthy[:3], Err: errors.New("i/o timeout")}
					return ps
				}()},
			want:  map[string]int{run.KindUnreadableReplica: 1},
			check: func(t *testing.T, r Report) { wantInt(t, "unjudged", r.Unjudged, 2) },
		},
		{
			name:  "no leader named: nothing to judge against, nothing judged",
			in:    Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Parts: map[int32]Partition{0: {Leader: -1, Logs: everyNode(healthy, 5)[0].Logs}}},
			want:  map[string]int{},
			check: func(t *testing.T, r Report) { wantInt(t, "unjudged", r.Unjudged, 5) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Run = testRun
			rep := Check(tc.in)
			got := map[string]int{}
			for _, a := range rep.Anomalies {
				got[a.Kind] = a.Count
				if a.Detail == "" || len(a.Examples) == 0 {
					t.Errorf("%s without detail or example: %+v", a.Kind, a)
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("anomalies %v, want %v (%+v)", got, tc.want, rep.Anomalies)
			}
			if tc.check != nil {
				tc.check(t, rep)
			}
		})
	}
}

func replace2(sends []kafka.Send, i int, s kafka.Send) []kafka.Send {
	cp := slices.Clone(sends)
	cp[i] = s
	return cp
}

func wantInt(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %d, want %d", what, got, want)
	}
}

// The anomaly names the node and the offset: a lie one replica tells is
// pinned on that replica.
func TestCheckNamesTheReplica(t *testing.T) {
	t.Parallel()
	healthy := inOrder(0, 5)
	rep := Check(Input{Run: testRun, Sends: map[int32][]kafka.Send{0: ackedRun(5)},
		Parts: part0(logOf(1, healthy, 5), logOf(2, healthy, 5), logOf(3, replace(healthy, 4, foreignAt(4)), 5))})
	if len(rep.Anomalies) != 1 {
		t.Fatalf("%+v", rep.Anomalies)
	}
	a := rep.Anomalies[0]
	if ex := a.Examples[0]; ex.Node != 3 || ex.Offset != 4 || ex.Partition != 0 {
		t.Fatalf("example %+v (%s)", ex, a.Detail)
	}
}

// A log whose offsets start far from zero must not cost memory in
// proportion to the offsets.
func TestCheckHandlesHighOffsets(t *testing.T) {
	t.Parallel()
	const base = int64(1) << 40
	sends := []kafka.Send{ackedAt(0, base), ackedAt(1, base+1)}
	recs := []kafka.Record{msgAt(base, 0, 0), msgAt(base+1, 0, 1)}
	lr := func(n int32) *kafka.LogRead {
		return &kafka.LogRead{Node: n, From: base, Start: base, End: base + 2, HighWatermark: base + 2, Records: recs}
	}
	parts := part0(lr(1), lr(2), lr(3))
	p := parts[0]
	p.From = base
	parts[0] = p
	rep := Check(Input{Run: testRun, Sends: map[int32][]kafka.Send{0: sends}, Parts: parts})
	if len(rep.Anomalies) != 0 || rep.AckedRecovered != 2 {
		t.Fatalf("%+v", rep)
	}
}

func TestMergeAnomaliesAddsCounts(t *testing.T) {
	t.Parallel()
	a := []run.Anomaly{{Kind: run.KindLostWrite, Count: 2, Detail: "x", Examples: []run.Example{{Seq: 1}}}}
	b := []run.Anomaly{{Kind: run.KindStaleLeader, Count: 1}, {Kind: run.KindLostWrite, Count: 3, Examples: []run.Example{{Seq: 7}}}}
	got := run.MergeAnomalies(a, b)
	if len(got) != 2 || got[0].Kind != run.KindLostWrite || got[0].Count != 5 || len(got[0].Examples) != 2 || got[1].Kind != run.KindStaleLeader {
		t.Fatalf("%+v", got)
	}
	if a[0].Count != 2 || len(a[0].Examples) != 1 {
		t.Fatalf("merge changed its input: %+v", a)
	}
}

// A second producer's writes (Input.Streams) interleave with the main
// ones in the log: each stream is judged on its own sequence numbers, its
// records are no phantoms, and a damaged record is counted once.
func TestCheckJudgesStreams(t *testing.T) {
	t.Parallel()
	const other = "20260101T000000Z-a1b2c3-pinned"
	otherAt := func(off, seq int64) kafka.Record {
		return kafka.Record{Offset: off, Msg: message.Message{Run: other, Partition: 0, Seq: seq}, Valid: true, Sum: 5}
	}
	// main seq 0, pinned seq 0, main seq 1, pinned seq 1, main seq 2
	log := []kafka.Record{msgAt(0, 0, 0), otherAt(1, 0), msgAt(2, 0, 1), otherAt(3, 1), msgAt(4, 0, 2)}
	mainSends := []kafka.Send{ackedAt(0, 0), ackedAt(1, 2), ackedAt(2, 4)}
	pinned := []kafka.Send{ackedAt(0, 1), ackedAt(1, 3)}
	cases := []struct {
		name  string
		log   []kafka.Record
		pin   []kafka.Send
		want  map[string]int
		check func(t *testing.T, r Report)
	}{
		{name: "clean, interleaved", log: log, pin: pinned, want: map[string]int{},
			check: func(t *testing.T, r Report) {
				if r.Acked != 5 || r.AckedRecovered != 5 || r.Consumed != 5 || r.StreamsConsumed != 2 {
					t.Fatalf("report %+v", r)
				}
			}},
		{name: "the pinned producer's acked write lost", log: replace(log, 3, foreignAt(3)), pin: pinned,
			want: map[string]int{run.KindLostWrite: 1}},
		{name: "the pinned producer's ack names the main stream's offset", log: log,
			pin: []kafka.Send{ackedAt(0, 1), ackedAt(1, 2)}, want: map[string]int{run.KindBogusAck: 1}},
		{name: "a damaged record is one corrupt, not one per stream", log: replace(log, 1, damagedAt(1)),
			pin: []kafka.Send{timedOut(0), ackedAt(1, 3)}, want: map[string]int{run.KindCorrupt: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := Check(Input{Run: testRun, Sends: map[int32][]kafka.Send{0: mainSends}, Parts: everyNode(tc.log, 5),
				Streams: []Stream{{Run: other, Sends: map[int32][]kafka.Send{0: tc.pin}}}})
			got := map[string]int{}
			for _, a := range rep.Anomalies {
				got[a.Kind] = a.Count
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("anomalies %v, want %v (%+v)", got, tc.want, rep.Anomalies)
			}
			if tc.check != nil {
				tc.check(t, rep)
			}
		})
	}
}
