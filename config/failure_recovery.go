package config

import "fmt"

// FailureRecovery is the end-to-end failure-recovery drill: follower loss,
// leader loss, recovery, read back through every node.
type FailureRecovery struct {
	Schedule string `mapstructure:"schedule"`
}

func defaultFailureRecovery() FailureRecovery {
	return FailureRecovery{Schedule: "off"}
}

// validateFailureRecovery checks drills.failure-recovery.*.
func (c *Config) validateFailureRecovery() Problems {
	var ps Problems
	validSchedule("drills.failure-recovery.schedule", c.Drills.FailureRecovery.Schedule, func(key, format string, args ...any) {
		ps = append(ps, Problem{key, fmt.Sprintf(format, args...)})
	})
	return ps
}
