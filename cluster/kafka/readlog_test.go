package kafka_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/cluster/message"
	"github.com/raftdrill/raftdrill/internal/kbatch"
	"github.com/raftdrill/raftdrill/internal/testenv"
)

const runID = "20260101T000000Z-a1b2c3"

func msg(seq int64) []byte {
	return message.Encode(message.Message{Run: runID, Partition: 0, Seq: seq}, 100)
}

// batches writes one single-record batch per offset in [from, to).
func batches(from, to int64) []byte {
	var out []byte
	for off := from; off < to; off++ {
		out = kbatch.Append(out, off, msg(off))
	}
	return out
}

func offsets(recs []kafka.Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Offset
	}
	return out
}

// A batch that fails its CRC is recorded with its offsets and the read goes
// on after it: corruption on one node never hides the rest of its log.
func TestAppendBatchesReadsPastABadBatch(t *testing.T) {
	t.Parallel()
	good := batches(0, 3)
	bad := kbatch.Append(nil, 3, msg(3), msg(4))
	bad[len(bad)-1] ^= 1 // a payload bit: the batch CRC no longer matches
	raw := append(append(append([]byte(nil), good...), bad...), batches(5, 7)...)

	lr := kafka.NewLogRead(2, "t", 0, 0, runID)
	if !lr.AppendBatches(raw, 7) {
		t.Fatal("no progress")
	}
	if got := fmt.Sprint(offsets(lr.Records)); got != "[0 1 2 5 6]" {
		t.Fatalf("records at %s", got)
	}
	if len(lr.Bad) != 1 || lr.Bad[0].First != 3 || lr.Bad[0].Last != 4 || lr.End != 7 {
		t.Fatalf("bad %+v, end %d", lr.Bad, lr.End)
	}
	for _, r := range lr.Records {
		if !r.Valid || r.Msg.Run != runID || r.Msg.Seq != r.Offset {
			t.Fatalf("record %+v", r)
		}
	}
}

func TestAppendBatchesEdges(t *testing.T) {
	t.Parallel()
	gz := func(base int64, vals ...[]byte) []byte {
		// Compress the records of a plain batch, as a broker that
		// recompresses would serve it.
		plain := kbatch.Append(nil, base, vals...)
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(plain[61:])
		_ = w.Close()
		out := append(append([]byte(nil), plain[:61]...), buf.Bytes()...)
		binary.BigEndian.PutUint16(out[21:], 1) // gzip
		binary.BigEndian.PutUint32(out[8:12], uint32(len(out)-12))
		kbatch.FixCRC(out)
		return out
	}
	lyingDelta := kbatch.Append(nil, 2, msg(2))
	binary.BigEndian.PutUint32(lyingDelta[23:], 1000) // covered by the CRC, which now fails
	cases := []struct {
		name    string
		from    int64
		raw     []byte
		hwm     int64
		records string
		bad     string
		end     int64
	}{
		{name: "partial batch at the end waits for the next fetch", raw: batches(0, 3)[:len(batches(0, 3))-10], hwm: 3, records: "[0 1]", bad: "[]", end: 2},
		{name: "a read that starts inside a batch keeps what follows", from: 1, raw: kbatch.Append(nil, 0, msg(0), msg(1), msg(2)), hwm: 3, records: "[1 2]", bad: "[]", end: 3},
		{name: "nothing at or past the high watermark", raw: batches(0, 5), hwm: 3, records: "[0 1 2]", bad: "[]", end: 3},
		{name: "a gap is read as no record there", raw: append(batches(0, 2), batches(4, 5)...), hwm: 5, records: "[0 1 4]", bad: "[]", end: 5},
		{name: "compressed batch", raw: gz(0, msg(0), msg(1)), hwm: 2, records: "[0 1]", bad: "[]", end: 2},
		{name: "a bad batch's last offset is bounded by the next batch", raw: append(append(batches(0, 2), lyingDelta...), batches(3, 4)...), hwm: 4, records: "[0 1 3]", bad: "[{2 2}]", end: 4},
		{name: "a bad batch's last offset is bounded by the high watermark", raw: append(batches(0, 2), lyingDelta...), hwm: 4, records: "[0 1]", bad: "[{2 3}]", end: 4},
		{name: "broken framing marks the offset asked for", raw: append(batches(0, 1), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 9, 9, 9), hwm: 4, records: "[0]", bad: "[{1 1}]", end: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lr := kafka.NewLogRead(1, "t", 0, tc.from, runID)
			lr.AppendBatches(tc.raw, tc.hwm)
			var bad []string
			for _, b := range lr.Bad {
				bad = append(bad, fmt.Sprintf("{%d %d}", b.First, b.Last))
			}
			if got := fmt.Sprint(offsets(lr.Records)); got != tc.records || fmt.Sprint(bad) != tc.bad || lr.End != tc.end {
				t.Fatalf("records %s bad %v end %d; want %s %s %d (%+v)", got, bad, lr.End, tc.records, tc.bad, tc.end, lr.Bad)
			}
		})
	}
}

// Read back through every node of a sandbox what was produced to it.
func TestReadLogThroughEveryNode(t *testing.T) {
	t.Parallel()
	cfg := testenv.ShortConfig()
	_, c := testenv.Cluster(t, cfg)
	topic := cfg.Cluster.Topic
	if err := c.EnsureTopic(topic.Name, topic.Partitions, topic.ReplicationFactor); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitLed(context.Background(), topic.Name, topic.Partitions, cfg.Cluster.RequestTimeout); err != nil {
		t.Fatal(err)
	}
	pp := c.NewProducer(kafka.ProducerOptions{Topic: topic.Name, Partition: 1, Run: runID, Size: 300, Leader: -1})
	defer pp.Close()
	for seq := int64(0); seq < 50; seq++ {
		if s := pp.Send(seq); s.Outcome != kafka.Acked || s.Offset != seq {
			t.Fatalf("send %d: %+v", seq, s)
		}
	}
	for _, n := range c.Nodes() {
		lr := c.ReadLog(context.Background(), n.ID, topic.Name, 1, 10, runID)
		if lr.Err != nil || len(lr.Bad) != 0 || lr.End != 50 || lr.HighWatermark != 50 || len(lr.Records) != 40 {
			t.Fatalf("node %d: err %v bad %v end %d hwm %d, %d records", n.ID, lr.Err, lr.Bad, lr.End, lr.HighWatermark, len(lr.Records))
		}
		for i, r := range lr.Records {
			if r.Offset != int64(10+i) || !r.Valid || r.Msg.Seq != r.Offset || r.Msg.Partition != 1 {
				t.Fatalf("node %d: record %+v", n.ID, r)
			}
		}
	}
}
