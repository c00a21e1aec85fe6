package lieproxy

import (
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/raftdrill/raftdrill/internal/kbatch"
)

// TP is a topic partition.
type TP struct {
	Topic     string
	Partition int32
}

// State is what the proxy has learned from the traffic.
type State struct {
	mu    sync.Mutex
	nodes int
	acks  map[TP][]int64 // acked offsets, in the order the answers came
	// named[tp] is the leader the latest metadata answer named, and when.
	named map[TP]naming
}

type naming struct {
	leader int32
	at     time.Time
}

func newState(nodes int) *State {
	return &State{nodes: nodes, acks: map[TP][]int64{}, named: map[TP]naming{}}
}

func (s *State) learnAcks(r *kmsg.ProduceResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 && p.BaseOffset >= 0 {
				tp := TP{t.Topic, p.Partition}
				s.acks[tp] = append(s.acks[tp], p.BaseOffset)
			}
		}
	}
}

func (s *State) learnLeaders(_ int32, r *kmsg.MetadataResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, t := range r.Topics {
		if t.Topic == nil {
			continue
		}
		for _, p := range t.Partitions {
			if p.Leader >= 0 {
				s.named[TP{*t.Topic, p.Partition}] = naming{p.Leader, now}
			}
		}
	}
}

// Acked returns the first n acked offsets of tp (fewer if fewer came),
// skipping the first skip.
func (s *State) Acked(tp TP, skip, n int) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.acks[tp]
	if skip >= len(a) {
		return nil
	}
	a = a[skip:]
	return slices.Clone(a[:min(n, len(a))])
}

// Leader is the leader the latest metadata answer named for tp (-1: none
// seen).
func (s *State) Leader(tp TP) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.named[tp]; ok {
		return n.leader
	}
	return -1
}

// Role is which replica of a partition tells a lie.
type Role int

const (
	// Anyone: every node.
	Anyone Role = iota
	// Leader: the partition's leader.
	Leader
	// Follower: one follower, the highest-numbered node that does not lead.
	Follower
)

// plays reports whether node plays role for tp now.
func (s *State) plays(node int32, tp TP, role Role) bool {
	leader := s.Leader(tp)
	switch role {
	case Leader:
		return node == leader
	case Follower:
		f := int32(s.nodes)
		if f == leader {
			f--
		}
		return leader >= 0 && node == f
	}
	return true
}

// Lie is one way of lying.
type Lie struct {
	Name string
	On   Role
	// produce may change a produce answer (any node); fetch may change one
	// partition of a fetch answer from the node playing On.
	produce func(*kmsg.ProduceResponse) bool
	fetch   func(*State, TP, *kmsg.FetchResponseTopicPartition) bool

	mu    sync.Mutex
	times int
}

func (l *Lie) count() {
	l.mu.Lock()
	l.times++
	l.mu.Unlock()
}

func (l *Lie) told() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.times
}

// rewriteRecords applies change to each record of the answer's plain
// batches at the given offsets; with fixCRC the batch's CRC is computed
// afresh, else the original CRC is kept (and no longer matches).
func rewriteRecords(rp *kmsg.FetchResponseTopicPartition, offsets []int64, fixCRC bool, change func(off int64, b *kbatch.Batch, i int) (drop bool)) bool {
	batches, rest, err := kbatch.Split(rp.RecordBatches)
	if err != nil {
		return false
	}
	changed := false
	var out []byte
	for _, b := range batches {
		if !b.Decoded {
			out = append(out, b.Raw...)
			continue
		}
		touched, dropped := false, false
		var keep []kbatch.Record
		for i, r := range b.Records {
			off := b.Base + int64(r.OffsetDelta)
			if slices.Contains(offsets, off) {
				touched = true
				if change(off, &b, i) {
					dropped = true
					continue
				}
			}
			keep = append(keep, b.Records[i])
		}
		if !touched {
			out = append(out, b.Raw...)
			continue
		}
		changed = true
		if dropped && len(keep) == 0 {
			continue // the whole batch is gone: a gap
		}
		b.Records = keep
		start := len(out)
		out = b.Encode(out)
		if !fixCRC {
			copy(out[start+17:start+21], b.Raw[17:21])
		}
	}
	if !changed {
		return false
	}
	rp.RecordBatches = append(out, rest...)
	return true
}

// HideAcked: the leader serves the first n acked records of each partition
// as if they were never written (a gap), while the other replicas keep
// them: acked writes lost from the committed log (lost-write).
func HideAcked(n int) *Lie {
	return &Lie{Name: "hide-acked", On: Leader, fetch: func(st *State, tp TP, rp *kmsg.FetchResponseTopicPartition) bool {
		return rewriteRecords(rp, st.Acked(tp, 0, n), true, func(int64, *kbatch.Batch, int) bool { return true })
	}}
}

// TruncateLeader: the leader serves its log and high watermark k records
// short, while the followers keep the tail: the last k acked writes of
// each partition lost (lost-write).
func TruncateLeader(k int64) *Lie {
	return &Lie{Name: "truncate-leader", On: Leader, fetch: func(st *State, tp TP, rp *kmsg.FetchResponseTopicPartition) bool {
		return cutAt(rp, rp.HighWatermark-k)
	}}
}

// cutAt serves the log and high watermark as if they ended at end.
func cutAt(rp *kmsg.FetchResponseTopicPartition, end int64) bool {
	if rp.ErrorCode != 0 || end < 0 || rp.HighWatermark <= end {
		return false
	}
	rp.HighWatermark = end
	if rp.LastStableOffset > end {
		rp.LastStableOffset = end
	}
	batches, _, err := kbatch.Split(rp.RecordBatches)
	if err != nil {
		return true
	}
	var out []byte
	for _, b := range batches {
		if b.Base < end {
			out = append(out, b.Raw...)
		}
	}
	rp.RecordBatches = out
	return true
}

// ShiftAcks: the next n successful produce answers name an offset by off
// from the one written (bogus-ack).
func ShiftAcks(n int, by int64) *Lie {
	var mu sync.Mutex
	left := n
	return &Lie{Name: "shift-acks", On: Anyone, produce: func(r *kmsg.ProduceResponse) bool {
		mu.Lock()
		defer mu.Unlock()
		changed := false
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				p := &r.Topics[i].Partitions[j]
				if left > 0 && p.ErrorCode == 0 && p.BaseOffset >= 0 {
					p.BaseOffset += by
					left--
					changed = true
				}
			}
		}
		return changed
	}}
}

// FlipByte: the node playing role serves the first n acked records of each
// partition with one byte flipped, at byte at of the value (negative: from
// its end). With fixCRC the batch CRC is recomputed over the damage (only
// the message's own checksum tells); without, the batch fails its CRC
// (corrupt either way).
func FlipByte(role Role, n int, at int, fixCRC bool) *Lie {
	return &Lie{Name: "flip-byte", On: role, fetch: func(st *State, tp TP, rp *kmsg.FetchResponseTopicPartition) bool {
		return rewriteRecords(rp, st.Acked(tp, 0, n), fixCRC, func(_ int64, b *kbatch.Batch, i int) bool {
			v := append([]byte(nil), b.Records[i].Value...)
			k := at
			if k < 0 {
				k += len(v)
			}
			if k >= 0 && k < len(v) {
				v[k] ^= 0x04
			}
			b.Records[i].Value = v
			return false
		})
	}}
}

// staleValue is what a replica that kept an older term's entry serves.
var staleValue = []byte("lieproxy: an entry of an older term")

// StaleRecord: the node playing role serves, at the 2nd to (n+1)th acked
// offsets of each partition, another record: the one before it in the
// same answer when there is one, else an older term's entry. On a follower
// that is inconsistent-offsets; on the leader, the acked write is lost
// (lost-write).
func StaleRecord(role Role, n int) *Lie {
	return &Lie{Name: "stale-record", On: role, fetch: func(st *State, tp TP, rp *kmsg.FetchResponseTopicPartition) bool {
		var prev []byte
		batches, _, _ := kbatch.Split(rp.RecordBatches)
		values := map[int64][]byte{}
		for _, b := range batches {
			for _, r := range b.Records {
				values[b.Base+int64(r.OffsetDelta)] = r.Value
			}
		}
		return rewriteRecords(rp, st.Acked(tp, 1, n), true, func(off int64, b *kbatch.Batch, i int) bool {
			prev = values[off-1]
			if prev == nil {
				prev = staleValue
			}
			b.Records[i].Value = prev
			return false
		})
	}}
}

// Lag: the node playing role serves its log and high watermark k records
// short of the truth for ever, as a replica that stopped replicating would
// (lagging-replica).
func Lag(role Role, k int64) *Lie {
	return &Lie{Name: "lag", On: role, fetch: func(_ *State, _ TP, rp *kmsg.FetchResponseTopicPartition) bool {
		return cutAt(rp, rp.HighWatermark-k)
	}}
}

// RefuseFetch: the node playing role answers every fetch with
// NOT_LEADER_OR_FOLLOWER (unreadable-replica).
func RefuseFetch(role Role) *Lie {
	return &Lie{Name: "refuse-fetch", On: role, fetch: func(_ *State, _ TP, rp *kmsg.FetchResponseTopicPartition) bool {
		rp.ErrorCode = kerr.NotLeaderForPartition.Code
		rp.RecordBatches = nil
		rp.HighWatermark = -1
		return true
	}}
}
