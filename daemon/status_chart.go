package daemon

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// A small line chart drawn as inline SVG on the server: the status page
// needs a few dozen points per chart, not a charting library, and inline
// SVG needs no script and no request.

type chartPoint struct {
	Value float64 // NaN: this run did not measure it (a gap in the line)
	Label string  // the point's tooltip
	Bad   bool    // the run failed: the point is drawn red
}

type chartSeries struct {
	Name   string
	Class  string // CSS class giving the series its colour (s1, s2)
	Points []chartPoint
}

type lineChart struct {
	Title          string
	Empty          string // shown instead of a chart with no point
	Format         func(float64) string
	XLabels        []string // one per run
	Series         []chartSeries
	Threshold      *float64
	ThresholdLabel func(float64) string
	Ratio          bool // values in [0, 1]: the axis ends at 1
}

// Geometry of every chart, in SVG user units; the SVG scales to its box.
const (
	chartW      = 600
	chartH      = 210
	chartLeft   = 62
	chartRight  = 14
	chartTop    = 12
	chartBottom = 28
)

func (c lineChart) values() []float64 {
	var vs []float64
	for _, s := range c.Series {
		for _, p := range s.Points {
			if !math.IsNaN(p.Value) {
				vs = append(vs, p.Value)
			}
		}
	}
	return vs
}

// yRange is the value axis: from 0 (or, for ratios, a little below the
// lowest value or threshold) to a round number above the highest.
func (c lineChart) yRange() (lo, hi, step float64) {
	vs := c.values()
	if c.thresholdOnScale() {
		vs = append(vs, *c.Threshold)
	}
	if c.Ratio {
		lo = 1
		for _, v := range vs {
			lo = math.Min(lo, v)
		}
		lo = math.Max(0, math.Floor((lo-0.02)*10)/10)
		hi = 1
		step = niceStep((hi - lo) / 4)
		return lo, hi, step
	}
	for _, v := range vs {
		hi = math.Max(hi, v)
	}
	if hi <= 0 {
		hi = 1
	}
	step = niceStep(hi * 1.1 / 4)
	hi = math.Ceil(hi*1.1/step) * step
	return 0, hi, step
}

// thresholdOnScale says whether the threshold line is drawn. A threshold far
// above every value (15 s against failovers of 300 ms) would squash the
// runs into a flat line at the bottom; it is named in the legend instead.
func (c lineChart) thresholdOnScale() bool {
	if c.Threshold == nil {
		return false
	}
	if c.Ratio {
		return true
	}
	top := 0.0
	for _, v := range c.values() {
		top = math.Max(top, v)
	}
	return *c.Threshold <= 3*top
}

// niceStep rounds a tick distance up to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*exp >= raw*(1-1e-9) {
			return m * exp
		}
	}
	return 10 * exp
}

// SVG renders the chart as a figure: a caption with the legend, then the
// chart, or the Empty text when there is nothing to draw.
func (c lineChart) SVG() template.HTML {
	var b strings.Builder
	e := html.EscapeString
	b.WriteString(`<figure class="chart"><figcaption><span class="ctitle">` + e(c.Title) + `</span>`)
	if len(c.values()) > 0 {
		b.WriteString(`<span class="legend">`)
		for _, s := range c.Series {
			fmt.Fprintf(&b, `<span class="key %s">%s</span>`, s.Class, e(s.Name))
		}
		if c.Threshold != nil {
			label := "threshold"
			if c.ThresholdLabel != nil {
				label = c.ThresholdLabel(*c.Threshold)
			}
			if !c.thresholdOnScale() {
				label += ", far above"
			}
			b.WriteString(`<span class="key th">` + e(label) + `</span>`)
		}
		b.WriteString(`<span class="key bad">failed run</span></span>`)
	}
	b.WriteString(`</figcaption>`)
	if len(c.values()) == 0 {
		b.WriteString(`<p class="empty">` + e(c.Empty) + `</p></figure>`)
		return template.HTML(b.String())
	}

	lo, hi, step := c.yRange()
	plotW := float64(chartW - chartLeft - chartRight)
	plotH := float64(chartH - chartTop - chartBottom)
	y := func(v float64) float64 {
		v = math.Max(lo, math.Min(hi, v))
		return chartTop + plotH*(1-(v-lo)/(hi-lo))
	}
	n := len(c.XLabels)
	x := func(i int) float64 {
		if n <= 1 {
			return chartLeft + plotW/2
		}
		return chartLeft + plotW*float64(i)/float64(n-1)
	}

	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, e(c.Title))
	// Grid and value axis.
	for k := 0; k <= int(math.Round((hi-lo)/step)); k++ {
		v := lo + float64(k)*step
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartLeft, chartW-chartRight, y(v), y(v))
		fmt.Fprintf(&b, `<text class="ylab" x="%d" y="%.1f">%s</text>`, chartLeft-6, y(v)+4, e(c.Format(v)))
	}
	// Run axis: the first, middle and last run's start time.
	for _, i := range labelIndexes(n) {
		anchor := "middle"
		switch {
		case n > 1 && i == 0:
			anchor = "start"
		case n > 1 && i == n-1:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text class="xlab" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(i), chartH-8, anchor, e(c.XLabels[i]))
	}
	if c.thresholdOnScale() {
		ty := y(*c.Threshold)
		fmt.Fprintf(&b, `<line class="th" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartLeft, chartW-chartRight, ty, ty)
	}
	for _, s := range c.Series {
		// One polyline per stretch of measured runs; a run that did not
		// measure this series leaves a gap rather than a false line.
		var seg []string
		flush := func() {
			if len(seg) > 1 {
				fmt.Fprintf(&b, `<polyline class="line %s" points="%s"/>`, s.Class, strings.Join(seg, " "))
			}
			seg = seg[:0]
		}
		for i, p := range s.Points {
			if math.IsNaN(p.Value) {
				flush()
				continue
			}
			seg = append(seg, fmt.Sprintf("%.1f,%.1f", x(i), y(p.Value)))
		}
		flush()
		for i, p := range s.Points {
			if math.IsNaN(p.Value) {
				continue
			}
			class := "pt " + s.Class
			if p.Bad {
				class += " bad"
			}
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="4"><title>%s</title></circle>`, class, x(i), y(p.Value), e(p.Label))
		}
	}
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String())
}

// labelIndexes picks the runs whose time is written under the chart.
func labelIndexes(n int) []int {
	switch {
	case n == 0:
		return nil
	case n <= 2:
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	default:
		return []int{0, (n - 1) / 2, n - 1}
	}
}
