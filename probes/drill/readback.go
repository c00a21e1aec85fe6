package drill

import (
	"time"

	"github.com/raftdrill/raftdrill/config"
)

// ReadBack is drills.<name>.read_back: how a drill reads its writes back
// through every replica once the cluster has healed.
type ReadBack struct {
	// CatchUpTimeout bounds the wait for every live replica of a partition
	// to reach the leader's high watermark; one that has not by then is
	// lagging-replica.
	CatchUpTimeout time.Duration `mapstructure:"catch_up_timeout"`
	// FollowerReads: every replica serves Fetch (Kafka 2.4 and later with
	// Fetch v11, Redpanda with follower fetching, the sandbox), so each is
	// compared with the committed log. Off for a cluster that serves reads
	// from leaders only: then only leaders are read, and the run says the
	// replica comparison was not tested.
	FollowerReads bool `mapstructure:"follower_reads"`
}

// DefaultReadBack is read_back when unset.
func DefaultReadBack() ReadBack {
	return ReadBack{CatchUpTimeout: 30 * time.Second, FollowerReads: true}
}

// Validate checks read_back under ch.
func (rb ReadBack) Validate(ch *config.Checker) {
	ch.Positive("catch_up_timeout", rb.CatchUpTimeout)
}
