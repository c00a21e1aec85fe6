// Package fakekube is test equipment for leader election: one fake
// Kubernetes API server that several replicas' clients share. client-go's
// fake clientset alone does not refuse a write made from a stale
// resourceVersion, which leader election relies on, so two replicas could
// both take the Lease; this one refuses it as a real API server does, and
// can cut one client off, as when a replica's node loses the network. It
// has no Lease timing of its own: client-go's elector judges expiry by its
// own clock, as against a real server. Only tests import it.
package fakekube
