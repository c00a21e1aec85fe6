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
// words a user can act on. Its errors are errors.ErrUnsupported.
func Supports(c Controller, d string) error {
	switch d {
	case Isolate:
		if _, ok := c.(Isolator); !ok {
			return Unsupported("this controller cannot cut a node off from its peers")
		}
	case Pause:
		if _, ok := c.(Pauser); !ok {
			return Unsupported("this controller cannot pause a node")
		}
	default:
		return fmt.Errorf("unknown disruption %q", d)
	}
	if s, ok := c.(Supporter); ok {
		return s.Supports(d)
	}
	return nil
}

// Unsupported is an error that says what a controller cannot do; it is
// errors.ErrUnsupported.
type Unsupported string

func (u Unsupported) Error() string { return string(u) }

// Is makes errors.Is(u, errors.ErrUnsupported) true.
func (u Unsupported) Is(target error) bool { return target == errors.ErrUnsupported }
