package drill

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
)

// ProduceAtRate sends one message at a time at rate msg/s from start until
// ctx ends, and closes pp. If a send overruns its slot the schedule moves
// on rather than bursting to catch up, so a stall does not turn into a
// flood afterwards.
func ProduceAtRate(ctx context.Context, pp *kafka.Producer, start time.Time, rate float64) []kafka.Send {
	return produceAtRate(ctx, pp, start, rate, nil)
}

// produceAtRate is ProduceAtRate, calling done (when set) with each send
// once it has its outcome.
func produceAtRate(ctx context.Context, pp *kafka.Producer, start time.Time, rate float64, done func(kafka.Send)) []kafka.Send {
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
		s := pp.Send(seq)
		out = append(out, s)
		if done != nil {
			done(s)
		}
		next = next.Add(interval)
		if behind := time.Since(next); behind > interval {
			next = time.Now()
		}
	}
}

// Load is ProduceAtRate in the background, for a step that acts while
// writes go on and must know whether they are flowing.
type Load struct {
	stop  context.CancelFunc
	done  chan struct{}
	sends []kafka.Send
	acked atomic.Int64
}

// StartLoad starts producing through pp at rate msg/s, from now until Stop
// or the end of ctx; the load closes pp.
func StartLoad(ctx context.Context, pp *kafka.Producer, rate float64) *Load {
	ctx, stop := context.WithCancel(ctx)
	l := &Load{stop: stop, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.sends = produceAtRate(ctx, pp, time.Now(), rate, func(s kafka.Send) {
			if s.Outcome == kafka.Acked {
				l.acked.Add(1)
			}
		})
	}()
	return l
}

// Acked is how many of the load's writes have been acked so far.
func (l *Load) Acked() int { return int(l.acked.Load()) }

// Stop ends the load, waits for the write in flight to be answered, and
// returns every send, indexed by sequence number.
func (l *Load) Stop() []kafka.Send {
	l.stop()
	<-l.done
	return l.sends
}
