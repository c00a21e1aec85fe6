// Package kube connects to the Kubernetes API as kubectl does and tells
// which pod raftdrill runs in. The kubernetes node controller and leader
// election among replicas both need it; it links client-go, so only
// packages built with -tags kubernetes import it.
package kube
