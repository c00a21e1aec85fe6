package check

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/raftdrill/raftdrill/cluster/kafka"
)

// ReadOptions shape a read-back.
type ReadOptions struct {
	Topic      string
	Partitions int32
	// From is each partition's first offset of the run.
	From map[int32]int64
	// Run is the run id the messages carry.
	Run string
	// FollowerReads: every replica serves fetches (Kafka 2.4 and later
	// with Fetch v11, the sandbox). Off, only each partition's leader is
	// read and replicas are not compared: the read-back says so.
	FollowerReads bool
	// CatchUp bounds the wait for every replica to reach the leader's high
	// watermark.
	CatchUp time.Duration
}

// Reads is what a read-back found.
type Reads struct {
	Parts map[int32]Partition
	// Waited is how long replicas were waited for.
	Waited time.Duration
	// NotRead says what was deliberately not read, and why.
	NotRead string
}

// catchUpPoll is how often a lagging replica is read again.
const catchUpPoll = 100 * time.Millisecond

// ReadBack reads every partition from the run's start through each of its
// replicas (nodes concurrently, one connection each), in three passes: all
// of each replica's log up to its high watermark; then, bounded by
// o.CatchUp, each replica again until it has reached the leader's high
// watermark of the first pass; then the leader's log on to its present
// high watermark, so that the committed log covers whatever the replicas
// served (writes from elsewhere, the quorum probe's canary, may go on).
// Nothing here judges: Check does.
func ReadBack(ctx context.Context, c *kafka.Client, o ReadOptions) Reads {
	views := c.Views(o.Topic)
	replicas := kafka.ReplicaSets(views)
	out := Reads{Parts: map[int32]Partition{}}
	type job struct {
		p  int32
		lr *kafka.LogRead
	}
	jobs := map[int32][]job{} // by node
	var skipped []string
	for p := int32(0); p < o.Partitions; p++ {
		part := Partition{Leader: kafka.CurrentLeader(views, p), From: o.From[p], Logs: map[int32]*kafka.LogRead{}}
		reps := replicas[p]
		if len(reps) == 0 {
			reps = c.IDs()
		}
		if part.Leader >= 0 && !slices.Contains(reps, part.Leader) {
			reps = append(slices.Clone(reps), part.Leader)
		}
		for _, n := range reps {
			if !o.FollowerReads && n != part.Leader {
				skipped = append(skipped, fmt.Sprintf("%d/%d", n, p))
				continue
			}
			lr := kafka.NewLogRead(n, o.Topic, p, part.From, o.Run)
			part.Logs[n] = lr
			jobs[n] = append(jobs[n], job{p, lr})
		}
		out.Parts[p] = part
	}
	if len(skipped) > 0 {
		out.NotRead = "follower reads are off: replicas not compared with the committed log (node/partition " + strings.Join(skipped, ", ") + ")"
	}
	readers := map[int32]*kafka.LogReader{}
	for n := range jobs {
		r, err := c.NewLogReader(n)
		if err != nil {
			for _, j := range jobs[n] {
				j.lr.Err = err
			}
			delete(jobs, n)
			continue
		}
		readers[n] = r
		defer r.Close()
	}
	perNode := func(pass func(n int32, r *kafka.LogReader, js []job)) {
		var wg sync.WaitGroup
		for n, js := range jobs {
			wg.Go(func() { pass(n, readers[n], js) })
		}
		wg.Wait()
	}
	// Pass 1: every replica's log.
	perNode(func(_ int32, r *kafka.LogReader, js []job) {
		for _, j := range js {
			r.Read(ctx, j.lr)
		}
	})
	for p, part := range out.Parts {
		if l := part.Logs[part.Leader]; l != nil && l.Err == nil {
			part.CatchUpTo = l.End
			out.Parts[p] = part
		}
	}
	// Pass 2: replicas behind the leader, again until they catch up.
	start := time.Now()
	deadline := start.Add(o.CatchUp)
	perNode(func(n int32, r *kafka.LogReader, js []job) {
		for _, j := range js {
			part := out.Parts[j.p]
			for n != part.Leader && j.lr.Err == nil && j.lr.End < part.CatchUpTo && time.Now().Before(deadline) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(catchUpPoll):
				}
				r.Read(ctx, j.lr)
			}
		}
	})
	out.Waited = time.Since(start)
	// Pass 3: the leaders' logs on to their present end.
	perNode(func(n int32, r *kafka.LogReader, js []job) {
		for _, j := range js {
			if part := out.Parts[j.p]; n == part.Leader && j.lr.Err == nil {
				r.Read(ctx, j.lr)
			}
		}
	})
	return out
}

// Describe says, per node, what the read-back got, and whether every
// replica was read in full and caught up.
func (rs Reads) Describe() (string, bool) {
	type nodeSum struct {
		records, bad int
		behind       []string
		failed       []string
	}
	sums := map[int32]*nodeSum{}
	var leaderless []string
	ok := true
	for _, p := range slices.Sorted(maps.Keys(rs.Parts)) {
		part := rs.Parts[p]
		if part.Leader < 0 {
			leaderless = append(leaderless, fmt.Sprint(p))
			ok = false
		}
		for n, lr := range part.Logs {
			s := sums[n]
			if s == nil {
				s = &nodeSum{}
				sums[n] = s
			}
			s.records += len(lr.Records)
			s.bad += len(lr.Bad)
			switch {
			case lr.Err != nil:
				s.failed = append(s.failed, fmt.Sprintf("partition %d at %d: %v", p, lr.End, lr.Err))
			case part.CatchUpTo > lr.End:
				s.behind = append(s.behind, fmt.Sprintf("partition %d %d behind", p, part.CatchUpTo-lr.End))
			}
		}
	}
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(sums)) {
		s := sums[n]
		line := fmt.Sprintf("node %d: %d records", n, s.records)
		if s.bad > 0 {
			line += fmt.Sprintf(", %d bad batches", s.bad)
		}
		if len(s.behind) > 0 {
			line += ", not caught up (" + strings.Join(s.behind, ", ") + ")"
		}
		if len(s.failed) > 0 {
			line += ", not read in full (" + strings.Join(s.failed, "; ") + ")"
		}
		ok = ok && s.bad == 0 && len(s.behind) == 0 && len(s.failed) == 0
		parts = append(parts, line)
	}
	if len(leaderless) > 0 {
		parts = append(parts, "no leader named for partition "+strings.Join(leaderless, ", ")+": no committed log to judge against")
	}
	if rs.Waited >= catchUpPoll {
		parts = append(parts, fmt.Sprintf("waited %.1fs for replicas to catch up", rs.Waited.Seconds()))
	}
	if rs.NotRead != "" {
		parts = append(parts, rs.NotRead)
	}
	return strings.Join(parts, "; "), ok
}
