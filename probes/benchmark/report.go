package benchmark

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/raftdrill/raftdrill/run"
)

// row is one line of the benchmark table: a measurement shown for each
// target (the cluster's under its key, the baseline's under its twin).
type row struct {
	m    run.Measure
	diff bool // show the cluster's difference to the baseline in %
}

var rows = []row{
	{run.ProduceThroughput, true},
	{run.ProduceBytesRate, false},
	{run.ConsumeThroughput, true},
	{run.ConsumeBytesRate, false},
	{run.ProduceSeconds, false},
	{run.ConsumeSeconds, false},
	{run.LatencyP50, true},
	{run.LatencyP95, true},
	{run.LatencyP99, true},
	{run.LatencyP999, true},
	{run.LatencyMax, true},
	{run.MessagesSent, false},
	{run.MessagesAcked, false},
	{run.MessagesFailed, false},
	{run.MessagesConsumed, false},
	{run.MessagesLost, false},
	{run.MessagesDup, false},
	{run.MessagesCorrupt, false},
	{run.ConsumeErrors, false},
	{run.NodeCPUAvg, false},
	{run.NodeRSSAvg, false},
	{run.NodeRSSTotal, false},
	{run.ClientCPU, false},
	{run.ClientCPUPer100k, false},
}

// resourceRow marks the rows that stay, as n/a, when a target has no
// figure: a missing resource figure is seen to be missing.
func resourceRow(m run.Measure) bool {
	switch m.Key {
	case run.NodeCPUAvg.Key, run.NodeRSSAvg.Key, run.NodeRSSTotal.Key, run.ClientCPU.Key, run.ClientCPUPer100k.Key:
		return true
	}
	return false
}

// writeReport renders a benchmark run as the guide's expected output does:
// each target's figures side by side, then the comparison. It returns the
// measurement keys it showed, so the generic list does not repeat them.
func writeReport(w io.Writer, r run.Run) map[string]bool {
	m := r.Measurements
	if _, ok := m.Get(run.ProduceThroughput); !ok {
		return nil
	}
	used := map[string]bool{}
	_, hasBase := m.Get(run.ProduceThroughput.Baseline())
	targets := []bool{false} // baseline?
	heads := []string{targetHead(m, false)}
	if hasBase {
		targets = []bool{true, false}
		heads = []string{targetHead(m, true), heads[0]}
	}
	fmt.Fprintln(w, "\nBENCHMARK")
	if v, ok := m.Get(run.MessageBytes); ok {
		load := "as fast as each target takes them"
		if rate, ok := m.Get(run.OfferedRate); ok {
			load = fmt.Sprintf("offered at %s, open loop", run.OfferedRate.Format(rate))
			used[run.OfferedRate.Key] = true
		}
		fmt.Fprintf(w, "  %s messages of %s per target, acks=all, %s\n\n", run.MessagesSent.Format(m.Value(run.MessagesSent)), run.MessageBytes.Format(v), load)
		used[run.MessageBytes.Key] = true
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 3, ' ', 0)
	vs := ""
	if hasBase {
		vs = "cluster vs baseline"
	}
	fmt.Fprintf(tw, "  \t%s\t%s\n", strings.Join(heads, "\t"), vs)
	for _, rw := range rows {
		writeRow(tw, m, rw, targets, hasBase, used)
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(table.String(), "\n") {
		if line != "" {
			fmt.Fprintln(w, strings.TrimRight(line, " \n")) // padding of empty last cells
		}
	}
	notes(w, m, targets)
	writeNodeUsage(w, m, targets, used)
	if hasBase {
		writeComparison(w, m, used)
	}
	for _, ms := range []run.Measure{run.Nodes, run.Nodes.Baseline(), run.Errors, run.Errors.Baseline()} {
		if _, ok := m.Get(ms); ok {
			used[ms.Key] = true // in the column heads and the criteria
		}
	}
	return used
}

func measureFor(ms run.Measure, baseline bool) run.Measure {
	if baseline {
		return ms.Baseline()
	}
	return ms
}

func targetHead(m run.Measurements, baseline bool) string {
	name := "cluster"
	if baseline {
		name = "baseline"
	}
	if n, ok := m.Get(measureFor(run.Nodes, baseline)); ok {
		unit := "nodes"
		if n == 1 {
			unit = "node"
		}
		return fmt.Sprintf("%s (%.0f %s)", name, n, unit)
	}
	return name
}

func writeRow(tw io.Writer, m run.Measurements, rw row, targets []bool, hasBase bool, used map[string]bool) {
	cells := make([]string, len(targets))
	shown := false
	for i, baseline := range targets {
		cells[i] = "n/a"
		key := measureFor(rw.m, baseline)
		if v, ok := m.Get(key); ok {
			cells[i] = rw.m.Format(v)
			used[key.Key] = true
			shown = true
		}
	}
	if !shown && !resourceRow(rw.m) {
		return
	}
	diff := ""
	if b, ok := m.Get(rw.m.Baseline()); ok && hasBase && rw.diff && b > 0 {
		diff = fmt.Sprintf("%+.1f %%", (m.Value(rw.m)/b-1)*100)
	}
	// Every line has the same cells, so tabwriter aligns them all.
	fmt.Fprintf(tw, "  %s\t%s\t%s\n", rw.m.Label, strings.Join(cells, "\t"), diff)
}

// notes say why resource figures are missing.
func notes(w io.Writer, m run.Measurements, targets []bool) {
	for _, baseline := range targets {
		if _, ok := m.Get(measureFor(run.NodeCPUAvg, baseline)); !ok {
			fmt.Fprintln(w, "  n/a CPU and memory: the node controller knows no server process to read (the process controller does)")
			break
		}
	}
	for _, baseline := range targets {
		if _, ok := m.Get(measureFor(run.ClientCPUPer100k, baseline)); !ok {
			fmt.Fprintln(w, "  n/a client CPU: the target runs in this process, so its CPU time would be counted too")
			break
		}
	}
}

// writeNodeUsage lists each node's CPU and memory where they are known.
func writeNodeUsage(w io.Writer, m run.Measurements, targets []bool, used map[string]bool) {
	for _, baseline := range targets {
		name := "cluster"
		if baseline {
			name = "baseline"
		}
		for id := int32(0); id < 1000; id++ {
			cpuM, rssM := measureFor(run.NodeCPU.ForNode(id), baseline), measureFor(run.NodeRSS.ForNode(id), baseline)
			cpu, ok1 := m.Get(cpuM)
			rss, ok2 := m.Get(rssM)
			if !ok1 && !ok2 {
				continue
			}
			used[cpuM.Key], used[rssM.Key] = true, true
			fmt.Fprintf(w, "  %s node %d: CPU %s, RSS %s\n", name, id, cpuM.Format(cpu), rssM.Format(rss))
		}
	}
}

// writeComparison is the guide's PERFORMANCE COMPARISON and SUMMARY.
func writeComparison(w io.Writer, m run.Measurements, used map[string]bool) {
	fmt.Fprintln(w, "\nCOMPARISON")
	if r, ok := m.Get(run.ThroughputRatio); ok {
		fmt.Fprintf(w, "  Throughput overhead:   %.1f %% (the cluster produces at %.1f %% of the baseline's rate)\n", (1-r)*100, r*100)
		used[run.ThroughputRatio.Key], used[run.ThroughputCost.Key] = true, true
	}
	if r, ok := m.Get(run.LatencyP99Ratio); ok {
		fmt.Fprintf(w, "  Latency p99 overhead:  %+.1f %% (%.2f × the baseline's p99)\n", (r-1)*100, r)
		used[run.LatencyP99Ratio.Key] = true
	}
	if r, ok := m.Get(run.ConsumeRatio); ok {
		fmt.Fprintf(w, "  Consume throughput:    %.1f %% of the baseline's\n", r*100)
		used[run.ConsumeRatio.Key] = true
	}
}
