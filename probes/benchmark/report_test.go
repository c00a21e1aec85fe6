package benchmark

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/run"
)

// What the report says of a cluster much slower than its baseline: the
// failed p99 criterion, and the two p99 figures it was computed from, side
// by side, as measured. The figures are made up so that the expected text
// is exact.
func TestBenchmarkReportNamesTheFailingFigures(t *testing.T) {
	t.Parallel()
	d := Spec.New(benchConfig()).(*benchmark)
	r := run.New(Name, run.TriggerCLI, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	res := run.Result{Measurements: run.Measurements{}}
	d.report(&res, figuresWith("cluster", 3, 300*time.Millisecond), figuresWith("baseline", 1, 10*time.Millisecond))
	res.Finish()
	r.Finish(res, r.StartedAt.Add(time.Minute))
	var out bytes.Buffer
	writeReport(&out, r)
	report := out.String()
	t.Log("\n" + report)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s+baseline \(1 node\)\s+cluster \(3 nodes\)\s+cluster vs baseline$`),
		regexp.MustCompile(`(?m)^\s+Latency p99\s+10 ms\s+300 ms\s+\+2898\.2 %$`),
		regexp.MustCompile(`(?m)^\s+Produce throughput\s+1000 msg/s\s+1000 msg/s\s+\+0\.0 %$`),
		regexp.MustCompile(`(?m)^\s+Latency p99 overhead:\s+\+2898\.2 % \(29\.98 × the baseline's p99\)$`),
	} {
		if !want.MatchString(report) {
			t.Errorf("report lacks %s", want)
		}
	}
	// The side-by-side table replaces the generic list, not repeats it.
	if strings.Contains(report, "baseline_latency_p99_seconds") {
		t.Errorf("baseline figures listed by key")
	}
}
