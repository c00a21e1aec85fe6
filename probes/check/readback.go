package check

import (
	"context"
	"slices"
	"sync"

	"github.com/raftdrill/raftdrill/cluster/kafka"
)

// ReadBack reads every partition from the run's start offsets through each
// node in turn (follower fetching lets every replica serve), so that the
// checker can compare what each node holds. Nodes are read concurrently.
// It returns what each node served, and why a node could not be read.
func ReadBack(ctx context.Context, c *kafka.Client, topic string, partitions int32, from map[int32]int64) (map[int32]map[int32][]kafka.Record, map[int32]error) {
	nodes := c.Nodes()
	views := make([]map[int32][]kafka.Record, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			views[i] = map[int32][]kafka.Record{}
			for p := int32(0); p < partitions; p++ {
				recs, err := c.ReadPartition(ctx, n.ID, topic, p, from[p])
				if err != nil {
					errs[i] = err
					return
				}
				views[i][p] = recs
			}
		})
	}
	wg.Wait()
	reads := map[int32]map[int32][]kafka.Record{}
	failed := map[int32]error{}
	for i, n := range nodes {
		if errs[i] != nil {
			failed[n.ID] = errs[i]
			continue
		}
		reads[n.ID] = views[i]
	}
	return reads, failed
}

// Comparison is what reading through each node showed.
type Comparison struct {
	Ours      map[int32]int // node → records of this run it served
	Differing int           // offsets at which two nodes served different records
}

// CompareViews walks each node's view of each partition against the first
// node's, offset by offset.
func CompareViews(reads map[int32]map[int32][]kafka.Record, runID string) Comparison {
	cmp := Comparison{Ours: map[int32]int{}}
	nodes := make([]int32, 0, len(reads))
	for n := range reads {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		for _, recs := range reads[n] {
			for _, rec := range recs {
				if !rec.Foreign && rec.Msg.Run == runID {
					cmp.Ours[n]++
				}
			}
		}
	}
	if len(nodes) < 2 {
		return cmp
	}
	for p, base := range reads[nodes[0]] {
		for _, n := range nodes[1:] {
			cmp.Differing += diffView(base, reads[n][p])
		}
	}
	return cmp
}

// diffView counts the offsets both views have at which they differ.
func diffView(a, b []kafka.Record) int {
	diff, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].Offset < b[j].Offset:
			i++
		case a[i].Offset > b[j].Offset:
			j++
		default:
			if a[i] != b[j] {
				diff++
			}
			i++
			j++
		}
	}
	return diff
}
