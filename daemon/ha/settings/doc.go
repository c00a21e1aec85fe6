// Package settings is the configuration section of raftdrill's leader
// election, ha.kubernetes: its struct, defaults and validation. It imports
// nothing but the standard library and raftdrill's config, so the config
// package can embed it in every build, while the elector itself (package ha,
// one level up, which links client-go) is compiled only with the build tag
// kubernetes.
package settings
