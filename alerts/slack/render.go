package slack

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/run"
)

// Renderer turns messages into Slack Block Kit. Every message says what
// happened, on which cluster, for which drill, the key figures against
// their thresholds, and links to the run, the dashboard and the runbook.
type Renderer struct {
	Cluster      string
	RunURLBase   string // + run id
	DashboardURL string
	RunbookURL   string // docs/alerts.md; + "#" + kind
	Mention      string // starts incident messages
}

// Slack's limits: a section's text, a field, a header.
const (
	maxSectionText = 3000
	maxFieldText   = 2000
	maxHeaderText  = 150
	maxFields      = 10
	maxContextElts = 10
)

var icons = map[string]string{
	alerts.KindQuorumLost:      ":red_circle:",
	alerts.KindDataAnomaly:     ":rotating_light:",
	alerts.KindThresholdMissed: ":large_orange_circle:",
	alerts.KindDrillError:      ":warning:",
	alerts.KindDrillsStale:     ":alarm_clock:",
	alerts.KindNodeNotRestored: ":rotating_light:",
	alerts.KindOverflow:        ":warning:",
}

// incident kinds carry the configured mention; the others are for the
// channel to read, not to be woken by.
func incident(kind string) bool {
	return kind == alerts.KindQuorumLost || kind == alerts.KindDataAnomaly || kind == alerts.KindNodeNotRestored
}

// Render returns a message's fallback text (notifications, screen readers,
// clients without blocks) and its blocks.
func (r Renderer) Render(m *alerts.Message) (string, []slackgo.Block) {
	if m.Overflow != nil {
		return r.renderOverflow(m)
	}
	switch m.Op {
	case alerts.OpResolve:
		return r.renderResolve(m)
	case alerts.OpRepeat:
		head := ":repeat: Still firing: " + m.Alert.Title
		since := fmt.Sprintf("Firing since %s (%s).", stamp(m.Alert.Since), roundDur(m.At.Sub(m.Alert.Since)))
		return r.renderAlert(m, head, since)
	default:
		return r.renderAlert(m, icons[m.Alert.Kind]+" "+m.Alert.Title, "")
	}
}

// Resolved renders the original message of a firing marked as resolved,
// for chat.update, so that the channel shows at a glance what is over.
func (r Renderer) Resolved(m *alerts.Message) (string, []slackgo.Block) {
	a := m.Alert
	head := ":white_check_mark: RESOLVED: " + a.Title
	text := fmt.Sprintf("*Resolved* %s: %s", stamp(m.At), m.Resolution)
	blocks := []slackgo.Block{header(head + " — " + r.Cluster), section(text)}
	// OpResolve: an edited message should not mention anyone again.
	_, orig := r.renderAlert(&alerts.Message{Op: alerts.OpResolve, Alert: a, At: a.Since}, "", "")
	blocks = append(blocks, orig[1:]...) // the original, without its header
	return r.fallback(head, text), blocks
}

// fallback is the message's top-level text, which Slack reads as mrkdwn:
// the cluster name and the title (from config) are escaped; the text is
// mrkdwn already.
func (r Renderer) fallback(head, text string) string {
	return truncate(fmt.Sprintf("[raftdrill %s] %s\n%s", esc(r.Cluster), esc(head), text), maxSectionText)
}

func (r Renderer) renderAlert(m *alerts.Message, head, extra string) (string, []slackgo.Block) {
	a := m.Alert
	text := a.Text
	if extra != "" {
		text = extra + "\n" + text
	}
	if r.Mention != "" && incident(a.Kind) && m.Op == alerts.OpOpen {
		text = r.Mention + " " + text
	}
	blocks := []slackgo.Block{header(head + " — " + r.Cluster), section(text)}
	if f := figureFields(a.Figures); len(f) > 0 {
		blocks = append(blocks, slackgo.NewSectionBlock(nil, f, nil))
	}
	if len(a.Criteria) > 0 {
		blocks = append(blocks, section("*Criteria*\n```"+CriteriaTable(a.Criteria)+"```"))
	}
	if len(a.Anomalies) > 0 {
		blocks = append(blocks, section("*Anomalies*\n"+anomalyList(a.Anomalies)))
	}
	if n := notesBlock(a.Notes); n != nil {
		blocks = append(blocks, n)
	}
	blocks = append(blocks, r.meta(a, m.At))
	return r.fallback(head, text), blocks
}

func (r Renderer) renderResolve(m *alerts.Message) (string, []slackgo.Block) {
	a := m.Alert
	head := ":white_check_mark: Resolved: " + a.Title
	text := m.Resolution
	if !a.Since.IsZero() {
		text += fmt.Sprintf("\nIt fired for %s, from %s.", roundDur(m.At.Sub(a.Since)), stamp(a.Since))
	}
	blocks := []slackgo.Block{header(head + " — " + r.Cluster), section(text), r.meta(a, m.At)}
	return r.fallback(head, text), blocks
}

func (r Renderer) renderOverflow(m *alerts.Message) (string, []slackgo.Block) {
	o := m.Overflow
	head := fmt.Sprintf(":warning: %d alerts were not delivered", o.Count)
	text := fmt.Sprintf("Slack could not be reached for a while and the alert queue filled up, so the %d oldest alerts "+
		"(%s to %s) were folded into this summary. Check the runs and the dashboard for the details.\n%s",
		o.Count, stamp(o.First), stamp(o.Last), listing(o))
	blocks := []slackgo.Block{header(head + " — " + r.Cluster), section(text), r.meta(alerts.Alert{Kind: alerts.KindOverflow}, m.At)}
	return r.fallback(head, text), blocks
}

// meta is the context line: cluster, drill, run, dashboard, runbook, time.
func (r Renderer) meta(a alerts.Alert, at time.Time) slackgo.Block {
	parts := []string{"Cluster *" + esc(r.Cluster) + "*"}
	if a.Drill != "" {
		parts = append(parts, "Drill *"+esc(a.Drill)+"*")
	}
	// URLs come from config: escaped too, as Slack wants inside <…|…>.
	if a.RunID != "" {
		if r.RunURLBase != "" {
			parts = append(parts, fmt.Sprintf("Run <%s%s|%s>", esc(r.RunURLBase), esc(a.RunID), esc(a.RunID)))
		} else {
			parts = append(parts, "Run "+esc(a.RunID))
		}
	}
	if r.DashboardURL != "" {
		parts = append(parts, "<"+esc(r.DashboardURL)+"|Dashboard>")
	}
	if r.RunbookURL != "" && a.Kind != "" {
		parts = append(parts, "<"+esc(r.RunbookURL)+"#"+a.Kind+"|Runbook>")
	}
	if !at.IsZero() {
		parts = append(parts, stamp(at))
	}
	return slackgo.NewContextBlock("", mrkdwn(strings.Join(parts, " · ")))
}

func header(text string) slackgo.Block {
	return slackgo.NewHeaderBlock(slackgo.NewTextBlockObject(slackgo.PlainTextType, truncate(text, maxHeaderText), true, false))
}

func section(text string) slackgo.Block {
	return slackgo.NewSectionBlock(mrkdwn(truncate(text, maxSectionText)), nil, nil)
}

func mrkdwn(text string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, text, false, false)
}

func figureFields(fs []alerts.Figure) []*slackgo.TextBlockObject {
	var out []*slackgo.TextBlockObject
	for _, f := range fs {
		if len(out) == maxFields {
			break
		}
		text := "*" + esc(f.Name) + "*\n" + esc(f.Value)
		if f.Want != "" {
			mark := ":white_check_mark:"
			if !f.OK {
				mark = ":x:"
			}
			text += " " + mark + " (want " + esc(f.Want) + ")"
		}
		out = append(out, mrkdwn(truncate(text, maxFieldText)))
	}
	return out
}

func notesBlock(notes []string) slackgo.Block {
	if len(notes) == 0 {
		return nil
	}
	var elts []slackgo.MixedElement
	for _, n := range notes {
		if len(elts) == maxContextElts {
			break
		}
		elts = append(elts, mrkdwn(truncate(":information_source: "+n, maxFieldText)))
	}
	return slackgo.NewContextBlock("", elts...)
}

// CriteriaTable lays out criteria as a fixed-width table: name, threshold,
// measured value and verdict, one per line.
func CriteriaTable(cs []run.Criterion) string {
	rows := [][]string{{"criterion", "threshold", "measured", ""}}
	for _, c := range cs {
		verdict := "ok"
		if !c.Passed {
			verdict = "MISSED"
		}
		m := run.Lookup(c.Name)
		rows = append(rows, []string{c.Name, c.Op + " " + m.Format(c.Threshold), m.Format(c.Value), verdict})
	}
	width := make([]int, 4)
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, cell := range row {
			if i == len(row)-1 {
				b.WriteString(cell)
				continue
			}
			b.WriteString(cell + strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell)+2))
		}
		b.WriteString("\n")
	}
	return esc(strings.TrimRight(b.String(), "\n"))
}

func anomalyList(as []run.Anomaly) string {
	var b strings.Builder
	for _, a := range as {
		fmt.Fprintf(&b, "• *%s* ×%d: %s", esc(a.Kind), a.Count, esc(a.Detail))
		for i, ex := range a.Examples {
			if i == 3 {
				break
			}
			fmt.Fprintf(&b, "\n    partition %d offset %d seq %d", ex.Partition, ex.Offset, ex.Seq)
			if ex.Node != 0 {
				fmt.Fprintf(&b, " node %d", ex.Node)
			}
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func esc(s string) string { return alerts.Escape(s) }

func stamp(t time.Time) string { return alerts.Stamp(t) }

func roundDur(d time.Duration) time.Duration { return alerts.RoundDuration(d) }

// listing is the body of the summary of alerts folded out of a full queue.
func listing(o *alerts.Overflow) string {
	kinds := make([]string, 0, len(o.ByKind))
	for k := range o.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var counts []string
	for _, k := range kinds {
		counts = append(counts, fmt.Sprintf("%d× %s", o.ByKind[k], k))
	}
	out := "*By kind:* " + strings.Join(counts, ", ")
	if len(o.Lines) > 0 {
		out += "\n*Latest folded:*\n" + esc(strings.Join(o.Lines, "\n"))
	}
	return out
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
