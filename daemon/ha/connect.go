package ha

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/raftdrill/raftdrill/daemon/ha/settings"
)

// Connect makes a client from cfg: the kubeconfig file and context when
// either is set; otherwise, in a pod, its service account, and elsewhere
// $KUBECONFIG or ~/.kube/config, as kubectl does.
func Connect(cfg Config) (kubernetes.Interface, error) {
	rc, err := restConfig(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		return nil, fmt.Errorf("connect to Kubernetes for leader election: %w", err)
	}
	rc.UserAgent = "raftdrill"
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("connect to Kubernetes at %s for leader election: %w", rc.Host, err)
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

// ownNamespace is the namespace raftdrill's pod runs in: $POD_NAMESPACE
// (the downward API), else its service account's.
func ownNamespace() (string, error) {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns, nil
	}
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

// ownIdentity is $POD_NAME (the downward API), else the host name, which
// in a pod is the pod's name too.
func ownIdentity() (string, error) {
	if id := os.Getenv("POD_NAME"); id != "" {
		return id, nil
	}
	return os.Hostname()
}
