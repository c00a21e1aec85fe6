package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.err from the current output")

// Each testdata/NAME.yaml breaks one rule; NAME.err holds the exact message
// a user sees. Run with -update after changing a message on purpose.
func TestValidationRules(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, err := load(f, nil)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want Problems, got %v", err)
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(ps.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -update to create it)", err)
			}
			if got := ps.Error() + "\n"; got != string(want) {
				t.Fatalf("got:\n%swant:\n%s", got, want)
			}
		})
	}
}

func TestNoFileIsTheSandboxConfig(t *testing.T) {
	c, err := load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.UsesSandbox() || c.Server.Listen != "127.0.0.1:9479" || c.Drills.LeaderFailover.Rate != 100 ||
		c.Drills.LeaderFailover.KillAfter != 10*time.Second || c.Drills.LeaderFailover.Thresholds.MaxFailoverSeconds != 15 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	c, err := load("", []string{
		"RAFTDRILL_DRILLS_LEADER_FAILOVER_RATE=250",
		"RAFTDRILL_SERVER_LISTEN=127.0.0.1:1234",
		"RAFTDRILL_DRILLS_LEADER_FAILOVER_KILL_AFTER=5s",
		"PATH=/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Drills.LeaderFailover.Rate != 250 || c.Server.Listen != "127.0.0.1:1234" || c.Drills.LeaderFailover.KillAfter != 5*time.Second {
		t.Fatalf("overrides not applied: %+v %+v", c.Server, c.Drills.LeaderFailover)
	}
	// Environment beats the file.
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("drills:\n  leader-failover:\n    rate: 10\n"), 0o600)
	c, err = load(path, []string{"RAFTDRILL_DRILLS_LEADER_FAILOVER_RATE=20"})
	if err != nil || c.Drills.LeaderFailover.Rate != 20 {
		t.Fatalf("env over file: %v %v", c, err)
	}
	_, err = load("", []string{"RAFTDRILL_DRILLS_LEADER_FAILOVER_RAT=3"})
	if err == nil || !strings.Contains(err.Error(), "RAFTDRILL_DRILLS_LEADER_FAILOVER_RAT: unknown environment override") {
		t.Fatalf("misspelt override: %v", err)
	}
}

func TestUnreadableFile(t *testing.T) {
	_, err := load(filepath.Join(t.TempDir(), "missing.yaml"), nil)
	var ps Problems
	if err == nil || errors.As(err, &ps) || !strings.Contains(err.Error(), "read config") {
		t.Fatalf("got %v", err)
	}
}

func TestFullExampleIsValid(t *testing.T) {
	for _, f := range []string{"../examples/sandbox.yaml", "../examples/process.yaml", "../examples/exec.yaml", "../examples/container.yaml"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("example missing: %v", err)
		}
		if _, err := load(f, nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
