// Package check decides whether a drill's acknowledged writes survived: the
// checker classifies every message sent against what each node serves, the
// leader watch follows what every live node says about leadership for as
// long as a drill runs, and the read-back fetches each partition through
// each node. Kinds are named as in docs/anomalies.md.
package check
