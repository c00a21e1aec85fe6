//go:build kubernetes

package control

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/raftdrill/raftdrill/cluster/control/kubernetes"
	kubesettings "github.com/raftdrill/raftdrill/cluster/control/kubernetes/settings"
	"github.com/raftdrill/raftdrill/config"
)

// buildKubernetes connects to the Kubernetes API (in-cluster or a
// kubeconfig) and controls the nodes' pods.
func buildKubernetes(_ context.Context, cfg *config.Config, log *slog.Logger) (*Cluster, error) {
	k := config.Get[*kubernetesSection](cfg, kubesettings.Key)
	client, err := kubernetes.Connect(k.Config)
	if err != nil {
		return nil, fmt.Errorf("cluster.controller.kubernetes: %w", err)
	}
	c, err := kubernetes.New(k.Config, cfg.Cluster.Nodes, client, log)
	if err != nil {
		return nil, err
	}
	return &Cluster{Controller: c, Nodes: cfg.Cluster.Nodes}, nil
}
