package settings

import (
	"flag"
	"strings"
	"testing"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.err from the current output")

// decode reads a section the way raftdrill's config loader does.
func decode(t *testing.T, text string) Config { return testutil.DecodeYAMLSection(t, text, Default()) }

// Each testdata/NAME.yaml breaks one rule; NAME.err holds the exact message
// a user sees. Run with -update after changing a message on purpose.
func TestValidationRules(t *testing.T) {
	testutil.GoldenSection(t, *update, Default(), Key)
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
