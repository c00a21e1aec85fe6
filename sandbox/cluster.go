package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftdrill/raftdrill/sandbox/internal/kafkaserver"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Options shape a sandbox cluster. The zero value of every field but
// Nodes (1 is the baseline, 3 the default) is a sensible default.
type Options struct {
	Nodes int
	// KafkaBasePort is node 1's Kafka port, node N listens on base+N-1;
	// 0 picks free ports.
	KafkaBasePort int

	// ElectionTimeoutMin sets the Raft tick when TickInterval is not
	// given: tick = ElectionTimeoutMin / ElectionTick, so that a follower
	// that stops hearing from its leader stands for election after a
	// random time in [ElectionTimeoutMin, 2×ElectionTimeoutMin), Raft's
	// randomised election timeout. ElectionTimeoutMax is kept for
	// compatibility and otherwise ignored: Raft draws the timeout itself.
	ElectionTimeoutMin time.Duration
	ElectionTimeoutMax time.Duration
	// TickInterval, ElectionTick and HeartbeatTick are Raft's own
	// settings; defaults 100 ms, 10 and 1 (elections after 1–2 s).
	TickInterval  time.Duration
	ElectionTick  int
	HeartbeatTick int
	// LinkDelay holds every Raft message between nodes that long before
	// it is sent, as a network between brokers would (loopback alone is
	// far quicker than any real one). A killed node loses what it still
	// held. 0: none.
	LinkDelay time.Duration

	// DataDir holds every node's data, node N in DataDir/node-N; empty
	// means a temporary directory removed on Close. A sandbox started
	// on the data of an earlier one recovers its topics and records.
	DataDir string
	// Fsync is "always" (the default: one fsync per Raft Ready, so one
	// per batch of writes) or "never" (writes stay in a userspace buffer
	// that is written out every FlushInterval and lost at a kill).
	Fsync         string
	FlushInterval time.Duration
	// Retention bounds how long (default 1 h) and how much (default
	// 512 MiB per partition replica) each partition's log keeps.
	Retention      time.Duration
	RetentionBytes int64
	SegmentBytes   int64

	// ProcessPerNode runs each node in its own OS process: kill is a
	// SIGKILL, pause a SIGSTOP. Command is the child's command line,
	// to which the sandbox appends the node's spec; by default the
	// running executable with the arguments "sandbox node".
	ProcessPerNode bool
	Command        []string

	// Listener configures the Kafka listeners (TLS, SASL), in child
	// processes too.
	Listener ListenerOptions

	Faults Faults
	Logger *slog.Logger
}

// Event is one entry of the ground-truth timeline. The Raft events are
// stamped by the node where its group's state changes, before any client
// can see the change: elected when the node becomes leader, stepped-down
// when a leader that is alive stops leading, leaderless when the leader
// the cluster knew was killed or stepped down.
type Event struct {
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	Node      int32     `json:"node"`
	Topic     string    `json:"topic,omitempty"`
	Partition *int32    `json:"partition,omitempty"`
	// Epoch is the Raft term: the one won (elected), the one led
	// (stepped-down, leaderless).
	Epoch *int32 `json:"epoch,omitempty"`
	// Reason says why a leader stepped down: check-quorum (it had not
	// heard from a majority for an election timeout) or higher-term.
	Reason string `json:"reason,omitempty"`
	// Groups are a partition's sides (kind partition).
	Groups [][]int32 `json:"groups,omitempty"`
}

// Event kinds.
const (
	EventKill       = "kill"
	EventRestart    = "restart"
	EventLeaderless = "leaderless"
	EventElected    = "elected"
	// EventSteppedDown is recorded for every leader that leaves office
	// alive, even when the cluster already follows its successor (then
	// there is no leaderless event): what a drill's step-down time is
	// compared with.
	EventSteppedDown = "stepped-down"
	EventPartition   = "partition"
	EventHeal        = "heal"
	EventPause       = "pause"
	EventResume      = "resume"
)

// NodeInfo is one node as GET /nodes shows it.
type NodeInfo struct {
	ID      int32  `json:"id"`
	Address string `json:"address"`
	Up      bool   `json:"up"`
	Paused  bool   `json:"paused,omitempty"`
}

// Cluster is a sandbox cluster of nodes that replicate each partition
// through Raft.
type Cluster struct {
	opts    Options
	log     *slog.Logger
	dir     string
	tempDir bool
	members []*member // node id i+1
	faults  *faultState
	lat     latency
	links   linkTable
	proc    *procParent           // process-per-node only
	lis     *kafkaserver.Listener // Options.Listener, built once for every node

	// ops serialises what changes the cluster's shape (kill, restart,
	// pause, partition, topic creation, close).
	ops sync.Mutex
	wg  sync.WaitGroup // background work of the cluster itself

	mu       sync.Mutex // guards everything below
	timeline []Event
	leaders  map[uint64]*leaderState // by Raft group
	hides    []hideRec
	loses    map[tp]hideRec // lose entries to propose once a leader is elected
	closed   bool
}

type member struct {
	id        int32
	kafkaAddr string
	raftAddr  string
	up        bool
	paused    bool
	inc       uint64
	ctl       memberCtl
	// listeners bound at New, used by the first in-process start
	kafkaLn, raftLn net.Listener
}

// leaderState is a group's leadership as the nodes' reports tell it.
type leaderState struct {
	topic     string
	partition int32
	leader    int32
	term      uint64
}

// memberCtl is how the cluster drives one running node, in this process or
// in a child.
type memberCtl interface {
	stop(kill bool)
	pause()
	resume()
	hide(h hideRec)
	lose(h hideRec) error
	led() []ledPartition
	state() memberState
	createTopic(name string, partitions int32, rf int16, timeout time.Duration) error
	topicLed(name string) bool
	log(topic string, partition int32) ([]LogRecord, error)
	truncated(topic string, partition int32) ([]LogRecord, error)
}

// memberState is what the cluster asks of a running node.
type memberState struct {
	CaughtUp   bool    `json:"caught_up"`
	Live       []int32 `json:"live"`
	MetaLeader int32   `json:"meta_leader"`
}

var errClosed = errors.New("sandbox is closed")

// New starts a sandbox cluster and returns once its nodes see each other
// and the metadata group has a leader. Close it when done.
func New(opts Options) (*Cluster, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	if ps := opts.Faults.Problems(opts.Nodes); len(ps) > 0 {
		return nil, fmt.Errorf("sandbox: faults.%s: %s", ps[0].Key, ps[0].Msg)
	}
	lis, err := opts.Listener.build()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		opts: opts, log: opts.Logger.With("component", "sandbox"), lis: lis,
		faults: newFaultState(opts.Faults), leaders: map[uint64]*leaderState{}, loses: map[tp]hideRec{},
	}
	c.dir = opts.DataDir
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "raftdrill-sandbox-"); err != nil {
			return nil, fmt.Errorf("sandbox data dir: %w", err)
		}
		c.tempDir = true
	}
	if err := c.bind(); err != nil {
		c.cleanup()
		return nil, err
	}
	if opts.ProcessPerNode {
		if c.proc, err = newProcParent(c); err != nil {
			c.cleanup()
			return nil, err
		}
	}
	for _, m := range c.members {
		m.up, m.inc = true, 1
		if err := c.startMember(m); err != nil {
			c.Close()
			return nil, fmt.Errorf("start sandbox node %d: %w", m.id, err)
		}
	}
	if err := c.waitFormed(30 * time.Second); err != nil {
		c.Close()
		return nil, err
	}
	// The timeline starts with a formed cluster: the metadata group's
	// first election is part of starting, not something that happened
	// to it.
	c.mu.Lock()
	c.timeline = nil
	c.mu.Unlock()
	c.log.Info("sandbox cluster started", "nodes", c.Addrs(), "dir", c.dir, "fsync", opts.Fsync, "process_per_node", opts.ProcessPerNode,
		"tls", lis.TLS != nil, "sasl", lis.Mechanisms())
	return c, nil
}

// Listener is how the nodes' Kafka listeners are configured, for a
// sandbox that must be reached the same way (the benchmark's baseline).
func (c *Cluster) Listener() ListenerOptions { return c.opts.Listener }

func withDefaults(o Options) (Options, error) {
	if o.Nodes < 1 {
		o.Nodes = 3
	}
	if o.Nodes > 63 {
		return o, fmt.Errorf("sandbox: %d nodes: at most 63", o.Nodes)
	}
	if o.ElectionTick <= 0 {
		o.ElectionTick = 10
	}
	if o.HeartbeatTick <= 0 {
		o.HeartbeatTick = 1
	}
	if o.HeartbeatTick >= o.ElectionTick {
		return o, fmt.Errorf("sandbox: heartbeat tick %d must be below election tick %d", o.HeartbeatTick, o.ElectionTick)
	}
	if o.TickInterval <= 0 {
		o.TickInterval = 100 * time.Millisecond
		if o.ElectionTimeoutMin > 0 {
			o.TickInterval = max(o.ElectionTimeoutMin/time.Duration(o.ElectionTick), time.Millisecond)
		}
	}
	switch o.Fsync {
	case "":
		o.Fsync = "always"
	case "always", "never":
	default:
		return o, fmt.Errorf("sandbox: fsync %q: want always or never", o.Fsync)
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.Retention <= 0 {
		o.Retention = time.Hour
	}
	if o.RetentionBytes <= 0 {
		o.RetentionBytes = 512 << 20
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// bind picks every node's addresses. In one process the listeners stay
// open for the nodes' first start; child processes get the addresses.
func (c *Cluster) bind() error {
	for i := 0; i < c.opts.Nodes; i++ {
		id := int32(i + 1)
		kaddr := "127.0.0.1:0"
		if c.opts.KafkaBasePort > 0 {
			kaddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.opts.KafkaBasePort+i))
		}
		kl, err := net.Listen("tcp", kaddr)
		if err != nil {
			return fmt.Errorf("sandbox node %d: listen on %s: %w", id, kaddr, err)
		}
		rl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			kl.Close()
			return fmt.Errorf("sandbox node %d: raft listener: %w", id, err)
		}
		m := &member{id: id, kafkaAddr: kl.Addr().String(), raftAddr: rl.Addr().String(), kafkaLn: kl, raftLn: rl}
		if c.opts.ProcessPerNode {
			kl.Close()
			rl.Close()
			m.kafkaLn, m.raftLn = nil, nil
		}
		c.members = append(c.members, m)
	}
	return nil
}

func (c *Cluster) spec(m *member) nodeSpec {
	s := nodeSpec{
		ID: m.id, Incarnation: m.inc, Dir: filepath.Join(c.dir, "node-"+strconv.Itoa(int(m.id))),
		KafkaAddr: m.kafkaAddr, RaftAddr: m.raftAddr,
		Tick: c.opts.TickInterval, ElectionTick: c.opts.ElectionTick, HeartbeatTick: c.opts.HeartbeatTick, LinkDelay: c.opts.LinkDelay,
		Fsync: c.opts.Fsync == "always", FlushInterval: c.opts.FlushInterval, SegmentBytes: c.opts.SegmentBytes,
		Retention: c.opts.Retention, RetentionBytes: c.opts.RetentionBytes,
		Bootstrap: m.id == 1,
	}
	for _, o := range c.members {
		s.Peers = append(s.Peers, peerSpec{ID: o.id, KafkaAddr: o.kafkaAddr, RaftAddr: o.raftAddr})
	}
	c.mu.Lock()
	s.Hides = slices.Clone(c.hides)
	c.mu.Unlock()
	return s
}

// startMember starts a node, in this process or as a child.
func (c *Cluster) startMember(m *member) error {
	spec := c.spec(m)
	if c.proc != nil {
		ctl, err := c.proc.start(spec)
		if err != nil {
			return err
		}
		m.ctl = ctl
		return nil
	}
	n, err := startNode(spec, &localEnv{c: c}, c.log, m.kafkaLn, m.raftLn, c.lis)
	m.kafkaLn, m.raftLn = nil, nil
	if err != nil {
		return err
	}
	m.ctl = &localMember{n: n}
	return nil
}

// waitFormed waits until every node sees every other and the metadata
// group has a leader.
func (c *Cluster) waitFormed(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		formed := true
		for _, m := range c.members {
			st := m.ctl.state()
			if len(st.Live) != len(c.members) || st.MetaLeader <= 0 {
				formed = false
				break
			}
		}
		if formed {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sandbox: nodes did not form a cluster within %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *Cluster) cleanup() {
	for _, m := range c.members {
		if m.kafkaLn != nil {
			m.kafkaLn.Close()
		}
		if m.raftLn != nil {
			m.raftLn.Close()
		}
	}
	if c.proc != nil {
		c.proc.close() // idempotent
	}
	if c.tempDir {
		os.RemoveAll(c.dir)
	}
}

// Close stops every node (flushing its log: a clean shutdown) and every
// goroutine of the cluster, and removes a temporary data directory.
func (c *Cluster) Close() {
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range c.members {
		if m.ctl != nil && m.up {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.ctl.stop(false) // wakes a paused node first
			}()
		}
	}
	wg.Wait()
	if c.proc != nil {
		c.proc.close()
	}
	c.wg.Wait()
	c.cleanup()
}

// Nodes lists the nodes with their Kafka address and liveness.
func (c *Cluster) Nodes() []NodeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]NodeInfo, len(c.members))
	for i, m := range c.members {
		out[i] = NodeInfo{ID: m.id, Address: m.kafkaAddr, Up: m.up, Paused: m.paused}
	}
	return out
}

// Addrs are the Kafka addresses of every node, node 1 first.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.kafkaAddr
	}
	return out
}

// DataDir is where the nodes keep their data.
func (c *Cluster) DataDir() string { return c.dir }

// Timeline returns every event so far, oldest first.
func (c *Cluster) Timeline() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.timeline)
}

// Leader returns the current leader of a partition (-1 while leaderless)
// and its epoch (the Raft term), as the nodes' Raft groups report them.
func (c *Cluster) Leader(topic string, partition int32) (leader, epoch int32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ls := c.leaderOf(topic, partition)
	if ls == nil {
		return -1, -1, false
	}
	return ls.leader, int32(ls.term), true
}

// leaderOf finds a partition's group, the latest one of that name.
// Callers hold mu.
func (c *Cluster) leaderOf(topic string, partition int32) *leaderState {
	var best *leaderState
	var bestID uint64
	for id, ls := range c.leaders {
		if ls.topic == topic && ls.partition == partition && (best == nil || id > bestID) {
			best, bestID = ls, id
		}
	}
	return best
}

func (c *Cluster) checkID(id int32) error {
	if id < 1 || int(id) > len(c.members) {
		return fmt.Errorf("node %d: no such node (the sandbox has nodes 1..%d)", id, len(c.members))
	}
	return nil
}

// Up reports whether a node is running (a paused node is).
func (c *Cluster) Up(_ context.Context, id int32) (bool, error) {
	if err := c.checkID(id); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id-1].up, nil
}

func ptr[T any](v T) *T { return &v }

// maxTimeline bounds the timeline of a long-running sandbox; the oldest
// events go first.
const maxTimeline = 10000

// record adds an event. Callers hold mu.
func (c *Cluster) record(e Event) {
	if len(c.timeline) >= maxTimeline {
		c.timeline = append(c.timeline[:0], c.timeline[len(c.timeline)-maxTimeline/2:]...)
	}
	c.timeline = append(c.timeline, e)
}

// onReport takes a node's report of a Raft state change.
func (c *Cluster) onReport(r report) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkID(r.Node); err != nil || c.closed {
		return
	}
	m := c.members[r.Node-1]
	if !m.up || r.Inc != m.inc {
		return // from a node killed since; it says nothing any more
	}
	switch r.Kind {
	case reportTopicDeleted:
		for id, ls := range c.leaders {
			if ls.topic == r.Topic && id>>16 == r.Group {
				delete(c.leaders, id)
			}
		}
		return
	case reportState:
	default:
		return
	}
	ls := c.leaders[r.Group]
	if ls == nil {
		ls = &leaderState{topic: r.Topic, partition: r.Partition, leader: -1}
		c.leaders[r.Group] = ls
	}
	switch {
	case r.Leader && r.Term >= ls.term:
		ls.leader, ls.term = r.Node, r.Term
		c.record(Event{At: r.At, Kind: EventElected, Node: r.Node, Topic: r.Topic, Partition: ptr(r.Partition), Epoch: ptr(int32(r.Term))})
		if h, ok := c.loses[tp{r.Topic, r.Partition}]; ok && r.Group != 0 {
			delete(c.loses, tp{r.Topic, r.Partition})
			c.wg.Add(1)
			go c.proposeLose(m, h)
		}
	case !r.Leader:
		c.record(Event{At: r.At, Kind: EventSteppedDown, Node: r.Node, Topic: r.Topic, Partition: ptr(r.Partition), Epoch: ptr(int32(r.Term)), Reason: r.Reason})
		if ls.leader == r.Node {
			ls.leader = -1
			c.record(Event{At: r.At, Kind: EventLeaderless, Node: r.Node, Topic: r.Topic, Partition: ptr(r.Partition), Epoch: ptr(int32(ls.term))})
		}
	}
}

// proposeLose has a new leader make a lose_acked_on_kill loss durable.
func (c *Cluster) proposeLose(m *member, h hideRec) {
	defer c.wg.Done()
	c.mu.Lock()
	ctl := m.ctl
	c.mu.Unlock()
	if ctl == nil {
		return
	}
	if err := ctl.lose(h); err != nil {
		c.log.Warn("fault lose_acked_on_kill: the new leader could not record the loss", "topic", h.Topic, "partition", h.Partition, "err", err)
	}
}

// Kill stops a node at once, as SIGKILL would: its listener and every open
// connection close, its memory is gone (what it had not written out is
// lost), and the partitions it led are leaderless until their remaining
// replicas elect a leader, which Raft lets them do only as a majority.
func (c *Cluster) Kill(_ context.Context, id int32) error {
	if err := c.checkID(id); err != nil {
		return err
	}
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.Lock()
	m := c.members[id-1]
	if c.closed {
		c.mu.Unlock()
		return errClosed
	}
	if !m.up {
		c.mu.Unlock()
		return nil
	}
	k := c.faults.get().LoseAckedOnKill
	c.mu.Unlock()
	var led []ledPartition
	if k > 0 && !m.paused {
		led = m.ctl.led()
	}
	now := time.Now()
	c.mu.Lock()
	m.up, m.paused = false, false
	c.record(Event{At: now, Kind: EventKill, Node: id})
	ids := make([]uint64, 0, len(c.leaders))
	for gid := range c.leaders {
		ids = append(ids, gid)
	}
	slices.Sort(ids)
	for _, gid := range ids {
		if ls := c.leaders[gid]; ls.leader == id {
			ls.leader = -1
			c.record(Event{At: now, Kind: EventLeaderless, Node: id, Topic: ls.topic, Partition: ptr(ls.partition), Epoch: ptr(int32(ls.term))})
		}
	}
	ctl := m.ctl
	c.mu.Unlock()
	ctl.stop(true)
	c.loseOnKill(id, k, led)
	c.waitNoticed(id, time.Second)
	c.log.Info("node killed", "node", id)
	return nil
}

// activeCtls lists the nodes that are up and not paused: those that
// answer now.
func (c *Cluster) activeCtls() []memberCtl {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []memberCtl
	for _, m := range c.members {
		if m.up && !m.paused {
			out = append(out, m.ctl)
		}
	}
	return out
}

// waitNoticed waits, up to timeout, until every running node has noticed
// that node id's connections closed, as peers of a killed process notice
// at once: so that what they answer right after Kill is about a dead node.
func (c *Cluster) waitNoticed(id int32, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		noticed := true
		for _, ctl := range c.activeCtls() {
			if slices.Contains(ctl.state().Live, id) {
				noticed = false
				break
			}
		}
		if noticed {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// loseOnKill: fault lose_acked_on_kill K loses the last K records of each
// partition the killed node led. Every live node hides them at once; the
// next leader makes that durable with a lose entry in the log.
func (c *Cluster) loseOnKill(id int32, k int, led []ledPartition) {
	if k <= 0 {
		return
	}
	for _, lp := range led {
		h := hideRec{Topic: lp.Topic, Partition: lp.Partition, From: max(lp.HWM-int64(k), 0), To: lp.HWM}
		if h.From >= h.To {
			continue
		}
		c.mu.Lock()
		c.hides = append(c.hides, h)
		c.loses[tp{h.Topic, h.Partition}] = h
		var live []memberCtl
		for _, m := range c.members {
			if m.up {
				live = append(live, m.ctl)
			}
		}
		c.mu.Unlock()
		for _, ctl := range live {
			ctl.hide(h)
		}
		c.log.Warn("fault lose_acked_on_kill: records lost", "node", id, "topic", h.Topic, "partition", h.Partition, "from", h.From, "to", h.To)
	}
}

// restartWait bounds how long Restart waits for a node to catch up: a
// group whose majority is down has no leader to catch up with.
func (c *Cluster) restartWait() time.Duration {
	return max(5*c.opts.TickInterval*time.Duration(c.opts.ElectionTick), 2*time.Second)
}

// Restart brings a killed node back: it starts from its disk, rejoins its
// groups as a follower, and catches up through Raft. Restart returns once
// it has, or after five election timeouts (at least 2 s) when some group
// has no leader to catch up with.
func (c *Cluster) Restart(ctx context.Context, id int32) error {
	if err := c.checkID(id); err != nil {
		return err
	}
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.Lock()
	m := c.members[id-1]
	if c.closed {
		c.mu.Unlock()
		return errClosed
	}
	if m.up {
		c.mu.Unlock()
		return nil
	}
	m.inc++
	m.up = true
	c.record(Event{At: time.Now(), Kind: EventRestart, Node: id})
	c.mu.Unlock()
	if err := c.startMember(m); err != nil {
		c.mu.Lock()
		m.up = false
		c.mu.Unlock()
		return fmt.Errorf("restart node %d: %w", id, err)
	}
	c.log.Info("node restarted", "node", id)
	deadline := time.Now().Add(c.restartWait())
	for !m.ctl.state().CaughtUp && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// Pause freezes a node as SIGSTOP would: no ticks, no Raft messages
// handled or sent, client requests hang. Its sockets stay open.
func (c *Cluster) Pause(_ context.Context, id int32) error {
	return c.setPaused(id, true)
}

// Resume undoes Pause.
func (c *Cluster) Resume(_ context.Context, id int32) error {
	return c.setPaused(id, false)
}

func (c *Cluster) setPaused(id int32, paused bool) error {
	if err := c.checkID(id); err != nil {
		return err
	}
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.Lock()
	m := c.members[id-1]
	switch {
	case c.closed:
		c.mu.Unlock()
		return errClosed
	case !m.up:
		c.mu.Unlock()
		return fmt.Errorf("node %d is down", id)
	case m.paused == paused:
		c.mu.Unlock()
		return nil
	}
	m.paused = paused
	kind := EventResume
	if paused {
		kind = EventPause
	}
	c.record(Event{At: time.Now(), Kind: kind, Node: id})
	ctl := m.ctl
	c.mu.Unlock()
	if paused {
		ctl.pause()
	} else {
		ctl.resume()
	}
	c.log.Info("node "+kind+"d", "node", id)
	return nil
}

// Partition cuts the Raft traffic (not the client traffic) between groups
// of nodes; nodes named in no group form one more group together. Heal
// undoes it.
func (c *Cluster) Partition(groups [][]int32) error {
	c.ops.Lock()
	defer c.ops.Unlock()
	side := map[int32]int{}
	for gi, g := range groups {
		for _, id := range g {
			if err := c.checkID(id); err != nil {
				return err
			}
			if _, dup := side[id]; dup {
				return fmt.Errorf("node %d is in two groups", id)
			}
			side[id] = gi
		}
	}
	full := slices.Clone(groups)
	var rest []int32
	for _, m := range c.members {
		if _, ok := side[m.id]; !ok {
			side[m.id] = len(groups)
			rest = append(rest, m.id)
		}
	}
	if len(rest) > 0 {
		full = append(full, rest)
	}
	c.links.set(side)
	c.mu.Lock()
	c.record(Event{At: time.Now(), Kind: EventPartition, Node: -1, Groups: full})
	c.mu.Unlock()
	c.pushState()
	c.log.Info("network partitioned", "groups", full)
	return nil
}

// Heal restores every cut link.
func (c *Cluster) Heal() {
	c.ops.Lock()
	defer c.ops.Unlock()
	c.links.set(nil)
	c.mu.Lock()
	c.record(Event{At: time.Now(), Kind: EventHeal, Node: -1})
	c.mu.Unlock()
	c.pushState()
	c.log.Info("network healed")
}

// CreateTopic creates a topic with replicas spread over the live nodes,
// and returns once every partition has elected a leader (its preferred
// replica, the first live node from partition number on, stands first).
func (c *Cluster) CreateTopic(name string, partitions int32, rf int16) error {
	c.ops.Lock()
	defer c.ops.Unlock()
	active := c.activeCtls()
	if len(active) == 0 {
		return errors.New("sandbox: no node is up")
	}
	if partitions <= 0 {
		partitions = 3
	}
	if err := active[0].createTopic(name, partitions, rf, 10*time.Second); err != nil {
		return err
	}
	// Led, by the Raft groups' reports, and every running node names
	// the leaders in its metadata.
	deadline := time.Now().Add(10 * time.Second)
	for {
		led := true
		c.mu.Lock()
		for p := int32(0); p < partitions; p++ {
			if ls := c.leaderOf(name, p); ls == nil || ls.leader < 0 {
				led = false
			}
		}
		c.mu.Unlock()
		named := led
		for _, ctl := range c.activeCtls() {
			named = named && ctl.topicLed(name)
		}
		if named {
			return nil
		}
		if time.Now().After(deadline) {
			if led {
				return nil // led; some node (cut off, say) does not know yet
			}
			return fmt.Errorf("topic %s: partitions without a leader after 10s: %w", name, kerr.LeaderNotAvailable)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Log lists the records a node's replica holds up to its high watermark,
// with their offsets and the Raft entries that hold them.
func (c *Cluster) Log(node int32, topic string, partition int32) ([]LogRecord, error) {
	ctl, err := c.running(node)
	if err != nil {
		return nil, err
	}
	return ctl.log(topic, partition)
}

// Truncated lists the records a node appended to its replica that Raft
// then removed from it: never committed, replaced by a new leader's
// entries. An acks=1 write lost to a leader's death is among them (once
// the old leader is back and has caught up). Kept in memory, since the
// node's last start.
func (c *Cluster) Truncated(node int32, topic string, partition int32) ([]LogRecord, error) {
	ctl, err := c.running(node)
	if err != nil {
		return nil, err
	}
	return ctl.truncated(topic, partition)
}

func (c *Cluster) running(node int32) (memberCtl, error) {
	if err := c.checkID(node); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[node-1]
	if !m.up {
		return nil, fmt.Errorf("node %d is down", node)
	}
	return m.ctl, nil
}

// SetFaults replaces the active faults, and arms the counted ones afresh
// (N means the next N occurrences from now).
func (c *Cluster) SetFaults(f Faults) {
	c.faults.set(f)
	c.pushState()
}

// Faults returns the active faults.
func (c *Cluster) Faults() Faults {
	f := c.faults.get()
	f.NodeFaults = maps.Clone(f.NodeFaults) // the caller's to change
	return f
}

// pushState hands the node processes the state they ask the parent
// for in one process (faults, latency, links); nodes in this process
// read it where it is.
func (c *Cluster) pushState() {
	if c.proc != nil {
		c.proc.push()
	}
}

// linkTable says which nodes may exchange Raft traffic.
type linkTable struct {
	side atomic.Pointer[map[int32]int] // nil: every link is up
}

func (l *linkTable) set(side map[int32]int) {
	if side == nil {
		l.side.Store(nil)
		return
	}
	l.side.Store(&side)
}

func (l *linkTable) allowed(from, to int32) bool {
	s := l.side.Load()
	if s == nil {
		return true
	}
	return (*s)[from] == (*s)[to]
}

// sides returns the current groups, sorted, or nil.
func (l *linkTable) sides() map[int32]int {
	s := l.side.Load()
	if s == nil {
		return nil
	}
	return *s
}

// localEnv is the cluster as a node in this process sees it.
type localEnv struct{ c *Cluster }

func (e *localEnv) report(r report)   { e.c.onReport(r) }
func (e *localEnv) faults() Faults    { return e.c.faults.get() }
func (e *localEnv) hooks() faultHooks { return localHooks{e.c.faults} }
func (e *localEnv) servePlan() *servePlan {
	return e.c.faults.plan.Load()
}
func (e *localEnv) linkAllowed(from, to int32) bool {
	return e.c.links.allowed(from, to)
}
func (e *localEnv) produceWait(node int32, now time.Time) time.Duration {
	return e.c.lat.produceWait(node, now)
}

// localMember drives a node in this process.
type localMember struct{ n *node }

func (l *localMember) stop(kill bool) { l.n.gate.resume(); l.n.stop(!kill) }
func (l *localMember) pause()         { l.n.gate.pause() }
func (l *localMember) resume()        { l.n.gate.resume() }
func (l *localMember) hide(h hideRec) { l.n.hide(h) }
func (l *localMember) lose(h hideRec) error {
	return l.n.lose(h.Topic, h.Partition, h.From, h.To)
}
func (l *localMember) led() []ledPartition { return l.n.ledPartitions() }
func (l *localMember) state() memberState  { return l.n.memberState() }
func (l *localMember) createTopic(name string, partitions int32, rf int16, timeout time.Duration) error {
	return l.n.createTopic(name, partitions, rf, timeout)
}
func (l *localMember) topicLed(name string) bool { return l.n.leadersReady(name) }
func (l *localMember) log(topic string, partition int32) ([]LogRecord, error) {
	p := l.n.partition(topic, partition)
	if p == nil {
		return nil, fmt.Errorf("node %d holds no replica of %s/%d", l.n.spec.ID, topic, partition)
	}
	return p.committedRecords()
}
func (l *localMember) truncated(topic string, partition int32) ([]LogRecord, error) {
	p := l.n.partition(topic, partition)
	if p == nil {
		return nil, fmt.Errorf("node %d holds no replica of %s/%d", l.n.spec.ID, topic, partition)
	}
	return p.truncatedRecords(), nil
}

// memberState is what the cluster polls of a node.
func (n *node) memberState() memberState {
	st := memberState{CaughtUp: n.caughtUp(), Live: n.liveBrokers(), MetaLeader: -1}
	if ms := n.meta.state(); ms.lead != 0 && n.reachable(int32(ms.lead)) {
		st.MetaLeader = int32(ms.lead)
	}
	sort.Slice(st.Live, func(i, j int) bool { return st.Live[i] < st.Live[j] })
	return st
}
