package sandbox_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/raftdrill/raftdrill/sandbox"
)

// BenchmarkProduceAcksAll produces 1 KiB records with acks=all to a
// 3-partition topic of a 3-node sandbox (and of a 1-node one, the
// baseline), with a franz-go producer batching as kcat does in
// docs/sandbox.md (linger 5 ms, 256 KiB batches, no compression), and
// reports msg/s. One iteration is one record.
//
//	go test ./sandbox/ -run '^$' -bench ProduceAcksAll -benchtime 200000x
func BenchmarkProduceAcksAll(b *testing.B) {
	for _, nodes := range []int{3, 1} {
		for _, fsync := range []string{"always", "never"} {
			b.Run(fmt.Sprintf("nodes=%d/fsync=%s", nodes, fsync), func(b *testing.B) {
				benchProduce(b, nodes, fsync)
			})
		}
	}
}

func benchProduce(b *testing.B, nodes int, fsync string) {
	c, err := sandbox.New(sandbox.Options{Nodes: nodes, Fsync: fsync})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateTopic("bench", 3, int16(nodes)); err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.Addrs()...),
		kgo.DefaultProduceTopic("bench"),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(256<<10),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(64<<10),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, 1024)
	// Warm up: metadata, connections.
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: value}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d records failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
}
