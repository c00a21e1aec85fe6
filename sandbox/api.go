package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Handler serves the sandbox control API of the contract: GET /nodes,
// POST /nodes/{id}/kill, POST /nodes/{id}/restart, GET /timeline, GET
// /healthz; POST /nodes/{id}/pause and /resume, POST /partitions (body: the
// groups of node ids, e.g. [[1],[2,3]]) and DELETE /partitions (heal); GET
// and PUT /faults for tests that make the sandbox misbehave.
func (c *Cluster) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /nodes", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, c.Nodes())
	})
	mux.HandleFunc("GET /timeline", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, c.Timeline())
	})
	nodeOp := func(op func(*http.Request, int32) error, verb string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := strconv.ParseInt(r.PathValue("id"), 10, 32)
			if err != nil || c.checkID(int32(id)) != nil {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no node %q", r.PathValue("id"))})
				return
			}
			if err := op(r, int32(id)); err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": verb})
		}
	}
	mux.HandleFunc("POST /nodes/{id}/kill", nodeOp(func(r *http.Request, id int32) error { return c.Kill(r.Context(), id) }, "killed"))
	mux.HandleFunc("POST /nodes/{id}/restart", nodeOp(func(r *http.Request, id int32) error { return c.Restart(r.Context(), id) }, "restarted"))
	mux.HandleFunc("POST /nodes/{id}/pause", nodeOp(func(r *http.Request, id int32) error { return c.Pause(r.Context(), id) }, "paused"))
	mux.HandleFunc("POST /nodes/{id}/resume", nodeOp(func(r *http.Request, id int32) error { return c.Resume(r.Context(), id) }, "resumed"))
	mux.HandleFunc("POST /partitions", func(w http.ResponseWriter, r *http.Request) {
		var groups [][]int32
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		if err := dec.Decode(&groups); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad partitions body (want groups of node ids, e.g. [[1],[2,3]]): " + err.Error()})
			return
		}
		if err := c.Partition(groups); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"groups": groups, "status": "partitioned"})
	})
	mux.HandleFunc("DELETE /partitions", func(w http.ResponseWriter, _ *http.Request) {
		c.Heal()
		writeJSON(w, http.StatusOK, map[string]string{"status": "healed"})
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, c.Faults())
	})
	mux.HandleFunc("PUT /faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad faults body: " + err.Error()})
			return
		}
		if ps := f.Problems(len(c.members)); len(ps) > 0 {
			msgs := make([]string, len(ps))
			for i, p := range ps {
				msgs[i] = p.Key + ": " + p.Msg
			}
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "bad faults", "problems": msgs})
			return
		}
		c.SetFaults(f)
		writeJSON(w, http.StatusOK, c.Faults())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // people read this with curl
	_ = enc.Encode(v)
}
