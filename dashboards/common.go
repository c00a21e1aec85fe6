//lint:file-ignore SA1019 The classic dashboard model is what Grafana's file provisioning loads on every supported Grafana; the SDK's v2 model needs Grafana 12 with its kubernetesDashboards feature.

package dashboards

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// The selector every query starts from: one set of dashboards serves many
// raftdrill daemons (one per cluster), told apart by job and instance.
const sel = `job=~"$job", instance=~"$instance"`

// selDrill narrows sel to the drills picked in the drill variable.
const selDrill = sel + `, drill=~"$drill"`

// Tag marks every raftdrill dashboard; the dashboard links use it.
const Tag = "raftdrill"

// Colours from Grafana's palette, named so the panels agree with each other
// and with the status page: green passed, red failed, orange error.
const (
	green  = "green"
	red    = "red"
	orange = "orange"
	blue   = "blue"
	purple = "purple"
	grey   = "text"
)

// datasource is the reference every panel and query uses: the dashboard's
// datasource variable, so the same JSON works with any Prometheus.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// rangeQuery is a time-series query, as a graph panel runs it.
func rangeQuery(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		Expr(expr).
		LegendFormat(legend).
		Range()
}

// instantQuery is evaluated once, at the end of the dashboard's time range:
// what stat and bar-gauge panels show.
func instantQuery(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		Expr(expr).
		LegendFormat(legend).
		Instant()
}

// delta is the increase of a counter between two consecutive points of a
// graph. Unlike increase(x[$__interval]) it neither extrapolates nor drops a
// step that falls between two scrapes: Grafana evaluates a range query every
// $__interval, so the deltas of consecutive points add up to exactly the
// counter's increase. A counter reset (daemon restart) is clamped to zero.
func delta(series string) string {
	return fmt.Sprintf("clamp_min(%s - %s offset $__interval, 0)", series, series)
}

// variables are the template variables every raftdrill dashboard has: the
// Prometheus datasource, then job and instance of the raftdrill daemon.
// raftdrill_build_info exists from start-up, so both lists are never empty.
func variables() []cog.Builder[dashboard.VariableModel] {
	return []cog.Builder[dashboard.VariableModel]{
		dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Prometheus").
			Type("prometheus"),
		labelVariable("job", "Job", "raftdrill_build_info", "job", false),
		labelVariable("instance", "Instance", `raftdrill_build_info{job=~"$job"}`, "instance", true),
	}
}

// drillVariable lists the drills that have series of metric.
func drillVariable(metric string) cog.Builder[dashboard.VariableModel] {
	return labelVariable("drill", "Drill", metric+"{"+sel+"}", "drill", true)
}

// labelVariable is a query variable over label_values(series, label).
// Multi-valued ones include "All", which Grafana expands to a regex
// alternation, so every matcher on them is =~.
func labelVariable(name, label, series, labelName string, multi bool) *dashboard.QueryVariableBuilder {
	q := fmt.Sprintf("label_values(%s, %s)", series, labelName)
	v := dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource()).
		Query(dashboard.StringOrMap{String: cog.ToPtr(q)}).
		Definition(q).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(multi).
		IncludeAll(multi)
	if multi {
		all := dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}}
		v = v.Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value: all,
		})
	}
	return v
}

// runAnnotations mark drill runs on every graph: passed runs in green,
// failed and errored runs in red, titled with the drill and its result. A
// point is an event when the run counter went up since the previous step;
// Grafana ignores zero values, so the query needs no "> 0" and a healthy
// cluster's red annotation simply draws nothing.
func runAnnotations() []cog.Builder[dashboard.AnnotationQuery] {
	mk := func(name, color, result string) cog.Builder[dashboard.AnnotationQuery] {
		series := fmt.Sprintf(`raftdrill_drill_runs_total{%s, result=~"%s"}`, sel, result)
		expr := fmt.Sprintf("sum by (drill, result) (%s)", delta(series))
		const step = "15s"
		return dashboard.NewAnnotationQueryBuilder().
			Name(name).
			Datasource(datasource()).
			Enable(true).
			IconColor(color).
			Expr(expr).
			Step(step).
			TitleFormat("{{drill}}: {{result}}").
			TagKeys("drill,result").
			TextFormat("raftdrill drill run finished").
			Target(prometheus.NewDataqueryBuilder().
				Datasource(datasource()).
				Expr(expr).
				Interval(step).
				RefId("Anno"))
	}
	// Grafana adds its built-in annotation to every dashboard on load;
	// listing it keeps a save from Grafana identical to the generated JSON.
	builtIn := dashboard.NewAnnotationQueryBuilder().
		Name("Annotations & Alerts").
		Datasource(common.DataSourceRef{Type: cog.ToPtr("grafana"), Uid: cog.ToPtr("-- Grafana --")}).
		Enable(true).
		Hide(true).
		IconColor("rgba(0, 211, 255, 1)").
		Type("dashboard").
		BuiltIn(1)
	return []cog.Builder[dashboard.AnnotationQuery]{
		builtIn,
		mk("Drill runs passed", green, "passed"),
		mk("Drill runs failed", red, "failed|error"),
	}
}

// links lead from each raftdrill dashboard to the others, keeping the time
// range and the variables.
func links() []cog.Builder[dashboard.DashboardLink] {
	return []cog.Builder[dashboard.DashboardLink]{
		dashboard.NewDashboardLinkBuilder("raftdrill").
			Type(dashboard.DashboardLinkTypeDashboards).
			Icon("external link").
			Tags([]string{Tag}).
			AsDropdown(false).
			IncludeVars(true).
			KeepTime(true),
	}
}

// newDashboard sets what every raftdrill dashboard shares.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{Tag}).
		Editable().
		Refresh("30s").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Variables(variables()).
		Annotations(runAnnotations()).
		Links(links())
}

// step is one threshold: from value on, the colour applies. The first step
// of a list has no value (minus infinity).
type step struct {
	from  float64
	color string
}

func thresholds(base string, steps ...step) *dashboard.ThresholdsConfigBuilder {
	ts := []dashboard.Threshold{{Value: nil, Color: base}}
	for _, s := range steps {
		ts = append(ts, dashboard.Threshold{Value: cog.ToPtr(s.from), Color: s.color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(ts)
}

// valueText maps exact values to a text and colour.
func valueText(m map[string][2]string) dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	i := int32(0)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		opts[k] = dashboard.ValueMappingResult{Text: cog.ToPtr(m[k][0]), Color: cog.ToPtr(m[k][1]), Index: cog.ToPtr(i)}
		i++
	}
	return dashboard.ValueMapping{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}
}

// rangeText maps [from, to] to a text and colour; NaN bounds are open.
func rangeText(from, to float64, text, color string) dashboard.ValueMapping {
	var f, t *float64
	if !math.IsNaN(from) {
		f = cog.ToPtr(from)
	}
	if !math.IsNaN(to) {
		t = cog.ToPtr(to)
	}
	return dashboard.ValueMapping{RangeMap: &dashboard.RangeMap{
		Type: dashboard.MappingTypeRangeToText,
		Options: dashboard.DashboardRangeMapOptions{
			From: f, To: t,
			Result: dashboard.ValueMappingResult{Text: cog.ToPtr(text), Color: cog.ToPtr(color)},
		},
	}}
}

// nanText shows NaN (no observation in the range) as a word.
func nanText(text string) dashboard.ValueMapping {
	return dashboard.ValueMapping{SpecialValueMap: &dashboard.SpecialValueMap{
		Type: dashboard.MappingTypeSpecialValue,
		Options: dashboard.DashboardSpecialValueMapOptions{
			Match:  dashboard.SpecialValueMatchNullAndNan,
			Result: dashboard.ValueMappingResult{Text: cog.ToPtr(text), Color: cog.ToPtr(grey)},
		},
	}}
}

// colorByName fixes the colour of the series whose display name is name.
func colorByName(name, color string) (string, []dashboard.DynamicConfigValue) {
	return name, []dashboard.DynamicConfigValue{{
		Id:    "color",
		Value: map[string]any{"mode": "fixed", "fixedColor": color},
	}}
}

func lastValue() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)
}

func legendBottom() *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().
		DisplayMode(common.LegendDisplayModeList).
		Placement(common.LegendPlacementBottom).
		ShowLegend(true)
}

func legendTable(calcs ...string) *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().
		DisplayMode(common.LegendDisplayModeTable).
		Placement(common.LegendPlacementBottom).
		ShowLegend(true).
		Calcs(calcs)
}

// oneLine folds a query written over several lines for reading into the
// one line Grafana shows in its editor.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
