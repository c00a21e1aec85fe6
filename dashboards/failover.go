//lint:file-ignore SA1019 The classic dashboard model is what Grafana's file provisioning loads on every supported Grafana; the SDK's v2 model needs Grafana 12 with its kubernetesDashboards feature.

package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/raftdrill/raftdrill/probes/failover"
	"github.com/raftdrill/raftdrill/probes/splitbrain"
)

// Failover is the failover drills in detail: how long election and write
// recovery took run by run and in distribution, what happened to the
// messages written meanwhile, and the write latency the clients saw.
func Failover() (dashboard.Dashboard, error) {
	th := failover.Defaults().Thresholds

	b := newDashboard("raftdrill-failover", "raftdrill failover drills",
		"Failover duration by phase run by run and as a distribution, messages by outcome per run, success ratio and produce latency.").
		WithVariable(drillVariable("raftdrill_failover_duration_seconds_count"))

	b.WithRow(dashboard.NewRowBuilder("Failover time"))
	b.WithPanel(timeseries.NewPanelBuilder().
		Title("Failover time per run, by phase").
		Description(fmt.Sprintf("election: kill to a new leader elected; write_recovery: kill to the first acked write. "+
			"Each step is one run. The red line is the default drills.leader-failover.thresholds.max_failover_seconds (%gs).", th.MaxFailoverSeconds)).
		Datasource(datasource()).
		WithTarget(rangeQuery(fmt.Sprintf("max by (drill, phase) (raftdrill_last_failover_duration_seconds{%s})", selDrill), "{{drill}} · {{phase}}")).
		Unit("s").
		Min(0).
		LineInterpolation(common.LineInterpolationStepAfter).
		ShowPoints(common.VisibilityModeNever).
		Thresholds(thresholds(green, step{th.MaxFailoverSeconds, red})).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)).
		Legend(legendTable("lastNotNull", "max")).
		Height(8).Span(16))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Failover time in range").
		Description("Median, 95th percentile and mean over the runs in the time range, from the failover histogram (bucket resolution).").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("histogram_quantile(0.5, sum by (le, phase) (increase(raftdrill_failover_duration_seconds_bucket{%s}[$__range])))", selDrill), "p50 {{phase}}").RefId("A")).
		WithTarget(instantQuery(fmt.Sprintf("histogram_quantile(0.95, sum by (le, phase) (increase(raftdrill_failover_duration_seconds_bucket{%s}[$__range])))", selDrill), "p95 {{phase}}").RefId("B")).
		WithTarget(instantQuery(oneLine(fmt.Sprintf(`
			sum by (phase) (increase(raftdrill_failover_duration_seconds_sum{%[1]s}[$__range]))
			/ sum by (phase) (increase(raftdrill_failover_duration_seconds_count{%[1]s}[$__range]))`, selDrill)), "mean {{phase}}").RefId("C")).
		Unit("s").
		Decimals(2).
		Mappings([]dashboard.ValueMapping{nanText("no runs")}).
		Thresholds(thresholds(green, step{th.MaxFailoverSeconds, red})).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(8).Span(8))
	for _, ph := range []struct{ phase, title string }{
		{"election", "Election time distribution"},
		{"write_recovery", "Write-recovery time distribution"},
	} {
		b.WithPanel(bargauge.NewPanelBuilder().
			Title(ph.title).
			Description("Runs per failover-time bucket in the time range (raftdrill_failover_duration_seconds, phase=" + ph.phase + ").").
			Datasource(datasource()).
			WithTarget(instantQuery(fmt.Sprintf(`sum by (le) (increase(raftdrill_failover_duration_seconds_bucket{%s, phase="%s"}[$__range]))`, selDrill, ph.phase), "{{le}}").
				Format(prometheus.PromQueryFormatHeatmap)).
			DisplayMode(common.BarGaugeDisplayModeGradient).
			Orientation(common.VizOrientationVertical).
			ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdContinuousBlues)).
			Decimals(0).
			Min(0).
			ReduceOptions(lastValue()).
			Height(7).Span(12))
	}

	sb := splitbrain.Defaults()
	b.WithRow(dashboard.NewRowBuilder("Split brain: the old leader cut off or frozen"))
	b.WithPanel(timeseries.NewPanelBuilder().
		Title("Old leader's step-down per run").
		Description(fmt.Sprintf("split-brain drill: from the old leader being cut off (partition) or thawed (pause) to its refusing to lead. "+
			"The red line is the default drills.split-brain.stepdown_deadline (%s): acks it gives later are ack-without-quorum.", sb.StepdownDeadline)).
		Datasource(datasource()).
		WithTarget(rangeQuery(fmt.Sprintf("max by (drill) (raftdrill_last_stepdown_seconds{%s})", selDrill), "{{drill}}")).
		Unit("s").
		Min(0).
		LineInterpolation(common.LineInterpolationStepAfter).
		ShowPoints(common.VisibilityModeNever).
		Thresholds(thresholds(green, step{sb.StepdownDeadline.Seconds(), red})).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)).
		Legend(legendTable("lastNotNull", "max")).
		Height(7).Span(16))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Writes acked without a quorum in range").
		Description("ack-without-quorum anomalies in the time range: writes a node acknowledged while the majority followed another leader (split-brain), or while a majority was down.").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf(`sum(increase(raftdrill_anomalies_total{%s, kind="ack-without-quorum"}[$__range]))`, selDrill), "acks without quorum")).
		Decimals(0).
		Mappings([]dashboard.ValueMapping{nanText("no runs")}).
		Thresholds(thresholds(green, step{1, red})).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(7).Span(8))

	b.WithRow(dashboard.NewRowBuilder("Messages"))
	b.WithPanel(timeseries.NewPanelBuilder().
		Title("Messages by outcome per run").
		Description("The drill's messages as the checker read them back: a bar per run. Lost, duplicated and corrupted must stay at zero.").
		Datasource(datasource()).
		WithTarget(rangeQuery(fmt.Sprintf("sum by (outcome) (%s)", delta(fmt.Sprintf("raftdrill_messages_total{%s}", selDrill))), "{{outcome}}")).
		DrawStyle(common.GraphDrawStyleBars).
		FillOpacity(70).
		OverrideByName(colorByName("sent", blue)).
		OverrideByName(colorByName("acked", green)).
		OverrideByName(colorByName("consumed", purple)).
		OverrideByName(colorByName("failed", orange)).
		OverrideByName(colorByName("lost", red)).
		OverrideByName(colorByName("duplicated", "dark-red")).
		OverrideByName(colorByName("corrupted", "dark-purple")).
		Decimals(0).
		Min(0).
		Legend(legendTable("sum")).
		Height(8).Span(12))
	b.WithPanel(timeseries.NewPanelBuilder().
		Title("Success ratio per run").
		Description(fmt.Sprintf("Acked over sent writes in each run. The dashed line is the default drills.leader-failover.thresholds.min_success_ratio (%g).", th.MinSuccessRatio)).
		Datasource(datasource()).
		WithTarget(rangeQuery(fmt.Sprintf("max by (drill) (raftdrill_last_success_ratio{%s})", selDrill), "{{drill}}")).
		Unit("percentunit").
		Min(0).Max(1).
		LineInterpolation(common.LineInterpolationStepAfter).
		Thresholds(thresholds(red, step{th.MinSuccessRatio, green})).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)).
		Legend(legendTable("lastNotNull", "min")).
		Height(8).Span(6))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Lost, duplicated, corrupted in range").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf(`round(sum by (outcome) (increase(raftdrill_messages_total{%s, outcome=~"lost|duplicated|corrupted"}[$__range])))`, selDrill), "{{outcome}}")).
		Thresholds(thresholds(green, step{1, red})).
		Decimals(0).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		Orientation(common.VizOrientationHorizontal).
		ReduceOptions(lastValue()).
		Height(8).Span(6))

	b.WithRow(dashboard.NewRowBuilder("Writes and runs"))
	b.WithPanel(timeseries.NewPanelBuilder().
		Title("Produce latency during drills (acks=all)").
		Description("Send-to-ack latency of the drills' writes, failover included. Gaps are the time between runs.").
		Datasource(datasource()).
		WithTarget(rangeQuery(fmt.Sprintf("histogram_quantile(0.5, sum by (le, drill) (rate(raftdrill_produce_latency_seconds_bucket{%s}[$__rate_interval])))", selDrill), "p50 {{drill}}").RefId("A")).
		WithTarget(rangeQuery(fmt.Sprintf("histogram_quantile(0.99, sum by (le, drill) (rate(raftdrill_produce_latency_seconds_bucket{%s}[$__rate_interval])))", selDrill), "p99 {{drill}}").RefId("B")).
		Unit("s").
		Min(0).
		ShowPoints(common.VisibilityModeAlways).
		Legend(legendTable("lastNotNull", "max")).
		Height(8).Span(12))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Mean drill duration in range").
		Description("Wall time of a whole run: preflight, load, kill, recovery, read-back and restore.").
		Datasource(datasource()).
		WithTarget(instantQuery(oneLine(fmt.Sprintf(`
			sum by (drill) (increase(raftdrill_drill_duration_seconds_sum{%[1]s}[$__range]))
			/ sum by (drill) (increase(raftdrill_drill_duration_seconds_count{%[1]s}[$__range]))`, selDrill)), "{{drill}}")).
		Unit("s").
		Decimals(1).
		Mappings([]dashboard.ValueMapping{nanText("no runs")}).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeNone).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(8).Span(6))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Runs measured in range").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf(`round(sum by (drill) (increase(raftdrill_failover_duration_seconds_count{%s, phase="write_recovery"}[$__range])))`, selDrill), "{{drill}}")).
		Decimals(0).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeNone).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(8).Span(6))

	return finish(b)
}
