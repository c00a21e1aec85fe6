package slack

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/run"
)

func blocksJSON(t testing.TB, blocks []slackgo.Block) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // compare with the text as Slack reads it
	if err := enc.Encode(blocks); err != nil {
		t.Fatal(err)
	}
	// Some blocks marshal themselves with HTML escaping; undo it too.
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(b.String())
}

func TestCriteriaTableAligns(t *testing.T) {
	t.Parallel()
	got := CriteriaTable([]run.Criterion{
		{Name: "election_seconds", Op: "<", Threshold: 15, Value: 1e9, Unit: "s"},
		{Name: "success_ratio", Op: ">", Threshold: 0.8, Value: 0.9567, Passed: true},
	})
	want := "criterion         threshold  measured      \n" +
		"election_seconds  &lt; 15 s     not measured  MISSED\n" +
		"success_ratio     &gt; 80.0 %   95.7 %        ok"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRenderCarriesLinksAndEscapes(t *testing.T) {
	t.Parallel()
	r := Renderer{Cluster: "prod", RunURLBase: "https://rd.example/runs/", DashboardURL: "https://grafana.example/d/rd",
		RunbookURL: "https://github.com/raftdrill/raftdrill/blob/main/docs/alerts.md", Mention: "<!here>"}
	m := &alerts.Message{Op: alerts.OpOpen, At: time.Unix(1700000000, 0), Alert: alerts.Alert{Kind: alerts.KindQuorumLost, Title: "Quorum lost",
		Text: "node 2: " + esc("dial <tcp> & co"), RunID: "r1", Drill: "d"}}
	text, blocks := r.Render(m)
	js := blocksJSON(t, blocks)
	for _, want := range []string{"<https://rd.example/runs/r1|r1>", "<https://grafana.example/d/rd|Dashboard>",
		"docs/alerts.md#quorum-lost|Runbook>", "dial &lt;tcp&gt; &amp; co", "<!here>", "prod"} {
		if !strings.Contains(js, want) {
			t.Errorf("blocks lack %q: %s", want, js)
		}
	}
	if !strings.HasPrefix(text, "[raftdrill prod] :red_circle: Quorum lost") {
		t.Errorf("fallback %q", text)
	}
	// Not every kind wakes people up.
	m.Alert.Kind = alerts.KindThresholdMissed
	if _, b := r.Render(m); strings.Contains(blocksJSON(t, b), "<!here>") {
		t.Error("threshold-missed should not mention")
	}
}

// Every string from the configuration that reaches Slack as mrkdwn is
// escaped, so a cluster named "<!channel>" or a URL with "&" cannot mention
// or break out; the configured mention alone is mrkdwn on purpose. (The
// header is plain_text, which Slack shows as it is.)
func TestConfigStringsAreEscaped(t *testing.T) {
	t.Parallel()
	r := Renderer{Cluster: "<!channel> & co", RunURLBase: "https://rd.example/runs?a=1&b=<x>/", DashboardURL: "https://g.example/d?x=1&y=2",
		RunbookURL: "https://docs.example/alerts.md?<y>"}
	for _, m := range []*alerts.Message{
		{Op: alerts.OpOpen, At: time.Unix(1700000000, 0), Alert: alerts.Alert{Kind: alerts.KindNodeNotRestored, Title: "Node 2 left down by drill <d>", RunID: "r1", Drill: "d"}},
		{Op: alerts.OpResolve, At: time.Unix(1700000000, 0), Resolution: "back", Alert: alerts.Alert{Kind: alerts.KindNodeNotRestored, Title: "t", RunID: "r1"}},
		{Op: alerts.OpOpen, At: time.Unix(1700000000, 0), Overflow: &alerts.Overflow{Count: 1}},
	} {
		text, blocks := r.Render(m)
		if _, ok := blocks[0].(*slackgo.HeaderBlock); !ok {
			t.Fatalf("first block %T", blocks[0])
		}
		js := blocksJSON(t, blocks[1:])
		for _, s := range []string{text, js} {
			for _, bad := range []string{"<!channel>", "&b=", "?<y>", "x=1&y", "<d>"} {
				if strings.Contains(s, bad) {
					t.Errorf("unescaped %q in %s", bad, s)
				}
			}
		}
		if !strings.Contains(text, "&lt;!channel&gt; &amp; co") {
			t.Errorf("fallback %q", text)
		}
	}
}

func TestRenderStaysWithinSlackLimits(t *testing.T) {
	t.Parallel()
	m := &alerts.Message{Op: alerts.OpOpen, Alert: alerts.Alert{Kind: alerts.KindDrillError, Title: strings.Repeat("t", 400), Text: strings.Repeat("x", 5000)}}
	_, blocks := Renderer{Cluster: "c"}.Render(m)
	h := blocks[0].(*slackgo.HeaderBlock)
	s := blocks[1].(*slackgo.SectionBlock)
	if n := len([]rune(h.Text.Text)); n > maxHeaderText {
		t.Errorf("header %d runes", n)
	}
	if n := len([]rune(s.Text.Text)); n > maxSectionText {
		t.Errorf("section %d runes", n)
	}
}
