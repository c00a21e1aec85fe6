// Package settings is the configuration section of the Kubernetes node
// controller, cluster.controller.kubernetes: its struct, defaults, validation
// and the pod-name template. It imports nothing but the standard library and
// raftdrill's config, so the config package can embed it in every build,
// while the controller itself (package kubernetes, one level up, which links
// client-go and costs about 16 MB of RSS) is compiled only with the build tag
// kubernetes.
package settings
