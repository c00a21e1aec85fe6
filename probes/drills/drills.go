// Package drills is the one list of drills: the daemon, the CLI, the config
// loader, the metrics and the trigger endpoint all take their names from
// it. Adding a drill is a package under probes and a line here.
package drills

import (
	"slices"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/probes/benchmark"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/probes/failover"
	"github.com/raftdrill/raftdrill/probes/recovery"
	"github.com/raftdrill/raftdrill/probes/splitbrain"
)

// All are the drills, sorted by name.
var All = sorted(
	failover.Spec,
	recovery.Spec,
	benchmark.Spec,
	splitbrain.Spec,
)

func sorted(specs ...drill.Spec) []drill.Spec {
	slices.SortFunc(specs, func(a, b drill.Spec) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return specs
}

// Names are the drills' names, sorted.
func Names() []string {
	out := make([]string, len(All))
	for i, s := range All {
		out[i] = s.Name
	}
	return out
}

// Lookup finds the drill called name.
func Lookup(name string) (drill.Spec, bool) {
	for _, s := range All {
		if s.Name == name {
			return s, true
		}
	}
	return drill.Spec{}, false
}

// Sections are every drill's config section.
func Sections() []config.Section {
	out := make([]config.Section, len(All))
	for i, s := range All {
		out[i] = s.Section()
	}
	return out
}
