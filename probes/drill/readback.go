package drill

import (
	"context"
	"fmt"
	"time"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/check"
	"github.com/raftdrill/raftdrill/run"
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

// Read is a drill's read-back step: every partition of topic read back
// from from (each partition's end before the drill wrote) through every
// replica, or its leader alone without follower reads, which the run then
// lists as not tested (key is the drill's config section, to say which
// setting). It returns the reads with the step's detail and whether every
// partition could be read.
func (rb ReadBack) Read(ctx context.Context, env Env, key string, topic config.Topic, from map[int32]int64, res *run.Result) (check.Reads, string, bool, error) {
	reads := check.ReadBack(ctx, env.Client, check.ReadOptions{Topic: topic.Name, Partitions: topic.Partitions,
		From: from, Run: env.RunID, FollowerReads: rb.FollowerReads, CatchUp: rb.CatchUpTimeout})
	if err := ctx.Err(); err != nil {
		return reads, "", false, fmt.Errorf("drill cancelled: %w", err)
	}
	if !rb.FollowerReads {
		res.NotTested = append(res.NotTested, run.NotTested{What: "replicas compared with the committed log", Why: key + ".read_back.follower_reads is off"})
	}
	detail, complete := reads.Describe()
	return reads, detail, complete, nil
}

// AllLed is a drill's recovery step once its nodes are back: every
// partition of topic led again within timeout. A cluster that does not get
// there has failed, not the drill: the step says so, with an event.
func AllLed(ctx context.Context, env Env, topic config.Topic, timeout time.Duration, res *run.Result) (string, bool) {
	if _, err := env.Client.WaitLed(ctx, topic.Name, topic.Partitions, timeout); err != nil {
		env.Record(res, run.NewEvent(time.Now(), "not-recovered", 0, "%v", err))
		return err.Error(), false
	}
	return "every partition led", true
}
