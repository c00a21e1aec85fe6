// Package alerts decides which facts deserve a message (quorum lost, a
// threshold missed, a data anomaly, a drill that could not run, drills gone
// stale) and delivers them to Slack; alerts/prometheus-rules.yml states the
// same conditions as Prometheus rules for teams that route through
// Alertmanager.
package alerts
