// Package failover is the leader-failover drill: under a steady load, kill
// the target partition's leader, measure for that partition alone how long
// the cluster takes to elect a new leader and to accept a write again,
// bring the node back, and read everything back through every node. It owns
// its config section (drills.leader-failover) and its criteria.
package failover
