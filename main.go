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
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/version"
	"github.com/spf13/cobra"

	"github.com/raftdrill/raftdrill/cluster/control/sandboxctl"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/daemon"
	"github.com/raftdrill/raftdrill/daemon/report"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/state"
)

// Exit codes of the contract, and one of ours: a node raftdrill took down
// is still down when it stops (its journal entry is kept; the next start of
// serve or run restores it).
const (
	exitPassed        = 0
	exitFailed        = 1
	exitCannotRun     = 2
	exitNodesLeftDown = 3
)

// exitError carries an exit code up through cobra.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func main() {
	if version.Version == "" {
		version.Version = "dev" // built without the Makefile's -ldflags
	}
	// A closed log pipe (`raftdrill serve 2>&1 | head`) must not kill
	// raftdrill mid-drill: with SIGPIPE handled, a write to it fails with
	// EPIPE instead, which the logger ignores. Handled, not ignored, so
	// that the nodes and commands raftdrill starts get the default back.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
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
		Version:       version.Info(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate(version.Print("raftdrill") + "\n")
	root.AddCommand(serveCmd(), runCmd(), sandboxCmd(), configCmd(), stateCmd(), versionCmd())
	return root
}

func loadConfig(path string, overrides ...daemon.Override) (*config.Config, error) {
	cfg, err := daemon.LoadConfig(path, overrides...)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			if len(ps) == 1 { // one line, for a log collector's one event
				return nil, exitError{exitCannotRun, fmt.Errorf("invalid configuration: %s", ps.Error())}
			}
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

// Flags of serve named as Prometheus exporters name them (the
// exporter-toolkit's kingpinflag), each overriding its config key.
var webFlags = []struct{ flag, key, usage string }{
	{"web.listen-address", "server.listen", "address to listen on (overrides server.listen)"},
	{"web.config.file", "server.web_config_file",
		"web config file for TLS and basic auth, as Prometheus and its exporters read it (overrides server.web_config_file)"},
}

func serveCmd() *cobra.Command {
	var path string
	web := make([]string, len(webFlags))
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: scheduler, HTTP API, metrics, alerts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Applied at every load, reloads included, and validated
			// with the file (errors name the key they override).
			var overrides []daemon.Override
			for i, f := range webFlags {
				if cmd.Flags().Changed(f.flag) {
					overrides = append(overrides, daemon.Override{Key: f.key, Value: web[i]})
				}
			}
			cfg, err := loadConfig(path, overrides...)
			if err != nil {
				return err
			}
			log := newLogger(cfg)
			// SIGHUP reloads (a closed terminal sends it too): from here
			// on it never kills the daemon.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			d, err := daemon.New(cmd.Context(), cfg, daemon.Options{Logger: log, ConfigPath: path, Overrides: overrides})
			if err != nil {
				return exitError{exitCannotRun, err}
			}
			if err := wireServe(cmd.Context(), cfg, d, log); err != nil {
				d.Close()
				return exitError{exitCannotRun, err}
			}
			go func() {
				for {
					select {
					case <-cmd.Context().Done():
						return
					case <-hup:
						log.Info("SIGHUP: reloading the configuration")
						_, _ = d.Reload(cmd.Context()) // it logs what went wrong
					}
				}
			}()
			if err := d.Serve(cmd.Context()); err != nil {
				var left *daemon.NodesLeftDownError
				if errors.As(err, &left) {
					return exitError{exitNodesLeftDown, err}
				}
				return exitError{exitCannotRun, err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "YAML config file (none: defaults, drilling the embedded sandbox)")
	for i, f := range webFlags {
		cmd.Flags().StringVar(&web[i], f.flag, "", f.usage)
	}
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
		Short: "Run one drill once, in the foreground (" + strings.Join(drills.Names(), ", ") + ")",
		Long: "Runs one drill with live progress on stderr and a readable report on stdout.\n" +
			"It first restores any node an earlier drill left down (the restore journal in state.dir).\n" +
			"Exit status: 0 passed, 1 failed (a criterion missed or an anomaly found), 2 could not run,\n" +
			"3 a node raftdrill took down is still down (its journal entry is kept).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if _, ok := drills.Lookup(name); !ok {
				return exitError{exitCannotRun, fmt.Errorf("unknown drill %q; drills: %s", name, strings.Join(drills.Names(), ", "))}
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
			// A closed terminal does not stop a drill half-way: it
			// finishes, restores its nodes and is kept in the run history.
			signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
			st, err := state.Open(cfg.State.Dir, state.Me("run "+name, ""))
			if err != nil {
				return exitError{exitCannotRun, err}
			}
			defer st.Close()
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
			r, err := daemon.RunOnce(ctx, cfg, st, cl, name, log, progress)
			var left *daemon.NodesLeftDownError
			if err != nil && (!errors.As(err, &left) || r.ID == "") {
				code := exitCannotRun
				if left != nil {
					code = exitNodesLeftDown
				}
				return exitError{code, err}
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false) // criteria ops read "<", not \u003c
				_ = enc.Encode(r)
			} else {
				report.Write(os.Stdout, r)
			}
			switch {
			case left != nil:
				return exitError{exitNodesLeftDown, err}
			case r.Status == run.StatusPassed:
				return nil
			case r.Status == run.StatusFailed:
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
	var electMin, electMax, linkDelay time.Duration
	var perProcess bool
	var tlsOpts sandboxctl.TLS
	var mechanisms, users []string
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
			if linkDelay < 0 || linkDelay*10 > electMin {
				return exitError{exitCannotRun, fmt.Errorf("--link-delay %s: need 0 <= delay <= a tenth of --election-timeout-min", linkDelay)}
			}
			sasl := sandboxctl.SASL{Mechanisms: mechanisms}
			for _, u := range users {
				user, err := sandboxctl.ParseUser(u)
				if err != nil {
					return exitError{exitCannotRun, err}
				}
				sasl.Users = append(sasl.Users, user)
			}
			if err := sandboxctl.CheckFlags(tlsOpts, sasl); err != nil {
				return exitError{exitCannotRun, err}
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			err := sandboxctl.Serve(cmd.Context(), sandboxctl.ServeOptions{
				Sandbox: sandboxctl.Embedded{
					Nodes: nodes, KafkaBasePort: basePort,
					ElectionTimeoutMin: electMin, ElectionTimeoutMax: electMax, LinkDelay: linkDelay,
					DataDir: dataDir, Fsync: fsync, ProcessPerNode: perProcess,
					TLS: tlsOpts, SASL: sasl,
				},
				ControlListen: control, Log: log, Out: os.Stdout,
			})
			if err != nil {
				return exitError{exitCannotRun, err}
			}
			return nil
		},
	}
	def := sandboxctl.Defaults()
	cmd.Flags().IntVar(&nodes, "nodes", 3, "number of nodes")
	cmd.Flags().IntVar(&basePort, "kafka-base-port", 19092, "Kafka port of node 1; node N listens on base+N-1 (0: free ports)")
	cmd.Flags().StringVar(&control, "control-listen", "127.0.0.1:19090", "address of the control API")
	cmd.Flags().DurationVar(&electMin, "election-timeout-min", def.ElectionTimeoutMin, "Raft election timeout: a follower stands for election after [min, 2×min) without a leader")
	cmd.Flags().DurationVar(&electMax, "election-timeout-max", def.ElectionTimeoutMax, "kept for compatibility: Raft draws the timeout in [min, 2×min)")
	cmd.Flags().DurationVar(&linkDelay, "link-delay", def.LinkDelay, "hold every Raft message between nodes this long, as a network between brokers would")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "where the nodes keep their logs (empty: a temporary directory removed on exit)")
	cmd.Flags().StringVar(&fsync, "fsync", "always", "always (fsync once per Raft ready) or never (a kill loses what was not written out)")
	cmd.Flags().BoolVar(&perProcess, "process-per-node", false, "run each node as its own process: kill is SIGKILL, pause is SIGSTOP")
	cmd.Flags().StringVar(&tlsOpts.CertFile, "tls-cert-file", "", "serve Kafka over TLS with this certificate (PEM, with its chain)")
	cmd.Flags().StringVar(&tlsOpts.KeyFile, "tls-key-file", "", "the TLS certificate's private key (PEM)")
	cmd.Flags().StringVar(&tlsOpts.ClientCAFile, "tls-client-ca-file", "", "require a client certificate signed by one of these CAs (PEM)")
	cmd.Flags().StringSliceVar(&mechanisms, "sasl-mechanism", nil, "SASL mechanism offered: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (repeat or comma-separate; none with --sasl-user: all three)")
	cmd.Flags().StringArrayVar(&users, "sasl-user", nil, "demand SASL; a user, as NAME:PASSWORD_FILE (repeat for more)")
	cmd.AddCommand(&cobra.Command{
		Use:                "node",
		Short:              "One sandbox node as its own process (started by the sandbox itself)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return sandboxctl.NodeMain(cmd.Context(), args, os.Stdin, os.Stdout, os.Stderr)
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
		Short: "Print version, revision and Go version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Println(version.Print("raftdrill"))
		},
	}
}
