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
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftdrill/raftdrill/probes"
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
	Now           time.Time
	Refresh       int
	Quorum        quorumState
	Running       []Run
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
	Anomalies []probes.Anomaly
	Error     string
}

type figure struct {
	Name, Value string
	Bad         bool
}

type anomalyRow struct {
	RunID, Drill, Kind, Detail string
	Count                      int
	Ago                        string
}

// figureKeys are the measurements the runs table shows, in this order, when
// a run has them; bad says when a value is a problem in itself.
var figureKeys = []struct {
	key, name string
	bad       func(float64) bool
}{
	{"failover_seconds", "failover", nil},
	{"election_seconds", "election", nil},
	{"success_ratio", "success", nil},
	{"messages_sent", "sent", nil},
	{"messages_acked", "acked", nil},
	{"messages_lost", "lost", positive},
	{"messages_duplicated", "duplicated", positive},
	{"messages_corrupted", "corrupted", positive},
	{"produce_throughput_mps", "produce", nil},
	{"consume_throughput_mps", "consume", nil},
	{"latency_p99_seconds", "p99", nil},
}

func positive(v float64) bool { return v > 0 }

// figureName is the short name of a measurement or criterion.
func figureName(key string) string {
	for _, k := range figureKeys {
		if k.key == key {
			return k.name
		}
	}
	return strings.ReplaceAll(key, "_", " ")
}

func (d *Daemon) statusView(now time.Time) statusView {
	runs := d.store.list() // newest first
	v := statusView{
		Cluster: d.cfg.Cluster.Name,
		Now:     now.UTC(),
		Refresh: statusRefreshSeconds,
		Kept:    len(runs),
	}
	var nodeIDs []int32
	if d.cluster != nil && d.cluster.Client != nil {
		nodeIDs = d.cluster.NodeIDs()
	}
	v.Quorum, v.Version = gatherStatus(d.reg, nodeIDs)

	for _, r := range runs {
		if r.Status == probes.StatusRunning {
			v.Running = append(v.Running, r)
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

	for _, name := range probes.DrillNames() {
		dr, ok := d.drills[name]
		if !ok {
			continue
		}
		c := drillCard{Name: name, Schedule: describeSchedule(dr.Schedule())}
		for _, r := range runs {
			if r.Drill != name {
				continue
			}
			if r.Status == probes.StatusRunning {
				c.Running = true
				continue
			}
			if c.Last == nil {
				row := newRunRow(r, now)
				c.Last = &row
			}
			if c.LastPassed == "" && r.Status == probes.StatusPassed && r.FinishedAt != nil {
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

func countResults(runs []Run, drill string) (passed, failed, errors int) {
	for _, r := range runs {
		if r.Drill != drill {
			continue
		}
		switch r.Status {
		case probes.StatusPassed:
			passed++
		case probes.StatusFailed:
			failed++
		case probes.StatusError:
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

func newRunRow(r Run, now time.Time) runRow {
	row := runRow{
		ID: r.ID, Drill: r.Drill, Trigger: r.Trigger, Status: r.Status,
		Started: r.StartedAt.UTC(), Ago: ago(now, r.StartedAt),
		Anomalies: r.Anomalies, Error: r.Error,
	}
	if r.FinishedAt != nil {
		row.Took = statusSeconds(r.FinishedAt.Sub(r.StartedAt).Seconds())
	} else {
		row.Took = statusSeconds(now.Sub(r.StartedAt).Seconds()) + " so far"
	}
	for _, k := range figureKeys {
		val, ok := r.Measures[k.key]
		if !ok {
			continue
		}
		row.Figures = append(row.Figures, figure{Name: k.name, Value: statusValue(k.key, val), Bad: k.bad != nil && k.bad(val)})
	}
	for _, c := range r.Criteria {
		if !c.Passed {
			row.Failed = append(row.Failed, fmt.Sprintf("%s %s, must be %s %s",
				figureName(c.Name), statusValue(c.Name, c.Value), c.Op, statusValue(c.Name, c.Threshold)))
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
func chartRuns(runs []Run, key string) []Run {
	var out []Run
	for _, r := range runs { // newest first
		if _, ok := r.Measures[key]; ok && r.Status != probes.StatusRunning {
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
func threshold(runs []Run, criterion string) *float64 {
	for i := len(runs) - 1; i >= 0; i-- {
		for _, c := range runs[i].Criteria {
			if c.Name == criterion && !math.IsInf(c.Threshold, 0) {
				t := c.Threshold
				return &t
			}
		}
	}
	return nil
}

func runPoint(r Run, key string) chartPoint {
	v, ok := r.Measures[key]
	if !ok || math.IsInf(v, 0) {
		return chartPoint{Value: math.NaN()}
	}
	return chartPoint{
		Value: v,
		Bad:   r.Status != probes.StatusPassed,
		Label: fmt.Sprintf("%s · %s · %s · %s", r.StartedAt.UTC().Format("15:04:05"), r.Drill, statusValue(key, v), r.Status),
	}
}

// xLabels are the runs' start times, as precise as the span of the runs
// needs: seconds within an hour, dates across days.
func xLabels(runs []Run) []string {
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

func failoverChart(all []Run) lineChart {
	runs := chartRuns(all, "failover_seconds")
	c := lineChart{
		Title:     "Failover time",
		Empty:     "No run has measured a failover yet.",
		Format:    func(v float64) string { return statusValue("x_seconds", v) },
		XLabels:   xLabels(runs),
		Threshold: threshold(runs, "failover_seconds"),
		ThresholdLabel: func(t float64) string {
			return "threshold " + statusValue("x_seconds", t)
		},
	}
	for _, s := range []struct{ key, name, class string }{
		{"failover_seconds", "write recovery", "s1"},
		{"election_seconds", "election", "s2"},
	} {
		ser := chartSeries{Name: s.name, Class: s.class}
		for _, r := range runs {
			ser.Points = append(ser.Points, runPoint(r, s.key))
		}
		c.Series = append(c.Series, ser)
	}
	return c
}

func successChart(all []Run) lineChart {
	runs := chartRuns(all, "success_ratio")
	c := lineChart{
		Title:     "Success ratio (acked / sent)",
		Empty:     "No run has measured a success ratio yet.",
		Format:    func(v float64) string { return statusValue("x_ratio", v) },
		XLabels:   xLabels(runs),
		Threshold: threshold(runs, "success_ratio"),
		ThresholdLabel: func(t float64) string {
			return "threshold " + statusValue("x_ratio", t)
		},
		Ratio: true,
	}
	ser := chartSeries{Name: "success ratio", Class: "s1"}
	for _, r := range runs {
		ser.Points = append(ser.Points, runPoint(r, "success_ratio"))
	}
	c.Series = append(c.Series, ser)
	return c
}

// statusValue formats a measurement by the unit its key ends in.
func statusValue(key string, v float64) string {
	switch {
	case math.IsInf(v, 0) || v >= 1e9 && strings.HasSuffix(key, "_seconds"):
		return "not measured"
	case math.IsNaN(v):
		return "—"
	case strings.HasSuffix(key, "_seconds"):
		return statusSeconds(v)
	case strings.HasSuffix(key, "_ratio"):
		return strconv.FormatFloat(v*100, 'f', 1, 64) + " %"
	case strings.HasSuffix(key, "_mps") && v >= 10000:
		return strconv.FormatFloat(v/1000, 'f', 1, 64) + "k msg/s"
	case strings.HasSuffix(key, "_mps"):
		return strconv.FormatFloat(v, 'f', 0, 64) + " msg/s"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func statusSeconds(s float64) string {
	switch {
	case s < 1:
		return strconv.FormatFloat(s*1000, 'f', 0, 64) + " ms"
	case s < 100:
		return strconv.FormatFloat(s, 'f', 2, 64) + " s"
	default:
		return (time.Duration(s) * time.Second).Round(time.Second).String()
	}
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
