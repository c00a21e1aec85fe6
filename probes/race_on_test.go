//go:build race

package probes

// raceSlowdown scales time budgets in tests: the race detector makes Go code
// several times slower.
const raceSlowdown = 10
