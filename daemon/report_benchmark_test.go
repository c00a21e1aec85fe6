package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes"
)

// What `raftdrill run benchmark` prints when the cluster is much slower
// than its baseline: the failed p99 criterion, and the two p99 figures it
// was computed from, side by side, as measured (not as some other number).
func TestBenchmarkReportNamesTheFailingFigures(t *testing.T) {
	cfg := shortConfig()
	b := &cfg.Drills.Benchmark
	b.Mode = config.BenchmarkFixedRate
	b.Rate = 200
	b.Messages = 400
	b.WarmupMessages = 20
	log := slog.New(slog.DiscardHandler)
	cl, err := Connect(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(context.Background()) })
	// Every write to the cluster waits 100 ms; the baseline the drill
	// starts for itself does not.
	if err := cl.Sandbox.SetProduceDelay(0, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	run, err := RunOnce(context.Background(), cfg, cl, "benchmark", log, nil)
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
	m := run.Measures
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s+\[FAIL\]\s+latency_p99_ratio\s+` + regexp.QuoteMeta(formatValue("latency_p99_ratio", m["latency_p99_ratio"])) + `\s+must be < 300\.0 %$`),
		regexp.MustCompile(`(?m)^\s+\[PASS\]\s+produce_throughput_ratio\s`),
		regexp.MustCompile(`(?m)^\s+Latency p99\s+` + regexp.QuoteMeta(fmtMs(m["baseline_latency_p99_seconds"])) + `\s+` + regexp.QuoteMeta(fmtMs(m["latency_p99_seconds"])) + `\s+\+`),
		regexp.MustCompile(`(?m)^\s+baseline \(1 node\)\s+cluster \(3 nodes\)\s+cluster vs baseline$`),
		regexp.MustCompile(`(?m)^\s+Latency p99 overhead:\s+\+[0-9.]+ % \(` + regexp.QuoteMeta(fmt.Sprintf("%.2f", m["latency_p99_ratio"])) + ` × the baseline's p99\)$`),
		regexp.MustCompile(`(?m)^benchmark drill FAILED$`),
	} {
		if !want.MatchString(report) {
			t.Errorf("report lacks %s", want)
		}
	}
	// The side-by-side table replaces the generic list, not repeats it.
	if strings.Contains(report, "Baseline latency p99 seconds") {
		t.Errorf("baseline figures listed twice")
	}
}
