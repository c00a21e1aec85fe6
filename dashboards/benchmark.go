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
)

// msgPerSecond is a custom unit: Grafana has none for messages.
const msgPerSecond = "suffix: msg/s"

// Benchmark compares the replicated cluster with a single-node baseline:
// throughput, latency quantiles, and the produce-latency distribution.
func Benchmark() (dashboard.Dashboard, error) {
	b := newDashboard("raftdrill-benchmark", "raftdrill benchmark",
		"Throughput of the cluster against a single-node baseline, latency quantiles, and the produce-latency distribution.").
		WithVariable(drillVariable("raftdrill_produce_latency_seconds_count"))

	b.WithRow(dashboard.NewRowBuilder("Throughput"))
	b.WithPanel(bargauge.NewPanelBuilder().
		Title("Throughput, last benchmark").
		Description("Messages per second the last benchmark run reached, producing and consuming, on the cluster and on the single-node baseline.").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("max by (op, target) (raftdrill_benchmark_throughput_messages_per_second{%s})", sel), "{{op}} · {{target}}")).
		Unit(msgPerSecond).
		Decimals(0).
		Min(0).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		Orientation(common.VizOrientationHorizontal).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdContinuousBlues)).
		ReduceOptions(lastValue()).
		Height(7).Span(10))
	b.WithPanel(stat.NewPanelBuilder().
		Title("Cluster throughput relative to baseline").
		Description("What replication costs: cluster throughput as a share of the single-node baseline's, per operation.").
		Datasource(datasource()).
		WithTarget(instantQuery(oneLine(fmt.Sprintf(`
			raftdrill_benchmark_throughput_messages_per_second{%[1]s, target="cluster"}
			/ ignoring (target)
			raftdrill_benchmark_throughput_messages_per_second{%[1]s, target="baseline"}`, sel)), "{{op}}")).
		Unit("percentunit").
		Decimals(0).
		Mappings([]dashboard.ValueMapping{nanText("no benchmark yet")}).
		Thresholds(thresholds(red, step{0.25, orange}, step{0.5, green})).
		TextMode(common.BigValueTextModeValueAndName).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(lastValue()).
		Height(7).Span(4))
	b.WithPanel(timeseries.NewPanelBuilder().
		Title("Throughput per benchmark run").
		Datasource(datasource()).
		WithTarget(rangeQuery(fmt.Sprintf("max by (op, target) (raftdrill_benchmark_throughput_messages_per_second{%s})", sel), "{{op}} · {{target}}")).
		Unit(msgPerSecond).
		Min(0).
		LineInterpolation(common.LineInterpolationStepAfter).
		Legend(legendTable("lastNotNull", "min", "max")).
		Height(7).Span(10))

	b.WithRow(dashboard.NewRowBuilder("Latency"))
	b.WithPanel(bargauge.NewPanelBuilder().
		Title("Latency quantiles, last benchmark").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("max by (target, quantile) (raftdrill_benchmark_latency_seconds{%s})", sel), "{{target}} · q{{quantile}}")).
		Unit("s").
		Min(0).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		Orientation(common.VizOrientationHorizontal).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdContinuousGrYlRd)).
		ReduceOptions(lastValue()).
		Height(8).Span(10))
	b.WithPanel(timeseries.NewPanelBuilder().
		Title("Latency quantiles per benchmark run").
		Datasource(datasource()).
		WithTarget(rangeQuery(fmt.Sprintf("max by (target, quantile) (raftdrill_benchmark_latency_seconds{%s})", sel), "{{target}} · q{{quantile}}")).
		Unit("s").
		Min(0).
		LineInterpolation(common.LineInterpolationStepAfter).
		Legend(legendTable("lastNotNull", "max")).
		Height(8).Span(14))

	b.WithRow(dashboard.NewRowBuilder("Produce-latency distribution"))
	b.WithPanel(bargauge.NewPanelBuilder().
		Title("Produce latency distribution in range").
		Description("Acked writes per latency bucket (raftdrill_produce_latency_seconds) for the drills picked above.").
		Datasource(datasource()).
		WithTarget(instantQuery(fmt.Sprintf("sum by (le) (increase(raftdrill_produce_latency_seconds_bucket{%s}[$__range]))", selDrill), "{{le}}").
			Format(prometheus.PromQueryFormatHeatmap)).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		Orientation(common.VizOrientationVertical).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdContinuousBlues)).
		Decimals(0).
		Min(0).
		ReduceOptions(lastValue()).
		Height(8).Span(12))
	b.WithPanel(timeseries.NewPanelBuilder().
		Title("Produce latency quantiles").
		Datasource(datasource()).
		WithTarget(rangeQuery(fmt.Sprintf("histogram_quantile(0.5, sum by (le, drill) (rate(raftdrill_produce_latency_seconds_bucket{%s}[$__rate_interval])))", selDrill), "p50 {{drill}}").RefId("A")).
		WithTarget(rangeQuery(fmt.Sprintf("histogram_quantile(0.95, sum by (le, drill) (rate(raftdrill_produce_latency_seconds_bucket{%s}[$__rate_interval])))", selDrill), "p95 {{drill}}").RefId("B")).
		WithTarget(rangeQuery(fmt.Sprintf("histogram_quantile(0.99, sum by (le, drill) (rate(raftdrill_produce_latency_seconds_bucket{%s}[$__rate_interval])))", selDrill), "p99 {{drill}}").RefId("C")).
		Unit("s").
		Min(0).
		ShowPoints(common.VisibilityModeAlways).
		Legend(legendTable("lastNotNull", "max")).
		Height(8).Span(12))

	return finish(b)
}
