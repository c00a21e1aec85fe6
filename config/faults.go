package config

import "github.com/raftdrill/raftdrill/sandbox"

// SandboxFaults make the sandbox misbehave on purpose (the sandbox.faults
// section). The type belongs to the sandbox, which owns what each fault
// does; see sandbox.Faults.
type SandboxFaults = sandbox.Faults

// validateFaults reports counts below zero, keyed under prefix
// (sandbox.faults).
func validateFaults(f SandboxFaults, prefix string) Problems {
	var ps Problems
	for _, fc := range f.Counts() {
		if fc.N < 0 {
			ps = append(ps, Problem{prefix + "." + fc.Key, "must be >= 0 (0: off)"})
		}
	}
	return ps
}
