package daemon

import (
	"github.com/raftdrill/raftdrill/config"
	hasettings "github.com/raftdrill/raftdrill/daemon/ha/settings"
)

// haSection is ha.kubernetes: several replicas elect one driller through a
// Kubernetes Lease.
type haSection struct {
	hasettings.Config `mapstructure:",squash"`
}

func (h *haSection) Validate(ch *config.Checker, _ *config.Config) {
	if !h.Enabled() {
		return
	}
	for _, p := range h.Config.Validate(hasettings.Key) {
		ch.AddAbs(p.Key, "%s", p.Msg)
	}
}

func haSections() []config.Section {
	return []config.Section{{Key: hasettings.Key, New: func() any { return &haSection{hasettings.Default()} }}}
}
