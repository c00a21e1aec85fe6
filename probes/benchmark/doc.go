// Package benchmark is the benchmark drill: the same acks=all workload on
// the cluster and on a single-node baseline, one after the other, with HDR
// latency percentiles timed from each message's intended send, the nodes'
// CPU and memory where their processes are known, and the guide's criteria
// enforced. It owns its config section (drills.benchmark), its producers
// and its part of the text report.
package benchmark
