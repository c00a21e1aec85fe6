package probes_test

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/cluster/control/sandboxctl"
	"github.com/raftdrill/raftdrill/cluster/message"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/probes/drills"
	"github.com/raftdrill/raftdrill/probes/failover"
	"github.com/raftdrill/raftdrill/probes/recovery"
	"github.com/raftdrill/raftdrill/probes/splitbrain"
	"github.com/raftdrill/raftdrill/run"
	"github.com/raftdrill/raftdrill/sandbox"
)

var (
	soakDrills    = flag.String("soak.drills", "leader-failover", "drills to run, comma-separated, in turn")
	soakRuns      = flag.Int("soak.runs", 20, "runs of each drill")
	soakAcks      = flag.String("soak.acks", "all", "acks of the drills that have the setting: all or 1")
	soakRaftdrill = flag.String("soak.process-per-node", "", "a raftdrill binary: run each sandbox node as its own process (sandbox node) from it")
	soakShort     = flag.Bool("soak.short", false, "cut the drills' timings down to seconds (the anomaly soak); default: every drill as configured by default")
	soakLinkDelay = flag.Duration("soak.link-delay", 0, "the sandbox's link_delay (how long each Raft message travels); 0: its default")
	soakRate      = flag.Float64("soak.rate", 0, "msg/s of the steady load through the kill or the cut (leader-failover's and split-brain's rate, failure-recovery's kill_load_rate); 0: as configured")
)

// BenchmarkSoak runs drills again and again on one sandbox with the
// sandbox's default settings (1–2 s elections, fsync always), each drill
// with its defaults unless -soak.short, and tallies what they found: how
// many passed, every anomaly kind, and, with acks=1, whether every lost
// write the checker names is one the old leader's Raft log shows it held
// and never committed. `make bench-soak` runs it; the flags pick the
// drills, the number of runs, acks and process-per-node.
func BenchmarkSoak(b *testing.B) {
	names := strings.Split(*soakDrills, ",")
	for _, n := range names {
		if _, ok := drills.Lookup(n); !ok {
			b.Fatalf("-soak.drills: no drill %q (drills: %v)", n, drills.Names())
		}
	}
	for i := 0; i < b.N; i++ {
		cfg := soakConfig(b)
		sb, env := soakSandbox(b, cfg)
		tally := map[string]*soakTally{}
		for r := 0; r < *soakRuns; r++ {
			for _, name := range names {
				t := tally[name]
				if t == nil {
					t = &soakTally{kinds: map[string]int{}}
					tally[name] = t
				}
				env.RunID = fmt.Sprintf("soak-%s-%03d", name, r)
				began := time.Now()
				res := testenv.Drill(b, cfg, name).Run(context.Background(), env)
				t.add(res)
				checkLostAgainstRaft(b, sb, cfg, env.RunID, res, t)
				b.Logf("%-16s run %3d  %-7s %6.1fs  %s", name, r+1, res.Status, time.Since(began).Seconds(), soakLine(res))
				if !wholeCluster(sb) {
					b.Fatalf("%s run %d left the cluster incomplete: %+v", name, r+1, sb.Nodes())
				}
			}
		}
		for _, name := range names {
			t := tally[name]
			b.Logf("%s × %d (acks=%s%s): %d passed, %d failed, %d error; runs with anomalies %d, with lost writes %d (%d writes lost in all); anomalies by kind %v%s",
				name, *soakRuns, *soakAcks, map[bool]string{true: ", process per node"}[*soakRaftdrill != ""],
				t.passed, t.failed, t.errors, t.anomalous, t.withLost, t.lost, t.kinds, t.raftNote())
			b.ReportMetric(float64(t.passed), name+"-passed")
			b.ReportMetric(float64(t.anomalous), name+"-with-anomalies")
		}
	}
}

type soakTally struct {
	passed, failed, errors int
	anomalous, withLost    int
	lost                   int
	kinds                  map[string]int
	// Of the lost writes named (examples), how many the old leader's
	// truncated Raft entries hold, and how many they do not.
	inTruncated, notTruncated int
}

func (t *soakTally) add(res run.Result) {
	switch res.Status {
	case run.StatusPassed:
		t.passed++
	case run.StatusFailed:
		t.failed++
	default:
		t.errors++
	}
	if len(res.Anomalies) > 0 {
		t.anomalous++
	}
	for _, a := range res.Anomalies {
		t.kinds[a.Kind] += a.Count
	}
	if n := int(res.Measurements.Value(run.MessagesLost)); n > 0 {
		t.withLost++
		t.lost += n
	}
}

func (t *soakTally) raftNote() string {
	if t.inTruncated+t.notTruncated == 0 {
		return ""
	}
	return fmt.Sprintf("; lost writes named: %d among the truncated (never committed) Raft entries of the nodes the run took down, %d not", t.inTruncated, t.notTruncated)
}

func soakLine(res run.Result) string {
	m := res.Measurements
	var parts []string
	for _, k := range []run.Measure{run.ElectionSeconds, run.StepdownSeconds, run.FailoverSeconds, run.MessagesLost} {
		if v, ok := m.Get(k); ok {
			parts = append(parts, fmt.Sprintf("%s %s", k.Short, k.Format(v)))
		}
	}
	if len(res.Anomalies) > 0 {
		parts = append(parts, "anomalies: "+run.Summary(res.Anomalies))
	}
	if res.Error != "" {
		parts = append(parts, "error: "+res.Error)
	}
	for _, c := range res.Criteria {
		if !c.Passed {
			parts = append(parts, "missed "+c.Describe())
		}
	}
	return strings.Join(parts, "; ")
}

// checkLostAgainstRaft compares the lost writes a run names with the
// entries the killed or cut-off leader appended and Raft then truncated:
// the same partition, offset and sequence number, of the run or of one of
// its streams (run id with a suffix: split-brain's pinned writes,
// failure-recovery's writes through the leader kill).
func checkLostAgainstRaft(b *testing.B, sb *sandbox.Cluster, cfg *config.Config, runID string, res run.Result, t *soakTally) {
	// Every node the run took down: failure-recovery's follower may lead
	// another partition, and lose that partition's acks=1 writes.
	var nodes []int32
	for _, m := range []run.Measure{run.KilledNode, run.OldLeader, run.KilledFollower, run.KilledLeader} {
		if v, ok := res.Measurements.Get(m); ok && v > 0 && !slices.Contains(nodes, int32(v)) {
			nodes = append(nodes, int32(v))
		}
	}
	// Each node's truncated entries of a partition, asked once.
	type key struct {
		node      int32
		partition int32
	}
	seen := map[key][]sandbox.LogRecord{}
	truncated := func(n, p int32) []sandbox.LogRecord {
		k := key{n, p}
		if recs, ok := seen[k]; ok {
			return recs
		}
		recs, err := sb.Truncated(n, cfg.Cluster.Topic.Name, p)
		if err != nil {
			b.Logf("run %s: truncated entries of node %d: %v", runID, n, err)
		}
		seen[k] = recs
		return recs
	}
	for _, a := range res.Anomalies {
		if a.Kind != run.KindLostWrite {
			continue
		}
		for _, ex := range a.Examples {
			found := false
			for _, n := range nodes {
				found = found || slices.ContainsFunc(truncated(n, ex.Partition), func(r sandbox.LogRecord) bool {
					m, err := message.Decode(r.Value)
					return err == nil && m.Valid && (m.Run == runID || strings.HasPrefix(m.Run, runID+"-")) &&
						m.Partition == ex.Partition && m.Seq == ex.Seq && r.Offset == ex.Offset
				})
			}
			if found {
				t.inTruncated++
			} else {
				t.notTruncated++
				b.Logf("run %s: lost write partition %d offset %d seq %d is in no truncated entry of nodes %v", runID, ex.Partition, ex.Offset, ex.Seq, nodes)
			}
		}
	}
}

func wholeCluster(sb *sandbox.Cluster) bool {
	for _, n := range sb.Nodes() {
		if !n.Up || n.Paused {
			return false
		}
	}
	return true
}

// soakConfig is every drill with its defaults (or cut down with
// -soak.short) on a sandbox with its defaults.
func soakConfig(b *testing.B) *config.Config {
	cfg := testenv.Config(drills.All...)
	if *soakShort {
		cfg = testenv.ShortConfig()
	}
	def := config.WithSections(nil)
	cfg.Cluster.RequestTimeout = def.Cluster.RequestTimeout
	e := testenv.Sandbox(cfg)
	d := sandboxctl.Defaults()
	e.ElectionTimeoutMin, e.ElectionTimeoutMax = d.ElectionTimeoutMin, d.ElectionTimeoutMax
	if *soakLinkDelay > 0 {
		e.LinkDelay = *soakLinkDelay
	}
	switch *soakAcks {
	case "all", "1":
	default:
		b.Fatalf("-soak.acks %q: all or 1", *soakAcks)
	}
	lf := testenv.Section[*failover.Config](cfg, failover.Spec)
	if *soakShort {
		// Seconds, but long enough around the default 1–2 s election
		// that the success ratio judges the failover, not the cut.
		lf.KillAfter, lf.ProduceDuration = 2*time.Second, 8*time.Second
	}
	if *soakRate > 0 {
		lf.Rate = *soakRate
		testenv.Section[*splitbrain.Config](cfg, splitbrain.Spec).Rate = *soakRate
	}
	lf.Acks = *soakAcks
	testenv.Section[*splitbrain.Config](cfg, splitbrain.Spec).Acks = *soakAcks
	fr := testenv.Section[*recovery.Config](cfg, recovery.Spec)
	fr.Acks = *soakAcks
	if *soakRate > 0 {
		fr.KillLoadRate = *soakRate
	}
	// A leader alone rightly acks acks=1 writes, with its majority down
	// too: the majority-loss step ("writes refused") is for acks=all, and
	// config validation refuses it with acks=1.
	fr.Steps.MajorityLoss = *soakAcks == "all"
	if ps := cfg.Validate(); len(ps) > 0 {
		b.Fatalf("soak config: %v", ps)
	}
	return cfg
}

func soakSandbox(b *testing.B, cfg *config.Config) (*sandbox.Cluster, drill.Env) {
	opts, err := testenv.Sandbox(cfg).Options(testutil.Log())
	if err != nil {
		b.Fatal(err)
	}
	if *soakRaftdrill != "" {
		exe, err := filepath.Abs(*soakRaftdrill)
		if err != nil {
			b.Fatal(err)
		}
		opts.ProcessPerNode, opts.Command = true, []string{exe, "sandbox", "node"}
	}
	sb, err := sandbox.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sb.Close)
	client := testenv.Client(b, cfg, sb.Addrs()...)
	return sb, drill.Env{RunID: "soak", Client: client, Control: sandboxctl.Wrap(sb, testutil.Log()), Config: cfg, Log: testutil.Log()}
}
