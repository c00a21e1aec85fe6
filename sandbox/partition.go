package sandbox

import (
	"encoding/binary"
	"encoding/json"
	"sync"

	"github.com/raftdrill/raftdrill/sandbox/internal/batch"
	"github.com/raftdrill/raftdrill/sandbox/internal/damage"
	"github.com/raftdrill/raftdrill/sandbox/internal/entry"
	"github.com/raftdrill/raftdrill/sandbox/internal/raftlog"
	"github.com/twmb/franz-go/pkg/kerr"
)

// partition is one replica of a Kafka partition on one node: the state
// machine of its Raft group. The records themselves live in the group's
// log (each entry's Kafka offsets follow from the entries before it); what
// applying adds is the high watermark, the offset after the last committed
// record as this node knows it, and the damage the fault directives in
// committed entries call for.
type partition struct {
	n        *node
	g        *group
	topic    string
	index    int32
	replicas []int32

	mu        sync.RWMutex
	hwm       int64
	damage    damage.Table // from committed entries: durable
	notify    chan struct{}
	truncated []LogRecord
	// frozen is the high watermark a never_catch_up replica shows, as it
	// was when the faults of generation frozenGen were set.
	frozen    int64
	frozenGen uint64
}

// maxTruncated bounds the records kept of entries Raft truncated.
const maxTruncated = 10000

// highestReplicaBut is the highest-numbered replica other than node not,
// 0 when there is none: the replica the faults that pick "a follower"
// pick, the same on every node.
func (p *partition) highestReplicaBut(not int32) int32 {
	var out int32
	for _, r := range p.replicas {
		if r != not && r > out {
			out = r
		}
	}
	return out
}

func newPartition(n *node, topic string, index int32, replicas []int32) *partition {
	return &partition{n: n, topic: topic, index: index, replicas: replicas, notify: make(chan struct{}), damage: damage.NewTable()}
}

func (p *partition) applyEntry(index, term uint64, data []byte, base int64) error {
	kind, _ := entry.Kind(data)
	switch kind {
	case entry.Records:
		d, recs, err := entry.DecodeRecords(data)
		if err != nil {
			return err
		}
		if d.DivergentNode == 0 && !d.Swap {
			return nil
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if d.DivergentNode != 0 {
			p.damage.Serve(base, d.DivergentNode, d.DivergentValue)
		}
		if d.Swap {
			if v, ok := batch.FirstValue(recs); ok {
				p.damage.Serve(d.SwapOffset, 0, append([]byte(nil), v...))
				p.damage.Serve(base, 0, d.SwapValue)
			}
		}
	case entry.Lose:
		from, to, err := entry.DecodeLose(data)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.damage.Lose(from, to)
		p.mu.Unlock()
	}
	return nil
}

func (p *partition) applied(index uint64) {
	hwm := p.g.st.OffsetsAt(index)
	pl := p.n.env.servePlan()
	p.mu.Lock()
	if pl.freezes() && p.frozenGen != pl.Gen {
		p.frozen, p.frozenGen = p.hwm, pl.Gen
	}
	p.hwm = hwm
	close(p.notify)
	p.notify = make(chan struct{})
	p.mu.Unlock()
}

func (p *partition) snapshotPayload() []byte {
	p.mu.RLock()
	defer p.mu.RUnlock()
	b, _ := json.Marshal(p.damage.Export())
	return b
}

func (p *partition) restore(payload []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.damage = damage.NewTable()
	if len(payload) > 0 {
		var ex damage.Export
		if err := json.Unmarshal(payload, &ex); err == nil {
			p.damage.Load(ex)
		}
	}
	if p.g != nil {
		p.hwm = p.g.st.LogStart()
	}
}

// offsets are the committed end (high watermark) and the log start, as
// node serves them.
func (p *partition) offsets(node int32) (hwm, logStart int64) {
	p.mu.RLock()
	v := p.viewLocked(node)
	hwm = p.hwm
	p.mu.RUnlock()
	if v != nil {
		hwm = v.VisibleEnd(hwm)
	}
	return hwm, p.g.st.LogStart()
}

func (p *partition) viewLocked(node int32) *damage.View {
	return p.damage.ViewFor(node, p.n.hidesFor(p.topic, p.index))
}

// read returns the record batches from offset from, up to the high
// watermark, at most maxBytes (but a whole first batch), as node serves
// them with the per-node faults sf, and a channel that is closed when more
// is committed.
func (p *partition) read(from int64, maxBytes int, node int32, sf served) (batches []byte, hwm, logStart int64, more <-chan struct{}, code int16) {
	p.mu.RLock()
	v := p.viewLocked(node)
	hwm = p.hwm
	more = p.notify
	p.mu.RUnlock()
	logStart = p.g.st.LogStart()
	if v != nil {
		hwm = v.VisibleEnd(hwm)
	}
	hwm = sf.cap(hwm)
	if from < logStart {
		return nil, hwm, logStart, more, kerr.OffsetOutOfRange.Code
	}
	if from >= hwm {
		// Past the high watermark but within the log (a replica that has
		// the records but has not yet learnt they are committed): nothing
		// yet, as Kafka answers a follower fetch there.
		last, _ := p.g.st.LastIndex()
		if from > p.g.st.OffsetsAt(last) {
			return nil, hwm, logStart, more, kerr.OffsetOutOfRange.Code
		}
		return nil, hwm, logStart, more, 0
	}
	out, err := readRecords(p.g.st, nil, from, hwm, maxBytes)
	if err != nil {
		p.n.log.Error("read partition", "topic", p.topic, "partition", p.index, "err", err)
		return nil, hwm, logStart, more, kerr.KafkaStorageError.Code
	}
	if v != nil {
		out = damage.Rewrite(out, v)
	}
	if len(sf.marks) > 0 {
		out = p.damageServed(out, sf.marks)
	}
	return out, hwm, logStart, more, 0
}

// committedRecords lists what this replica's log holds up to its high
// watermark.
func (p *partition) committedRecords() ([]LogRecord, error) {
	applied := p.g.state().applied
	first, _ := p.g.st.FirstIndex()
	var out []LogRecord
	err := p.g.st.Scan(first, applied, func(e raftlog.Entry) error {
		_, recs, err := entry.DecodeRecords(e.Data)
		if err != nil {
			return err
		}
		out = appendLogRecords(out, recs, e.Base, e.Term, e.Index)
		return nil
	})
	return out, err
}

// readRecords appends to dst the record batches of a log from Kafka offset
// from up to (not including) offset end, at most maxBytes of them (but at
// least one entry's), as a fetch serves them.
func readRecords(st *raftlog.Log, dst []byte, from, end int64, maxBytes int) ([]byte, error) {
	return st.ReadRecords(dst, from, end, maxBytes, func(dst []byte, e raftlog.Entry) ([]byte, error) {
		_, recs, err := entry.DecodeRecords(e.Data)
		if err != nil {
			return dst, err
		}
		return batch.AppendServed(dst, recs, e.Base, from, int32(e.Term)), nil
	})
}

func (p *partition) addTruncated(removed []raftlog.Entry) {
	var recs []LogRecord
	for _, e := range removed {
		if kind, _ := entry.Kind(e.Data); kind != entry.Records {
			continue
		}
		_, raw, err := entry.DecodeRecords(e.Data)
		if err != nil {
			continue
		}
		recs = appendLogRecords(recs, raw, e.Base, e.Term, e.Index)
	}
	if len(recs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.truncated = append(p.truncated, recs...)
	if n := len(p.truncated); n > maxTruncated {
		p.truncated = append([]LogRecord(nil), p.truncated[n-maxTruncated:]...)
	}
}

func (p *partition) truncatedRecords() []LogRecord {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]LogRecord(nil), p.truncated...)
}

// LogRecord is one record of a node's log as the sandbox's accessors show
// it (Cluster.Log, Cluster.Truncated).
type LogRecord struct {
	Offset int64  `json:"offset"`
	Key    []byte `json:"key,omitempty"`
	Value  []byte `json:"value"`
	// Term and Index are the Raft entry that holds the record.
	Term  uint64 `json:"term"`
	Index uint64 `json:"index"`
	// Compressed records cannot be listed one by one: a compressed batch
	// shows as one LogRecord with Compressed set and no value.
	Compressed bool `json:"compressed,omitempty"`
}

// appendLogRecords decodes the records of one log entry.
func appendLogRecords(dst []LogRecord, raw []byte, base int64, term, index uint64) []LogRecord {
	next := base
	batch.Each(raw, func(b []byte) bool {
		last := next + int64(int32(binary.BigEndian.Uint32(b[batch.LastDeltaAt:])))
		recs, _, ok := batch.Decode(b)
		if !ok {
			dst = append(dst, LogRecord{Offset: next, Term: term, Index: index, Compressed: true})
		} else {
			for _, r := range recs {
				dst = append(dst, LogRecord{Offset: next + int64(r.OffsetDelta), Key: r.Key, Value: r.Value, Term: term, Index: index})
			}
		}
		next = last + 1
		return true
	})
	return dst
}
