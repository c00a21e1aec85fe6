package drill_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/run"
)

// flakyControl wraps the sandbox's controller with the failures real
// controllers have: a restart that fails, a kill that reports an error
// after the node died anyway.
type flakyControl struct {
	control.Controller
	failRestart map[int32]bool
	killErr     error
}

func (f *flakyControl) Kill(ctx context.Context, id int32) error {
	if err := f.Controller.Kill(ctx, id); err != nil {
		return err
	}
	return f.killErr
}

func (f *flakyControl) Restart(ctx context.Context, id int32) error {
	if f.failRestart[id] {
		return errors.New("systemctl start: exit status 1")
	}
	return f.Controller.Restart(ctx, id)
}

func TestRestoreBringsBackEveryNodeItCan(t *testing.T) {
	cfg := testenv.ShortConfig()
	sb, env := testenv.Env(t, cfg)
	ctl := &flakyControl{Controller: sb, failRestart: map[int32]bool{1: true}}
	env.Control = ctl
	rs := drill.NewRestorer(env, &run.Result{})
	ctx := context.Background()
	for _, id := range []int32{1, 2} {
		if err := rs.Kill(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	err := rs.Restore(ctx, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "restart node 1") {
		t.Fatalf("restore error %v, want node 1's failure named", err)
	}
	if up, _ := sb.Up(ctx, 2); !up {
		t.Fatal("node 2 left down because node 1's restart failed first")
	}
	if up, _ := sb.Up(ctx, 1); up || len(rs.Down()) != 1 || rs.Down()[0] != 1 {
		t.Fatalf("node 1 up=%v, still to restore %v", up, rs.Down())
	}
	// A later attempt (the drill's deferred restore) finishes the job.
	ctl.failRestart = nil
	if err := rs.Restore(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if up, _ := sb.Up(ctx, 1); !up || len(rs.Down()) != 0 {
		t.Fatalf("node 1 up=%v, still to restore %v", up, rs.Down())
	}
}

func TestRestoreUndoesAKillThatReportedAnError(t *testing.T) {
	cfg := testenv.ShortConfig()
	sb, env := testenv.Env(t, cfg)
	env.Control = &flakyControl{Controller: sb, killErr: errors.New("ssh: timed out")}
	rs := drill.NewRestorer(env, &run.Result{})
	ctx := context.Background()
	if err := rs.Kill(ctx, 3); err == nil {
		t.Fatal("want the kill's error")
	}
	if up, _ := sb.Up(ctx, 3); up {
		t.Fatal("test setup: the node should be down despite the error")
	}
	if err := rs.Restore(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if up, _ := sb.Up(ctx, 3); !up {
		t.Fatal("a node whose kill reported an error was left down")
	}
}
