package kube

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Connect makes a client: from the kubeconfig file and context when either
// is set; otherwise, in a pod, from its service account, and elsewhere from
// $KUBECONFIG or ~/.kube/config, as kubectl does. key is the config
// section that sets them (for the error that says what to set), purpose
// what the connection is for (empty, or e.g. " for leader election").
func Connect(kubeconfig, context, key, purpose string) (kubernetes.Interface, error) {
	rc, err := restConfig(kubeconfig, context, key)
	if err != nil {
		return nil, fmt.Errorf("connect to Kubernetes%s: %w", purpose, err)
	}
	rc.UserAgent = "raftdrill"
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("connect to Kubernetes at %s%s: %w", rc.Host, purpose, err)
	}
	return c, nil
}

func restConfig(path, context, key string) (*rest.Config, error) {
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
		return nil, fmt.Errorf("not running in a pod and no kubeconfig found ($KUBECONFIG, ~/.kube/config): set %s.kubeconfig", key)
	case err != nil && path != "":
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return rc, nil
}

// NamespaceFile holds a pod's own namespace; a variable so that tests can
// point it elsewhere.
var NamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// OwnNamespace is the namespace raftdrill's pod runs in: $POD_NAMESPACE
// (the downward API), else its service account's.
func OwnNamespace() (string, error) {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns, nil
	}
	b, err := os.ReadFile(NamespaceFile)
	if err != nil {
		return "", err
	}
	ns := strings.TrimSpace(string(b))
	if ns == "" {
		return "", fmt.Errorf("%s is empty", NamespaceFile)
	}
	return ns, nil
}

// OwnIdentity is $POD_NAME (the downward API), else the host name, which
// in a pod is the pod's name too.
func OwnIdentity() (string, error) {
	if id := os.Getenv("POD_NAME"); id != "" {
		return id, nil
	}
	return os.Hostname()
}
