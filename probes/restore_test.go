package probes

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// flakyControl wraps the sandbox's controller with the failures real
// controllers have: a restart that fails, a kill that reports an error
// after the node died anyway.
type flakyControl struct {
	NodeController
	failRestart map[int32]bool
	killErr     error
}

func (f *flakyControl) Kill(ctx context.Context, id int32) error {
	if err := f.NodeController.Kill(ctx, id); err != nil {
		return err
	}
	return f.killErr
}

func (f *flakyControl) Restart(ctx context.Context, id int32) error {
	if f.failRestart[id] {
		return errors.New("systemctl start: exit status 1")
	}
	return f.NodeController.Restart(ctx, id)
}

func TestRestoreBringsBackEveryNodeItCan(t *testing.T) {
	cfg := shortConfig()
	sb, env := startSandbox(t, cfg)
	ctl := &flakyControl{NodeController: sb, failRestart: map[int32]bool{1: true}}
	env.Control = ctl
	res := &Result{}
	rs := &restorer{env: env, res: res}
	ctx := context.Background()
	for _, id := range []int32{1, 2} {
		if err := rs.kill(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	err := rs.restore(ctx, 5*time.Second, cfg.Cluster.Topic.Name)
	if err == nil || !strings.Contains(err.Error(), "restart node 1") {
		t.Fatalf("restore error %v, want node 1's failure named", err)
	}
	if up, _ := sb.Up(ctx, 2); !up {
		t.Fatal("node 2 left down because node 1's restart failed first")
	}
	if up, _ := sb.Up(ctx, 1); up || len(rs.killed) != 1 || rs.killed[0] != 1 {
		t.Fatalf("node 1 up=%v, still to restore %v", up, rs.killed)
	}
	// A later attempt (the drill's deferred restore) finishes the job.
	ctl.failRestart = nil
	if err := rs.restore(ctx, 5*time.Second, cfg.Cluster.Topic.Name); err != nil {
		t.Fatal(err)
	}
	if up, _ := sb.Up(ctx, 1); !up || len(rs.killed) != 0 {
		t.Fatalf("node 1 up=%v, still to restore %v", up, rs.killed)
	}
}

func TestRestoreUndoesAKillThatReportedAnError(t *testing.T) {
	cfg := shortConfig()
	sb, env := startSandbox(t, cfg)
	env.Control = &flakyControl{NodeController: sb, killErr: errors.New("ssh: timed out")}
	rs := &restorer{env: env, res: &Result{}}
	ctx := context.Background()
	if err := rs.kill(ctx, 3); err == nil {
		t.Fatal("want the kill's error")
	}
	if up, _ := sb.Up(ctx, 3); up {
		t.Fatal("test setup: the node should be down despite the error")
	}
	if err := rs.restore(ctx, 5*time.Second, cfg.Cluster.Topic.Name); err != nil {
		t.Fatal(err)
	}
	if up, _ := sb.Up(ctx, 3); !up {
		t.Fatal("a node whose kill reported an error was left down")
	}
}
