package drill

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
	"github.com/raftdrill/raftdrill/run"
)

// Batch sums up the outcomes of some sends.
type Batch struct {
	Sent, Acked, Failed, Indet int
	reasons                    map[string]int // why sends failed
}

// Add counts one send.
func (b *Batch) Add(s kafka.Send) {
	b.Sent++
	switch s.Outcome {
	case kafka.Acked:
		b.Acked++
	case kafka.Failed:
		b.Failed++
		if b.reasons == nil {
			b.reasons = map[string]int{}
		}
		if s.Err != nil {
			b.reasons[s.Err.Error()]++
		}
	case kafka.Indeterminate:
		b.Indet++
	}
}

// Tally counts every send of every partition.
func Tally(sends map[int32][]kafka.Send) Batch {
	var b Batch
	for _, ss := range sends {
		for _, s := range ss {
			b.Add(s)
		}
	}
	return b
}

// Ratio is acked over sent.
func (b Batch) Ratio() float64 { return Ratio(b.Acked, b.Sent) }

func (b Batch) String() string {
	return fmt.Sprintf("%d sent, %d acked (%.1f %%), %d failed, %d indeterminate", b.Sent, b.Acked, b.Ratio()*100, b.Failed, b.Indet)
}

// Reasons says why sends failed, most common first.
func (b Batch) Reasons() string {
	reasons := make([]string, 0, len(b.reasons))
	for why, n := range b.reasons {
		reasons = append(reasons, fmt.Sprintf("%s ×%d", why, n))
	}
	sort.Strings(reasons)
	return strings.Join(reasons, ", ")
}

// Measure records the counts of sends in a run's measurements.
func (b Batch) Measure(m run.Measurements) {
	m.Set(run.MessagesSent, float64(b.Sent))
	m.Set(run.MessagesFailed, float64(b.Failed))
	m.Set(run.MessagesIndet, float64(b.Indet))
	m.Set(run.SuccessRatio, b.Ratio())
}

// Latencies are the latencies of every acked send.
func Latencies(sends map[int32][]kafka.Send) []time.Duration {
	var out []time.Duration
	for _, ss := range sends {
		for _, s := range ss {
			if s.Outcome == kafka.Acked {
				out = append(out, s.Latency)
			}
		}
	}
	return out
}

// Ratio is a over b, 0 when b is 0.
func Ratio(a, b int) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Failover finds, among one partition's sends, the first write that
// another node than old acked, sent after at: the end of the failover.
// Only an ack from another node proves a new leader (a slow kill, an
// isolated leader, can leave the old one acking for a while). That ack
// also bounds the election when it came before the poller saw the new
// leader (electedAt, zero if never). Figures are seconds from at, -1 when
// not seen; first is the ack, when ok.
func Failover(sends []kafka.Send, at time.Time, old int32, electedAt time.Time) (election, failover float64, first kafka.Send, ok bool) {
	election, failover = -1, -1
	for _, sd := range sends {
		if sd.Outcome == kafka.Acked && sd.Start.After(at) && sd.Node != old {
			first, ok = sd, true
			failover = sd.Done().Sub(at).Seconds()
			if electedAt.IsZero() || sd.Done().Before(electedAt) {
				electedAt = sd.Done()
			}
			break
		}
	}
	if !electedAt.IsZero() {
		election = electedAt.Sub(at).Seconds()
	}
	return election, failover, first, ok
}
