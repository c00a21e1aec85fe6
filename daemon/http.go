package daemon

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

const (
	maxTriggerBody = 64 << 10
	// maxRunID bounds the run ids the API looks up; a longer one is
	// refused without being echoed.
	maxRunID = 128
)

// Handler is the daemon's HTTP API (see the contract). The endpoints that
// act (POST /trigger, /-/reload, /-/state/clear) are guarded: see guard.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: d.reg}))
	healthy := func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	mux.HandleFunc("GET /healthz", healthy)
	mux.HandleFunc("GET /-/healthy", healthy) // as Prometheus and Alertmanager name it
	mux.HandleFunc("GET /readyz", d.handleReady)
	mux.HandleFunc("GET /-/ready", d.handleReady)
	mux.HandleFunc("POST /trigger", d.handleTrigger)
	mux.HandleFunc("POST /-/reload", d.handleReload)
	mux.HandleFunc("POST /-/state/clear", d.handleStateClear)
	mux.HandleFunc("GET /runs", func(w http.ResponseWriter, _ *http.Request) {
		runs := d.store.list()
		for i := range runs {
			runs[i].Events = nil // summaries; the full run is at /runs/{id}
		}
		writeJSON(w, http.StatusOK, runs)
	})
	mux.HandleFunc("GET /runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if len(id) > maxRunID {
			writeError(w, http.StatusBadRequest, "run id longer than %d bytes", maxRunID)
			return
		}
		run, ok := d.store.get(id)
		if !ok {
			writeError(w, http.StatusNotFound, "no run %q (the run history keeps the last %d runs, and runs that did not pass longer)", id, d.config().Server.RunHistory)
			return
		}
		writeJSON(w, http.StatusOK, run)
	})
	mux.HandleFunc("GET /{$}", d.handleStatus)
	return mux
}

func (d *Daemon) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !d.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	body := map[string]any{"status": "ready"}
	// Ready to serve the API; whether the cluster is whole is another
	// matter, said here so that a deploy check sees it.
	if left := d.keeper.Pending(); len(left) > 0 {
		body["nodes_awaiting_restore"] = drill.DescribeOutages(left)
	}
	writeJSON(w, http.StatusOK, body)
}

// triggerPolicy says who may POST /trigger, for the start-up log line.
func (d *Daemon) triggerPolicy() string {
	cfg := d.config()
	switch {
	case cfg.Server.AuthTokenFile != "":
		return "bearer token required"
	case isLoopback(cfg.Server.Listen):
		return "open (loopback only)"
	default:
		return "disabled: non-loopback listen address without server.auth_token_file"
	}
}

func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	return loopbackHost(host)
}

func loopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var crossOrigin = http.NewCrossOriginProtection()

// guard lets through only requests that may act: a Host that is loopback,
// the listen address or one of server.allowed_hosts (so that a web page
// cannot reach the API through DNS rebinding); not cross-site (the
// browser's Sec-Fetch-Site, else Origin against Host); authorised by the
// trigger policy. It writes the refusal itself.
func (d *Daemon) guard(w http.ResponseWriter, r *http.Request) bool {
	cfg := d.config()
	if !hostAllowed(r.Host, cfg.Server) {
		host := r.Host
		if len(host) > 100 {
			host = host[:100] + "…"
		}
		writeError(w, http.StatusForbidden, "Host %q is not allowed to act on raftdrill: use a loopback address, the listen address, or a name in server.allowed_hosts", host)
		return false
	}
	if err := crossOrigin.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "cross-site request refused: %v", err)
		return false
	}
	return d.authorize(w, r, cfg)
}

func hostAllowed(hostport string, srv config.Server) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return false
	}
	if loopbackHost(host) {
		return true
	}
	if lh, _, err := net.SplitHostPort(srv.Listen); err == nil && lh != "" && strings.EqualFold(lh, host) {
		if ip := net.ParseIP(lh); ip == nil || !ip.IsUnspecified() {
			return true
		}
	}
	for _, a := range srv.AllowedHosts {
		if strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(host, ".")) {
			return true
		}
	}
	return false
}

// tokenTrouble remembers the last problem reading the token file, so that
// a broken file is logged when it breaks, not at every request.
var tokenTrouble struct {
	sync.Mutex
	last string
}

// authorize enforces the trigger policy; it writes the refusal itself.
func (d *Daemon) authorize(w http.ResponseWriter, r *http.Request, cfg *config.Config) bool {
	file := cfg.Server.AuthTokenFile
	if file == "" {
		if isLoopback(cfg.Server.Listen) {
			return true
		}
		writeError(w, http.StatusForbidden,
			"%s is disabled: raftdrill listens on %s, which is not a loopback address, and server.auth_token_file is not set; set a token so that nobody on the network can act on the cluster by accident",
			r.URL.Path, cfg.Server.Listen)
		return false
	}
	// Read at each request, so a rotated token needs no restart. Start-up
	// and reloads refuse a missing or empty file; this is a file broken
	// since.
	raw, err := os.ReadFile(file)
	want := strings.TrimSpace(string(raw))
	if err != nil || want == "" {
		msg := "empty"
		if err != nil {
			msg = err.Error()
		}
		tokenTrouble.Lock()
		if tokenTrouble.last != msg {
			tokenTrouble.last = msg
			d.log.Error("server.auth_token_file unreadable or empty; refusing triggers until it is fixed", "problem", msg)
		}
		tokenTrouble.Unlock()
		writeError(w, http.StatusServiceUnavailable, "trigger token unavailable on the server (see its log)")
		return false
	}
	tokenTrouble.Lock()
	tokenTrouble.last = ""
	tokenTrouble.Unlock()
	got, ok := presentedToken(r)
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="raftdrill"`)
		writeError(w, http.StatusUnauthorized,
			"missing or wrong token: send Authorization: Bearer <token>, or %s: <token> when Authorization carries the basic auth of server.web_config_file", TokenHeader)
		return false
	}
	return true
}

// TokenHeader carries the trigger token when the Authorization header
// cannot: with basic auth in the web config file, the exporter-toolkit
// takes Authorization for the user's password, and a request has only one.
// The token stays a credential of its own rather than basic auth standing
// in for it, because the basic auth user is typically Prometheus's, which
// should read the metrics, not kill nodes.
const TokenHeader = "X-Raftdrill-Token"

// presentedToken is the token a request carries: TokenHeader if present,
// else a Bearer (any case) Authorization.
func presentedToken(r *http.Request) (string, bool) {
	if tok := strings.TrimSpace(r.Header.Get(TokenHeader)); tok != "" {
		return tok, true
	}
	scheme, got, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(got), true
}

// readJSONBody decodes an optional JSON object body into v: one with a
// Content-Type other than application/json is refused (415; a form a web
// page can send without asking is text/plain), as are unknown fields and
// anything after the object (400). It reports whether there was a body.
func readJSONBody(w http.ResponseWriter, r *http.Request, v any, example string) (present, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTriggerBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body over %d bytes", maxTriggerBody)
			return false, false
		}
		writeError(w, http.StatusBadRequest, "read body: %v", err)
		return false, false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return false, true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "a body must be JSON with Content-Type: application/json (want %s)", example)
		return true, false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad body (want %s): %v", example, err)
		return true, false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "bad body (want %s): data after the JSON object", example)
		return true, false
	}
	return true, true
}

func (d *Daemon) handleTrigger(w http.ResponseWriter, r *http.Request) {
	if !d.guard(w, r) {
		return
	}
	var req struct {
		Drill string `json:"drill"`
	}
	present, ok := readJSONBody(w, r, &req, `{"drill":"leader-failover"}`)
	if !ok {
		return
	}
	name := r.URL.Query().Get("drill")
	if present {
		if name != "" && req.Drill != "" && name != req.Drill {
			writeError(w, http.StatusBadRequest, "?drill=%s and body drill %q disagree", name, req.Drill)
			return
		}
		if req.Drill != "" {
			name = req.Drill
		}
	}
	if name == "" {
		writeError(w, http.StatusBadRequest, `no drill named: send {"drill":"NAME"} or ?drill=NAME; drills: %s`, strings.Join(drills.Names(), ", "))
		return
	}
	if _, ok := drills.Lookup(name); !ok {
		writeError(w, http.StatusBadRequest, "unknown drill %q; drills: %s", name, strings.Join(drills.Names(), ", "))
		return
	}
	run, err := d.Trigger(name, run.TriggerAPI)
	if err != nil {
		var busy ErrBusy
		var follower ErrNotLeader
		if errors.As(err, &follower) {
			// Only the leader drills; a load balancer in front of the
			// replicas sends the trigger to whichever, so say where to go.
			writeJSON(w, http.StatusConflict, map[string]string{"error": follower.Error(), "leader": follower.Leader})
			return
		}
		if errors.As(err, &busy) {
			writeJSON(w, http.StatusConflict, map[string]string{
				"error":   busy.Error(),
				"running": busy.Running.ID,
				"drill":   busy.Running.Drill,
			})
			return
		}
		writeError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	w.Header().Set("Location", "/runs/"+run.ID)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": run.ID, "drill": run.Drill, "status": run.Status})
}

// handleReload is POST /-/reload: SIGHUP over HTTP.
func (d *Daemon) handleReload(w http.ResponseWriter, r *http.Request) {
	if !d.guard(w, r) {
		return
	}
	var none struct{}
	if _, ok := readJSONBody(w, r, &none, "no body"); !ok {
		return
	}
	res, err := d.Reload(r.Context())
	if err != nil {
		body := map[string]any{"error": "configuration not reloaded; the previous one stays in force"}
		var ps config.Problems
		if errors.As(err, &ps) {
			var list []map[string]string
			for _, p := range ps {
				list = append(list, map[string]string{"key": p.Key, "problem": p.Msg})
			}
			body["problems"] = list
		} else {
			body["detail"] = err.Error()
		}
		writeJSON(w, http.StatusInternalServerError, body)
		return
	}
	if res.After != "" {
		writeJSON(w, http.StatusOK, map[string]string{"status": "valid; applies when the running drill ends", "applies_after": res.After})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
}

// handleStateClear is POST /-/state/clear: `raftdrill state clear` when a
// daemon holds the state directory. Body: {"node": N} and/or {"run": ID},
// or {"all": true}.
func (d *Daemon) handleStateClear(w http.ResponseWriter, r *http.Request) {
	if !d.guard(w, r) {
		return
	}
	var req ClearRequest
	present, ok := readJSONBody(w, r, &req, `{"node":2}`)
	if !ok {
		return
	}
	if !present || (req.Node == nil && req.Run == "" && !req.All) {
		writeError(w, http.StatusBadRequest, `say what to clear: {"node":N}, {"run":"ID"} or {"all":true}`)
		return
	}
	node := int32(-1)
	if req.Node != nil {
		node = *req.Node
	}
	gone, err := d.ClearOutages(node, req.Run)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	if gone == nil {
		gone = []state.Outage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"cleared": gone})
}

// ClearRequest is the body of POST /-/state/clear.
type ClearRequest struct {
	Node *int32 `json:"node,omitempty"`
	Run  string `json:"run,omitempty"`
	All  bool   `json:"all,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // criteria say "<"; people read this with curl
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}
