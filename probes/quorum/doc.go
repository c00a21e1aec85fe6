// Package quorum is the continuous quorum probe: every interval it asks each
// node for ApiVersions and metadata and writes an acks=all canary to each
// partition of the drill topic, and says whether the cluster can commit
// writes. It returns observations as values; the daemon feeds the metrics
// and the alert engine with them.
package quorum
