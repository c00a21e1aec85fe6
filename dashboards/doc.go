// Package dashboards holds raftdrill's Grafana dashboards and their
// provisioning files, and the tests that prove every query in them works
// against a real Prometheus scraping a real daemon.
package dashboards
