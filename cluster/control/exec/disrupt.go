package exec

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/raftdrill/raftdrill/cluster/control/internal/nodecmd"
)

// disruptCommands are the optional isolate, heal, pause and resume
// templates. Isolate and heal are rendered at each call, for the peers the
// drill names; all four are rendered for every node up front (isolate and
// heal against every other node) so that a mistake shows at start-up.
type disruptCommands struct {
	isolate, heal, pause, resume *nodecmd.Template
	datas                        map[int32]nodecmd.Data
}

func newDisruptCommands(e *Config, datas []nodecmd.Data) (disruptCommands, error) {
	dc := disruptCommands{datas: map[int32]nodecmd.Data{}}
	for _, d := range datas {
		dc.datas[d.ID] = d
	}
	var errs []error
	parse := func(name, text string) *nodecmd.Template {
		if text == "" {
			return nil
		}
		t, err := nodecmd.Parse(Key+"."+name, text)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		return &t
	}
	dc.isolate, dc.heal = parse("isolate", e.Isolate), parse("heal", e.Heal)
	dc.pause, dc.resume = parse("pause", e.Pause), parse("resume", e.Resume)
	if (e.Isolate == "") != (e.Heal == "") {
		errs = append(errs, fmt.Errorf("%s.isolate and %s.heal: set both or neither", Key, Key))
	}
	if (e.Pause == "") != (e.Resume == "") {
		errs = append(errs, fmt.Errorf("%s.pause and %s.resume: set both or neither", Key, Key))
	}
	for _, d := range datas {
		var peers []int32
		for _, o := range datas {
			if o.ID != d.ID {
				peers = append(peers, o.ID)
			}
		}
		for _, t := range []*nodecmd.Template{dc.isolate, dc.heal} {
			if t != nil {
				_, err := t.RenderPeers(dc.peerData(d.ID, peers))
				errs = append(errs, err)
			}
		}
		for _, t := range []*nodecmd.Template{dc.pause, dc.resume} {
			if t != nil {
				_, err := t.Render(d)
				errs = append(errs, err)
			}
		}
	}
	return dc, errors.Join(errs...)
}

func (dc disruptCommands) peerData(id int32, peers []int32) nodecmd.PeerData {
	var ps []nodecmd.Data
	for _, p := range peers {
		if d, ok := dc.datas[p]; ok {
			ps = append(ps, d)
		}
	}
	return nodecmd.WithPeers(dc.datas[id], ps)
}

// Supports says whether the commands of a disruption are configured.
func (c *Controller) Supports(disruption string) error {
	switch {
	case disruption == "partition" && c.disrupt.isolate == nil:
		return fmt.Errorf("%s.isolate and heal are not set (%w)", Key, errors.ErrUnsupported)
	case disruption == "pause" && c.disrupt.pause == nil:
		return fmt.Errorf("%s.pause and resume are not set (%w)", Key, errors.ErrUnsupported)
	}
	return nil
}

// Isolate runs the isolate command for node id and peers.
func (c *Controller) Isolate(ctx context.Context, id int32, peers []int32) error {
	return c.runPeers(ctx, "isolate", c.disrupt.isolate, id, peers)
}

// Heal runs the heal command for node id and peers.
func (c *Controller) Heal(ctx context.Context, id int32, peers []int32) error {
	return c.runPeers(ctx, "heal", c.disrupt.heal, id, peers)
}

// Pause runs the pause command for node id.
func (c *Controller) Pause(ctx context.Context, id int32) error {
	return c.runNode(ctx, "pause", c.disrupt.pause, id)
}

// Resume runs the resume command for node id.
func (c *Controller) Resume(ctx context.Context, id int32) error {
	return c.runNode(ctx, "resume", c.disrupt.resume, id)
}

var pastTense = map[string]string{"isolate": "isolated", "heal": "healed", "pause": "paused", "resume": "resumed"}

func (c *Controller) runPeers(ctx context.Context, verb string, t *nodecmd.Template, id int32, peers []int32) error {
	if t == nil {
		return fmt.Errorf("%s node %d: %s.%s is not set (%w)", verb, id, Key, verb, errors.ErrUnsupported)
	}
	if _, ok := c.disrupt.datas[id]; !ok {
		return fmt.Errorf("%s node %d: not in cluster.nodes", verb, id)
	}
	if i := slices.IndexFunc(peers, func(p int32) bool { _, ok := c.disrupt.datas[p]; return !ok }); i >= 0 {
		return fmt.Errorf("%s node %d: peer %d not in cluster.nodes", verb, id, peers[i])
	}
	line, err := t.RenderPeers(c.disrupt.peerData(id, peers))
	if err != nil {
		return fmt.Errorf("%s node %d: %w", verb, id, err)
	}
	if err := c.run(ctx, verb, id, line); err != nil {
		return fmt.Errorf("%s node %d: %w", verb, id, err)
	}
	c.logger.Info("node "+pastTense[verb], "node", id, "peers", peers)
	return nil
}

func (c *Controller) runNode(ctx context.Context, verb string, t *nodecmd.Template, id int32) error {
	if t == nil {
		return fmt.Errorf("%s node %d: %s.%s is not set (%w)", verb, id, Key, verb, errors.ErrUnsupported)
	}
	d, ok := c.disrupt.datas[id]
	if !ok {
		return fmt.Errorf("%s node %d: not in cluster.nodes", verb, id)
	}
	line, err := t.Render(d)
	if err != nil {
		return fmt.Errorf("%s node %d: %w", verb, id, err)
	}
	if err := c.run(ctx, verb, id, line); err != nil {
		return fmt.Errorf("%s node %d: %w", verb, id, err)
	}
	c.logger.Info("node "+pastTense[verb], "node", id)
	return nil
}

// CommandLines are every command line the controller can run, by verb,
// for every node in turn (isolate and heal against all the other nodes):
// what a check of the commands, such as which programs they start, needs.
func (c *Controller) CommandLines() map[string][]string {
	out := map[string][]string{}
	ids := slices.Sorted(maps.Keys(c.nodes))
	for _, id := range ids {
		cmds := c.nodes[id]
		out["kill"] = append(out["kill"], cmds.kill)
		out["restart"] = append(out["restart"], cmds.restart)
		out["up"] = append(out["up"], cmds.up)
		var peers []int32
		for _, o := range ids {
			if o != id {
				peers = append(peers, o)
			}
		}
		for verb, t := range map[string]*nodecmd.Template{"isolate": c.disrupt.isolate, "heal": c.disrupt.heal} {
			if t != nil {
				line, _ := t.RenderPeers(c.disrupt.peerData(id, peers)) // rendered once already in New
				out[verb] = append(out[verb], line)
			}
		}
		for verb, t := range map[string]*nodecmd.Template{"pause": c.disrupt.pause, "resume": c.disrupt.resume} {
			if t != nil {
				line, _ := t.Render(c.disrupt.datas[id])
				out[verb] = append(out[verb], line)
			}
		}
	}
	return out
}
