package alerts

import (
	"time"

	"github.com/raftdrill/raftdrill/run"
)

// Alert kinds: the kind label of raftdrill_alerts_sent_total and the anchor
// of each runbook in docs/alerts.md.
const (
	KindQuorumLost      = "quorum-lost"
	KindThresholdMissed = "threshold-missed"
	KindDataAnomaly     = "data-anomaly"
	KindDrillError      = "drill-error"
	KindDrillsStale     = "drills-stale"
	// KindNodeNotRestored is a node a drill took down that raftdrill has
	// not brought back: the worst thing it can do to a cluster.
	KindNodeNotRestored = "node-not-restored"
	// KindOverflow is the one message that summarises alerts folded out
	// of a full queue while Slack was unreachable.
	KindOverflow = "queue-overflow"
)

// Kinds lists every kind, so that metric series exist from start-up.
var Kinds = []string{KindQuorumLost, KindThresholdMissed, KindDataAnomaly, KindDrillError, KindDrillsStale, KindNodeNotRestored, KindOverflow}

// Delivery results: the result label of raftdrill_alerts_sent_total.
const (
	ResultSent     = "sent"     // Slack accepted it
	ResultRetry    = "retry"    // an attempt failed; it will be tried again
	ResultFailed   = "failed"   // Slack refused it for good; given up
	ResultDropped  = "dropped"  // folded into a summary because the queue was full
	ResultDisabled = "disabled" // no Slack configured: evaluated and logged only
)

// Results lists every result, so that metric series exist from start-up.
var Results = []string{ResultSent, ResultRetry, ResultFailed, ResultDropped, ResultDisabled}

// Op is what a message does to its firing.
type Op int

const (
	// OpOpen announces a new firing.
	OpOpen Op = iota
	// OpRepeat reminds that a firing still fires, after repeat_interval.
	OpRepeat
	// OpResolve says it ended.
	OpResolve
)

func (o Op) String() string {
	switch o {
	case OpOpen:
		return "open"
	case OpRepeat:
		return "repeat"
	case OpResolve:
		return "resolve"
	}
	return "unknown"
}

// Figure is one key figure, against its threshold when it has one.
type Figure struct {
	Name  string
	Value string
	Want  string // "" when there is no threshold
	OK    bool
}

// Alert is what happened, in words and figures, independent of how it is
// delivered.
type Alert struct {
	Kind      string
	Title     string // one line, no cluster name (the renderer adds it)
	Text      string // Slack mrkdwn: what happened and what it means
	Figures   []Figure
	Criteria  []run.Criterion
	Anomalies []run.Anomaly
	Drill     string
	RunID     string
	// Notes are quiet remarks, such as quorum loss a drill caused on
	// purpose; they never page anyone.
	Notes []string
	Since time.Time // when the condition began
}

// Message is one delivery: a firing opening, repeating or resolving.
type Message struct {
	Seq    uint64 // enqueue order, for logs
	Firing string // the same for the open, repeats and resolve of one firing
	Op     Op
	Alert  Alert
	At     time.Time
	// Resolvable marks the open message of a firing that will resolve:
	// a bot-token notifier remembers where it was posted.
	Resolvable bool
	// Resolution says what ended the firing (OpResolve only).
	Resolution string

	// Overflow is set on the summary of messages dropped from a full queue.
	Overflow *Overflow
	// Steps of a multi-call delivery already done, so that a retry does
	// not post a thread reply twice.
	Steps int

	stored bool // in the outbox, at Seq
}

// Kind is the metric label for the message.
func (m *Message) Kind() string {
	if m.Overflow != nil {
		return KindOverflow
	}
	return m.Alert.Kind
}
