package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/raftdrill/raftdrill/daemon"
	"github.com/raftdrill/raftdrill/daemon/report"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/sandbox"
)

// `raftdrill run failure-recovery` prints each step as the guide's expected
// output does, then the anomaly table; the run's JSON carries the steps.
func TestFailureRecoveryReportShowsStepsAndAnomalies(t *testing.T) {
	cfg := testenv.ShortConfig()
	// Two records written twice: the report must name them.
	testenv.Sandbox(cfg).Faults = sandbox.Faults{DuplicateWrites: 2}
	log := slog.New(slog.DiscardHandler)
	cl, err := daemon.Connect(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(context.Background()) })
	r, err := daemon.RunOnce(context.Background(), cfg, nil, cl, "failure-recovery", log, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	report.Write(&out, r)
	text := out.String()
	t.Log("\n" + text)
	if r.Status != run.StatusFailed {
		t.Fatalf("status %s, want failed", r.Status)
	}
	for _, want := range []string{
		"STEP 1: preflight", "STEP 3: follower loss", "STEP 4: leader loss", "STEP 5: majority loss",
		"STEP 6: recovery", "STEP 7: read back", "STEP 8: classify",
		"  [PASSED] all 3 nodes up\n",
		"quorum loss observed",
		"  [FAILED] ",
		"failure-recovery drill FAILED",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if !regexp.MustCompile(`\n  duplicate\s+2\s+one message read at two offsets`).MatchString(text) {
		t.Errorf("anomaly table lacks the duplicates")
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Steps []run.Step `json:"steps"`
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Steps) != 8 || back.Steps[7].Outcome != run.StepFailed || back.Steps[0].Seconds < 0 {
		t.Fatalf("steps in the run JSON: %v %+v", err, back.Steps)
	}
}
