package dashboards

// What the tests know of Grafana: the part of a dashboard's JSON that says
// what to query, how Grafana fills in its variables before sending a query
// to Prometheus, and which metrics a PromQL expression reads. The tests
// read the committed JSON files with these, not the Go builders, because
// the files are what users load.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaDashboard struct {
	File          string `json:"-"`
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Panels        []grafanaPanel
	Templating    struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []grafanaAnnotation `json:"list"`
	} `json:"annotations"`
}

type grafanaPanel struct {
	ID            int     `json:"id"`
	Type          string  `json:"type"`
	Title         string  `json:"title"`
	Interval      string  `json:"interval"`
	MaxDataPoints float64 `json:"maxDataPoints"`
	Datasource    *dsRef  `json:"datasource"`
	GridPos       struct{ H, W, X, Y int }
	Targets       []grafanaTarget `json:"targets"`
	Panels        []grafanaPanel  `json:"panels"` // of a collapsed row
}

type grafanaTarget struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	Instant      bool   `json:"instant"`
	Range        bool   `json:"range"`
	Format       string `json:"format"`
	LegendFormat string `json:"legendFormat"`
	Interval     string `json:"interval"`
	Datasource   *dsRef `json:"datasource"`
}

type grafanaVariable struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Query      any    `json:"query"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
	Datasource *dsRef `json:"datasource"`
}

type grafanaAnnotation struct {
	Name        string         `json:"name"`
	BuiltIn     float64        `json:"builtIn"`
	Enable      bool           `json:"enable"`
	Expr        string         `json:"expr"`
	Step        string         `json:"step"`
	TitleFormat string         `json:"titleFormat"`
	TagKeys     string         `json:"tagKeys"`
	Datasource  *dsRef         `json:"datasource"`
	Target      *grafanaTarget `json:"target"`
}

// loadDashboards reads every committed dashboard JSON file.
func loadDashboards(t *testing.T) []grafanaDashboard {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboard JSON in %s (run make dashboards): %v", Dir, err)
	}
	var out []grafanaDashboard
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaDashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		d.File = filepath.Base(p)
		out = append(out, d)
	}
	return out
}

// allPanels flattens rows.
func (d grafanaDashboard) allPanels() []grafanaPanel {
	var out []grafanaPanel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// promQuery is one query that Grafana sends to Prometheus.
type promQuery struct {
	Where       string // dashboard / panel / refId, for messages
	Kind        string // panel or annotation
	Expr        string
	Legend      string // legendFormat or an annotation's titleFormat
	Instant     bool
	MinInterval string // the panel's or annotation's floor for $__interval
}

// queries lists every panel and annotation query of the dashboard. The
// built-in Grafana annotation queries Grafana itself, not Prometheus.
func (d grafanaDashboard) queries() []promQuery {
	var out []promQuery
	for _, p := range d.allPanels() {
		for _, t := range p.Targets {
			min := p.Interval
			if t.Interval != "" {
				min = t.Interval
			}
			out = append(out, promQuery{
				Where:       fmt.Sprintf("%s / %s / %s", d.UID, p.Title, t.RefID),
				Kind:        "panel",
				Expr:        t.Expr,
				Legend:      t.LegendFormat,
				Instant:     t.Instant && !t.Range,
				MinInterval: min,
			})
		}
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 1 {
			continue
		}
		out = append(out, promQuery{
			Where:       fmt.Sprintf("%s / annotation %s", d.UID, a.Name),
			Kind:        "annotation",
			Expr:        a.Expr,
			Legend:      a.TitleFormat,
			MinInterval: a.Step,
		})
	}
	return out
}

// labelValuesQuery splits a Prometheus variable query
// label_values(series, label) into its parts.
var labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

func parseLabelValues(q string) (series, label string, err error) {
	m := labelValuesRE.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return "", "", fmt.Errorf("variable query %q is not label_values(series, label)", q)
	}
	return strings.TrimSpace(m[1]), m[2], nil
}

// grafanaEnv is what Grafana knows when it fills in a query: the time
// range, the datasource's scrape interval, and the variables' values.
type grafanaEnv struct {
	From, To      time.Time
	Scrape        time.Duration // the datasource's timeInterval
	MaxDataPoints int           // about the panel's width in pixels
	Vars          map[string]variableValue
}

type variableValue struct {
	Values []string
	Multi  bool // multi-valued or with "All": a regex alternation
}

// interval is $__interval as Grafana's Prometheus datasource computes it:
// range / max data points, rounded to a tidy value, never below the query's
// floor (the panel's min interval, else the scrape interval), and never so
// small that the query would return over 11,000 points.
func (e grafanaEnv) interval(minInterval string) (time.Duration, error) {
	floor := e.Scrape
	if minInterval != "" {
		d, err := parseGrafanaDuration(minInterval)
		if err != nil {
			return 0, fmt.Errorf("interval %q: %w", minInterval, err)
		}
		floor = d
	}
	span := e.To.Sub(e.From)
	iv := roundInterval(span / time.Duration(e.MaxDataPoints))
	if safe := span / 11000; iv < safe {
		iv = safe.Truncate(time.Second) + time.Second
	}
	return max(iv, floor), nil
}

// rateInterval is $__rate_interval: at least four scrapes, and one scrape
// more than the step, so that rate() always has two samples.
func (e grafanaEnv) rateInterval(interval time.Duration) time.Duration {
	return max(interval+e.Scrape, 4*e.Scrape)
}

// interpolate replaces the variables of expr as Grafana does before it
// sends the query.
func (e grafanaEnv) interpolate(expr string, interval time.Duration) (string, error) {
	span := e.To.Sub(e.From).Round(time.Second)
	builtins := map[string]string{
		"__interval":      formatDuration(interval),
		"__interval_ms":   strconv.FormatInt(interval.Milliseconds(), 10),
		"__rate_interval": formatDuration(e.rateInterval(interval)),
		"__range":         formatDuration(span),
		"__range_s":       strconv.FormatInt(int64(span.Seconds()), 10),
		"__range_ms":      strconv.FormatInt(span.Milliseconds(), 10),
	}
	var missing []string
	out := varRE.ReplaceAllStringFunc(expr, func(m string) string {
		name := strings.Trim(m, "${}[]")
		if v, ok := builtins[name]; ok {
			return v
		}
		v, ok := e.Vars[name]
		if !ok {
			missing = append(missing, m)
			return m
		}
		return v.format()
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("undefined variables %v in %q", missing, expr)
	}
	return out, nil
}

var varRE = regexp.MustCompile(`\$\{\w+\}|\$\w+|\[\[\w+\]\]`)

// format renders a variable's value inside a PromQL string, as Grafana's
// Prometheus datasource does: a single value as is (only \ and ' escaped),
// several (or All) as a regex alternation of escaped values.
func (v variableValue) format() string {
	if !v.Multi {
		if len(v.Values) == 0 {
			return ""
		}
		return strings.NewReplacer(`\`, `\\`, `'`, `\\'`).Replace(v.Values[0])
	}
	esc := make([]string, len(v.Values))
	for i, s := range v.Values {
		esc[i] = strings.ReplaceAll(regexp.QuoteMeta(s), `\`, `\\`)
	}
	if len(esc) == 1 {
		return esc[0]
	}
	return "(" + strings.Join(esc, "|") + ")"
}

// roundInterval is Grafana's rounding of a computed interval.
func roundInterval(d time.Duration) time.Duration {
	steps := []struct{ below, to time.Duration }{
		{15 * time.Millisecond, 10 * time.Millisecond},
		{35 * time.Millisecond, 20 * time.Millisecond},
		{75 * time.Millisecond, 50 * time.Millisecond},
		{150 * time.Millisecond, 100 * time.Millisecond},
		{350 * time.Millisecond, 200 * time.Millisecond},
		{750 * time.Millisecond, 500 * time.Millisecond},
		{1500 * time.Millisecond, time.Second},
		{3500 * time.Millisecond, 2 * time.Second},
		{7500 * time.Millisecond, 5 * time.Second},
		{12500 * time.Millisecond, 10 * time.Second},
		{17500 * time.Millisecond, 15 * time.Second},
		{25 * time.Second, 20 * time.Second},
		{45 * time.Second, 30 * time.Second},
		{90 * time.Second, time.Minute},
		{210 * time.Second, 2 * time.Minute},
		{450 * time.Second, 5 * time.Minute},
		{750 * time.Second, 10 * time.Minute},
		{1050 * time.Second, 15 * time.Minute},
		{1500 * time.Second, 20 * time.Minute},
		{2700 * time.Second, 30 * time.Minute},
		{5400 * time.Second, time.Hour},
	}
	for _, s := range steps {
		if d < s.below {
			return s.to
		}
	}
	return d.Round(time.Hour)
}

func parseGrafanaDuration(s string) (time.Duration, error) {
	return time.ParseDuration(strings.TrimPrefix(s, ">"))
}

// formatDuration writes a duration as PromQL reads it: 15s, 1m, 2h, 500ms.
func formatDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	default:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
}

// PromQL's words that are not metric names. Anything else that stands
// where a metric may stand is taken as one, so a misspelt function shows up
// as an unknown metric.
var (
	promAggregations = set("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
		"count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio")
	promFunctions = set("abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan",
		"atanh", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
		"count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg", "delta",
		"deriv", "exp", "floor", "histogram_count", "histogram_fraction", "histogram_quantile",
		"histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate", "label_join",
		"label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time",
		"min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time",
		"quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh", "sort",
		"sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh",
		"time", "timestamp", "vector", "year")
	promKeywords  = set("and", "or", "unless", "bool", "offset", "atan2", "inf", "nan")
	promGroupings = set("by", "without", "on", "ignoring", "group_left", "group_right")
)

func set(words ...string) map[string]bool {
	m := map[string]bool{}
	for _, w := range words {
		m[w] = true
	}
	return m
}

// metricNames lists the metric names expr selects. It is a small lexer, not
// a parser: Prometheus checks the syntax; this finds the names so that a
// query of a metric the daemon does not export fails even where PromQL
// would quietly return nothing for it (inside "or", say).
func metricNames(expr string) ([]string, error) {
	var names []string
	skipTo := func(i int, open, close byte) (int, error) {
		depth := 0
		for j := i; j < len(expr); j++ {
			switch c := expr[j]; {
			case c == '"' || c == '\'' || c == '`':
				end := strings.IndexByte(expr[j+1:], c)
				if end < 0 {
					return 0, fmt.Errorf("unterminated string in %q", expr)
				}
				j += end + 1
			case c == open:
				depth++
			case c == close:
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unbalanced %c%c in %q", open, close, expr)
	}
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	nextNonSpace := func(i int) int {
		for i < len(expr) && (expr[i] == ' ' || expr[i] == '\t' || expr[i] == '\n') {
			i++
		}
		return i
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end := strings.IndexByte(expr[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated string in %q", expr)
			}
			i += end + 2
		case c == '{':
			j, err := skipTo(i, '{', '}')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '[':
			j, err := skipTo(i, '[', ']')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '$':
			// a Grafana variable ($__interval, ${job}) standing for a duration
			i++
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '{' || expr[i] == '}') {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			// a number or a duration (1e9, 0.95, 5m)
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			next := nextNonSpace(j)
			switch {
			case promGroupings[word]:
				if next < len(expr) && expr[next] == '(' {
					k, err := skipTo(next, '(', ')')
					if err != nil {
						return nil, err
					}
					j = k
				}
			case promAggregations[word], promKeywords[word]:
			case next < len(expr) && expr[next] == '(':
				if !promFunctions[word] {
					return nil, fmt.Errorf("unknown function %s in %q", word, expr)
				}
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// legendLabels are the labels a legend or annotation title names.
func legendLabels(format string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`).FindAllStringSubmatch(format, -1) {
		out = append(out, m[1])
	}
	return out
}

// promResponse is an answer of /api/v1/query or /api/v1/query_range.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`  // vector: [t, "v"]
			Values [][]any           `json:"values"` // matrix: [[t, "v"], …]
		} `json:"result"`
	} `json:"data"`
}

// check says what is wrong with the answer to q, if anything: it must be a
// success of the expected shape, not empty, every value a number and at
// least one of them finite (a panel of nothing but NaN shows nothing), and
// every series must carry the labels the legend names.
func (r promResponse) check(q promQuery) error {
	if r.Status != "success" {
		return fmt.Errorf("status %q: %s: %s", r.Status, r.ErrorType, r.Error)
	}
	want := "matrix"
	if q.Instant {
		want = "vector"
	}
	if r.Data.ResultType != want {
		return fmt.Errorf("result type %q, want %q", r.Data.ResultType, want)
	}
	if len(r.Data.Result) == 0 {
		return fmt.Errorf("empty result")
	}
	finite := 0
	for _, s := range r.Data.Result {
		samples := s.Values
		if q.Instant {
			samples = [][]any{s.Value}
		}
		if len(samples) == 0 {
			return fmt.Errorf("series %v has no samples", s.Metric)
		}
		for _, sm := range samples {
			if len(sm) != 2 {
				return fmt.Errorf("series %v: malformed sample %v", s.Metric, sm)
			}
			str, ok := sm[1].(string)
			if !ok {
				return fmt.Errorf("series %v: sample value %v is not a string", s.Metric, sm[1])
			}
			v, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return fmt.Errorf("series %v: sample value %q: %v", s.Metric, str, err)
			}
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				finite++
			}
		}
		for _, l := range legendLabels(q.Legend) {
			if _, ok := s.Metric[l]; !ok {
				return fmt.Errorf("legend %q names label %q, which series %v lacks", q.Legend, l, s.Metric)
			}
		}
	}
	if finite == 0 {
		return fmt.Errorf("no finite value in %d series", len(r.Data.Result))
	}
	return nil
}

// positive reports whether any sample of the answer is above zero.
func (r promResponse) positive() bool {
	for _, s := range r.Data.Result {
		for _, sm := range append(s.Values, s.Value) {
			if len(sm) == 2 {
				if str, ok := sm[1].(string); ok {
					if v, err := strconv.ParseFloat(str, 64); err == nil && v > 0 {
						return true
					}
				}
			}
		}
	}
	return false
}
