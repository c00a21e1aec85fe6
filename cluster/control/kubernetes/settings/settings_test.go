package settings

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"

	"github.com/raftdrill/raftdrill/config"
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
		"pod: kafka",
		`pod: "kafka-{{.ID}}"`,
		`{pod: "chronik-{{sub .ID 1}}", namespace: kafka, restart_timeout: 2m, request_timeout: 5s}`,
		`{pod: "{{.Host}}", kubeconfig: /etc/kube/config, context: staging}`,
	} {
		if ps := decode(t, text).Validate(Key); len(ps) > 0 {
			t.Errorf("%s: %v", text, ps)
		}
	}
}

func TestPodNames(t *testing.T) {
	nodes := []config.Node{
		{ID: 1, Address: "chronik-0.chronik.kafka.svc:9092"},
		{ID: 2, Address: "chronik-1.chronik.kafka.svc:9092"},
		{ID: 3, Address: "chronik-2.chronik.kafka.svc:9092"},
	}
	tests := []struct {
		pod     string
		want    []string // for nodes 1, 2, 3
		wantErr string
	}{
		{pod: "kafka", want: []string{"kafka-1", "kafka-2", "kafka-3"}},
		{pod: "kafka-{{.ID}}", want: []string{"kafka-1", "kafka-2", "kafka-3"}},
		{pod: "chronik-{{sub .ID 1}}", want: []string{"chronik-0", "chronik-1", "chronik-2"}},
		{pod: "broker-{{add .ID 10}}", want: []string{"broker-11", "broker-12", "broker-13"}},
		{pod: `{{index (split .Host ".") 0}}`, wantErr: `function "split" not defined`},
		{pod: "kafka-{{sub .ID 2}}", wantErr: `cluster.controller.kubernetes.pod: node 1: "kafka--1" ends in a negative ordinal: are the node ids 0-based`},
		{pod: "{{sub .ID 2}}-kafka", wantErr: `cluster.controller.kubernetes.pod: node 1: "-1-kafka" is not a valid pod name`},
		{pod: "kafka-0{{/* no id */}}", wantErr: `cluster.controller.kubernetes.pod: nodes 1 and 2 are both pod "kafka-0": the template must use {{.ID}}`},
	}
	for _, tt := range tests {
		t.Run(tt.pod, func(t *testing.T) {
			got, err := Config{Pod: tt.pod}.PodNames(nodes)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range nodes {
				if got[n.ID] != tt.want[i] {
					t.Errorf("node %d: %q, want %q", n.ID, got[n.ID], tt.want[i])
				}
			}
		})
	}
}

func TestPodNamesFromHost(t *testing.T) {
	got, err := Config{Pod: `{{.Host}}`}.PodNames([]config.Node{{ID: 7, Address: "kafka-7:9092"}})
	if err != nil || got[7] != "kafka-7" {
		t.Fatalf("got %v, %v; want kafka-7", got, err)
	}
}
