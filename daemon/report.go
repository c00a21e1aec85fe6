package daemon

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// measurementOrder puts the figures people look for first; others follow
// alphabetically.
var measurementOrder = []string{
	"election_seconds", "failover_seconds", "recovery_seconds", "success_ratio",
	"acked_recovered_ratio", "sent_recovered_ratio", "nodes_recovered",
	"messages_sent", "messages_acked", "messages_failed", "messages_indeterminate",
	"messages_consumed", "messages_lost", "messages_duplicated", "messages_corrupted",
	"messages_indeterminate_visible",
}

// WriteReport renders a run for people, in the spirit of the verification
// guide's expected output: what happened when, the figures, each criterion
// against its threshold, the anomalies, and the verdict.
func WriteReport(w io.Writer, r Run) {
	title := strings.ToUpper(strings.ReplaceAll(r.Drill, "-", " "))
	fmt.Fprintf(w, "%s DRILL — run %s\n", title, r.ID)
	fmt.Fprintf(w, "started %s", r.StartedAt.Format(time.RFC3339))
	if r.FinishedAt != nil {
		fmt.Fprintf(w, ", took %.1fs", r.FinishedAt.Sub(r.StartedAt).Seconds())
	}
	fmt.Fprintln(w)
	writeSteps(w, r)

	if len(r.Events) > 0 {
		fmt.Fprintln(w, "\nTIMELINE")
		for _, e := range r.Events {
			node := ""
			if e.Node != 0 {
				node = fmt.Sprintf("node %d: ", e.Node)
			}
			fmt.Fprintf(w, "  +%7.3fs  %-11s %s%s\n", e.At.Sub(r.StartedAt).Seconds(), e.What, node, e.Detail)
		}
	}

	used := writeBenchmark(w, r) // the benchmark's figures, side by side
	if len(r.Measures) > len(used) {
		fmt.Fprintln(w, "\nRESULTS")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		seen := map[string]bool{}
		for k := range used {
			seen[k] = true
		}
		for _, k := range measurementOrder {
			if v, ok := r.Measures[k]; ok && !seen[k] {
				fmt.Fprintf(tw, "  %s:\t%s\n", label(k), formatValue(k, v))
				seen[k] = true
			}
		}
		var rest []string
		for k := range r.Measures {
			if !seen[k] {
				rest = append(rest, k)
			}
		}
		sort.Strings(rest)
		for _, k := range rest {
			fmt.Fprintf(tw, "  %s:\t%s\n", label(k), formatValue(k, r.Measures[k]))
		}
		tw.Flush()
	}

	if len(r.Criteria) > 0 {
		fmt.Fprintln(w, "\nCRITERIA")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range r.Criteria {
			mark := "PASS"
			if !c.Passed {
				mark = "FAIL"
			}
			value := formatValue(c.Name, c.Value)
			if c.Value >= 1e9 {
				value = "not measured"
			}
			fmt.Fprintf(tw, "  [%s]\t%s\t%s\tmust be %s %s\n", mark, c.Name, value, c.Op, formatValue(c.Name, c.Threshold))
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nANOMALIES")
	if len(r.Anomalies) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  kind\tcount\tdetail\texamples (partition/offset/seq)")
		for _, a := range r.Anomalies {
			var ex []string
			for _, e := range a.Examples {
				if e.Offset == -1 && e.Seq == -1 { // a leadership anomaly: no message to point at
					ex = append(ex, fmt.Sprintf("%d/-/-", e.Partition))
					continue
				}
				ex = append(ex, fmt.Sprintf("%d/%d/%d", e.Partition, e.Offset, e.Seq))
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", a.Kind, a.Count, a.Detail, strings.Join(ex, " "))
		}
		tw.Flush()
	}

	if r.Error != "" {
		fmt.Fprintf(w, "\nERROR: %s\n", r.Error)
	}
	fmt.Fprintf(w, "\n%s drill %s\n", r.Drill, strings.ToUpper(r.Status))
}

// writeSteps prints a staged drill's steps as the verification guide's
// expected output does ("STEP 3: …" then the outcome), one finding per
// line.
func writeSteps(w io.Writer, r Run) {
	for i, s := range r.Steps {
		fmt.Fprintf(w, "\nSTEP %d: %s (%.3fs)\n", i+1, strings.ReplaceAll(s.Name, "-", " "), s.Seconds)
		mark := "[" + strings.ToUpper(s.Outcome) + "]"
		for j, part := range strings.Split(s.Detail, "; ") {
			if j > 0 {
				mark = strings.Repeat(" ", len(mark))
			}
			fmt.Fprintf(w, "  %s %s\n", mark, part)
		}
	}
}

func label(key string) string {
	s := strings.ReplaceAll(key, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

func formatValue(key string, v float64) string {
	switch {
	case strings.HasSuffix(key, "_seconds"):
		if v < 1 {
			return fmt.Sprintf("%.1f ms", v*1000)
		}
		return fmt.Sprintf("%.3f s", v)
	case strings.HasSuffix(key, "_ratio"):
		return fmt.Sprintf("%.1f %%", v*100)
	case v == float64(int64(v)):
		return fmt.Sprintf("%d", int64(v))
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
