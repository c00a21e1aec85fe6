package alerts

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/raftdrill/raftdrill/probes"
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
	KindQuorumLost:      ":red_circle:",
	KindDataAnomaly:     ":rotating_light:",
	KindThresholdMissed: ":large_orange_circle:",
	KindDrillError:      ":warning:",
	KindDrillsStale:     ":alarm_clock:",
	KindOverflow:        ":warning:",
}

// incident kinds carry the configured mention; the others are for the
// channel to read, not to be woken by.
func incident(kind string) bool { return kind == KindQuorumLost || kind == KindDataAnomaly }

// Render returns a message's fallback text (notifications, screen readers,
// clients without blocks) and its blocks.
func (r Renderer) Render(m *Message) (string, []slack.Block) {
	if m.overflow != nil {
		return r.renderOverflow(m)
	}
	switch m.Op {
	case OpResolve:
		return r.renderResolve(m)
	case OpRepeat:
		head := ":repeat: Still firing: " + m.Alert.Title
		since := fmt.Sprintf("Firing since %s (%s).", stamp(m.Alert.Since), roundDur(m.At.Sub(m.Alert.Since)))
		return r.renderAlert(m, head, since)
	default:
		return r.renderAlert(m, icons[m.Alert.Kind]+" "+m.Alert.Title, "")
	}
}

// Resolved renders the original message of a firing marked as resolved,
// for chat.update, so that the channel shows at a glance what is over.
func (r Renderer) Resolved(m *Message) (string, []slack.Block) {
	a := m.Alert
	head := ":white_check_mark: RESOLVED: " + a.Title
	text := fmt.Sprintf("*Resolved* %s: %s", stamp(m.At), m.Resolution)
	blocks := []slack.Block{header(head + " — " + r.Cluster), section(text)}
	// OpResolve: an edited message should not mention anyone again.
	_, orig := r.renderAlert(&Message{Op: OpResolve, Alert: a, At: a.Since}, "", "")
	blocks = append(blocks, orig[1:]...) // the original, without its header
	return r.fallback(head, text), blocks
}

func (r Renderer) fallback(head, text string) string {
	return truncate(fmt.Sprintf("[raftdrill %s] %s\n%s", r.Cluster, head, text), maxSectionText)
}

func (r Renderer) renderAlert(m *Message, head, extra string) (string, []slack.Block) {
	a := m.Alert
	text := a.Text
	if extra != "" {
		text = extra + "\n" + text
	}
	if r.Mention != "" && incident(a.Kind) && m.Op == OpOpen {
		text = r.Mention + " " + text
	}
	blocks := []slack.Block{header(head + " — " + r.Cluster), section(text)}
	if f := figureFields(a.Figures); len(f) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(nil, f, nil))
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

func (r Renderer) renderResolve(m *Message) (string, []slack.Block) {
	a := m.Alert
	head := ":white_check_mark: Resolved: " + a.Title
	text := m.Resolution
	if !a.Since.IsZero() {
		text += fmt.Sprintf("\nIt fired for %s, from %s.", roundDur(m.At.Sub(a.Since)), stamp(a.Since))
	}
	blocks := []slack.Block{header(head + " — " + r.Cluster), section(text), r.meta(a, m.At)}
	return r.fallback(head, text), blocks
}

func (r Renderer) renderOverflow(m *Message) (string, []slack.Block) {
	o := m.overflow
	head := fmt.Sprintf(":warning: %d alerts were not delivered", o.count)
	text := fmt.Sprintf("Slack could not be reached for a while and the alert queue filled up, so the %d oldest alerts "+
		"(%s to %s) were folded into this summary. Check the runs and the dashboard for the details.\n%s",
		o.count, stamp(o.first), stamp(o.last), o.listing())
	blocks := []slack.Block{header(head + " — " + r.Cluster), section(text), r.meta(Alert{Kind: KindOverflow}, m.At)}
	return r.fallback(head, text), blocks
}

// meta is the context line: cluster, drill, run, dashboard, runbook, time.
func (r Renderer) meta(a Alert, at time.Time) slack.Block {
	parts := []string{"Cluster *" + esc(r.Cluster) + "*"}
	if a.Drill != "" {
		parts = append(parts, "Drill *"+esc(a.Drill)+"*")
	}
	if a.RunID != "" {
		if r.RunURLBase != "" {
			parts = append(parts, fmt.Sprintf("Run <%s%s|%s>", r.RunURLBase, a.RunID, esc(a.RunID)))
		} else {
			parts = append(parts, "Run "+esc(a.RunID))
		}
	}
	if r.DashboardURL != "" {
		parts = append(parts, "<"+r.DashboardURL+"|Dashboard>")
	}
	if r.RunbookURL != "" && a.Kind != "" {
		parts = append(parts, "<"+r.RunbookURL+"#"+a.Kind+"|Runbook>")
	}
	if !at.IsZero() {
		parts = append(parts, stamp(at))
	}
	return slack.NewContextBlock("", mrkdwn(strings.Join(parts, " · ")))
}

func header(text string) slack.Block {
	return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(text, maxHeaderText), true, false))
}

func section(text string) slack.Block {
	return slack.NewSectionBlock(mrkdwn(truncate(text, maxSectionText)), nil, nil)
}

func mrkdwn(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, false)
}

func figureFields(fs []Figure) []*slack.TextBlockObject {
	var out []*slack.TextBlockObject
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

func notesBlock(notes []string) slack.Block {
	if len(notes) == 0 {
		return nil
	}
	var elts []slack.MixedElement
	for _, n := range notes {
		if len(elts) == maxContextElts {
			break
		}
		elts = append(elts, mrkdwn(truncate(":information_source: "+n, maxFieldText)))
	}
	return slack.NewContextBlock("", elts...)
}

// CriteriaTable lays out criteria as a fixed-width table: name, threshold,
// measured value and verdict, one per line.
func CriteriaTable(cs []probes.Criterion) string {
	rows := [][]string{{"criterion", "threshold", "measured", ""}}
	for _, c := range cs {
		verdict := "ok"
		if !c.Passed {
			verdict = "MISSED"
		}
		rows = append(rows, []string{c.Name, c.Op + " " + withUnit(c.Threshold, c.Unit), withUnit(c.Value, c.Unit), verdict})
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

func anomalyList(as []probes.Anomaly) string {
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

// Num formats a measured figure: at most three decimals, and the drills'
// "never measured" stand-in as such.
func Num(v float64) string {
	if v >= 1e9 || math.IsInf(v, 0) || math.IsNaN(v) {
		return "not measured"
	}
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

func withUnit(v float64, unit string) string {
	s := Num(v)
	if unit != "" && s != "not measured" {
		s += " " + unit
	}
	return s
}

// esc escapes the three characters Slack's mrkdwn treats as control.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func roundDur(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
