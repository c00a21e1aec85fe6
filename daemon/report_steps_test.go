package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes"
)

// `raftdrill run failure-recovery` prints each step as the guide's expected
// output does, then the anomaly table; the run's JSON carries the steps.
func TestFailureRecoveryReportShowsStepsAndAnomalies(t *testing.T) {
	cfg := shortConfig()
	fr := &cfg.Drills.FailureRecovery
	fr.Messages, fr.Batch, fr.MessageSize = 300, 60, 256
	fr.Steps.MajorityLoss = true
	log := slog.New(slog.DiscardHandler)
	cl, err := Connect(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(context.Background()) })
	// Two records written twice: the report must name them.
	cl.Sandbox.SetFaults(config.SandboxFaults{DuplicateWrites: 2})
	run, err := RunOnce(context.Background(), cfg, cl, "failure-recovery", log, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	WriteReport(&out, run)
	report := out.String()
	t.Log("\n" + report)
	if run.Status != probes.StatusFailed {
		t.Fatalf("status %s, want failed", run.Status)
	}
	for _, want := range []string{
		"STEP 1: preflight", "STEP 3: follower loss", "STEP 4: leader loss", "STEP 5: majority loss",
		"STEP 6: recovery", "STEP 7: read back", "STEP 8: classify",
		"  [PASSED] all 3 nodes up\n",
		"quorum loss observed",
		"  [FAILED] ",
		"failure-recovery drill FAILED",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if !regexp.MustCompile(`\n  duplicate\s+2\s+one message read at two offsets`).MatchString(report) {
		t.Errorf("anomaly table lacks the duplicates")
	}
	b, err := json.Marshal(run)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Steps []probes.Step `json:"steps"`
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Steps) != 8 || back.Steps[7].Outcome != probes.StepFailed || back.Steps[0].Seconds < 0 {
		t.Fatalf("steps in the run JSON: %v %+v", err, back.Steps)
	}
}
