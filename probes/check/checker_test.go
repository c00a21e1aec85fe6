package check

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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

func msgAt(off int64, p int32, seq int64) kafka.Record {
	return kafka.Record{Offset: off, Msg: message.Message{Run: testRun, Partition: p, Seq: seq}, Valid: true}
}

// inOrder is what a healthy partition holds: seq i at offset i.
func inOrder(p int32, n int) []kafka.Record {
	out := make([]kafka.Record, n)
	for i := range out {
		out[i] = msgAt(int64(i), p, int64(i))
	}
	return out
}

// sameOnEveryNode is the view of partition 0 that nodes 1, 2 and 3 share.
func sameOnEveryNode(recs []kafka.Record) map[int32]map[int32][]kafka.Record {
	out := map[int32]map[int32][]kafka.Record{}
	for n := int32(1); n <= 3; n++ {
		out[n] = map[int32][]kafka.Record{0: recs}
	}
	return out
}

func replace(recs []kafka.Record, i int, r kafka.Record) []kafka.Record {
	cp := slices.Clone(recs)
	cp[i] = r
	return cp
}

// Each case breaks one rule of anomalies.md in the smallest way, and wants
// exactly the kinds (with counts) that break shows; the clean case wants
// none.
func TestCheckClassifiesEachKind(t *testing.T) {
	t.Parallel()
	healthy := inOrder(0, 5)
	cases := []struct {
		name  string
		in    Input
		want  map[string]int
		check func(t *testing.T, r Report)
	}{
		{
			name: "clean",
			in:   Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Reads: sameOnEveryNode(healthy)},
			want: map[string]int{},
			check: func(t *testing.T, r Report) {
				if r.Consumed != 5 || r.Acked != 5 || r.AckedRecovered != 5 || r.Lost+r.Duplicated+r.Corrupted != 0 {
					t.Fatalf("report %+v", r)
				}
			},
		},
		{
			name: "lagging nodes are not a loss",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Reads: map[int32]map[int32][]kafka.Record{
				1: {0: healthy}, 2: {0: healthy[:3]}, 3: {0: nil},
			}},
			want: map[string]int{},
		},
		{
			name: "other runs and foreign records are ignored",
			in: Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 2)}}, Reads: sameOnEveryNode([]kafka.Record{
				{Offset: 0, Foreign: true},
				{Offset: 1, Msg: message.Message{Run: "older-run", Partition: 0, Seq: 7}, Valid: true},
				msgAt(2, 0, 0),
			})},
			want: map[string]int{},
		},
		{
			name: "lost-write",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Reads: sameOnEveryNode(slices.Delete(slices.Clone(healthy), 2, 3))},
			want:  map[string]int{run.KindLostWrite: 1},
			check: func(t *testing.T, r Report) { wantInt(t, "lost", r.Lost, 1) },
		},
		{
			name: "bogus-ack: offset -1",
			in: Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 0), ackedAt(1, -1)}},
				Reads: sameOnEveryNode(healthy[:2])},
			want: map[string]int{run.KindBogusAck: 1},
		},
		{
			name: "bogus-ack: offset acked twice",
			in: Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 0), ackedAt(1, 0), ackedAt(2, 2)}},
				Reads: sameOnEveryNode([]kafka.Record{msgAt(0, 0, 0), msgAt(1, 0, 1), msgAt(2, 0, 2)})},
			want: map[string]int{run.KindBogusAck: 1},
		},
		{
			name: "corrupt, counted once for three nodes and not as lost",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Reads: sameOnEveryNode(replace(healthy, 3, kafka.Record{Offset: 3, Msg: message.Message{Run: testRun, Seq: 3}, Valid: false}))},
			want: map[string]int{run.KindCorrupt: 1},
			check: func(t *testing.T, r Report) {
				wantInt(t, "corrupted", r.Corrupted, 1)
				wantInt(t, "acked recovered", r.AckedRecovered, 4)
				wantInt(t, "lost", r.Lost, 0)
			},
		},
		{
			name: "duplicate",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Reads: sameOnEveryNode(append(slices.Clone(healthy), msgAt(5, 0, 4)))},
			want:  map[string]int{run.KindDuplicate: 1},
			check: func(t *testing.T, r Report) { wantInt(t, "duplicated", r.Duplicated, 1) },
		},
		{
			name: "duplicate allowed by config",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, AllowDuplicates: true,
				Reads: sameOnEveryNode(append(slices.Clone(healthy), msgAt(5, 0, 4)))},
			want: map[string]int{},
		},
		{
			name: "inconsistent-offsets: one node serves something else",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Reads: map[int32]map[int32][]kafka.Record{
				1: {0: healthy}, 2: {0: healthy}, 3: {0: replace(healthy, 2, kafka.Record{Offset: 2, Foreign: true})},
			}},
			want: map[string]int{run.KindInconsistentOffsets: 1},
		},
		{
			name: "nonmonotonic",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)},
				Reads: sameOnEveryNode([]kafka.Record{msgAt(0, 0, 0), msgAt(1, 0, 2), msgAt(2, 0, 1), msgAt(3, 0, 3), msgAt(4, 0, 4)})},
			want: map[string]int{run.KindNonmonotonic: 1},
		},
		{
			name: "phantom: never sent, or sent to another partition",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5), 1: ackedRun(1)}, Reads: map[int32]map[int32][]kafka.Record{
				1: {0: append(slices.Clone(healthy), msgAt(5, 0, 99)), 1: {msgAt(0, 1, 0), msgAt(1, 0, 3)}},
			}},
			want: map[string]int{run.KindPhantom: 2},
		},
		{
			name: "unacked-visible",
			in: Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 0), ackedAt(1, 1), refused(2)}},
				Reads: sameOnEveryNode(healthy[:3])},
			want: map[string]int{run.KindUnackedVisible: 1},
		},
		{
			name: "indeterminate-visible is counted, not an anomaly",
			in: Input{Sends: map[int32][]kafka.Send{0: {ackedAt(0, 0), timedOut(1), timedOut(2)}},
				Reads: sameOnEveryNode(healthy[:2])},
			want:  map[string]int{},
			check: func(t *testing.T, r Report) { wantInt(t, "indeterminate visible", r.IndeterminateVisible, 1) },
		},
		{
			name: "ack-without-quorum",
			in: Input{Sends: map[int32][]kafka.Send{0: ackedRun(5)}, Reads: sameOnEveryNode(healthy),
				// The majority was down from seq 3's send to the end.
				QuorumLost: func(p int32, start, done time.Time) bool { return !start.Before(t0.Add(3 * time.Millisecond)) }},
			want: map[string]int{run.KindAckWithoutQuorum: 2},
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

func wantInt(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %d, want %d", what, got, want)
	}
}

// A log whose offsets start far from zero must not cost memory in
// proportion to the offsets.
func TestCheckHandlesHighOffsets(t *testing.T) {
	t.Parallel()
	const base = int64(1) << 40
	sends := []kafka.Send{ackedAt(0, base), ackedAt(1, base+1)}
	reads := sameOnEveryNode([]kafka.Record{msgAt(base, 0, 0), msgAt(base+1, 0, 1)})
	rep := Check(Input{Run: testRun, Sends: map[int32][]kafka.Send{0: sends}, Reads: reads})
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

// bigRun is a failure-recovery run of n messages over three partitions,
// each read back through three nodes, with a few anomalies sprinkled in so
// the slow paths run too.
func bigRun(n int) Input {
	const parts, nodes = 3, 3
	in := Input{Run: testRun, Sends: map[int32][]kafka.Send{}, Reads: map[int32]map[int32][]kafka.Record{}}
	for node := int32(1); node <= nodes; node++ {
		in.Reads[node] = map[int32][]kafka.Record{}
	}
	for p := int32(0); p < parts; p++ {
		per := n / parts
		sends := make([]kafka.Send, per)
		recs := make([]kafka.Record, per)
		for i := range per {
			sends[i] = ackedAt(int64(i), int64(i))
			recs[i] = msgAt(int64(i), p, int64(i))
			// Decoded records each hold their own copy of the run id,
			// so comparing it is not a pointer check.
			recs[i].Msg.Run = strings.Clone(testRun)
		}
		sends[per/2] = timedOut(int64(per / 2)) // indeterminate, read back
		recs[per/3].Valid = false               // one corrupt record
		for node := int32(1); node <= nodes; node++ {
			in.Reads[node][p] = recs
		}
		in.Sends[p] = sends
	}
	return in
}

// BenchmarkCheck1M classifies 1,000,000 messages read back through three
// nodes (3,000,000 records). The goal is under 2 s on the project's 2-core
// machine.
func BenchmarkCheck1M(b *testing.B) {
	const n = 1_000_000
	in := bigRun(n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep := Check(in)
		if rep.Corrupted != 3 || rep.IndeterminateVisible != 3 {
			b.Fatalf("unexpected report: %+v", rep)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// A million messages read through three nodes, one of them damaged: the
// verdict at scale (the time it takes is BenchmarkCheck1M's business, not a
// test's: this machine is shared and noisy).
func TestCheckMillionMessages(t *testing.T) {
	t.Parallel()
	rep := Check(bigRun(1_000_000))
	if len(rep.Anomalies) != 1 || rep.Anomalies[0].Kind != run.KindCorrupt || rep.Consumed != 3*(1_000_000/3-1) {
		t.Fatalf("wrong verdict: consumed %d, anomalies %s", rep.Consumed, fmt.Sprint(rep.Anomalies))
	}
}
