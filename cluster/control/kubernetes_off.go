//go:build !kubernetes

package control

import (
	"context"
	"errors"
	"log/slog"

	"github.com/raftdrill/raftdrill/config"
)

// buildKubernetes, in a build without the kubernetes tag, says how to get
// one: client-go adds about 16 MB to the daemon's resident memory, which a
// daemon drilling VMs should not pay, so only the container image and
// `make build-kubernetes` link it.
func buildKubernetes(context.Context, *config.Config, *slog.Logger) (*Cluster, error) {
	return nil, errors.New("cluster.controller.type: kubernetes: this raftdrill was built without Kubernetes support; use the container image or build with `make build-kubernetes` (go build -tags kubernetes)")
}
