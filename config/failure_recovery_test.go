package config

import (
	"testing"
	"time"
)

func TestFailureRecoveryDefaultsAreTheIssues(t *testing.T) {
	c, err := load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	fr := c.Drills.FailureRecovery
	if fr.Schedule != "off" || fr.Messages != 1000 || fr.Batch != 100 || fr.ElectionDeadline != 15*time.Second ||
		fr.RecoveryDeadline != 60*time.Second || fr.LeaderGrace != 5*time.Second || fr.Steps.MajorityLoss ||
		fr.Thresholds.MinBatchAckRatio != 0.9 || fr.Thresholds.MinAckedRecoveredRatio != 1 || fr.Thresholds.MinSentRecoveredRatio != 0.95 {
		t.Fatalf("defaults: %+v", fr)
	}
	if c.Drills.LeaderFailover.LeaderGrace != 5*time.Second {
		t.Fatalf("leader-failover grace: %s", c.Drills.LeaderFailover.LeaderGrace)
	}
	for _, fc := range c.Sandbox.Faults.Counts() {
		if fc.N != 0 {
			t.Fatalf("fault %s on by default", fc.Key)
		}
	}
	if f := c.Sandbox.Faults; f.AckWithoutQuorum || f.NeverElect || f.StaleLeader || f.SplitLeader {
		t.Fatalf("fault on by default: %+v", f)
	}
}

func TestFailureRecoveryFromEnvironment(t *testing.T) {
	c, err := load("", []string{
		"RAFTDRILL_DRILLS_FAILURE_RECOVERY_STEPS_MAJORITY_LOSS=true",
		"RAFTDRILL_DRILLS_FAILURE_RECOVERY_THRESHOLDS_MIN_BATCH_ACK_RATIO=0.5",
		"RAFTDRILL_SANDBOX_FAULTS_DUPLICATE_WRITES=2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Drills.FailureRecovery.Steps.MajorityLoss || c.Drills.FailureRecovery.Thresholds.MinBatchAckRatio != 0.5 || c.Sandbox.Faults.DuplicateWrites != 2 {
		t.Fatalf("overrides not applied: %+v %+v", c.Drills.FailureRecovery, c.Sandbox.Faults)
	}
}
