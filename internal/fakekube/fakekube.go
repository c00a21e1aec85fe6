package fakekube

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
)

// LeasesGVR is the resource leader election reads and writes.
var LeasesGVR = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

// APIServer is one fake API server for the clients of several replicas.
type APIServer struct {
	Tracker k8stesting.ObjectTracker

	mu      sync.Mutex
	rv      int
	actions []k8stesting.Action
}

// New returns an API server with nothing in it.
func New() *APIServer {
	return &APIServer{Tracker: k8stesting.NewObjectTracker(scheme.Scheme, scheme.Codecs.UniversalDecoder())}
}

// Client is one replica's connection to s. While cut holds true, every
// call fails as when the replica's node loses the network.
func (s *APIServer) Client() (*fake.Clientset, *atomic.Bool) {
	c := &fake.Clientset{}
	cut := new(atomic.Bool)
	c.AddReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if cut.Load() {
			return true, nil, errors.New("dial tcp 10.96.0.1:443: connect: network is unreachable")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.actions = append(s.actions, a)
		switch a.GetVerb() {
		case "create":
			a := a.(k8stesting.CreateAction)
			l := a.GetObject().(*coordinationv1.Lease).DeepCopy()
			s.rv++
			l.ResourceVersion = strconv.Itoa(s.rv)
			if err := s.Tracker.Create(LeasesGVR, l, a.GetNamespace()); err != nil {
				return true, nil, err
			}
			return true, l, nil
		case "update":
			a := a.(k8stesting.UpdateAction)
			l := a.GetObject().(*coordinationv1.Lease).DeepCopy()
			cur, err := s.Tracker.Get(LeasesGVR, a.GetNamespace(), l.Name)
			if err != nil {
				return true, nil, err
			}
			if cur.(*coordinationv1.Lease).ResourceVersion != l.ResourceVersion {
				return true, nil, apierrors.NewConflict(LeasesGVR.GroupResource(), l.Name, errors.New("the object has been modified"))
			}
			s.rv++
			l.ResourceVersion = strconv.Itoa(s.rv)
			if err := s.Tracker.Update(LeasesGVR, l, a.GetNamespace()); err != nil {
				return true, nil, err
			}
			return true, l, nil
		}
		return k8stesting.ObjectReaction(s.Tracker)(a)
	})
	return c, cut
}

// Actions are the calls every client made, in order.
func (s *APIServer) Actions() []k8stesting.Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]k8stesting.Action(nil), s.actions...)
}

// Holder is the Lease's holder identity, "" when there is no such Lease
// or nobody holds it.
func (s *APIServer) Holder(namespace, lease string) string {
	obj, err := s.Tracker.Get(LeasesGVR, namespace, lease)
	if err != nil {
		return ""
	}
	if h := obj.(*coordinationv1.Lease).Spec.HolderIdentity; h != nil {
		return *h
	}
	return ""
}
