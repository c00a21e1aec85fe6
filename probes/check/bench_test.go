package check

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/cluster/message"
	"github.com/raftdrill/raftdrill/internal/kbatch"
	"github.com/raftdrill/raftdrill/run"
)

// rawRun is a run of n messages over three partitions as three nodes serve
// it on the wire: per node and partition, fetch answers of record batches
// (one record per batch, as raftdrill's producer writes them), up to 8 MiB
// each, as ReadLog receives them.
type rawRun struct {
	n     int
	sends map[int32][]kafka.Send
	// answers[node][partition] are the fetch answers' record batches.
	answers map[int32]map[int32][][]byte
	hwm     map[int32]int64
}

const (
	rawParts = 3
	rawNodes = 3
)

// newRawRun builds it. With distinct, every node's answers are bytes of
// their own (what a benchmark must decode); without, the nodes share them
// (a test of the verdict that has no need of three copies of a gigabyte).
// One indeterminate send is read back and node 3 serves one batch whose
// CRC fails, so the slow paths run too.
func newRawRun(n, size int, distinct bool) *rawRun {
	rr := &rawRun{n: n, sends: map[int32][]kafka.Send{}, answers: map[int32]map[int32][][]byte{}, hwm: map[int32]int64{}}
	for node := int32(1); node <= rawNodes; node++ {
		rr.answers[node] = map[int32][][]byte{}
	}
	for p := int32(0); p < rawParts; p++ {
		per := n / rawParts
		sends := make([]kafka.Send, per)
		var answers [][]byte
		var cur []byte
		for i := range per {
			sends[i] = ackedAt(int64(i), int64(i))
			cur = kbatch.Append(cur, int64(i), message.Encode(message.Message{Run: testRun, Partition: p, Seq: int64(i)}, size))
			if len(cur) >= 8<<20 || i == per-1 {
				answers = append(answers, cur)
				cur = nil
			}
		}
		sends[per/2] = timedOut(int64(per / 2))
		rr.sends[p], rr.hwm[p] = sends, int64(per)
		for node := int32(1); node <= rawNodes; node++ {
			mine := answers
			if distinct || node == rawNodes {
				mine = make([][]byte, len(answers))
				for i, a := range answers {
					mine[i] = bytes.Clone(a)
				}
			}
			if node == rawNodes {
				// Damage one byte of the last record of the first answer.
				mine[0][len(mine[0])-2] ^= 0x10
			}
			rr.answers[node][p] = mine
		}
	}
	return rr
}

// decodeAndCheck is what a drill does with the answers: each node's
// partitions decoded concurrently (ReadBack reads nodes concurrently), then
// Check.
func (rr *rawRun) decodeAndCheck() Report {
	logs := map[int32]map[int32]*kafka.LogRead{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for node, parts := range rr.answers {
		wg.Go(func() {
			mine := map[int32]*kafka.LogRead{}
			for p, answers := range parts {
				lr := kafka.NewLogRead(node, "t", p, 0, testRun)
				for _, a := range answers {
					lr.AppendBatches(a, rr.hwm[p])
				}
				lr.HighWatermark = rr.hwm[p]
				mine[p] = lr
			}
			mu.Lock()
			logs[node] = mine
			mu.Unlock()
		})
	}
	wg.Wait()
	parts := map[int32]Partition{}
	for p := int32(0); p < rawParts; p++ {
		part := Partition{Leader: 1, CatchUpTo: rr.hwm[p], Logs: map[int32]*kafka.LogRead{}}
		for node := range logs {
			part.Logs[node] = logs[node][p]
		}
		parts[p] = part
	}
	return Check(Input{Run: testRun, Sends: rr.sends, Parts: parts})
}

// verdict is what the damage in newRawRun must give.
func (rr *rawRun) verdict(rep Report) error {
	per := rr.n / rawParts
	if len(rep.Anomalies) != 1 || rep.Anomalies[0].Kind != run.KindCorrupt || rep.Anomalies[0].Count != rawParts ||
		rep.Corrupted != rawParts || rep.Acked != rawParts*(per-1) || rep.AckedRecovered != rep.Acked ||
		rep.Consumed != rawParts*per || rep.IndeterminateVisible != rawParts {
		return fmt.Errorf("wrong verdict: %+v", rep)
	}
	return nil
}

// BenchmarkCheck1M decodes and checks 1,000,000 messages of 1 KiB read back
// through three nodes: 3,000,000 records in single-record batches, about
// 3.3 GB of fetch answers, each node's its own bytes. Timed: the batch CRCs,
// the record framing, every message's checksum, the comparison of every
// replica with the committed log and every ack at its offset. The goal is
// under 1 s on the project's 2-core machine.
func BenchmarkCheck1M(b *testing.B) {
	const n = 1_000_000
	rr := newRawRun(n, 1024, true)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := rr.verdict(rr.decodeAndCheck()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// A million messages read through three nodes, one batch damaged on one
// node: the verdict at scale, from the wire format up (the time it takes
// is BenchmarkCheck1M's business, not a test's: this machine is shared and
// noisy).
func TestCheckMillionMessages(t *testing.T) {
	t.Parallel()
	rr := newRawRun(1_000_000, 64, false)
	if err := rr.verdict(rr.decodeAndCheck()); err != nil {
		t.Fatal(err)
	}
}
