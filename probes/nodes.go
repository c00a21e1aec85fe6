package probes

import "context"

// NodeController kills and restarts the nodes of the cluster under drill.
// Kill must be abrupt (as SIGKILL is: no graceful shutdown, no leadership
// hand-over); Restart brings the node back with the same identity and data;
// Up says whether the node's process is running, not whether it serves
// Kafka yet (the drills check that through the Kafka protocol).
type NodeController interface {
	Kill(ctx context.Context, id int32) error
	Restart(ctx context.Context, id int32) error
	Up(ctx context.Context, id int32) (bool, error)
}
