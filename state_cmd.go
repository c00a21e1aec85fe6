package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/daemon"
	"github.com/raftdrill/raftdrill/state"
)

func stateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "state", Short: "The state directory: run history, alert outbox, restore journal"}
	var path, runID string
	var node int32
	var all bool
	clear := &cobra.Command{
		Use:   "clear",
		Short: "Stop restoring nodes: remove their entries from the restore journal",
		Long: "raftdrill restores every node a drill took down until it serves Kafka again, with\n" +
			"no limit on attempts. For a node that is gone for good (replaced, decommissioned),\n" +
			"remove its entry: --node N, --run ID, or --all. With a `raftdrill serve` holding\n" +
			"the state directory, the daemon is asked (POST /-/state/clear, with the trigger token).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("node") && runID == "" && !all {
				return exitError{exitCannotRun, errors.New("say what to clear: --node N, --run ID or --all")}
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			req := daemon.ClearRequest{Run: runID, All: all}
			if cmd.Flags().Changed("node") {
				req.Node = &node
			}
			gone, err := clearState(cmd.Context(), cfg.State.Dir, cfg.Server, req)
			if err != nil {
				return exitError{exitCannotRun, err}
			}
			if len(gone) == 0 {
				fmt.Println("nothing to clear: no such entry in the restore journal")
				return nil
			}
			for _, o := range gone {
				fmt.Printf("cleared: node %d, taken down (%s) by run %s (%s) at %s; raftdrill no longer restores it\n",
					o.Node, o.Action, o.Run, o.Drill, o.At.Format(time.RFC3339))
			}
			return nil
		},
	}
	clear.Flags().StringVar(&path, "config", "", "YAML config file (state.dir, server.*)")
	clear.Flags().Int32Var(&node, "node", -1, "the node to stop restoring")
	clear.Flags().StringVar(&runID, "run", "", "only the entries of this run")
	clear.Flags().BoolVar(&all, "all", false, "every entry")
	cmd.AddCommand(clear)
	return cmd
}

// clearState clears journal entries itself, or through the daemon that
// holds the state directory.
func clearState(ctx context.Context, dir string, srv config.Server, req daemon.ClearRequest) ([]state.Outage, error) {
	match := func(o state.Outage) bool {
		return (req.Node == nil || o.Node == *req.Node) && (req.Run == "" || o.Run == req.Run)
	}
	st, err := state.Open(dir, state.Me("state clear", ""))
	if err == nil {
		defer st.Close()
		return st.Journal().ClearIf(match)
	}
	var locked *state.LockedError
	if !errors.As(err, &locked) || locked.Holder.Command != "serve" || locked.Holder.Listen == "" {
		return nil, err
	}
	gone, err := clearThroughDaemon(ctx, locked.Holder.Listen, srv.AuthTokenFile, req)
	if err != nil && srv.WebConfigFile != "" {
		// The web config's TLS and basic auth are for Prometheus and
		// people; this command has no password to send.
		body, _ := json.Marshal(req)
		return nil, fmt.Errorf("%w\nraftdrill serve uses server.web_config_file %s (TLS, basic auth), which this command does not speak; ask it yourself:\n"+
			"  curl --cacert CA.pem -u USER -H 'Content-Type: application/json' -H '%s: TOKEN' -d '%s' https://%s/-/state/clear",
			err, srv.WebConfigFile, daemon.TokenHeader, body, locked.Holder.Listen)
	}
	return gone, err
}

func clearThroughDaemon(ctx context.Context, listen, tokenFile string, req daemon.ClearRequest) ([]state.Outage, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+net.JoinHostPort(host, port)+"/-/state/clear", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if tokenFile != "" {
		tok, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("server.auth_token_file: %w", err)
		}
		hr.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("the state directory is held by raftdrill serve; asking it: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the state directory is held by raftdrill serve; it answered %s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	var out struct {
		Cleared []state.Outage `json:"cleared"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("raftdrill serve's answer: %w", err)
	}
	return out.Cleared, nil
}
