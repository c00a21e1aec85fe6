package daemon

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// benchRow is one line of the benchmark table: a measurement shown for each
// target (the cluster's key is key, the baseline's "baseline_"+key).
type benchRow struct {
	label  string
	key    string
	format func(float64) string
	diff   bool // show the cluster's difference to the baseline in %
}

var benchRows = []benchRow{
	{"Produce throughput", "produce_throughput_mps", fmtRate, true},
	{"", "produce_bytes_per_second", fmtMiBps, false},
	{"Consume throughput", "consume_throughput_mps", fmtRate, true},
	{"", "consume_bytes_per_second", fmtMiBps, false},
	{"Produce time", "produce_seconds", fmtMs, false},
	{"Consume time", "consume_seconds", fmtMs, false},
	{"Latency p50", "latency_p50_seconds", fmtMs, true},
	{"Latency p95", "latency_p95_seconds", fmtMs, true},
	{"Latency p99", "latency_p99_seconds", fmtMs, true},
	{"Latency p99.9", "latency_p999_seconds", fmtMs, true},
	{"Latency max", "latency_max_seconds", fmtMs, true},
	{"Messages sent", "messages_sent", fmtCount, false},
	{"Messages acked", "messages_acked", fmtCount, false},
	{"Messages failed", "messages_failed", fmtCount, false},
	{"Messages read back", "messages_consumed", fmtCount, false},
	{"Lost / duplicated / corrupted", "", nil, false}, // see lossCell
	{"Consumer errors", "consume_errors", fmtCount, false},
	{"CPU (avg per node)", "node_cpu_percent_avg", fmtPercent, false},
	{"Memory RSS (avg per node)", "node_rss_bytes_avg", fmtMiB, false},
	{"Memory RSS (all nodes)", "node_rss_bytes_total", fmtMiB, false},
	{"Client CPU (produce)", "client_cpu_seconds", fmtCPU, false},
	{"Client CPU per 100k msgs", "client_cpu_seconds_per_100k_messages", fmtCPU, false},
}

// writeBenchmark renders a benchmark run as the guide's expected output
// does: each target's figures side by side, then the comparison. It returns
// the measurement keys it showed, so the generic list does not repeat them;
// for other drills it writes nothing.
func writeBenchmark(w io.Writer, r Run) map[string]bool {
	m := r.Measures
	if r.Drill != "benchmark" || m == nil {
		return nil
	}
	if _, ok := m["produce_throughput_mps"]; !ok {
		return nil
	}
	used := map[string]bool{}
	prefixes, heads := []string{""}, []string{targetHead(m, "", "cluster")}
	_, hasBase := m["baseline_produce_throughput_mps"]
	if hasBase {
		prefixes = []string{"baseline_", ""}
		heads = []string{targetHead(m, "baseline_", "baseline"), heads[0]}
	}
	fmt.Fprintln(w, "\nBENCHMARK")
	if v, ok := m["message_bytes"]; ok {
		load := "as fast as each target takes them"
		if rate, ok := m["offered_rate_mps"]; ok {
			load = fmt.Sprintf("offered at %.0f msg/s, open loop", rate)
			used["offered_rate_mps"] = true
		}
		fmt.Fprintf(w, "  %.0f messages of %.0f B per target, acks=all, %s\n\n", m["messages_sent"], v, load)
		used["message_bytes"] = true
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 3, ' ', 0)
	vs := ""
	if hasBase {
		vs = "cluster vs baseline"
	}
	fmt.Fprintf(tw, "  \t%s\t%s\n", strings.Join(heads, "\t"), vs)
	for _, row := range benchRows {
		writeBenchRow(tw, m, row, prefixes, hasBase, used)
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(table.String(), "\n") {
		if line != "" {
			fmt.Fprintln(w, strings.TrimRight(line, " \n")) // padding of empty last cells
		}
	}
	benchNotes(w, m, prefixes)
	writeNodeUsage(w, m, prefixes, used)
	if hasBase {
		writeComparison(w, m, used)
	}
	for _, k := range []string{"nodes", "baseline_nodes", "errors", "baseline_errors"} {
		used[k] = true // in the column heads and the criteria
	}
	for k := range used {
		if _, ok := m[k]; !ok {
			delete(used, k)
		}
	}
	return used
}

func targetHead(m map[string]float64, prefix, name string) string {
	if n, ok := m[prefix+"nodes"]; ok {
		unit := "nodes"
		if n == 1 {
			unit = "node"
		}
		return fmt.Sprintf("%s (%.0f %s)", name, n, unit)
	}
	return name
}

func writeBenchRow(tw io.Writer, m map[string]float64, row benchRow, prefixes []string, hasBase bool, used map[string]bool) {
	cells := make([]string, len(prefixes))
	shown := false
	for i, p := range prefixes {
		cells[i] = "n/a"
		if row.key == "" {
			cells[i] = lossCell(m, p, used)
			shown = true
			continue
		}
		if v, ok := m[p+row.key]; ok {
			cells[i] = row.format(v)
			used[p+row.key] = true
			shown = true
		}
	}
	// Resource rows stay, marked n/a, so that a missing figure is seen to
	// be missing (benchNotes says why).
	if !shown && !strings.HasPrefix(row.key, "node_") && !strings.HasPrefix(row.key, "client_cpu") {
		return
	}
	diff := ""
	if b, ok := m["baseline_"+row.key]; ok && hasBase && row.diff && b > 0 {
		diff = fmt.Sprintf("%+.1f %%", (m[row.key]/b-1)*100)
	}
	// Every line has the same cells, so tabwriter aligns them all.
	fmt.Fprintf(tw, "  %s\t%s\t%s\n", row.label, strings.Join(cells, "\t"), diff)
}

// benchNotes says why resource figures are missing.
func benchNotes(w io.Writer, m map[string]float64, prefixes []string) {
	for _, p := range prefixes {
		if _, ok := m[p+"node_cpu_percent_avg"]; !ok {
			fmt.Fprintln(w, "  n/a CPU and memory: the node controller knows no server process to read (the process controller does)")
			break
		}
	}
	for _, p := range prefixes {
		if _, ok := m[p+"client_cpu_seconds_per_100k_messages"]; !ok {
			fmt.Fprintln(w, "  n/a client CPU: the target runs in this process, so its CPU time would be counted too")
			break
		}
	}
}

func lossCell(m map[string]float64, p string, used map[string]bool) string {
	var parts []string
	for _, k := range []string{"messages_lost", "messages_duplicated", "messages_corrupted"} {
		used[p+k] = true
		parts = append(parts, fmtCount(m[p+k]))
	}
	return strings.Join(parts, " / ")
}

// writeNodeUsage lists each node's CPU and memory where they are known.
func writeNodeUsage(w io.Writer, m map[string]float64, prefixes []string, used map[string]bool) {
	for _, p := range prefixes {
		name := "cluster"
		if p != "" {
			name = "baseline"
		}
		for id := 0; id < 1000; id++ {
			cpuKey := fmt.Sprintf("%snode_%d_cpu_percent", p, id)
			rssKey := fmt.Sprintf("%snode_%d_rss_bytes", p, id)
			cpu, ok1 := m[cpuKey]
			rss, ok2 := m[rssKey]
			if !ok1 && !ok2 {
				continue
			}
			used[cpuKey], used[rssKey] = true, true
			fmt.Fprintf(w, "  %s node %d: CPU %s, RSS %s\n", name, id, fmtPercent(cpu), fmtMiB(rss))
		}
	}
}

// writeComparison is the guide's PERFORMANCE COMPARISON and SUMMARY.
func writeComparison(w io.Writer, m map[string]float64, used map[string]bool) {
	fmt.Fprintln(w, "\nCOMPARISON")
	if r, ok := m["produce_throughput_ratio"]; ok {
		fmt.Fprintf(w, "  Throughput overhead:   %.1f %% (the cluster produces at %.1f %% of the baseline's rate)\n", (1-r)*100, r*100)
		used["produce_throughput_ratio"], used["throughput_overhead_ratio"] = true, true
	}
	if r, ok := m["latency_p99_ratio"]; ok {
		fmt.Fprintf(w, "  Latency p99 overhead:  %+.1f %% (%.2f × the baseline's p99)\n", (r-1)*100, r)
		used["latency_p99_ratio"] = true
	}
	if r, ok := m["consume_throughput_ratio"]; ok {
		fmt.Fprintf(w, "  Consume throughput:    %.1f %% of the baseline's\n", r*100)
		used["consume_throughput_ratio"] = true
	}
}

func fmtRate(v float64) string    { return fmt.Sprintf("%.0f msg/s", v) }
func fmtMiBps(v float64) string   { return fmt.Sprintf("%.1f MiB/s", v/(1<<20)) }
func fmtMiB(v float64) string     { return fmt.Sprintf("%.0f MiB", v/(1<<20)) }
func fmtMs(v float64) string      { return fmt.Sprintf("%.2f ms", v*1000) }
func fmtPercent(v float64) string { return fmt.Sprintf("%.1f %%", v) }
func fmtCPU(v float64) string     { return fmt.Sprintf("%.3f s", v) }
func fmtCount(v float64) string   { return fmt.Sprintf("%.0f", math.Round(v)) }
