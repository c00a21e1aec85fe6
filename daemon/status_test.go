package daemon

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/exporters"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
)

// statusFixture is a daemon with no cluster behind it and a run store
// filled by hand: the page's rendering is tested on states that a healthy
// sandbox never reaches (a failed criterion, lost writes, quorum lost).
type statusFixture struct {
	d   *Daemon
	now time.Time
}

func newStatusFixture(t *testing.T) *statusFixture {
	t.Helper()
	// The build's version, which raftdrill_build_info carries and the page
	// shows (the Makefile sets it at link time).
	old := version.Version
	version.Version = "v1.2.3"
	t.Cleanup(func() { version.Version = old })
	cfg := config.WithSections(Sections())
	cfg.Cluster.Name = "prod-eu"
	reg := prometheus.NewRegistry()
	s := &setup{cfg: cfg, drills: map[string]drill.Drill{}}
	for _, spec := range drills.All {
		s.drills[spec.Name] = spec.New(cfg)
	}
	d := &Daemon{
		cur:   s,
		log:   slog.New(slog.DiscardHandler),
		reg:   reg,
		store: newStore(nil, retention(cfg), slog.New(slog.DiscardHandler)),
	}
	d.metrics = exporters.New(reg, drills.Names(), s.criteria(), []int32{1, 2, 3})
	return &statusFixture{d: d, now: time.Now()}
}

// quorum sets the gauges the quorum probe feeds.
func (f *statusFixture) quorum(available bool, leaderless int, up ...bool) {
	m := f.d.metrics
	m.QuorumAvailable.Set(b2f(available))
	m.PartitionsLeaderless.Set(float64(leaderless))
	for i, u := range up {
		m.NodeUp.WithLabelValues(exporters.NodeLabel(int32(i + 1))).Set(b2f(u))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// failover adds a finished leader-failover run minutesAgo minutes ago.
func (f *statusFixture) failover(minutesAgo int, failover, election, ratio float64, anomalies ...run.Anomaly) run.Run {
	start := f.now.Add(-time.Duration(minutesAgo) * time.Minute)
	r := run.New("leader-failover", run.TriggerSchedule, start)
	res := run.Result{
		Measurements: run.Measurements{
			"failover_seconds": failover, "election_seconds": election, "success_ratio": ratio,
			"messages_sent": 3000, "messages_acked": math.Round(3000 * ratio), "messages_lost": 0,
		},
		Criteria: []run.Criterion{
			run.Judge(run.FailoverSeconds, "<", 15, failover),
			run.Judge(run.SuccessRatio, ">", 0.8, ratio),
		},
		Anomalies: append([]run.Anomaly{}, anomalies...),
	}
	for _, a := range anomalies {
		if a.Kind == run.KindLostWrite {
			res.Measurements.Set(run.MessagesLost, float64(a.Count))
		}
	}
	res.Finish()
	r.Finish(res, start.Add(9*time.Second))
	f.d.store.add(&r)
	return r
}

// incident fills the store with a history that has everything the page
// must show: passes, a missed threshold, lost writes, an error, a run in
// progress, and the quorum lost now.
func (f *statusFixture) incident() {
	// Oldest first, as the daemon adds them.
	for i := 0; i < 12; i++ {
		minutes := 180 - i*15
		switch minutes {
		case 120:
			f.failover(minutes, 16.2, 15.1, 0.62)
		case 45:
			f.failover(minutes, 0.61, 0.33, 0.97, run.Anomaly{Kind: run.KindLostWrite, Count: 3, Detail: "3 acked writes missing on read-back"})
		case 30:
			start := f.now.Add(-30 * time.Minute)
			r := run.New("failure-recovery", run.TriggerAPI, start)
			r.Finish(run.Failed(errors.New("cluster unhealthy before drill: nodes [2] are down")), start.Add(4*time.Second))
			f.d.store.add(&r)
		default:
			f.failover(minutes, 0.42+0.05*float64(i%3), 0.27+0.02*float64(i%4), 0.985-0.004*float64(i%2))
		}
	}
	r := run.New("leader-failover", run.TriggerSchedule, f.now.Add(-20*time.Second))
	f.d.store.add(&r)
	f.quorum(false, 2, true, false, true)
}

func (f *statusFixture) get(t *testing.T) (*http.Response, string) {
	t.Helper()
	srv := httptest.NewServer(f.d.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestStatusPageShowsAnIncident(t *testing.T) {
	f := newStatusFixture(t)
	f.incident()
	resp, body := f.get(t)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q does not forbid outside assets", csp)
	}
	for _, want := range []string{
		"cluster prod-eu",
		"version v1.2.3",
		">LOST<",
		"2 partition(s) without a leader",
		"Nodes · 2 of 3 up",
		`node 2 down`,
		`<span class="badge running">leader-failover</span>`,         // running now
		"failover 16.2 s, must be &lt; 15 s",                         // the missed threshold, with its value
		"success 62.0 %, must be &gt; 80.0 %",                        //
		"lost-write",                                                 // the anomaly
		"3 acked writes missing on read-back",                        //
		`<span class="fig bad"><span class="n">lost</span> <b>3</b>`, // lost writes in red
		"cluster unhealthy before drill: nodes [2] are down",         // the error
		"1 of the 13 kept runs found anomalies",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	checkSelfContained(t, body)
}

func TestStatusPageHealthyAndEmpty(t *testing.T) {
	f := newStatusFixture(t)
	f.quorum(true, 0, true, true, true)
	_, body := f.get(t)
	for _, want := range []string{">available<", "every watched partition has a leader", "Nodes · 3 of 3 up",
		"not run yet", "No drill has run yet", "No run has measured a failover yet", "✓ None"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "LOST") || strings.Contains(body, "<svg") {
		t.Error("a healthy daemon with no runs shows quorum lost or a chart")
	}
	checkSelfContained(t, body)
}

var (
	scriptRE   = regexp.MustCompile(`(?i)<script|\bon[a-z]+\s*=\s*"|javascript:`)
	outsideRE  = regexp.MustCompile(`(?i)\b(src|href|xlink:href|action)\s*=\s*"(https?:)?//|url\(\s*['"]?(https?:)?//|@import`)
	svgBlockRE = regexp.MustCompile(`(?s)<svg.*?</svg>`)
)

// checkSelfContained holds the page to what its CSP promises: no script,
// nothing loaded from elsewhere, and SVG that an XML parser accepts (a
// browser draws nothing of a malformed inline SVG, silently).
func checkSelfContained(t *testing.T, body string) {
	t.Helper()
	if m := scriptRE.FindString(body); m != "" {
		t.Errorf("page has script: %q", m)
	}
	if m := outsideRE.FindString(body); m != "" {
		t.Errorf("page loads from elsewhere: %q", m)
	}
	for i, svg := range svgBlockRE.FindAllString(body, -1) {
		dec := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("svg %d is not well-formed: %v", i, err)
				break
			}
		}
	}
}

func TestGatherStatusReadsTheProbesGauges(t *testing.T) {
	for _, tc := range []struct {
		name       string
		available  bool
		leaderless int
		up         []bool
		wantUp     int
	}{
		{"healthy", true, 0, []bool{true, true, true}, 3},
		{"one node down, quorum kept", true, 0, []bool{true, false, true}, 2},
		{"majority down", false, 3, []bool{false, false, true}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newStatusFixture(t)
			f.quorum(tc.available, tc.leaderless, tc.up...)
			q, version := gatherStatus(f.d.reg, []int32{1, 2, 3})
			if q.Available != tc.available || q.Leaderless != tc.leaderless || q.Up != tc.wantUp || version != "v1.2.3" {
				t.Errorf("got %+v version %q", q, version)
			}
			for i, n := range q.Nodes {
				if n.ID != fmt.Sprint(i+1) || n.Up != tc.up[i] {
					t.Errorf("node %d: %+v, want up=%v", i+1, n, tc.up[i])
				}
			}
		})
	}
	// A configured node the probe has no series for is not shown as up.
	q, _ := gatherStatus(prometheus.NewRegistry(), []int32{7})
	if len(q.Nodes) != 1 || q.Nodes[0].Up || q.Available {
		t.Errorf("empty registry: %+v", q)
	}
}

func TestChartScalesAndGaps(t *testing.T) {
	th := 5.0
	c := lineChart{
		Title:     "t",
		Format:    func(v float64) string { return fmt.Sprint(v) },
		XLabels:   []string{"a", "b", "c", "d"},
		Threshold: &th,
		Series: []chartSeries{{Name: "s", Class: "s1", Points: []chartPoint{
			{Value: 1}, {Value: 2, Bad: true}, {Value: math.NaN()}, {Value: 3},
		}}},
	}
	lo, hi, step := c.yRange()
	if lo != 0 || hi < th || step <= 0 || math.Mod(hi, step) > 1e-9 {
		t.Errorf("yRange = %v, %v, %v: want 0 to a multiple of the step above the threshold", lo, hi, step)
	}
	svg := string(c.SVG())
	if n := strings.Count(svg, "<circle"); n != 3 {
		t.Errorf("%d points drawn, want 3 (one run did not measure)", n)
	}
	if n := strings.Count(svg, "<polyline"); n != 1 {
		t.Errorf("%d lines drawn, want 1: the gap splits the line, and a lone point after it has no line", n)
	}
	if !strings.Contains(svg, `class="pt s1 bad"`) || !strings.Contains(svg, `class="th"`) {
		t.Error("failed run not marked or threshold not drawn")
	}
	checkSelfContained(t, svg)

	// A threshold far above every value is named, not drawn: drawing it
	// would flatten the runs into the bottom of the chart.
	far := 15.0
	c.Threshold = &far
	c.ThresholdLabel = func(v float64) string { return fmt.Sprintf("threshold %g", v) }
	if _, hi, _ := c.yRange(); hi >= far {
		t.Errorf("axis reaches %v for a threshold of %v over values up to 3", hi, far)
	}
	if svg := string(c.SVG()); strings.Contains(svg, `class="th"`) || !strings.Contains(svg, "threshold 15, far above") {
		t.Errorf("far threshold drawn or not named: %s", svg)
	}

	ratio := lineChart{Ratio: true, Format: func(float64) string { return "" }, XLabels: []string{"a"},
		Series: []chartSeries{{Points: []chartPoint{{Value: 0.97}}}}}
	if lo, hi, _ := ratio.yRange(); hi != 1 || lo > 0.9 || lo < 0.8 {
		t.Errorf("ratio axis %v..%v: want to end at 1 and start just below 0.97", lo, hi)
	}
	empty := lineChart{Title: "t", Empty: "nothing yet"}
	if s := string(empty.SVG()); strings.Contains(s, "<svg") || !strings.Contains(s, "nothing yet") {
		t.Errorf("empty chart: %s", s)
	}
}

func TestNiceStep(t *testing.T) {
	for raw, want := range map[float64]float64{0.3: 0.5, 1: 1, 1.1: 2, 2.2: 2.5, 3: 5, 7: 10, 0.021: 0.025, 0: 1} {
		if got := niceStep(raw); math.Abs(got-want) > 1e-12 {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}
