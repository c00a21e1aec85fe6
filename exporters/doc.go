// Package exporters defines every Prometheus metric raftdrill exports, in one
// place, on an injected registry. Labelled series are created at start-up so
// dashboards show 0 rather than "no data", and metrics are fed from run
// results and probe observations, never from inside a drill.
package exporters
