package kubernetes

import (
	clientset "k8s.io/client-go/kubernetes"

	"github.com/raftdrill/raftdrill/cluster/control/kubernetes/settings"
	"github.com/raftdrill/raftdrill/cluster/kube"
)

// Connect makes a client from cfg (cluster/kube says how).
func Connect(cfg Config) (clientset.Interface, error) {
	return kube.Connect(cfg.Kubeconfig, cfg.Context, settings.Key, "")
}
