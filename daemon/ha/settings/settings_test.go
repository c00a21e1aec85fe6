package settings

import (
	"flag"
	"testing"

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
