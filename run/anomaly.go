package run

import (
	"fmt"
	"sort"
	"strings"
)

// Anomaly kinds, named as in the reference's anomalies.md (after Jepsen's
// Kafka checker where one exists); docs/anomalies.md gives each kind's rule.
const (
	KindLostWrite            = "lost-write"
	KindBogusAck             = "bogus-ack"
	KindCorrupt              = "corrupt"
	KindDuplicate            = "duplicate"
	KindInconsistentOffsets  = "inconsistent-offsets"
	KindNonmonotonic         = "nonmonotonic"
	KindPhantom              = "phantom"
	KindUnackedVisible       = "unacked-visible"
	KindIndeterminateVisible = "indeterminate-visible"
	KindAckWithoutQuorum     = "ack-without-quorum"
	KindLeaderDisagreement   = "leader-disagreement"
	KindStaleLeader          = "stale-leader"
	KindNoElection           = "no-election"
	// KindLaggingReplica: a live replica that had not caught up with the
	// leader's high watermark when the read-back's bounded wait ended.
	KindLaggingReplica = "lagging-replica"
	// KindUnreadableReplica: a live replica whose log could not be read
	// back (its fetches failed or stalled).
	KindUnreadableReplica = "unreadable-replica"
)

// AnomalyKinds lists every kind that fails a drill, so metrics can create
// their series at start-up. indeterminate-visible is counted but is not an
// anomaly.
var AnomalyKinds = []string{
	KindLostWrite, KindBogusAck, KindCorrupt, KindDuplicate, KindInconsistentOffsets,
	KindNonmonotonic, KindPhantom, KindUnackedVisible, KindAckWithoutQuorum,
	KindLeaderDisagreement, KindStaleLeader, KindNoElection, KindLaggingReplica, KindUnreadableReplica,
}

// Example points at one occurrence of an anomaly. Offset and Seq are -1
// where there is no message to point at (a leadership anomaly).
type Example struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	Seq       int64 `json:"seq"`
	Node      int32 `json:"node,omitempty"`
}

// Anomaly is one kind of anomaly found, with its count and a few examples.
type Anomaly struct {
	Kind     string    `json:"kind"`
	Count    int       `json:"count"`
	Detail   string    `json:"detail"`
	Examples []Example `json:"examples,omitempty"`
}

// MaxExamples bounds the examples kept per anomaly kind.
const MaxExamples = 5

// Tally collects anomalies by kind: the first detail of a kind describes it,
// and every occurrence counts.
type Tally struct {
	byKind map[string]*Anomaly
}

// NewTally returns an empty tally.
func NewTally() *Tally { return &Tally{byKind: map[string]*Anomaly{}} }

// Add counts one occurrence of kind.
func (t *Tally) Add(kind string, ex Example, format string, args ...any) {
	a := t.byKind[kind]
	if a == nil {
		a = &Anomaly{Kind: kind, Detail: fmt.Sprintf(format, args...)}
		t.byKind[kind] = a
	}
	a.Count++
	if len(a.Examples) < MaxExamples {
		a.Examples = append(a.Examples, ex)
	}
}

// AddAnomaly adds a whole anomaly (its count and examples) to the tally.
func (t *Tally) AddAnomaly(a Anomaly) {
	have := t.byKind[a.Kind]
	if have == nil {
		cp := a
		cp.Examples = append([]Example(nil), a.Examples...)
		t.byKind[a.Kind] = &cp
		return
	}
	have.Count += a.Count
	for _, ex := range a.Examples {
		if len(have.Examples) < MaxExamples {
			have.Examples = append(have.Examples, ex)
		}
	}
}

// Has reports whether kind was found.
func (t *Tally) Has(kind string) bool { return t.byKind[kind] != nil }

// Anomalies lists what was found, sorted by kind, leaving out the kinds
// accept says are fine.
func (t *Tally) Anomalies(accept func(kind string) bool) []Anomaly {
	kinds := make([]string, 0, len(t.byKind))
	for k := range t.byKind {
		if accept == nil || !accept(k) {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	out := make([]Anomaly, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, *t.byKind[k])
	}
	return out
}

// MergeAnomalies combines anomaly lists, adding the counts of a kind found
// in several; sorted by kind.
func MergeAnomalies(lists ...[]Anomaly) []Anomaly {
	t := NewTally()
	for _, l := range lists {
		for _, a := range l {
			t.AddAnomaly(a)
		}
	}
	return t.Anomalies(nil)
}

// Summary renders anomalies on one line, for logs and errors.
func Summary(as []Anomaly) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = fmt.Sprintf("%s ×%d", a.Kind, a.Count)
	}
	return strings.Join(parts, ", ")
}
