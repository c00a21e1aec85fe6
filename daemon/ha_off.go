//go:build !kubernetes

package daemon

import (
	"errors"
	"log/slog"

	"github.com/raftdrill/raftdrill/config"
)

// newLeadership, in a build without the kubernetes tag, says how to get
// one: leader election links client-go, which a daemon drilling VMs should
// not pay for, so only the container image and `make build-kubernetes`
// have it. A replica that ignored ha.kubernetes would drill beside the
// leader, so it refuses to start.
func newLeadership(*config.Config, *slog.Logger) (Leadership, error) {
	return nil, errors.New("ha.kubernetes.lease_name: this raftdrill was built without Kubernetes support, so it cannot take part in leader election; use the container image or build with `make build-kubernetes` (go build -tags kubernetes)")
}
