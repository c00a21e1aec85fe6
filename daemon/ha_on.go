//go:build kubernetes

package daemon

import (
	"log/slog"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/daemon/ha"
	hasettings "github.com/raftdrill/raftdrill/daemon/ha/settings"
)

// newLeadership connects to the Kubernetes API (in-cluster or a
// kubeconfig) and campaigns for the Lease of ha.kubernetes.
func newLeadership(cfg *config.Config, log *slog.Logger) (Leadership, error) {
	h := config.Get[*haSection](cfg, hasettings.Key)
	client, err := ha.Connect(h.Config)
	if err != nil {
		return nil, err
	}
	return ha.New(h.Config, client, log)
}
