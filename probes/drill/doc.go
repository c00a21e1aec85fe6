// Package drill is the runtime every drill shares: the Drill interface and
// the Spec that registers one, the environment a drill runs in, the step
// runner that records each stage, the restorer that brings back every node
// a drill stopped however the drill ends, the preflight that refuses an
// unhealthy cluster, and the tallying of sends. One package per drill
// (failover, recovery, benchmark) builds on it; package drills lists them.
package drill
