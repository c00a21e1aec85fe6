// Package dashboards holds raftdrill's Grafana dashboards as Go code, built
// with the typed Grafana Foundation SDK, and the generator that writes them
// as the JSON files in grafana/ (make dashboards, or go generate). The
// provisioning files that load them into Grafana are in provisioning/. The
// tests prove that the committed JSON is what the code generates, that it
// fits Grafana's schema, and, end to end, that every panel, annotation and
// variable query answers against a real Prometheus scraping a real daemon.
// See docs/dashboards.md.
package dashboards
