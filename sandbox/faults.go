package sandbox

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// Faults make the sandbox misbehave on purpose. They are test equipment:
// they exist so that every checker of raftdrill can be shown to catch the
// anomaly it names (docs/anomalies.md pairs each fault with the anomaly it
// proves). All are off by default; none belongs near a real cluster. The
// sandbox control API sets them too (PUT /faults), and the config file's
// sandbox.faults section holds them.
//
// A count N arms the fault for the next N occurrences after it is set (at
// start-up, or by each PUT /faults), so that a test knows how many
// anomalies to expect; the damage done stays done. lose_acked_on_kill is
// the exception: it is a number of records, lost at every leader kill
// while it is set.
//
// Each fault is a hook at one place of a node: the produce path of the
// partition's leader (corrupt, duplicate, phantom, divergent, reorder and
// the answers), the vote messages of a partition's group (never_elect),
// the leader's quorum check (ack_without_quorum), the metadata a node
// serves (stale_leader, split_leader), and a kill (lose_acked_on_kill).
// Damage to records travels as directives inside the log entry that holds
// them, so every replica applies it at the same point (internal/damage).
// The per-node faults (node_faults, faults_node.go) are the other kind:
// what one node serves, changed where it answers. To add a fault: a field
// here (or in NodeFaults), its hook, and, if counted, a line in Counts (or
// NodeFaults.counts).
type Faults struct {
	// AckWithoutQuorum lets a leader accept writes with its majority down
	// (split brain): it stays leader without hearing from a majority and,
	// while it believes a majority of the group down, answers acks=all
	// once the write is in its own log, not committed: the
	// ack-without-quorum anomaly. With a majority up it waits for the
	// commit as usual.
	AckWithoutQuorum bool `mapstructure:"ack_without_quorum" json:"ack_without_quorum"`
	// NeverElect drops every vote request after a partition's first
	// election, so partitions of a killed leader stay leaderless for
	// good: the no-election anomaly.
	NeverElect bool `mapstructure:"never_elect" json:"never_elect"`
	// StaleLeader makes a node that knows no live leader keep naming the
	// last one it knew in metadata instead of reporting the partition
	// leaderless: the stale-leader anomaly.
	StaleLeader bool `mapstructure:"stale_leader" json:"stale_leader"`
	// SplitLeader makes every live replica claim leadership in the
	// metadata it serves: the leader-disagreement anomaly.
	SplitLeader bool `mapstructure:"split_leader" json:"split_leader"`

	// LoseAckedOnKill K: when a node is killed, the last K records of each
	// partition it led are lost, as when a leader acks before its
	// followers have the entries and a follower without them is elected.
	// No node serves them again: the lost-write anomaly.
	LoseAckedOnKill int `mapstructure:"lose_acked_on_kill" json:"lose_acked_on_kill"`
	// CorruptWrites N: the next N records produced are stored with one
	// payload byte flipped; the batch CRC is computed over the damage, so
	// only an end-to-end checksum notices: the corrupt anomaly.
	CorruptWrites int `mapstructure:"corrupt_writes" json:"corrupt_writes"`
	// DuplicateWrites N: the next N produce requests are applied twice,
	// as a retry after a lost answer would be: the duplicate anomaly.
	DuplicateWrites int `mapstructure:"duplicate_writes" json:"duplicate_writes"`
	// AckOffsetMinusOne N: the next N successful produces are answered
	// with no error but base offset -1, as Chronik answers when
	// replication timed out: the bogus-ack anomaly.
	AckOffsetMinusOne int `mapstructure:"ack_offset_minus_one" json:"ack_offset_minus_one"`
	// RefuseButAppend N: the next N successful produces are answered
	// NOT_ENOUGH_REPLICAS (a refusal: Kafka sends it before appending)
	// although the record was appended: the unacked-visible anomaly.
	RefuseButAppend int `mapstructure:"refuse_but_append" json:"refuse_but_append"`
	// TimeoutAfterAppend N: the next N produces are appended and answered
	// REQUEST_TIMED_OUT. The outcome is indeterminate, so reading the
	// record back is fine: indeterminate-visible, counted, no anomaly.
	TimeoutAfterAppend int `mapstructure:"timeout_after_append" json:"timeout_after_append"`
	// DivergentWrites N: the next N records produced are served by one
	// follower replica as a different record at the same offset (a replica
	// that kept an old term's entry): the inconsistent-offsets anomaly.
	DivergentWrites int `mapstructure:"divergent_writes" json:"divergent_writes"`
	// ReorderWrites N: the next N pairs of records produced to a partition
	// are served, by every node, each at the other's offset: the
	// nonmonotonic anomaly.
	ReorderWrites int `mapstructure:"reorder_writes" json:"reorder_writes"`
	// PhantomWrites N: the next N produce requests also append the last
	// record produced to another partition, as a misrouted write would:
	// the phantom anomaly.
	PhantomWrites int `mapstructure:"phantom_writes" json:"phantom_writes"`

	// Nodes limits the faults that are about one node (never_elect,
	// stale_leader, split_leader, ack_without_quorum) to these nodes;
	// empty means every node.
	Nodes []int32 `mapstructure:"nodes" json:"nodes,omitempty"`

	// NodeFaults are what one node serves wrong, keyed by node id ("2")
	// or by the role a node plays for a partition when it answers
	// ("leader", "follower": the highest-numbered replica that does not
	// lead). Counts are cluster-wide per key, as the others are.
	NodeFaults map[string]NodeFaults `mapstructure:"node_faults" json:"node_faults,omitempty"`
}

// on reports whether the per-node faults apply to node.
func (f Faults) on(node int32) bool {
	return len(f.Nodes) == 0 || slices.Contains(f.Nodes, node)
}

// Counts lists the counted faults by key, for validation and for the
// sandbox's bookkeeping; a per-node fault's key is its path, e.g.
// node_faults.follower.stale_records.
func (f Faults) Counts() []FaultCount {
	out := []FaultCount{
		{faultLoseOnKill, f.LoseAckedOnKill},
		{faultCorrupt, f.CorruptWrites},
		{faultDuplicate, f.DuplicateWrites},
		{faultMinusOne, f.AckOffsetMinusOne},
		{faultRefuse, f.RefuseButAppend},
		{faultTimeout, f.TimeoutAfterAppend},
		{faultDivergent, f.DivergentWrites},
		{faultReorder, f.ReorderWrites},
		{faultPhantom, f.PhantomWrites},
	}
	for _, sel := range f.nodeSelectors() {
		for _, c := range f.NodeFaults[sel].counts() {
			out = append(out, FaultCount{nodeCountKey(sel, c.field), c.n})
		}
	}
	return out
}

// FaultCount is one counted fault and its count.
type FaultCount struct {
	Key string
	N   int
}

// Keys of the counted faults, as in their mapstructure and JSON tags.
const (
	faultLoseOnKill = "lose_acked_on_kill"
	faultCorrupt    = "corrupt_writes"
	faultDuplicate  = "duplicate_writes"
	faultMinusOne   = "ack_offset_minus_one"
	faultRefuse     = "refuse_but_append"
	faultTimeout    = "timeout_after_append"
	faultDivergent  = "divergent_writes"
	faultReorder    = "reorder_writes"
	faultPhantom    = "phantom_writes"
)

// tp names a partition.
type tp struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// produceDecision is what the armed faults do to one partition's records
// in one produce request, decided by the partition's leader before it
// proposes them.
type produceDecision struct {
	Corrupt   bool   `json:"corrupt,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Phantom   []byte `json:"phantom,omitempty"` // a record of another partition to append too
	Divergent bool   `json:"divergent,omitempty"`
	// Swap: the record is the second of a reordered pair; the first is
	// at SwapOffset with SwapValue.
	Swap       bool   `json:"swap,omitempty"`
	SwapOffset int64  `json:"swap_offset,omitempty"`
	SwapValue  []byte `json:"swap_value,omitempty"`
}

// ackDecision is what the armed faults do to the answer of a produce that
// succeeded.
type ackDecision struct {
	MinusOne bool  `json:"minus_one,omitempty"`
	Refuse   bool  `json:"refuse,omitempty"`
	Timeout  bool  `json:"timeout,omitempty"`
	Shift    int64 `json:"shift,omitempty"` // added to the base offset answered
}

// ackInfo is a produce that succeeded, as the fault state hears of it.
type ackInfo struct {
	TP      tp     `json:"tp"`
	Offset  int64  `json:"offset"`  // the base offset
	Records int64  `json:"records"` // how many records the client sent
	Value   []byte `json:"value"`   // the first record's value
	Swapped bool   `json:"swapped"`
	Node    int32  `json:"node"`  // the node that answers
	Acked   bool   `json:"acked"` // it answers (acks is not 0)
}

// faultState holds the armed counts and what the counted faults need to
// remember between produces. One instance serves the whole cluster, so
// "the next N" means the next N anywhere, whichever node leads; nodes in
// child processes reach it through the parent.
type faultState struct {
	mu        sync.Mutex
	f         Faults
	left      map[string]int
	lastValue map[tp][]byte // last value produced per partition, for phantoms
	swaps     map[tp]pendingSwap
	gen       uint64                 // times set
	snaps     uint64                 // snapshots taken
	marks     map[string][]serveMark // by node_faults key
	plan      atomic.Pointer[servePlan]
}

// pendingSwap is the first record of a reorder pair, waiting for the next.
type pendingSwap struct {
	offset int64
	value  []byte
}

func newFaultState(f Faults) *faultState {
	s := &faultState{left: map[string]int{}, lastValue: map[tp][]byte{}, swaps: map[tp]pendingSwap{}, marks: map[string][]serveMark{}}
	s.set(f)
	return s
}

// set replaces the faults and arms the counts afresh.
func (s *faultState) set(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.NodeFaults = maps.Clone(f.NodeFaults)
	s.f = f
	s.gen++
	clear(s.marks)
	clear(s.left)
	for _, fc := range f.Counts() {
		if fc.N > 0 {
			s.left[fc.Key] = fc.N
		}
	}
	clear(s.swaps)
	clear(s.lastValue)
	s.rebuildPlanLocked()
}

func (s *faultState) get() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

// armed reports whether produces need to ask onProduce and onAck.
func (s *faultState) armed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.armedLocked()
}

func (s *faultState) armedLocked() bool {
	for k, n := range s.left {
		if k != faultLoseOnKill && n > 0 {
			return true
		}
	}
	return false
}

func (s *faultState) takeLocked(key string) bool {
	if s.left[key] <= 0 {
		return false
	}
	s.left[key]--
	return true
}

// onProduce decides the faults for one partition's records; value is the
// first record's value (nil if it cannot be read: compressed).
func (s *faultState) onProduce(p tp, value []byte) produceDecision {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d produceDecision
	if value == nil {
		return d
	}
	d.Corrupt = s.takeLocked(faultCorrupt)
	d.Duplicate = s.takeLocked(faultDuplicate)
	if s.left[faultPhantom] > 0 {
		for other, v := range s.lastValue {
			if other.Topic == p.Topic && other.Partition != p.Partition && s.takeLocked(faultPhantom) {
				d.Phantom = v
				break
			}
		}
		s.lastValue[p] = slices.Clone(value)
	}
	d.Divergent = s.takeLocked(faultDivergent)
	if first, ok := s.swaps[p]; ok && s.left[faultReorder] > 0 {
		delete(s.swaps, p)
		s.takeLocked(faultReorder)
		d.Swap, d.SwapOffset, d.SwapValue = true, first.offset, first.value
	}
	return d
}

// onAck decides the answer to a produce that succeeded, remembers the
// record as the first of a reorder pair if one is armed, and lets the
// per-node faults take the records if it is answered as an ack.
func (s *faultState) onAck(a ackInfo) ackDecision {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.Value != nil && !a.Swapped && s.left[faultReorder] > 0 {
		if _, waiting := s.swaps[a.TP]; !waiting {
			s.swaps[a.TP] = pendingSwap{offset: a.Offset, value: slices.Clone(a.Value)}
		}
	}
	var d ackDecision
	switch {
	case s.takeLocked(faultMinusOne):
		d.MinusOne = true
	case s.takeLocked(faultRefuse):
		d.Refuse = true
	case s.takeLocked(faultTimeout):
		d.Timeout = true
	}
	if a.Acked && !d.Refuse && !d.Timeout {
		d.Shift = s.shiftLocked(a.Node)
		s.markLocked(a.TP, a.Offset, a.Records)
	}
	return d
}

// snapshot is the faults, whether produces must ask, and the serve plan,
// as of one moment, with a version that orders such moments.
func (s *faultState) snapshot() (Faults, bool, *servePlan, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snaps++
	return s.f, s.armedLocked(), s.plan.Load(), s.snaps
}

// faultHooks is how a node reaches the cluster's fault state: directly in
// one process, through the parent from a child process.
type faultHooks interface {
	armed() bool
	onProduce(p tp, value []byte) produceDecision
	onAck(a ackInfo) ackDecision
}

type localHooks struct{ s *faultState }

func (h localHooks) armed() bool { return h.s.armed() }
func (h localHooks) onProduce(p tp, value []byte) produceDecision {
	return h.s.onProduce(p, value)
}
func (h localHooks) onAck(a ackInfo) ackDecision { return h.s.onAck(a) }

// metadataLeader is the leader a node names for a partition in the
// metadata it serves, after the faults have had their say. leader is -1
// when the node knows no live leader; last is the last leader it knew.
func metadataLeader(f Faults, asker, leader, last int32) int32 {
	if !f.on(asker) {
		return leader
	}
	if leader == -1 && f.StaleLeader && last > 0 {
		return last
	}
	if f.SplitLeader && leader != -1 && asker != leader {
		return asker
	}
	return leader
}
