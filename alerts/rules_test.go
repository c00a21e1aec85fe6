package alerts

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/raftdrill/raftdrill/internal/testutil"
)

func readRules(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func matches(re *regexp.Regexp, s string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// Every rule has a unit test, a severity, a summary and a runbook that
// exists in docs/alerts.md; every Slack alert kind has its runbook too.
func TestEveryRuleIsTestedAndHasARunbook(t *testing.T) {
	t.Parallel()
	rules := readRules(t, "prometheus-rules.yml")
	tests := readRules(t, "prometheus-rules.test.yml")
	docs := readRules(t, "../docs/alerts.md")
	names := matches(regexp.MustCompile(`(?m)^\s+- alert: (\S+)`), rules)
	if len(names) < 6 {
		t.Fatalf("only %d rules found", len(names))
	}
	tested := matches(regexp.MustCompile(`(?m)alertname: (\S+)`), tests)
	for _, n := range names {
		if !slices.Contains(tested, n) {
			t.Errorf("rule %s has no promtool test", n)
		}
	}
	if got := len(regexp.MustCompile(`(?m)^\s+severity: (critical|warning)$`).FindAllString(rules, -1)); got != len(names) {
		t.Errorf("%d severities for %d rules", got, len(names))
	}
	if got := len(regexp.MustCompile(`(?m)^\s+summary: `).FindAllString(rules, -1)); got != len(names) {
		t.Errorf("%d summaries for %d rules", got, len(names))
	}
	anchors := matches(regexp.MustCompile(`docs/alerts\.md#([a-z-]+)`), rules)
	if len(anchors) != len(names) {
		t.Errorf("%d runbook anchors for %d rules", len(anchors), len(names))
	}
	anchors = append(anchors, Kinds...)
	for _, a := range anchors {
		if !strings.Contains(docs, "\n### "+a+"\n") {
			t.Errorf("runbook anchor #%s has no \"### %s\" heading in docs/alerts.md", a, a)
		}
	}
}

// promtool runs in `make rules` too; here it keeps `go test` honest when
// the tool is installed (REQUIRE_TEST_TOOLS=1 makes it mandatory).
func TestPromtoolAcceptsAndTestsTheRules(t *testing.T) {
	t.Parallel()
	promtool := testutil.RequireTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "prometheus-rules.yml"},
		{"test", "rules", "prometheus-rules.test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
