package drill

import (
	"context"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
)

// ProduceAtRate sends one message at a time at rate msg/s from start until
// ctx ends, and closes pp. If a send overruns its slot the schedule moves
// on rather than bursting to catch up, so a stall does not turn into a
// flood afterwards.
func ProduceAtRate(ctx context.Context, pp *kafka.Producer, start time.Time, rate float64) []kafka.Send {
	defer pp.Close()
	interval := time.Duration(float64(time.Second) / rate)
	var out []kafka.Send
	next := start
	t := time.NewTimer(0)
	defer t.Stop()
	for seq := int64(0); ; seq++ {
		if wait := time.Until(next); wait > 0 {
			t.Reset(wait)
			select {
			case <-ctx.Done():
				return out
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return out
		}
		out = append(out, pp.Send(seq))
		next = next.Add(interval)
		if behind := time.Since(next); behind > interval {
			next = time.Now()
		}
	}
}
