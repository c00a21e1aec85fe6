// Package slack delivers alerts to Slack (slack-go): through an incoming
// webhook, or with a bot token to one channel, where repeats and the
// resolution of a firing are replies in its thread and its announcement is
// edited to show it resolved. It renders each message as Block Kit, says
// which failures are worth retrying, and keeps secrets out of every error.
package slack
