package daemon

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
)

const maxTriggerBody = 64 << 10

// Handler is the daemon's HTTP API (see the contract).
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: d.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.ready.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("POST /trigger", d.handleTrigger)
	mux.HandleFunc("GET /runs", func(w http.ResponseWriter, _ *http.Request) {
		runs := d.store.list()
		for i := range runs {
			runs[i].Events = nil // summaries; the full run is at /runs/{id}
		}
		writeJSON(w, http.StatusOK, runs)
	})
	mux.HandleFunc("GET /runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		run, ok := d.store.get(r.PathValue("id"))
		if !ok {
			writeError(w, http.StatusNotFound, "no run %q (only the last %d runs are kept)", r.PathValue("id"), d.cfg.Server.RunHistory)
			return
		}
		writeJSON(w, http.StatusOK, run)
	})
	mux.HandleFunc("GET /{$}", d.handleStatus)
	return mux
}

// triggerPolicy says who may POST /trigger, for the start-up log line.
func (d *Daemon) triggerPolicy() string {
	switch {
	case d.cfg.Server.AuthTokenFile != "":
		return "bearer token required"
	case isLoopback(d.cfg.Server.Listen):
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
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authorize enforces the trigger policy; it writes the refusal itself.
func (d *Daemon) authorize(w http.ResponseWriter, r *http.Request) bool {
	file := d.cfg.Server.AuthTokenFile
	if file == "" {
		if isLoopback(d.cfg.Server.Listen) {
			return true
		}
		writeError(w, http.StatusForbidden,
			"POST /trigger is disabled: raftdrill listens on %s, which is not a loopback address, and server.auth_token_file is not set; set a token so that nobody on the network can kill nodes by accident",
			d.cfg.Server.Listen)
		return false
	}
	// Read at each request, so a rotated token needs no restart.
	raw, err := os.ReadFile(file)
	want := strings.TrimSpace(string(raw))
	if err != nil || want == "" {
		d.log.Error("cannot read server.auth_token_file; refusing triggers", "err", err)
		writeError(w, http.StatusServiceUnavailable, "trigger token unavailable on the server (see its log)")
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="raftdrill"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return false
	}
	return true
}

func (d *Daemon) handleTrigger(w http.ResponseWriter, r *http.Request) {
	if !d.authorize(w, r) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTriggerBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body over %d bytes", maxTriggerBody)
			return
		}
		writeError(w, http.StatusBadRequest, "read body: %v", err)
		return
	}
	name := r.URL.Query().Get("drill")
	if len(strings.TrimSpace(string(body))) > 0 {
		var req struct {
			Drill string `json:"drill"`
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, `bad body (want {"drill":"leader-failover"}): %v`, err)
			return
		}
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
	if _, ok := d.drills[name]; !ok {
		writeError(w, http.StatusBadRequest, "unknown drill %q; drills: %s", name, strings.Join(drills.Names(), ", "))
		return
	}
	run, err := d.Trigger(name, run.TriggerAPI)
	if err != nil {
		var busy ErrBusy
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
