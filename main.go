// Command raftdrill keeps proving that a Raft-replicated, Kafka-compatible
// cluster can lose a node without losing data: it runs failover drills on a
// schedule and on demand, watches quorum, exports the figures to Prometheus
// and alerts in Slack. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/daemon"
	"github.com/raftdrill/raftdrill/exporters"
	"github.com/raftdrill/raftdrill/probes"
	"github.com/raftdrill/raftdrill/sandbox"
)

// Set by the build (-ldflags "-X main.version=… -X main.commit=…").
var (
	version = "dev"
	commit  = ""
)

// Exit codes of the contract.
const (
	exitPassed    = 0
	exitFailed    = 1
	exitCannotRun = 2
)

// exitError carries an exit code up through cobra.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := rootCmd()
	root.SetContext(ctx)
	if err := root.Execute(); err != nil {
		code := exitCannotRun
		var ee exitError
		if errors.As(err, &ee) {
			code = ee.code
			if ee.err == nil {
				stop()
				os.Exit(code)
			}
		}
		fmt.Fprintln(os.Stderr, "raftdrill:", err)
		stop()
		os.Exit(code)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "raftdrill",
		Short:         "Failover drills for Raft-replicated Kafka-compatible clusters",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), runCmd(), sandboxCmd(), configCmd(), versionCmd())
	return root
}

func buildInfo() exporters.Build {
	c := commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	return exporters.Build{Version: version, Commit: c}
}

func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			return nil, exitError{exitCannotRun, fmt.Errorf("invalid configuration:\n%s", ps.Error())}
		}
		return nil, exitError{exitCannotRun, err}
	}
	return cfg, nil
}

func newLogger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func serveCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: scheduler, HTTP API, metrics, alerts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			log := newLogger(cfg)
			d, err := daemon.New(cmd.Context(), cfg, daemon.Options{Logger: log, Build: buildInfo()})
			if err != nil {
				return exitError{exitCannotRun, err}
			}
			if err := wireServe(cmd.Context(), cfg, d, log); err != nil {
				d.Close()
				return exitError{exitCannotRun, err}
			}
			if err := d.Serve(cmd.Context()); err != nil {
				return exitError{exitCannotRun, err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "YAML config file (none: defaults, drilling the embedded sandbox)")
	return cmd
}

// wireServe attaches the continuous probes and alerting to a daemon; each
// later capability adds itself here.
func wireServe(ctx context.Context, _ *config.Config, d *daemon.Daemon, log *slog.Logger) error {
	return daemon.WireAlerts(ctx, d, log)
}

func runCmd() *cobra.Command {
	var path string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "run DRILL",
		Short: "Run one drill once, in the foreground (" + strings.Join(probes.DrillNames(), ", ") + ")",
		Long: "Runs one drill with live progress on stderr and a readable report on stdout.\n" +
			"Exit status: 0 passed, 1 failed (a criterion missed or an anomaly found), 2 could not run.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if _, ok := probes.Drills[name]; !ok {
				return exitError{exitCannotRun, fmt.Errorf("unknown drill %q; drills: %s", name, strings.Join(probes.DrillNames(), ", "))}
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if cfg.Log.Level == "info" {
				cfg.Log.Level = "warn" // progress lines tell the story; logs only for trouble
			}
			log := newLogger(cfg)
			ctx := cmd.Context()
			cl, err := daemon.Connect(ctx, cfg, log)
			if err != nil {
				return exitError{exitCannotRun, err}
			}
			defer func() {
				closeCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
				defer cancel()
				_ = cl.Close(closeCtx)
			}()
			start := time.Now()
			progress := func(msg string) {
				fmt.Fprintf(os.Stderr, "[%6.2fs] %s\n", time.Since(start).Seconds(), msg)
			}
			run, err := daemon.RunOnce(ctx, cfg, cl, name, log, progress)
			if err != nil {
				return exitError{exitCannotRun, err}
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false) // criteria ops read "<", not \u003c
				_ = enc.Encode(run)
			} else {
				daemon.WriteReport(os.Stdout, run)
			}
			switch run.Status {
			case probes.StatusPassed:
				return nil
			case probes.StatusFailed:
				return exitError{exitFailed, nil}
			default:
				return exitError{exitCannotRun, nil}
			}
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "YAML config file (none: drill the embedded sandbox)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run object (as GET /runs/{id} shows it) instead of the report")
	return cmd
}

func sandboxCmd() *cobra.Command {
	var nodes, basePort int
	var control, dataDir, fsync string
	var electMin, electMax time.Duration
	var perProcess bool
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a sandbox cluster as its own process, with the control API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 1 || nodes > 9 {
				return exitError{exitCannotRun, fmt.Errorf("--nodes %d: must be between 1 and 9", nodes)}
			}
			if electMin <= 0 || electMax < electMin {
				return exitError{exitCannotRun, fmt.Errorf("--election-timeout-min %s, --election-timeout-max %s: need 0 < min <= max", electMin, electMax)}
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			sb, err := sandbox.New(sandbox.Options{
				Nodes: nodes, KafkaBasePort: basePort,
				ElectionTimeoutMin: electMin, ElectionTimeoutMax: electMax,
				DataDir: dataDir, Fsync: fsync, ProcessPerNode: perProcess,
				Logger: log,
			})
			if err != nil {
				return exitError{exitCannotRun, err}
			}
			defer sb.Close()
			ln, err := net.Listen("tcp", control)
			if err != nil {
				return exitError{exitCannotRun, fmt.Errorf("--control-listen %s: %w", control, err)}
			}
			srv := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			for _, n := range sb.Nodes() {
				fmt.Printf("node %d kafka %s\n", n.ID, n.Address)
			}
			fmt.Printf("control http://%s\n", ln.Addr())
			log.Info("sandbox running", "nodes", sb.Addrs(), "control", ln.Addr().String())
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(ctx)
		},
	}
	def := config.Default().Sandbox
	cmd.Flags().IntVar(&nodes, "nodes", 3, "number of nodes")
	cmd.Flags().IntVar(&basePort, "kafka-base-port", 19092, "Kafka port of node 1; node N listens on base+N-1 (0: free ports)")
	cmd.Flags().StringVar(&control, "control-listen", "127.0.0.1:19090", "address of the control API")
	cmd.Flags().DurationVar(&electMin, "election-timeout-min", def.ElectionTimeoutMin, "Raft election timeout: a follower stands for election after [min, 2×min) without a leader")
	cmd.Flags().DurationVar(&electMax, "election-timeout-max", def.ElectionTimeoutMax, "kept for compatibility: Raft draws the timeout in [min, 2×min)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "where the nodes keep their logs (empty: a temporary directory removed on exit)")
	cmd.Flags().StringVar(&fsync, "fsync", "always", "always (fsync once per Raft ready) or never (a kill loses what was not written out)")
	cmd.Flags().BoolVar(&perProcess, "process-per-node", false, "run each node as its own process: kill is SIGKILL, pause is SIGSTOP")
	cmd.AddCommand(&cobra.Command{
		Use:                "node",
		Short:              "One sandbox node as its own process (started by the sandbox itself)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return sandbox.NodeMain(cmd.Context(), args, os.Stdin, os.Stdout, os.Stderr)
		},
	})
	return cmd
}

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Configuration tools"}
	var path string
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate a config file and print every problem with its key path",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if _, err := loadConfig(path); err != nil {
				return err
			}
			fmt.Println("configuration is valid")
			return nil
		},
	}
	check.Flags().StringVar(&path, "config", "", "YAML config file")
	_ = check.MarkFlagRequired("config")
	cmd.AddCommand(check)
	return cmd
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit and Go version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			b := buildInfo()
			fmt.Printf("raftdrill %s (commit %s, %s)\n", b.Version, orUnknown(b.Commit), runtime.Version())
		},
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
