package config

import "fmt"

// Benchmark is the benchmark probe: the cluster against a single-node
// baseline.
type Benchmark struct {
	Schedule string `mapstructure:"schedule"`
}

func defaultBenchmark() Benchmark {
	return Benchmark{Schedule: "off"}
}

// validateBenchmark checks drills.benchmark.*.
func (c *Config) validateBenchmark() Problems {
	var ps Problems
	validSchedule("drills.benchmark.schedule", c.Drills.Benchmark.Schedule, func(key, format string, args ...any) {
		ps = append(ps, Problem{key, fmt.Sprintf(format, args...)})
	})
	return ps
}
