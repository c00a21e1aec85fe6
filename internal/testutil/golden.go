package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"

	"github.com/raftdrill/raftdrill/config"
)

// GoldenProblems runs one subtest per testdata/NAME.yaml, each a config
// that breaks one rule: problems returns the message a user sees for the
// file (empty: valid, which fails the subtest), and it must equal
// testdata/NAME.err. With update, NAME.err is rewritten from the current
// output (`go test -update`, after changing a message on purpose).
func GoldenProblems(t *testing.T, update bool, problems func(t *testing.T, path string) string) {
	t.Helper()
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			msg := problems(t, f)
			if msg == "" {
				t.Fatal("valid, want problems")
			}
			got := msg + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("got:\n%swant:\n%s", got, want)
			}
		})
	}
}

// GoldenSection is GoldenProblems for one config section: each file is
// decoded over the section's defaults, as the loader does, and validated
// under key.
func GoldenSection[T interface{ Validate(string) config.Problems }](t *testing.T, update bool, defaults T, key string) {
	t.Helper()
	GoldenProblems(t, update, func(t *testing.T, path string) string {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if ps := DecodeYAMLSection(t, string(text), defaults).Validate(key); len(ps) > 0 {
			return ps.Error()
		}
		return ""
	})
}

// DecodeSection decodes one config section, a YAML-decoded tree, the way
// raftdrill's loader does: over its defaults, unknown keys are errors,
// durations need units.
func DecodeSection[T any](tree any, defaults T) (T, error) {
	out := defaults
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:      &out,
		ErrorUnused: true,
		DecodeHook:  mapstructure.StringToTimeDurationHookFunc(),
	})
	if err != nil {
		return out, err
	}
	return out, dec.Decode(tree)
}

// DecodeYAMLSection is DecodeSection of a section written as YAML text,
// failing the test on an error.
func DecodeYAMLSection[T any](t testing.TB, text string, defaults T) T {
	t.Helper()
	var tree map[string]any
	if err := yaml.Unmarshal([]byte(text), &tree); err != nil {
		t.Fatal(err)
	}
	out, err := DecodeSection(tree, defaults)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
