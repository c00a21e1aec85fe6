//lint:file-ignore SA1019 The classic dashboard model is what Grafana's file provisioning loads on every supported Grafana; the SDK's v2 model needs Grafana 12 with its kubernetesDashboards feature.

package dashboards

import (
	"fmt"
	"math"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/raftdrill/raftdrill/probes/failover"
)

// Overview is the first dashboard to open: is the cluster whole now, did the
// drills pass, how long did failover take against its threshold, has any
// data gone wrong, and what did raftdrill alert about.
func Overview() (dashboard.Dashboard, error) {
	th := failover.Defaults().Thresholds

	b := newDashboard("raftdrill-overview", "raftdrill overview",
		"Quorum and nodes now, the last drill runs against their thresholds, pass/fail history and data anomalies.").
		WithVariable(drillVariable("raftdrill_drill_runs_total"))

	b.WithRow(dashboard.NewRowBuilder("Cluster now"))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Quorum").
		Description("raftdrill_quorum_available from the continuous quorum probe: a majority of nodes is up and every watched partition has a live leader.").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("min(raftdrill_quorum_available{%s})", sel), "quorum")).
		Mappings([]dashboard.ValueMapping{valueText(map[string][2]string{
			"0": {"LOST", red},
			"1": {"available", green},
		})}).
		Thresholds(thresholds(red, step{1, green})).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(5).Span(4))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Nodes up").
		Description("Nodes that answered the quorum probe's Kafka request in time, out of the nodes configured.").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("sum(raftdrill_node_up{%s})", sel), "up").RefId("A")).
		WithTarget(instantQuery(fmt.Sprintf("count(raftdrill_node_up{%s})", sel), "configured").RefId("B")).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeNone).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Decimals(0).
		Height(5).Span(4))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Nodes down").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("count(raftdrill_node_up{%s} == 0) or vector(0)", sel), "down")).
		Thresholds(thresholds(green, step{1, red})).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Decimals(0).
		Height(5).Span(4))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Partitions without leader").
		Description("Watched partitions for which no live node names a live leader.").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("max(raftdrill_partitions_without_leader{%s})", sel), "leaderless")).
		Thresholds(thresholds(green, step{1, red})).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Decimals(0).
		Height(5).Span(4))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Drill running").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("max by (drill) (raftdrill_drill_in_progress{%s})", selDrill), "{{drill}}")).
		Mappings([]dashboard.ValueMapping{valueText(map[string][2]string{
			"0": {"idle", grey},
			"1": {"running", blue},
		})}).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(5).Span(8))

	b.WithPanel(statetimeline.NewPanelBuilder().
		Title("Nodes and quorum").
		Description("Node and quorum state as the quorum probe saw it; a drill's kill shows as a red stripe.").
		Datasource(datasource()).
		WithTarget(rangeQuery(fmt.Sprintf("min(raftdrill_quorum_available{%s})", sel), "quorum").RefId("A")).
		WithTarget(rangeQuery(fmt.Sprintf("max by (node) (raftdrill_node_up{%s})", sel), "node {{node}}").RefId("B")).
		Mappings([]dashboard.ValueMapping{valueText(map[string][2]string{
			"0": {"down", red},
			"1": {"up", green},
		})}).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		RowHeight(0.8).
		FillOpacity(80).
		Legend(legendBottom().ShowLegend(false)).
		Height(6).Span(24))

	b.WithRow(dashboard.NewRowBuilder("Last run against thresholds"))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Failover time, last run").
		Description(fmt.Sprintf("Time from killing the leader to a new leader elected (election) and to the first acked write (write_recovery). "+
			"Red from drills.leader-failover.thresholds.max_failover_seconds (default %gs); the daemon's verdict against the configured threshold is in Criteria.",
			th.MaxFailoverSeconds)).
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("max by (drill, phase) (raftdrill_last_failover_duration_seconds{%s})", selDrill), "{{drill}} · {{phase}}")).
		Unit("s").
		Decimals(2).
		Thresholds(thresholds(green, step{th.MaxFailoverSeconds, red})).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(6).Span(8))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Success ratio, last run").
		Description(fmt.Sprintf("Acked over sent writes in the last run. Red below drills.leader-failover.thresholds.min_success_ratio (default %g).", th.MinSuccessRatio)).
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("max by (drill) (raftdrill_last_success_ratio{%s})", selDrill), "{{drill}}")).
		Unit("percentunit").
		Decimals(1).
		Min(0).Max(1).
		Thresholds(thresholds(red, step{th.MinSuccessRatio, green})).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(6).Span(6))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Criteria, last run").
		Description("Each pass criterion as the daemon judged it against its configured threshold in the drill's last run. A drill that has not run yet shows \"not run\".").
		Datasource(datasource()).
		// criterion_passed is 0 both for "failed" and "never evaluated";
		// subtracting 1 where the drill has no runs at all tells them apart.
		WithTarget(instantQuery(oneLine(fmt.Sprintf(`
			raftdrill_criterion_passed{%[1]s}
			- on (job, instance, drill) group_left ()
			(sum by (job, instance, drill) (raftdrill_drill_runs_total{%[1]s}) == bool 0)`, selDrill)),
			"{{drill}} · {{criterion}}")).
		Mappings([]dashboard.ValueMapping{valueText(map[string][2]string{
			"-1": {"not run", grey},
			"0":  {"FAIL", red},
			"1":  {"pass", green},
		})}).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(6).Span(10))

	b.WithRow(dashboard.NewRowBuilder("History"))
	b.WithPanel(statetimeline.NewPanelBuilder().
		Title("Last result per drill").
		Description("Green while the drill's last run passed, red while it failed or could not run, grey before its first run.").
		Datasource(datasource()).
		WithTarget(rangeQuery(oneLine(fmt.Sprintf(`
			max by (drill) (
			  (2 * (raftdrill_drill_last_success_timestamp_seconds{%[1]s} == bool raftdrill_drill_last_run_timestamp_seconds{%[1]s}) - 1)
			  * (raftdrill_drill_last_run_timestamp_seconds{%[1]s} > bool 0)
			)`, selDrill)), "{{drill}}")).
		Mappings([]dashboard.ValueMapping{valueText(map[string][2]string{
			"-1": {"failed", red},
			"0":  {"not run", grey},
			"1":  {"passed", green},
		})}).
		ShowValue(common.VisibilityModeAuto).
		MergeValues(true).
		FillOpacity(80).
		Legend(legendBottom().ShowLegend(false)).
		Height(6).Span(16))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Runs in range").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("round(sum by (result) (increase(raftdrill_drill_runs_total{%s}[$__range])))", selDrill), "{{result}}")).
		OverrideByName(colorByName("passed", green)).
		OverrideByName(colorByName("failed", red)).
		OverrideByName(colorByName("error", orange)).
		Decimals(0).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(6).Span(8))
	b.WithPanel(timeseries.NewPanelBuilder().
		Title("Drill runs by result").
		Datasource(datasource()).
		WithTarget(rangeQuery(fmt.Sprintf("sum by (result) (%s)", delta(fmt.Sprintf("raftdrill_drill_runs_total{%s}", selDrill))), "{{result}}")).
		DrawStyle(common.GraphDrawStyleBars).
		FillOpacity(80).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		OverrideByName(colorByName("passed", green)).
		OverrideByName(colorByName("failed", red)).
		OverrideByName(colorByName("error", orange)).
		Decimals(0).
		Min(0).
		Legend(legendBottom()).
		Height(7).Span(12))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Time since the last passed drill").
		Description("Per drill; \"never\" until a run of it passes. Drills whose schedule is off stay at never unless triggered.").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("time() - max by (drill) (raftdrill_drill_last_success_timestamp_seconds{%s})", selDrill), "{{drill}}")).
		Unit("dtdurations").
		// The gauge is 0 before a drill first passes, which makes the
		// difference the whole Unix epoch: anything that long means never.
		Mappings([]dashboard.ValueMapping{rangeText(1e9, math.NaN(), "never", grey)}).
		Thresholds(thresholds(green, step{3600, orange}, step{86400, red})).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(7).Span(12))

	b.WithRow(dashboard.NewRowBuilder("Data anomalies"))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Anomalies in range").
		Description("Lost, corrupted, duplicated or phantom writes and leadership anomalies found by the drills' checkers. Any is a failed drill.").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("round(sum(increase(raftdrill_anomalies_total{%s}[$__range])))", selDrill), "anomalies")).
		Thresholds(thresholds(green, step{1, red})).
		Decimals(0).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(8).Span(6))
	b.WithPanel(bargauge.NewPanelBuilder().
		Title("Anomalies by kind in range").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("round(sum by (kind) (increase(raftdrill_anomalies_total{%s}[$__range])))", selDrill), "{{kind}}")).
		Thresholds(thresholds(green, step{1, red})).
		Decimals(0).
		Min(0).
		DisplayMode(common.BarGaugeDisplayModeBasic).
		Orientation(common.VizOrientationHorizontal).
		ShowUnfilled(true).
		ReduceOptions(lastValue()).
		Height(8).Span(9))
	b.WithPanel(bargauge.NewPanelBuilder().
		Title("Threshold breaches in range").
		Description("Runs in which a criterion failed, by drill and criterion.").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("round(sum by (drill, criterion) (increase(raftdrill_threshold_breaches_total{%s}[$__range])))", selDrill), "{{drill}} · {{criterion}}")).
		Thresholds(thresholds(green, step{1, red})).
		Decimals(0).
		Min(0).
		DisplayMode(common.BarGaugeDisplayModeBasic).
		Orientation(common.VizOrientationHorizontal).
		ShowUnfilled(true).
		ReduceOptions(lastValue()).
		Height(8).Span(9))

	b.WithRow(dashboard.NewRowBuilder("Alerts"))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Alerts in range, by kind").
		Description("Alert messages raftdrill produced (quorum lost, threshold missed, data anomaly, drill error, drills stale), whatever became of them.").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("round(sum by (kind) (increase(raftdrill_alerts_sent_total{%s}[$__range])))", sel), "{{kind}}")).
		Thresholds(thresholds(green, step{1, orange})).
		Decimals(0).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(5).Span(12))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Alert deliveries in range, by result").
		Description("sent: Slack took it; retry: an attempt failed and will be retried; failed: given up; dropped: folded into a summary; disabled: no Slack configured, logged only.").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("round(sum by (result) (increase(raftdrill_alerts_sent_total{%s}[$__range])))", sel), "{{result}}")).
		OverrideByName(colorByName("sent", green)).
		OverrideByName(colorByName("retry", orange)).
		OverrideByName(colorByName("failed", red)).
		OverrideByName(colorByName("dropped", red)).
		OverrideByName(colorByName("disabled", grey)).
		Decimals(0).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(5).Span(12))

	return finish(b)
}
