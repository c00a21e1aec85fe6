package alerts

import (
	"strings"
	"time"
)

// Escape escapes the three characters that Slack's mrkdwn (the markup of
// Alert.Text) treats as control, so that text from configuration or from
// the cluster cannot turn into a link or a mention.
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func esc(s string) string { return Escape(s) }

// Stamp writes a time as alerts show it.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func stamp(t time.Time) string { return Stamp(t) }

// RoundDuration rounds a duration as alerts show it.
func RoundDuration(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
