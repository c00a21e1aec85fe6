package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/cluster/kafka"
)

// Preflight refuses to drill a cluster that is already unhealthy: every
// configured node must be up, every partition of the topic led by a live
// node, with a majority of its replicas in sync, and the node ids must be
// the cluster's own.
func Preflight(ctx context.Context, env Env) error {
	topic := env.Topic()
	var down []int32
	var why []string
	for _, n := range env.Client.Nodes() {
		up, err := env.Control.Up(ctx, n.ID)
		if err != nil {
			return fmt.Errorf("cluster unhealthy before drill: node %d: %w", n.ID, err)
		}
		if !up {
			down = append(down, n.ID)
			// A controller that runs commands says what its up check
			// answered: the exit status and stderr explain "down".
			if rep, ok := env.Control.(control.Reporter); ok {
				if s := rep.LastRun("up", n.ID); s != "" {
					why = append(why, fmt.Sprintf("node %d: %s", n.ID, s))
				}
			}
		}
	}
	if len(down) > 0 {
		msg := fmt.Sprintf("cluster unhealthy before drill: nodes %v are down", down)
		if len(why) > 0 {
			msg += " (" + strings.Join(why, "; ") + ")"
		}
		return errors.New(msg)
	}
	if err := env.Client.EnsureTopic(topic.Name, topic.Partitions, topic.ReplicationFactor); err != nil {
		var ae *kafka.AuthError
		if errors.As(err, &ae) {
			// The refusal is the news, whatever raftdrill was doing.
			return fmt.Errorf("cluster unhealthy before drill: %w", ae)
		}
		return fmt.Errorf("cluster unhealthy before drill: %w", err)
	}
	// A freshly created topic may need a moment to elect its leaders.
	deadline := time.Now().Add(5 * time.Second)
	for {
		h := env.Client.CheckHealth(topic.Name, topic.Partitions)
		probs := h.Problems()
		if len(probs) == 0 {
			probs = append(kafka.QuorumProblems(h.Views, topic.Partitions), kafka.IDProblems(h.Views, env.Client.Nodes())...)
			if len(probs) == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) || len(h.Unreachable) > 0 {
			return fmt.Errorf("cluster unhealthy before drill: %s", strings.Join(probs, "; "))
		}
		if !Sleep(ctx, 100*time.Millisecond) {
			return fmt.Errorf("drill cancelled: %w", ctx.Err())
		}
	}
}

// NeedReplicas refuses a target partition with fewer than 3 replicas:
// losing its leader would leave no majority.
func NeedReplicas(replicas map[int32][]int32, target int32) error {
	if n := len(replicas[target]); n < 3 {
		return fmt.Errorf("cluster unfit for this drill: partition %d has %d replicas; it needs at least 3, so that losing its leader leaves a majority", target, n)
	}
	return nil
}
