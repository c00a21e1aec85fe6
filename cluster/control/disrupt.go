package control

import (
	"context"
	"errors"
	"fmt"
)

// The drills that leave a node alive but cut off or frozen (split-brain)
// need two more pairs of verbs than Controller's. Both pairs are optional:
// a controller that cannot do one says so before a drill disturbs
// anything.

// Isolator is a controller that can cut a node's replication traffic off
// from its peers while the node keeps running and keeps serving clients.
// Heal undoes what Isolate did; both must be safe to repeat (the journal
// heals a node again after a crash without knowing how far the first
// attempt got).
type Isolator interface {
	Isolate(ctx context.Context, id int32, peers []int32) error
	Heal(ctx context.Context, id int32, peers []int32) error
}

// Pauser is a controller that can freeze a node's process (as SIGSTOP
// does: nothing runs, sockets stay open) and thaw it. Both must be safe to
// repeat.
type Pauser interface {
	Pause(ctx context.Context, id int32) error
	Resume(ctx context.Context, id int32) error
}

// The disruptions, ways of hurting a node without killing it, named as the
// split-brain drill's modes are.
const (
	Isolate = "partition"
	Pause   = "pause"
)

// Supporter is implemented by a controller whose support for a disruption
// depends on its configuration (the exec controller needs the commands):
// it returns why it cannot, or nil. Its errors wrap errors.ErrUnsupported.
type Supporter interface {
	Supports(disruption string) error
}

// Supports says whether c can perform disruption d, and if not, why, in
// words a user can act on.
func Supports(c Controller, d string) error {
	switch d {
	case Isolate:
		if _, ok := c.(Isolator); !ok {
			return fmt.Errorf("cutting a node off from its peers: %w", errors.ErrUnsupported)
		}
	case Pause:
		if _, ok := c.(Pauser); !ok {
			return fmt.Errorf("pausing a node: %w", errors.ErrUnsupported)
		}
	default:
		return fmt.Errorf("unknown disruption %q", d)
	}
	if s, ok := c.(Supporter); ok {
		return s.Supports(d)
	}
	return nil
}
