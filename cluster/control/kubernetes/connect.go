package kubernetes

import (
	"errors"
	"fmt"
	"os"
	"strings"

	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/raftdrill/raftdrill/cluster/control/kubernetes/settings"
)

// Connect makes a client from cfg: the kubeconfig file and context when
// either is set; otherwise, in a pod, its service account, and elsewhere
// $KUBECONFIG or ~/.kube/config, as kubectl does.
func Connect(cfg Config) (clientset.Interface, error) {
	rc, err := restConfig(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		return nil, fmt.Errorf("connect to Kubernetes: %w", err)
	}
	rc.UserAgent = "raftdrill"
	c, err := clientset.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("connect to Kubernetes at %s: %w", rc.Host, err)
	}
	return c, nil
}

func restConfig(path, context string) (*rest.Config, error) {
	if path == "" && context == "" {
		rc, err := rest.InClusterConfig()
		if err == nil {
			return rc, nil
		}
		if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	switch {
	case clientcmd.IsEmptyConfig(err):
		return nil, fmt.Errorf("not running in a pod and no kubeconfig found ($KUBECONFIG, ~/.kube/config): set %s.kubeconfig", settings.Key)
	case err != nil && path != "":
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return rc, nil
}

// serviceAccountNamespace is the file that holds a pod's own namespace.
var serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// ownNamespace is the namespace raftdrill's pod runs in.
func ownNamespace() (string, error) {
	b, err := os.ReadFile(serviceAccountNamespace)
	if err != nil {
		return "", err
	}
	ns := strings.TrimSpace(string(b))
	if ns == "" {
		return "", fmt.Errorf("%s is empty", serviceAccountNamespace)
	}
	return ns, nil
}
