// Package report writes a run for people, in the spirit of the verification
// guide's expected output: what happened when, the figures, each criterion
// against its threshold, the anomalies, and the verdict. `raftdrill run`
// prints it; a drill may add a section of its own (the benchmark's table).
package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
)

// Write renders r.
func Write(w io.Writer, r run.Run) {
	title := strings.ToUpper(strings.ReplaceAll(r.Drill, "-", " "))
	fmt.Fprintf(w, "%s DRILL — run %s\n", title, r.ID)
	fmt.Fprintf(w, "started %s", r.StartedAt.Format("2006-01-02T15:04:05Z07:00"))
	if r.FinishedAt != nil {
		fmt.Fprintf(w, ", took %.1fs", r.FinishedAt.Sub(r.StartedAt).Seconds())
	}
	fmt.Fprintln(w)
	writeSteps(w, r)

	if len(r.Events) > 0 {
		fmt.Fprintln(w, "\nTIMELINE")
		width := 0
		for _, e := range r.Events {
			width = max(width, len(e.What))
		}
		for _, e := range r.Events {
			node := ""
			if e.Node > 0 {
				node = fmt.Sprintf("node %d: ", e.Node)
			}
			fmt.Fprintf(w, "  +%7.3fs  %-*s %s%s\n", e.At.Sub(r.StartedAt).Seconds(), width, e.What, node, e.Detail)
		}
	}

	var used map[string]bool
	if spec, ok := drills.Lookup(r.Drill); ok && spec.Report != nil {
		used = spec.Report(w, r) // the drill's own section
	}
	if len(r.Measurements) > len(used) {
		fmt.Fprintln(w, "\nRESULTS")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, k := range run.Ordered(r.Measurements) {
			if used[k] {
				continue
			}
			m := run.Lookup(k)
			fmt.Fprintf(tw, "  %s:\t%s\n", m.Label, m.Format(r.Measurements[k]))
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
			m := run.Lookup(c.Name)
			fmt.Fprintf(tw, "  [%s]\t%s\t%s\tmust be %s %s\n", mark, c.Name, m.Format(c.Value), c.Op, m.Format(c.Threshold))
		}
		tw.Flush()
	}

	if len(r.NotTested) > 0 {
		fmt.Fprintln(w, "\nNOT TESTED")
		for _, n := range r.NotTested {
			fmt.Fprintf(w, "  %s: %s\n", n.What, n.Why)
		}
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
func writeSteps(w io.Writer, r run.Run) {
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
