package alerts_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftdrill/raftdrill/internal/testenv"
)

// BenchmarkQuorumLossToSlack kills a majority of a sandbox cluster and
// measures the time from the kill to the quorum-lost message arriving at
// Slack (the fake), at default settings: a check every 5 s, paging after
// two bad checks in a row, the sandbox's default 1–2 s election timeouts.
// The goal is under 12 s at the median; a Prometheus rule with `for: 1m`
// routed through Alertmanager's grouping takes minutes.
//
// Each iteration takes five samples (about 75 s in all): the kill lands at
// a random moment of the probe's interval, as a real failure would.
func BenchmarkQuorumLossToSlack(b *testing.B) {
	const samples = 5
	for b.Loop() {
		cfg := testenv.Config()
		r := newRig(b, cfg, "bot")
		interval := cfg.Probes.Quorum.Interval
		r.waitChecks(b, 1, "a healthy cluster", isAvailable)
		var lat []time.Duration
		for i := 0; i < samples; i++ {
			time.Sleep(rand.N(interval))
			before := len(r.slack.Messages())
			killed := time.Now()
			r.kill(b, r.sb, 1, 2)
			got := r.slack.WaitMessages(b, before+1, time.Minute)
			page := got[before]
			if !strings.Contains(page.Text, "Quorum lost") {
				b.Fatalf("first message after the kill: %+v", page)
			}
			lat = append(lat, page.At.Sub(killed))
			r.restart(b, r.sb, 1, 2)
			// The reply and the update: resolved, so quorum is back and
			// the next kill opens a new firing.
			r.slack.WaitMessages(b, before+3, time.Minute)
		}
		r.stop()
		slices.Sort(lat)
		median := lat[len(lat)/2]
		b.ReportMetric(median.Seconds(), "median-s/page")
		b.ReportMetric(lat[len(lat)-1].Seconds(), "max-s/page")
		b.Logf("kill → Slack: %v (median %v)", lat, median)
		if median > 12*time.Second {
			b.Errorf("median %v over the 12 s goal", median)
		}
	}
}
