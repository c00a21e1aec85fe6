// Package kubernetes is the node controller for a cluster whose nodes are
// the pods of a StatefulSet (cluster.controller.type: kubernetes). Kill
// deletes node N's pod with no grace period, the nearest Kubernetes has to
// SIGKILL; Restart waits for the StatefulSet controller to recreate the pod
// (same name, same volume, a new UID) and for it to become Ready, and never
// creates a pod itself; Up is "the pod exists, is not being deleted, runs
// and is Ready". It talks to the API server through client-go, needs the
// RBAC in RequiredRules in the pods' namespace, and is compiled into
// raftdrill only with the build tag kubernetes; its configuration section
// lives in the light package settings so that every build can parse it.
package kubernetes
