package daemon

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
)

// The status page (GET /) is for people without Grafana open: the cluster
// now, each drill's last result, charts of the recent runs and the runs
// themselves. It is rendered on the server from the run store and the
// metrics registry; it has no JavaScript and loads nothing from elsewhere
// (the Content-Security-Policy says so, and a browser test holds it to it).

const (
	statusRefreshSeconds = 15 // the page reloads itself: a wall display stays current
	statusTableRuns      = 25 // rows in the recent-runs table
	statusChartRuns      = 30 // points per chart
	statusAnomalyRows    = 20 // rows in the anomalies table, newest first
	statusLiveEvents     = 12 // latest events of a running drill
)

// statusCSP forbids every outside asset and every script: styles are
// inline, the charts are inline SVG, the favicon is a data: URL.
const statusCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	v := d.statusView(time.Now())
	var buf bytes.Buffer
	if err := statusPage.Execute(&buf, v); err != nil {
		d.log.Error("render status page", "err", err)
		http.Error(w, "render status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", statusCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

// statusView is everything the page shows, computed before rendering so the
// template stays dumb and the view can be tested without HTML.
type statusView struct {
	Cluster       string
	Version       string
	HA            *haStatus // nil without leader election
	Now           time.Time
	Refresh       int
	Quorum        quorumState
	Running       []liveRun
	Awaiting      []awaitingRow // nodes a drill left down, being restored
	Drills        []drillCard
	Charts        []template.HTML
	Runs          []runRow
	Kept          int // runs in the store
	Anomalies     []anomalyRow
	MoreAnomalies int // anomalies of older runs left out of the table
	AnomalyRun    int // runs with anomalies among those kept
}

// quorumState is the cluster as the quorum probe last reported it through
// its gauges, the same figures the Grafana overview shows.
type quorumState struct {
	Available  bool
	Leaderless int
	Nodes      []nodeState
	Up         int
}

type nodeState struct {
	ID string
	Up bool
}

type drillCard struct {
	Name       string
	Schedule   string
	Last       *runRow // the newest finished run
	Running    bool    // a run of this drill is in progress
	LastPassed string  // "3m ago", or "" if no kept run passed
	Passed     int
	Failed     int
	Errors     int
}

type runRow struct {
	ID        string
	Drill     string
	Trigger   string
	Status    string
	Started   time.Time
	Ago       string
	Took      string
	Figures   []figure
	Failed    []string // criteria missed, as "failover 16.2 s, must be < 15 s"
	Anomalies []run.Anomaly
	Error     string
}

type figure struct {
	Name, Value string
	Bad         bool
}

// liveRun is a running drill as far as it has got: its steps and events.
type liveRun struct {
	run.Run
	Took   string
	Steps  []run.Step // done, then the current one
	Events []run.Event
}

type awaitingRow struct {
	Node      int32
	Run       string
	Drill     string
	Since     string
	Attempts  int
	LastError string
}

type anomalyRow struct {
	RunID, Drill, Kind, Detail string
	Count                      int
	Ago                        string
}

func (d *Daemon) statusView(now time.Time) statusView {
	runs := d.store.list() // newest first
	s := d.setup()
	v := statusView{
		Cluster: s.cfg.Cluster.Name,
		Now:     now.UTC(),
		Refresh: statusRefreshSeconds,
		Kept:    len(runs),
		HA:      d.haStatus(),
	}
	var nodeIDs []int32
	if s.cluster != nil && s.cluster.Client != nil {
		nodeIDs = s.cluster.NodeIDs()
	}
	v.Quorum, v.Version = gatherStatus(d.reg, nodeIDs)
	if d.keeper != nil {
		for _, o := range d.keeper.Pending() {
			v.Awaiting = append(v.Awaiting, awaitingRow{Node: o.Node, Run: o.Run, Drill: o.Drill, Since: ago(now, o.At),
				Attempts: o.Attempts, LastError: o.LastError})
		}
	}

	for _, r := range runs {
		if r.Status == run.StatusRunning {
			lr := liveRun{Run: r, Took: run.Seconds.Format(r.Took(now).Seconds()), Steps: r.Steps, Events: r.Events}
			if r.Current != nil {
				lr.Steps = append(slices.Clone(r.Steps), *r.Current)
			}
			if n := len(lr.Events); n > statusLiveEvents {
				lr.Events = lr.Events[n-statusLiveEvents:]
			}
			v.Running = append(v.Running, lr)
		}
		for _, a := range r.Anomalies {
			if len(v.Anomalies) == statusAnomalyRows {
				v.MoreAnomalies++
				continue
			}
			v.Anomalies = append(v.Anomalies, anomalyRow{RunID: r.ID, Drill: r.Drill, Kind: a.Kind, Detail: a.Detail, Count: a.Count, Ago: ago(now, r.StartedAt)})
		}
		if len(r.Anomalies) > 0 {
			v.AnomalyRun++
		}
	}
	for i, r := range runs {
		if i == statusTableRuns {
			break
		}
		v.Runs = append(v.Runs, newRunRow(r, now))
	}

	for _, name := range drills.Names() {
		dr, ok := s.drills[name]
		if !ok {
			continue
		}
		c := drillCard{Name: name, Schedule: describeSchedule(dr.Schedule())}
		for _, r := range runs {
			if r.Drill != name {
				continue
			}
			if r.Status == run.StatusRunning {
				c.Running = true
				continue
			}
			if c.Last == nil {
				row := newRunRow(r, now)
				c.Last = &row
			}
			if c.LastPassed == "" && r.Status == run.StatusPassed && r.FinishedAt != nil {
				c.LastPassed = ago(now, *r.FinishedAt)
			}
		}
		c.Passed, c.Failed, c.Errors = countResults(runs, name)
		v.Drills = append(v.Drills, c)
	}

	v.Charts = []template.HTML{
		failoverChart(runs).SVG(),
		successChart(runs).SVG(),
	}
	return v
}

func countResults(runs []run.Run, drill string) (passed, failed, errors int) {
	for _, r := range runs {
		if r.Drill != drill {
			continue
		}
		switch r.Status {
		case run.StatusPassed:
			passed++
		case run.StatusFailed:
			failed++
		case run.StatusError, run.StatusInterrupted:
			errors++
		}
	}
	return
}

func describeSchedule(spec string) string {
	switch spec {
	case "", "off":
		return "on demand only"
	default:
		return spec
	}
}

func newRunRow(r run.Run, now time.Time) runRow {
	row := runRow{
		ID: r.ID, Drill: r.Drill, Trigger: r.Trigger, Status: r.Status,
		Started: r.StartedAt.UTC(), Ago: ago(now, r.StartedAt),
		Anomalies: r.Anomalies, Error: r.Error,
	}
	if r.FinishedAt != nil {
		row.Took = run.Seconds.Format(r.Took(now).Seconds())
	} else {
		row.Took = run.Seconds.Format(r.Took(now).Seconds()) + " so far"
	}
	for _, m := range run.KeyFigures(r.Measurements) {
		val := r.Measurements.Value(m)
		row.Figures = append(row.Figures, figure{Name: m.Short, Value: m.Format(val), Bad: m.Bad != nil && m.Bad(val)})
	}
	for _, c := range r.Criteria {
		if !c.Passed {
			row.Failed = append(row.Failed, c.Describe())
		}
	}
	return row
}

// gatherStatus reads the quorum probe's gauges and the build version from
// the daemon's registry. Nodes configured but without a node_up series yet
// are listed as down: nothing has seen them up.
func gatherStatus(g prometheus.Gatherer, configured []int32) (quorumState, string) {
	var q quorumState
	version := ""
	up := map[string]bool{}
	for _, id := range configured {
		up[strconv.Itoa(int(id))] = false
	}
	mfs, _ := g.Gather() // a partial gather still has the gauges it could read
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "raftdrill_quorum_available":
				q.Available = m.GetGauge().GetValue() == 1
			case "raftdrill_partitions_without_leader":
				q.Leaderless = int(m.GetGauge().GetValue())
			case "raftdrill_node_up":
				for _, l := range m.GetLabel() {
					if l.GetName() == "node" {
						up[l.GetValue()] = m.GetGauge().GetValue() == 1
					}
				}
			case "raftdrill_build_info":
				for _, l := range m.GetLabel() {
					if l.GetName() == "version" {
						version = l.GetValue()
					}
				}
			}
		}
	}
	for id, u := range up {
		q.Nodes = append(q.Nodes, nodeState{ID: id, Up: u})
		if u {
			q.Up++
		}
	}
	sort.Slice(q.Nodes, func(i, j int) bool {
		a, errA := strconv.Atoi(q.Nodes[i].ID)
		b, errB := strconv.Atoi(q.Nodes[j].ID)
		if errA == nil && errB == nil {
			return a < b
		}
		return q.Nodes[i].ID < q.Nodes[j].ID
	})
	return q, version
}

// chartRuns are the last statusChartRuns runs that measured key, oldest
// first.
func chartRuns(runs []run.Run, m run.Measure) []run.Run {
	var out []run.Run
	for _, r := range runs { // newest first
		if _, ok := r.Measurements.Get(m); ok && r.Status != run.StatusRunning {
			out = append(out, r)
			if len(out) == statusChartRuns {
				break
			}
		}
	}
	slices.Reverse(out)
	return out
}

// threshold is the criterion's threshold in the newest run that judged it:
// the configured value, not a default.
func threshold(runs []run.Run, m run.Measure) *float64 {
	for i := len(runs) - 1; i >= 0; i-- {
		for _, c := range runs[i].Criteria {
			if c.Name == m.Key && !math.IsInf(c.Threshold, 0) {
				t := c.Threshold
				return &t
			}
		}
	}
	return nil
}

func runPoint(r run.Run, m run.Measure) chartPoint {
	v, ok := r.Measurements.Get(m)
	if !ok || math.IsInf(v, 0) {
		return chartPoint{Value: math.NaN()}
	}
	return chartPoint{
		Value: v,
		Bad:   r.Status != run.StatusPassed,
		Label: fmt.Sprintf("%s · %s · %s · %s", r.StartedAt.UTC().Format("15:04:05"), r.Drill, m.Format(v), r.Status),
	}
}

// xLabels are the runs' start times, as precise as the span of the runs
// needs: seconds within an hour, dates across days.
func xLabels(runs []run.Run) []string {
	out := make([]string, len(runs))
	if len(runs) == 0 {
		return out
	}
	layout := "15:04"
	switch span := runs[len(runs)-1].StartedAt.Sub(runs[0].StartedAt); {
	case span < time.Hour:
		layout = "15:04:05"
	case span > 20*time.Hour:
		layout = "Jan 2 15:04"
	}
	for i, r := range runs {
		out[i] = r.StartedAt.UTC().Format(layout)
	}
	return out
}

func failoverChart(all []run.Run) lineChart {
	runs := chartRuns(all, run.FailoverSeconds)
	c := lineChart{
		Title:     "Failover time",
		Empty:     "No run has measured a failover yet.",
		Format:    run.Seconds.Format,
		XLabels:   xLabels(runs),
		Threshold: threshold(runs, run.FailoverSeconds),
		ThresholdLabel: func(t float64) string {
			return "threshold " + run.Seconds.Format(t)
		},
	}
	for _, s := range []struct {
		m           run.Measure
		name, class string
	}{
		{run.FailoverSeconds, "write recovery", "s1"},
		{run.ElectionSeconds, "election", "s2"},
	} {
		ser := chartSeries{Name: s.name, Class: s.class}
		for _, r := range runs {
			ser.Points = append(ser.Points, runPoint(r, s.m))
		}
		c.Series = append(c.Series, ser)
	}
	return c
}

func successChart(all []run.Run) lineChart {
	runs := chartRuns(all, run.SuccessRatio)
	c := lineChart{
		Title:     "Success ratio (acked / sent)",
		Empty:     "No run has measured a success ratio yet.",
		Format:    run.Ratio.Format,
		XLabels:   xLabels(runs),
		Threshold: threshold(runs, run.SuccessRatio),
		ThresholdLabel: func(t float64) string {
			return "threshold " + run.Ratio.Format(t)
		},
		Ratio: true,
	}
	ser := chartSeries{Name: "success ratio", Class: "s1"}
	for _, r := range runs {
		ser.Points = append(ser.Points, runPoint(r, run.SuccessRatio))
	}
	c.Series = append(c.Series, ser)
	return c
}

// ago says how long before now t was, the way people say it.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm ago", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"time": func(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") },
	"hhmm": func(t time.Time) string { return t.Format("15:04:05") },
}).Parse(statusHTML))
