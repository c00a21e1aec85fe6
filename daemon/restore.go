package daemon

import (
	"time"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/exporters"
	"github.com/raftdrill/raftdrill/probes/drill"
	"github.com/raftdrill/raftdrill/state"
)

// newKeeper is the restore loop over the state directory's journal, on the
// cluster of the configuration in force, leaving the running drill's nodes
// to that drill.
func (d *Daemon) newKeeper() *drill.Keeper {
	return drill.NewKeeper(drill.KeeperOptions{
		Journal: d.st.Journal(),
		Target: func() drill.Target {
			s := d.setup()
			return drill.Target{Control: s.cluster.Control, Client: s.cluster.Client, Config: s.cfg}
		},
		Running:  func() string { return d.runner.running() },
		Observer: keeperObserver{d},
		Awaiting: func(n int) { d.metrics.NodesAwaitingRestore.Set(float64(n)) },
		Log:      d.log.With("component", "restore"),
	})
}

// keeperObserver counts the restore loop's attempts and tells the alert
// engine.
type keeperObserver struct{ d *Daemon }

func (k keeperObserver) NotRestored(o state.Outage) {
	k.d.metrics.RestoreAttempts.WithLabelValues("failed").Inc()
	if a := k.d.alertService(); a != nil {
		a.Engine.NodeNotRestored(k.d.outage(o))
	}
}

func (k keeperObserver) Restored(o state.Outage, down time.Duration) {
	k.d.metrics.RestoreAttempts.WithLabelValues("restored").Inc()
	if a := k.d.alertService(); a != nil {
		a.Engine.NodeRestored(k.d.outage(o), down)
	}
}

// outage is a journal entry as the alert engine takes it; once announced,
// the firing is remembered in the journal, so that a restarted daemon
// resolves it instead of announcing it again.
func (d *Daemon) outage(o state.Outage) alerts.NodeOutage {
	j := d.st.Journal()
	return alerts.NodeOutage{
		Node: o.Node, Run: o.Run, Drill: o.Drill, Since: o.At, Attempts: o.Attempts, LastError: o.LastError,
		Firing: o.Alert,
		Announced: func(firing string) {
			if err := j.MarkAlerted(o.Run, o.Node, firing); err != nil {
				d.log.Error("restore journal: announcement not recorded; a restart may announce the node again", "node", o.Node, "err", err)
			}
		},
	}
}

// reportLeftDown tells the alert engine, at shutdown, of every node still
// journalled: node-not-restored opens at once for those not announced yet.
func (d *Daemon) reportLeftDown(left []state.Outage) {
	a := d.alertService()
	if a == nil {
		return
	}
	seen := map[int32]bool{}
	for _, o := range left {
		if seen[o.Node] {
			continue
		}
		seen[o.Node] = true
		if o.LastError == "" {
			o.LastError = "raftdrill is shutting down before it could restore the node; the next start restores it"
		}
		a.Engine.NodeNotRestored(d.outage(o))
	}
}

func (d *Daemon) alertService() *alerts.Service {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.alerts
}

// ClearOutages removes journal entries (raftdrill state clear through the
// API): those of node (all nodes when node < 0) and of run (any run when
// ""), never the running drill's. The restore loop stops restoring them.
func (d *Daemon) ClearOutages(node int32, runID string) ([]state.Outage, error) {
	running := d.runner.running()
	gone, err := d.st.Journal().ClearIf(func(o state.Outage) bool {
		return o.Run != running && (node < 0 || o.Node == node) && (runID == "" || o.Run == runID)
	})
	for _, o := range gone {
		d.log.Warn("restore journal entry cleared by an operator: raftdrill no longer restores the node", "node", o.Node, "run", o.Run)
		if a := d.alertService(); a != nil {
			no := d.outage(o)
			no.Cleared = true
			a.Engine.NodeRestored(no, time.Since(o.At))
		}
	}
	d.keeper.Wake()
	return gone, err
}

func nodeLabel(id int32) string { return exporters.NodeLabel(id) }
