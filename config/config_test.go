package config_test

import (
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control/sandboxctl"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/daemon"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/failover"
	"github.com/raftdrill/raftdrill/probes/recovery"
	"github.com/raftdrill/raftdrill/sandbox"
)

var update = flag.Bool("update", false, "rewrite testdata/*.err from the current output")

func load(path string, environ []string) (*config.Config, error) {
	return config.LoadEnv(path, environ, daemon.Sections(), daemon.Checks()...)
}

// Each testdata/NAME.yaml breaks one rule; NAME.err holds the exact message
// a user sees. Run with -update after changing a message on purpose.
func TestValidationRules(t *testing.T) {
	t.Parallel()
	testutil.GoldenProblems(t, *update, func(t *testing.T, path string) string {
		_, err := load(path, nil)
		var ps config.Problems
		if !errors.As(err, &ps) {
			t.Fatalf("want Problems, got %v", err)
		}
		return ps.Error()
	})
}

func lf(c *config.Config) *failover.Config {
	return config.Get[*failover.Config](c, failover.Spec.Key())
}

func fr(c *config.Config) *recovery.Config {
	return config.Get[*recovery.Config](c, recovery.Spec.Key())
}

func sb(c *config.Config) *sandboxctl.Embedded {
	return config.Get[*sandboxctl.Embedded](c, sandboxctl.Key)
}

func TestNoFileIsTheSandboxConfig(t *testing.T) {
	t.Parallel()
	c, err := load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.UsesSandbox() || c.Server.Listen != "127.0.0.1:9479" || lf(c).Rate != 100 ||
		lf(c).KillAfter != 10*time.Second || lf(c).Thresholds.MaxFailoverSeconds != 15 {
		t.Fatalf("defaults: %+v %+v", c, lf(c))
	}
}

func TestFailureRecoveryDefaultsAreTheIssues(t *testing.T) {
	t.Parallel()
	c, err := load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	fr := fr(c)
	if fr.Schedule != "off" || fr.Messages != 1000 || fr.Batch != 100 || fr.ElectionDeadline != 15*time.Second ||
		fr.RecoveryDeadline != 60*time.Second || fr.LeaderGrace != 5*time.Second || !fr.Steps.MajorityLoss || !fr.ReadBack.FollowerReads ||
		fr.Thresholds.MinBatchAckRatio != 0.9 || fr.Thresholds.MinAckedRecoveredRatio != 1 || fr.Thresholds.MinSentRecoveredRatio != 0.95 {
		t.Fatalf("defaults: %+v", fr)
	}
	if lf(c).LeaderGrace != 5*time.Second {
		t.Fatalf("leader-failover grace: %s", lf(c).LeaderGrace)
	}
	for _, fc := range sb(c).Faults.Counts() {
		if fc.N != 0 {
			t.Fatalf("fault %s on by default", fc.Key)
		}
	}
	if f := sb(c).Faults; f.AckWithoutQuorum || f.NeverElect || f.StaleLeader || f.SplitLeader {
		t.Fatalf("fault on by default: %+v", f)
	}
}

// The per-node faults load from the config file, keyed by node id (a bare
// YAML number too) or by role.
func TestSandboxNodeFaultsLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.yaml")
	yaml := "sandbox:\n  faults:\n    node_faults:\n      3: {never_catch_up: true}\n      follower: {bad_crc_batches: 2}\n" +
		"      leader: {ack_offset_shift: -1, ack_offset_shift_count: 4}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]sandbox.NodeFaults{
		"3":        {NeverCatchUp: true},
		"follower": {BadCRCBatches: 2},
		"leader":   {AckOffsetShift: -1, AckOffsetShiftCount: 4},
	}
	if got := sb(c).Faults.NodeFaults; !maps.Equal(got, want) {
		t.Fatalf("node_faults %+v, want %+v", got, want)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Parallel()
	c, err := load("", []string{
		"RAFTDRILL_DRILLS_LEADER_FAILOVER_RATE=250",
		"RAFTDRILL_SERVER_LISTEN=127.0.0.1:1234",
		"RAFTDRILL_DRILLS_LEADER_FAILOVER_KILL_AFTER=5s",
		"RAFTDRILL_DRILLS_FAILURE_RECOVERY_STEPS_MAJORITY_LOSS=true",
		"RAFTDRILL_DRILLS_FAILURE_RECOVERY_THRESHOLDS_MIN_BATCH_ACK_RATIO=0.5",
		"RAFTDRILL_SANDBOX_FAULTS_DUPLICATE_WRITES=2",
		"PATH=/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if lf(c).Rate != 250 || c.Server.Listen != "127.0.0.1:1234" || lf(c).KillAfter != 5*time.Second {
		t.Fatalf("overrides not applied: %+v %+v", c.Server, lf(c))
	}
	if !fr(c).Steps.MajorityLoss || fr(c).Thresholds.MinBatchAckRatio != 0.5 || sb(c).Faults.DuplicateWrites != 2 {
		t.Fatalf("section overrides not applied: %+v %+v", fr(c), sb(c).Faults)
	}
	// Environment beats the file.
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("drills:\n  leader-failover:\n    rate: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = load(path, []string{"RAFTDRILL_DRILLS_LEADER_FAILOVER_RATE=20"})
	if err != nil || lf(c).Rate != 20 {
		t.Fatalf("env over file: %v %v", c, err)
	}
	_, err = load("", []string{"RAFTDRILL_DRILLS_LEADER_FAILOVER_RAT=3"})
	if err == nil || !strings.Contains(err.Error(), "RAFTDRILL_DRILLS_LEADER_FAILOVER_RAT: unknown environment override") {
		t.Fatalf("misspelt override: %v", err)
	}
}

func TestUnreadableFile(t *testing.T) {
	t.Parallel()
	_, err := load(filepath.Join(t.TempDir(), "missing.yaml"), nil)
	var ps config.Problems
	if err == nil || errors.As(err, &ps) || !strings.Contains(err.Error(), "read config") {
		t.Fatalf("got %v", err)
	}
}

// Every example is valid where it is deployed (its TLS and SASL files read
// as stand-ins: see loadExample).
func TestFullExampleIsValid(t *testing.T) {
	t.Parallel()
	for _, f := range examples(t) {
		if _, err := loadExample(t, f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
