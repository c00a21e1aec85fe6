// Package damage is the damage a sandbox partition's replica serves, test
// equipment of the sandbox's data faults: records hidden (lost) and records
// served with another value, on one node or on all of them. It is built
// from the fault directives and lose entries in the committed log
// (internal/entry), so every replica applies the same damage at the same
// point of the log, a restarted node rebuilds it from its disk, and a
// snapshot carries it. What is damaged stays damaged when the fault is
// turned off, as damage to a real log would.
package damage
