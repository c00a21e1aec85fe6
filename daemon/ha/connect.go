package ha

import (
	"k8s.io/client-go/kubernetes"

	"github.com/raftdrill/raftdrill/cluster/kube"
	"github.com/raftdrill/raftdrill/daemon/ha/settings"
)

// Connect makes a client from cfg (cluster/kube says how).
func Connect(cfg Config) (kubernetes.Interface, error) {
	return kube.Connect(cfg.Kubeconfig, cfg.Context, settings.Key, " for leader election")
}
