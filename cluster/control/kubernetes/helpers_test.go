package kubernetes

import "k8s.io/apimachinery/pkg/watch"

type watchInterface = watch.Interface

// newClosedWatch is a watch that has already ended, as after a proxy cut
// the connection.
func newClosedWatch() watch.Interface {
	w := watch.NewFake()
	w.Stop()
	return w
}
