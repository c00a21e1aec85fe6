// Package probes is the drills and the continuous probes, one package each
// below this one: the drill runtime (drill) and the registry of drills
// (drills); the leader-failover (failover), failure-recovery (recovery) and
// benchmark drills; the checker and leader watch (check); the quorum probe
// (quorum). This package itself holds only the tests that span drills: every
// anomaly kind caught, and the accuracy benchmark of election_seconds.
package probes
