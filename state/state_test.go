package state

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/run"
)

func open(t *testing.T, dir, cmd string) *Store {
	t.Helper()
	s, err := Open(dir, Me(cmd, "127.0.0.1:9479"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A second owner of the directory is refused, and the error says who holds
// it; once the first lets go, the directory can be taken again.
func TestOneOwnerAtATime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, "serve")
	_, err := Open(dir, Me("run leader-failover", ""))
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("second Open: %v, want a *LockedError", err)
	}
	for _, want := range []string{"in use by raftdrill serve", fmt.Sprintf("pid %d", locked.Holder.PID), "listening on 127.0.0.1:9479", "POST /trigger"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if h, held := HeldBy(dir); !held || h.Command != "serve" {
		t.Fatalf("HeldBy: %+v %v", h, held)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, held := HeldBy(dir); held {
		t.Fatal("still held after Close")
	}
	open(t, dir, "run leader-failover").Close()
}

func TestRunsSurviveReopenAndRunningBecomesInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, "serve")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	done := run.New("leader-failover", run.TriggerAPI, t0)
	done.Finish(run.Result{Status: run.StatusPassed, Measurements: run.Measurements{"failover_seconds": 1.5}}, t0.Add(time.Minute))
	live := run.New("leader-failover", run.TriggerSchedule, t0.Add(2*time.Minute))
	live.Events = []run.Event{run.NewEvent(t0.Add(2*time.Minute+10*time.Second), "kill", 2, "killed the leader")}
	live.Measurements["kill_seconds"] = 0.01
	for _, r := range []run.Run{done, live} {
		if err := s.Runs().Put(r); err != nil {
			t.Fatal(err)
		}
	}
	s.Close() // as if the process died here

	s = open(t, dir, "serve")
	defer s.Close()
	got, err := s.Runs().Interrupt(t0.Add(time.Hour))
	if err != nil || len(got) != 1 || got[0].ID != live.ID {
		t.Fatalf("Interrupt: %v %+v", err, got)
	}
	runs, bad, err := s.Runs().List()
	if err != nil || bad != 0 || len(runs) != 2 {
		t.Fatalf("List: %v %d %+v", err, bad, runs)
	}
	r := runs[0] // newest first
	if r.ID != live.ID || r.Status != run.StatusInterrupted || r.FinishedAt == nil || !r.FinishedAt.Equal(live.Events[0].At) ||
		len(r.Events) != 1 || r.Measurements["kill_seconds"] != 0.01 || !strings.Contains(r.Error, "interrupted: raftdrill stopped") {
		t.Fatalf("interrupted run: %+v", r)
	}
	if runs[1].Status != run.StatusPassed || runs[1].Measurements["failover_seconds"] != 1.5 {
		t.Fatalf("finished run: %+v", runs[1])
	}
}

func TestRetentionKeepsFailedRunsLonger(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	mk := func(i int, status string, age time.Duration) run.Run {
		r := run.New("leader-failover", run.TriggerSchedule, now.Add(-age))
		r.ID = fmt.Sprintf("r%02d-%s", 99-i, status) // newest first sorts last
		if status != run.StatusRunning {
			end := now.Add(-age)
			r.Finish(run.Result{Status: status}, end)
		}
		return r
	}
	day := 24 * time.Hour
	runs := []run.Run{ // newest first
		mk(0, run.StatusRunning, 0),
		mk(1, run.StatusPassed, day),
		mk(2, run.StatusFailed, day),
		mk(3, run.StatusPassed, 2*day),      // beyond Runs: 3
		mk(4, run.StatusError, 3*day),       // beyond Runs, failed kept
		mk(5, run.StatusInterrupted, 4*day), // beyond Runs, failed kept
		mk(6, run.StatusFailed, 5*day),      // beyond FailedRuns: 3
		mk(7, run.StatusPassed, 40*day),
	}
	ret := Retention{Runs: 3, MaxAge: 30 * day, FailedRuns: 3, FailedMaxAge: 90 * day}
	keep := ret.Keep(runs, now)
	var kept []string
	for _, r := range runs {
		if keep[r.ID] {
			kept = append(kept, r.Status)
		}
	}
	if got, want := strings.Join(kept, ","), "running,passed,failed,error,interrupted"; got != want {
		t.Fatalf("kept %s, want %s", got, want)
	}
	// Age wins over count for passing runs.
	ret = Retention{Runs: 10, MaxAge: 30 * day, FailedRuns: 0, FailedMaxAge: 90 * day}
	if keep := ret.Keep(runs, now); keep[runs[7].ID] || !keep[runs[6].ID] {
		t.Fatalf("age: %v", keep)
	}

	s := open(t, t.TempDir(), "serve")
	defer s.Close()
	for _, r := range runs {
		if err := s.Runs().Put(r); err != nil {
			t.Fatal(err)
		}
	}
	gone, err := s.Runs().Prune(Retention{Runs: 3, MaxAge: 30 * day, FailedRuns: 3, FailedMaxAge: 90 * day}, now)
	if err != nil || len(gone) != 3 {
		t.Fatalf("Prune: %v %v", gone, err)
	}
	left, _, _ := s.Runs().List()
	if len(left) != 5 {
		t.Fatalf("%d runs left", len(left))
	}
}

func TestOutboxKeepsOrderAcrossReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, "serve")
	var seqs []uint64
	for i := range 5 {
		seq, err := s.Outbox().Append(fmt.Appendf(nil, "m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	if err := s.Outbox().Delete(seqs[0], seqs[2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Outbox().Put(seqs[3], []byte("m3 progressed")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir, "serve")
	defer s.Close()
	items, err := s.Outbox().List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, string(it.Data))
	}
	if strings.Join(got, ",") != "m1,m3 progressed,m4" {
		t.Fatalf("outbox after reopen: %v", got)
	}
	seq, _ := s.Outbox().Append([]byte("m5"))
	if seq <= seqs[4] {
		t.Fatalf("a new message got seq %d, not after %d", seq, seqs[4])
	}
}

func TestJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, "serve")
	at := time.Now().UTC().Truncate(time.Millisecond)
	for _, o := range []Outage{
		{Run: "r1", Drill: "leader-failover", Node: 2, Controller: "exec", Action: ActionKill, At: at},
		{Run: "r1", Drill: "leader-failover", Node: 10, Controller: "exec", Action: ActionKill, At: at},
		{Run: "r2", Drill: "failure-recovery", Node: 3, Controller: "exec", Action: ActionKill, At: at},
	} {
		if err := s.Journal().Record(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Journal().Clear("r1", 10); err != nil {
		t.Fatal(err)
	}
	// An update of an entry cleared meanwhile does not bring it back.
	if err := s.Journal().Update(Outage{Run: "r1", Node: 10, Attempts: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.Journal().Update(Outage{Run: "r1", Drill: "leader-failover", Node: 2, Controller: "exec", Action: ActionKill, At: at, Attempts: 2, LastError: "exit status 1"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir, "serve")
	defer s.Close()
	list, err := s.Journal().List()
	if err != nil || len(list) != 2 || list[0].Node != 2 || list[0].Attempts != 2 || !list[0].At.Equal(at) || list[1].Node != 3 {
		t.Fatalf("journal after reopen: %v %+v", err, list)
	}
	gone, err := s.Journal().ClearIf(func(o Outage) bool { return o.Node == 3 })
	if err != nil || len(gone) != 1 || gone[0].Run != "r2" {
		t.Fatalf("ClearIf: %v %+v", err, gone)
	}
}
