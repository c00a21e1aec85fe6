package probes_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/internal/testenv"
	"github.com/raftdrill/raftdrill/run"
)

// nodeFaultCases are the sandbox's per-node faults (issue 11): what one
// replica does wrong, set through the control API (PUT /faults) under
// "node_faults", keyed by a node id or by the role the node plays for each
// partition when it answers ("leader", "follower": the highest-numbered
// non-leader replica). Counts arm the next N acked records (or produce
// answers) anywhere in the cluster, as the sandbox's other counted faults
// do, so each is exactly N findings. The lying proxy (lies_test.go) proves
// the same rules from outside the sandbox.
var nodeFaultCases = []struct {
	name, drill, body, kind string
	count                   int
}{
	{"a follower serves batches whose CRC fails", "failure-recovery",
		`{"node_faults": {"follower": {"bad_crc_batches": 2}}}`, run.KindCorrupt, 2},
	{"a follower serves a flipped payload byte, CRC recomputed", "failure-recovery",
		`{"node_faults": {"follower": {"flipped_bytes": 2}}}`, run.KindCorrupt, 2},
	{"the leader serves a damaged header, CRC recomputed", "failure-recovery",
		`{"node_faults": {"leader": {"damaged_headers": 2}}}`, run.KindCorrupt, 2},
	{"the leader drops acked records the followers keep", "failure-recovery",
		`{"node_faults": {"leader": {"drop_acked": 2}}}`, run.KindLostWrite, 2},
	{"acks name the offset after the record's", "leader-failover",
		`{"node_faults": {"leader": {"ack_offset_shift": 1, "ack_offset_shift_count": 2}}}`, run.KindBogusAck, 2},
	{"a follower serves a stale record at an acked offset", "failure-recovery",
		`{"node_faults": {"follower": {"stale_records": 2}}}`, run.KindInconsistentOffsets, 2},
	{"node 3 stops replicating and never catches up", "failure-recovery",
		`{"node_faults": {"3": {"never_catch_up": true}}}`, run.KindLaggingReplica, 0},
	{"a follower refuses every fetch", "leader-failover",
		`{"node_faults": {"follower": {"refuse_fetch": true}}}`, run.KindUnreadableReplica, 0},
}

func TestSandboxNodeFaultsAreNamed(t *testing.T) {
	for _, tc := range nodeFaultCases {
		t.Run(tc.drill+"/"+tc.name, func(t *testing.T) {
			cfg := testenv.ShortConfig()
			testenv.FR(cfg).ReadBack.CatchUpTimeout = 2 * time.Second
			sb, env := testenv.Env(t, cfg)
			api := httptest.NewServer(sb.Handler())
			defer api.Close()
			req, _ := http.NewRequest(http.MethodPut, api.URL+"/faults", strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("PUT /faults %s: %s: %s", tc.body, resp.Status, answer)
			}
			res := testenv.Drill(t, cfg, tc.drill).Run(context.Background(), env)
			if len(res.Anomalies) != 1 || res.Anomalies[0].Kind != tc.kind || res.Status != run.StatusFailed ||
				(tc.count > 0 && res.Anomalies[0].Count != tc.count) {
				t.Fatalf("want %s ×%d alone; status %s, anomalies %+v", tc.kind, tc.count, res.Status, res.Anomalies)
			}
			a := res.Anomalies[0]
			t.Logf("%s ×%d: %s, e.g. %+v", a.Kind, a.Count, a.Detail, a.Examples[0])
		})
	}
}
