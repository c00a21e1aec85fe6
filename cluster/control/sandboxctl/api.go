package sandboxctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// API controls the nodes of a separate `raftdrill sandbox` process through
// its control API.
type API struct {
	base string
	hc   *http.Client
}

// NewAPI returns a controller for the sandbox whose control API listens at
// base (http://127.0.0.1:19090).
func NewAPI(base string, timeout time.Duration) *API {
	return &API{base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: timeout}}
}

func (s *API) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox control API: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sandbox control API: %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("sandbox control API: %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Kill kills a node through POST /nodes/{id}/kill.
func (s *API) Kill(ctx context.Context, id int32) error {
	return s.do(ctx, http.MethodPost, fmt.Sprintf("/nodes/%d/kill", id), nil)
}

// Restart restarts a node through POST /nodes/{id}/restart.
func (s *API) Restart(ctx context.Context, id int32) error {
	return s.do(ctx, http.MethodPost, fmt.Sprintf("/nodes/%d/restart", id), nil)
}

// Up reads GET /nodes.
func (s *API) Up(ctx context.Context, id int32) (bool, error) {
	var nodes []struct {
		ID int32 `json:"id"`
		Up bool  `json:"up"`
	}
	if err := s.do(ctx, http.MethodGet, "/nodes", &nodes); err != nil {
		return false, err
	}
	for _, n := range nodes {
		if n.ID == id {
			return n.Up, nil
		}
	}
	return false, fmt.Errorf("node %d: the sandbox has no such node", id)
}
