// Package alerts decides which facts deserve a message (quorum lost, a
// threshold missed, a data anomaly, a drill that could not run, drills gone
// stale) and delivers them to Slack (slack-go): the Engine keeps one firing
// per condition and hears from the Planner which outages a drill caused on
// purpose; the Dispatcher sends in order through a Notifier (incoming
// webhook or bot token), retrying what is worth retrying, with a bounded
// queue. alerts/prometheus-rules.yml states the same conditions as
// Prometheus rules for teams that route through Alertmanager; docs/alerts.md
// has the runbooks.
package alerts
