package settings

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite testdata/*.err from the current output")

// decode reads a section the way raftdrill's config loader does: over the
// defaults, unknown keys are errors, durations need units.
func decode(t *testing.T, text string) Config {
	t.Helper()
	var raw map[string]any
	if err := yaml.Unmarshal([]byte(text), &raw); err != nil {
		t.Fatal(err)
	}
	c := Default()
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:      &c,
		ErrorUnused: true,
		DecodeHook:  mapstructure.StringToTimeDurationHookFunc(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(raw); err != nil {
		t.Fatal(err)
	}
	return c
}

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
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ps := decode(t, string(text)).Validate(Key)
			if len(ps) == 0 {
				t.Fatal("valid, want problems")
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(ps.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got := ps.Error() + "\n"; got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestValid(t *testing.T) {
	for _, text := range []string{
		"{}",
		"lease_name: raftdrill",
		"{lease_name: raftdrill, namespace: tools, identity: raftdrill-0, lease_duration: 60s, renew_deadline: 40s, retry_period: 5s}",
		"{lease_name: raftdrill.drills, kubeconfig: /etc/kube/config, context: staging}",
	} {
		if ps := decode(t, text).Validate(Key); len(ps) > 0 {
			t.Errorf("%s: %v", text, ps)
		}
	}
}

func TestEnabled(t *testing.T) {
	if (Config{}).Enabled() || !(Config{LeaseName: "raftdrill"}).Enabled() {
		t.Error("Enabled is not \"lease_name is set\"")
	}
}
