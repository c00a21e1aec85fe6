//lint:file-ignore SA1019 The classic dashboard model is what Grafana's file provisioning loads on every supported Grafana; the SDK's v2 model needs Grafana 12 with its kubernetesDashboards feature.

package dashboards

//go:generate go run ./gen -dir grafana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Dir is where the generated dashboard JSON lives, relative to this
// package; Grafana's dashboard provider (provisioning/dashboards) reads it.
const Dir = "grafana"

// File is one dashboard and the name of the JSON file it is written to.
type File struct {
	Name  string
	Build func() (dashboard.Dashboard, error)
}

// Files lists every raftdrill dashboard.
func Files() []File {
	return []File{
		{"raftdrill-overview.json", Overview},
		{"raftdrill-failover.json", Failover},
		{"raftdrill-benchmark.json", Benchmark},
	}
}

// Render is the JSON of a dashboard exactly as committed: indented, with
// PromQL's < > & left readable, and a final newline.
func Render(d dashboard.Dashboard) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// RenderAll builds and renders every dashboard, keyed by file name.
func RenderAll() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range Files() {
		d, err := f.Build()
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", f.Name, err)
		}
		b, err := Render(d)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", f.Name, err)
		}
		out[f.Name] = b
	}
	return out, nil
}

// Generate writes every dashboard into dir.
func Generate(dir string) error {
	files, err := RenderAll()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// finish builds the dashboard and numbers what the builders leave unset:
// panel ids (Grafana would assign them on load, making every save a diff)
// and query refIds.
func finish(b *dashboard.DashboardBuilder) (dashboard.Dashboard, error) {
	d, err := b.Build()
	if err != nil {
		return d, err
	}
	// Placement is a Grafana 12 option whose SDK default tucks annotation
	// toggles and links away in the controls menu; without it they show
	// above the panels in every Grafana version.
	for i := range d.Annotations.List {
		d.Annotations.List[i].Placement = nil
	}
	for i := range d.Links {
		d.Links[i].Placement = nil
	}
	id := uint32(0)
	for _, p := range d.Panels {
		id++
		switch {
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(id)
			for i, t := range p.Panel.Targets {
				if q, ok := t.(prometheus.Dataquery); ok && q.RefId == nil {
					q.RefId = cog.ToPtr(string(rune('A' + i)))
					p.Panel.Targets[i] = q
				}
			}
			// The builders leave some options as empty strings, which
			// Grafana reads as its defaults but rewrites on save; write
			// the defaults out (and all series in a graph's tooltip).
			switch o := p.Panel.Options.(type) {
			case *stat.Options:
				if o.Orientation == "" {
					o.Orientation = common.VizOrientationAuto
				}
			case *timeseries.Options:
				if o.Tooltip.Mode == "" {
					o.Tooltip = common.VizTooltipOptions{Mode: common.TooltipDisplayModeMulti, Sort: common.SortOrderDescending}
				}
			case *statetimeline.Options:
				if o.Tooltip.Mode == "" {
					o.Tooltip = common.VizTooltipOptions{Mode: common.TooltipDisplayModeSingle, Sort: common.SortOrderNone}
				}
			}
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
	return d, nil
}
