package daemon

import (
	"html/template"
	"net/http"
)

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raftdrill</title></head>
<body>
<h1>raftdrill</h1>
<p>Cluster {{.Cluster}}: nodes {{range .Nodes}}{{.}} {{end}}</p>
<table>
<tr><th>run</th><th>drill</th><th>status</th><th>started</th><th>failover (s)</th><th>success ratio</th><th>anomalies</th></tr>
{{range .Runs}}<tr><td><a href="/runs/{{.ID}}">{{.ID}}</a></td><td>{{.Drill}}</td><td>{{.Status}}</td><td>{{.StartedAt.Format "2006-01-02 15:04:05Z07:00"}}</td>
<td>{{index .Measures "failover_seconds"}}</td><td>{{index .Measures "success_ratio"}}</td><td>{{len .Anomalies}}</td></tr>
{{end}}</table>
</body></html>
`))

func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusPage.Execute(w, map[string]any{
		"Cluster": d.cfg.Cluster.Name,
		"Nodes":   d.cluster.NodeIDs(),
		"Runs":    d.store.list(),
	})
}
