package daemon

// statusHTML is the status page. Everything it needs is in it: the styles
// inline, the charts as inline SVG, the favicon a data: URL (so the browser
// does not ask for /favicon.ico), and a meta refresh instead of a script.
const statusHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{.Refresh}}">
<link rel="icon" href="data:,">
<title>raftdrill · {{.Cluster}} · {{if .Quorum.Available}}quorum available{{else}}QUORUM LOST{{end}}</title>
<style>
:root {
  --bg: #f5f6f8; --card: #fff; --ink: #1c2430; --muted: #5d6875; --line: #dde1e6;
  --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #cf222e; --bad-bg: #ffebe9;
  --warn: #9a6700; --warn-bg: #fff8c5; --run: #0969da; --run-bg: #ddf4ff;
  --s1: #0969da; --s2: #8250df;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: #1f2937; color: #f3f4f6; padding: 12px 24px; display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; letter-spacing: .3px; }
header .cluster { font-weight: 600; }
header .role { font-size: 12px; border-radius: 999px; padding: 1px 10px; font-weight: 600; }
header .role.leader { color: var(--ok); background: var(--ok-bg); }
header .role.follower { color: #e5e7eb; border: 1px solid #6b7280; }
header .meta { margin-left: auto; color: #9ca3af; font-size: 12px; }
header a { color: #cbd5e1; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 24px 32px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); margin: 26px 0 10px; }
.grid { display: grid; gap: 14px; }
.now { grid-template-columns: minmax(220px, 1fr) minmax(280px, 2fr) minmax(220px, 1fr); }
.drills { grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); }
.charts { grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .5px; }
.big { font-size: 26px; font-weight: 700; margin: 4px 0 2px; }
.quorum.ok { border-left: 6px solid var(--ok); } .quorum.ok .big { color: var(--ok); }
.quorum.lost { border-left: 6px solid var(--bad); background: var(--bad-bg); } .quorum.lost .big { color: var(--bad); }
.sub { color: var(--muted); font-size: 12px; }
.nodes { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; }
.node { border-radius: 6px; padding: 6px 12px; font-weight: 600; border: 1px solid; }
.node.up { color: var(--ok); background: var(--ok-bg); border-color: #aceebb; }
.node.down { color: var(--bad); background: var(--bad-bg); border-color: #ffcecb; }
.badge { display: inline-block; border-radius: 999px; padding: 1px 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.badge.passed { color: var(--ok); background: var(--ok-bg); }
.badge.failed { color: var(--bad); background: var(--bad-bg); }
.badge.error { color: var(--warn); background: var(--warn-bg); }
.badge.running { color: var(--run); background: var(--run-bg); }
.badge.interrupted { color: var(--warn); background: var(--warn-bg); }
.badge.none { color: var(--muted); background: var(--bg); }
.drill h3 { margin: 0 0 6px; font-size: 15px; display: flex; justify-content: space-between; align-items: center; gap: 8px; }
.drill dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; margin: 8px 0 0; font-size: 13px; }
.drill dt { color: var(--muted); } .drill dd { margin: 0; }
.figs { display: flex; flex-wrap: wrap; gap: 4px 10px; }
.fig b { font-weight: 600; } .fig { white-space: nowrap; color: var(--ink); }
.fig .n { color: var(--muted); } .fig.bad, .fig.bad .n { color: var(--bad); font-weight: 600; }
.chart { margin: 0; }
.chart figcaption { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 14px; margin-bottom: 6px; }
.ctitle { font-weight: 600; }
.legend { display: flex; gap: 12px; font-size: 12px; color: var(--muted); }
.key::before { content: ""; display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 5px; vertical-align: -1px; background: currentColor; }
.key.s1::before { background: var(--s1); } .key.s2::before { background: var(--s2); }
.key.bad::before { background: var(--bad); }
.key.th::before { width: 14px; height: 0; border-radius: 0; border-top: 2px dashed var(--bad); background: none; vertical-align: 3px; }
svg { width: 100%; height: auto; display: block; overflow: visible; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .ylab { fill: var(--muted); font-size: 11px; text-anchor: end; }
svg .xlab { fill: var(--muted); font-size: 11px; }
svg .th { stroke: var(--bad); stroke-width: 1.5; stroke-dasharray: 6 4; }
svg .thlab { fill: var(--bad); font-size: 11px; text-anchor: end; }
svg .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg .line.s1 { stroke: var(--s1); } svg .line.s2 { stroke: var(--s2); stroke-dasharray: 1 0; opacity: .85; }
svg .pt { stroke: #fff; stroke-width: 1.5; }
svg .pt.s1 { fill: var(--s1); } svg .pt.s2 { fill: var(--s2); }
svg .pt.bad { fill: var(--bad); }
.empty { color: var(--muted); margin: 36px 0; text-align: center; }
.ok-note { color: var(--ok); font-weight: 600; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; font-size: 13px; }
th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f0f2f5; color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .4px; }
tr:last-child td { border-bottom: 0; }
td.id, td.nw { white-space: nowrap; }
td.id a { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; color: var(--run); text-decoration: none; }
.why { color: var(--bad); font-size: 12px; margin-top: 3px; }
.why.err { color: var(--warn); }
.big.idle { color: var(--muted); }
.nodes + .sub { margin-top: 8px; }
.anom { color: var(--bad); font-weight: 600; }
.anomalies td { background: var(--bad-bg); }
ol.live, ul.live { margin: 8px 0 0; padding-left: 18px; font-size: 12px; }
ol.live li.running b { color: var(--run); }
.awaiting { margin-top: 14px; border-left: 6px solid var(--bad); background: var(--bad-bg); }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
footer a { color: var(--muted); }
</style>
</head>
<body>
<header>
  <h1>raftdrill</h1>
  <span class="cluster">cluster {{.Cluster}}</span>
  {{with .HA}}<span class="role {{if .Leading}}leader{{else}}follower{{end}}" title="leader election (ha.kubernetes): only the leader drills">{{if .Leading}}leader · this replica ({{.Identity}}) drills{{else}}follower · {{.Identity}}; {{if .Leader}}{{.Leader}} leads and drills{{else}}no replica leads yet{{end}}{{end}}</span>{{end}}
  <span class="meta">{{if .Version}}version {{.Version}} · {{end}}updated {{time .Now}} · reloads every {{.Refresh}} s</span>
</header>
<main>
<h2>Cluster now</h2>
<section class="grid now">
  <div class="card quorum {{if .Quorum.Available}}ok{{else}}lost{{end}}">
    <div class="label">Quorum</div>
    <div class="big">{{if .Quorum.Available}}available{{else}}LOST{{end}}</div>
    <div class="sub">{{if .Quorum.Leaderless}}{{.Quorum.Leaderless}} partition(s) without a leader{{else if .Quorum.Available}}every watched partition has a leader{{else}}no majority of nodes answers, or writes are not acknowledged{{end}}</div>
  </div>
  <div class="card">
    <div class="label">Nodes · {{.Quorum.Up}} of {{len .Quorum.Nodes}} up</div>
    <div class="nodes">{{range .Quorum.Nodes}}<span class="node {{if .Up}}up{{else}}down{{end}}">node {{.ID}} {{if .Up}}up{{else}}down{{end}}</span>{{end}}</div>
    <div class="sub">as the quorum probe last saw them</div>
  </div>
  <div class="card">
    <div class="label">Drill running</div>
    {{if .Running}}{{range .Running}}<div class="big"><span class="badge running">{{.Drill}}</span></div><div class="sub">run <a href="/runs/{{.ID}}">{{.ID}}</a>, started {{hhmm .StartedAt}}, {{.Took}} so far</div>
    <ol class="live">{{range .Steps}}<li class="{{.Outcome}}"><b>{{.Name}}</b> <span class="badge {{.Outcome}}">{{.Outcome}}</span> <span class="sub">{{.Detail}}</span></li>{{end}}</ol>
    {{if .Events}}<ul class="live events">{{range .Events}}<li><span class="sub">{{hhmm .At}}</span> {{.What}}{{if .Node}} node {{.Node}}{{end}}{{if .Detail}} <span class="sub">— {{.Detail}}</span>{{end}}</li>{{end}}</ul>{{end}}{{end}}
    {{else}}<div class="big idle">none</div><div class="sub">one drill runs at a time</div>{{end}}
  </div>
</section>
{{if .Awaiting}}
<section class="card awaiting">
  <div class="label">Nodes a drill left down · being restored</div>
  {{range .Awaiting}}<div class="why">node {{.Node}} — taken down by {{.Drill}} (run <a href="/runs/{{.Run}}">{{.Run}}</a>) {{.Since}}; {{.Attempts}} restore attempt(s){{if .LastError}}; last error: {{.LastError}}{{end}}</div>{{end}}
  <div class="sub">raftdrill keeps restarting each until it serves Kafka, and runs no drill meanwhile; <code>raftdrill state clear --node N</code> stops it for a node gone for good.</div>
</section>
{{end}}

<h2>Drills</h2>
<section class="grid drills">
{{range .Drills}}
  <div class="card drill">
    <h3>{{.Name}} <span>{{if .Running}}<span class="badge running">running</span> {{end}}{{with .Last}}<span class="badge {{.Status}}">{{.Status}}</span>{{else}}{{if not .Running}}<span class="badge none">not run yet</span>{{end}}{{end}}</span></h3>
    {{with .Last}}<div class="figs">{{range .Figures}}<span class="fig{{if .Bad}} bad{{end}}"><span class="n">{{.Name}}</span> <b>{{.Value}}</b></span>{{end}}</div>
    {{range .Failed}}<div class="why">✗ {{.}}</div>{{end}}
    {{range .Anomalies}}<div class="anom">⚠ {{.Kind}} × {{.Count}}</div>{{end}}
    {{if .Error}}<div class="why err">{{.Error}}</div>{{end}}{{end}}
    <dl>
      <dt>last run</dt><dd>{{with .Last}}{{.Ago}} · took {{.Took}}{{else}}—{{end}}</dd>
      <dt>last passed</dt><dd>{{if .LastPassed}}{{.LastPassed}}{{else}}never{{end}}</dd>
      <dt>kept runs</dt><dd>{{.Passed}} passed · {{.Failed}} failed · {{.Errors}} errors</dd>
      <dt>schedule</dt><dd>{{.Schedule}}</dd>
    </dl>
  </div>
{{end}}
</section>

<h2>Recent runs</h2>
<section class="grid charts">
{{range .Charts}}  <div class="card">{{.}}</div>
{{end}}</section>

<h2>Data anomalies</h2>
{{if .Anomalies}}
<table class="anomalies">
  <tr><th>run</th><th>drill</th><th>kind</th><th>count</th><th>detail</th></tr>
  {{range .Anomalies}}<tr><td class="id"><a href="/runs/{{.RunID}}">{{.RunID}}</a></td><td>{{.Drill}}</td><td class="anom">{{.Kind}}</td><td>{{.Count}}</td><td>{{.Detail}} <span class="sub">({{.Ago}})</span></td></tr>
  {{end}}
</table>
<p class="sub">{{.AnomalyRun}} of the {{.Kept}} kept runs found anomalies.{{if .MoreAnomalies}} {{.MoreAnomalies}} more in older runs are not listed; every run is at <a href="/runs">/runs</a>.{{end}}</p>
{{else}}
<div class="card"><span class="ok-note">✓ None</span> <span class="sub">in the {{.Kept}} runs kept: no lost, duplicated, corrupted or phantom write, no leadership anomaly.</span></div>
{{end}}

<h2>Last {{len .Runs}} runs</h2>
{{if .Runs}}
<table>
  <tr><th>run</th><th>drill</th><th>result</th><th>started</th><th>took</th><th>figures</th></tr>
  {{range .Runs}}<tr>
    <td class="id"><a href="/runs/{{.ID}}">{{.ID}}</a><div class="sub">{{.Trigger}}</div></td>
    <td class="nw">{{.Drill}}</td>
    <td><span class="badge {{.Status}}">{{.Status}}</span></td>
    <td class="nw" title="{{time .Started}}">{{hhmm .Started}}<div class="sub">{{.Ago}}</div></td>
    <td class="nw">{{.Took}}</td>
    <td><div class="figs">{{range .Figures}}<span class="fig{{if .Bad}} bad{{end}}"><span class="n">{{.Name}}</span> <b>{{.Value}}</b></span>{{end}}</div>
      {{range .Failed}}<div class="why">✗ {{.}}</div>{{end}}
      {{range .Anomalies}}<div class="why anom">⚠ {{.Kind}} × {{.Count}}: {{.Detail}}</div>{{end}}
      {{if .Error}}<div class="why err">{{.Error}}</div>{{end}}</td>
  </tr>{{end}}
</table>
{{else}}
<div class="card empty">No drill has run yet. Drills run on their schedules, or now with <code>POST /trigger</code>.</div>
{{end}}

<footer>
  raftdrill keeps the run history in its state directory, across restarts; longer history is in Prometheus and Grafana.
  · <a href="/runs">/runs</a> · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a>
</footer>
</main>
</body>
</html>
`
