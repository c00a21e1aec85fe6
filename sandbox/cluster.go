package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options shape a sandbox cluster.
type Options struct {
	Nodes int
	// KafkaBasePort is node 1's Kafka port, node N listens on base+N-1;
	// 0 picks free ports.
	KafkaBasePort int
	// Partitions led by a killed node stay leaderless for a random time in
	// [ElectionTimeoutMin, ElectionTimeoutMax], as Raft's randomised
	// election timeout makes them.
	ElectionTimeoutMin time.Duration
	ElectionTimeoutMax time.Duration
	Faults             Faults
	Logger             *slog.Logger
}

// Event is one entry of the ground-truth timeline.
type Event struct {
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"` // kill, restart, leaderless, elected
	Node      int32     `json:"node"`
	Topic     string    `json:"topic,omitempty"`
	Partition *int32    `json:"partition,omitempty"`
	Epoch     *int32    `json:"epoch,omitempty"`
}

// Event kinds.
const (
	EventKill       = "kill"
	EventRestart    = "restart"
	EventLeaderless = "leaderless"
	EventElected    = "elected"
)

// NodeInfo is one node as GET /nodes shows it.
type NodeInfo struct {
	ID      int32  `json:"id"`
	Address string `json:"address"`
	Up      bool   `json:"up"`
}

// Cluster is a sandbox cluster: kfake serves the Kafka protocol and stores the
// data, and this type adds what makes it behave like a Raft-replicated
// cluster: per-node liveness, leaderless windows, majority-gated elections
// with rising epochs, and writes refused without quorum.
type Cluster struct {
	kf   *kfake.Cluster
	opts Options
	log  *slog.Logger
	lns  []*nodeListener // node id i+1

	// ops serialises the things that change cluster shape (kill, restart,
	// election, topic creation); request handlers never take it.
	ops sync.Mutex

	mu       sync.RWMutex // guards everything below; request handlers read it
	down     map[int32]bool
	topics   map[string]*topicState
	timeline []Event
	closed   bool
	timers   map[*time.Timer]struct{}
	faults   Faults

	lat latency // produce delays and stalls (latency.go); not under mu

	data         *dataFaults        // the data faults' counts and damage (faults_data.go); not under mu
	timeoutFault *kfake.FaultHandle // timeout_after_append; guarded by ops
}

type topicState struct {
	name  string
	id    [16]byte
	parts []*partState
}

type partState struct {
	replicas []int32
	leader   int32 // -1 while leaderless
	last     int32 // the last leader it had, for the stale-leader fault
	epoch    int32
	// election is the pending election timer of a leaderless partition.
	election *time.Timer
	// noQuorum refuses produce requests while a majority of replicas is
	// down: a Raft leader cannot commit without its majority.
	noQuorum *kfake.FaultHandle
}

var errNodeDown = errors.New("sandbox: node is down")

// New starts a sandbox cluster. Close it when done.
func New(opts Options) (*Cluster, error) {
	if opts.Nodes < 1 {
		opts.Nodes = 3
	}
	if opts.ElectionTimeoutMin <= 0 {
		opts.ElectionTimeoutMin = time.Second
	}
	if opts.ElectionTimeoutMax < opts.ElectionTimeoutMin {
		opts.ElectionTimeoutMax = opts.ElectionTimeoutMin
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{
		opts:   opts,
		log:    opts.Logger.With("component", "sandbox"),
		down:   map[int32]bool{},
		topics: map[string]*topicState{},
		timers: map[*time.Timer]struct{}{},
		faults: opts.Faults,
		data:   newDataFaults(),
	}
	for i := 0; i < opts.Nodes; i++ {
		addr := "127.0.0.1:0"
		if opts.KafkaBasePort > 0 {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.KafkaBasePort+i))
		}
		ln, err := newNodeListener(addr)
		if err != nil {
			c.closeListeners()
			return nil, fmt.Errorf("sandbox node %d: listen on %s: %w", i+1, addr, err)
		}
		c.lns = append(c.lns, ln)
	}
	next := 0
	var lnMu sync.Mutex
	kf, err := kfake.NewCluster(
		kfake.NumBrokers(opts.Nodes),
		kfake.ClusterID("raftdrill-sandbox"),
		kfake.ListenFn(func(string, string) (net.Listener, error) {
			lnMu.Lock()
			defer lnMu.Unlock()
			if next >= len(c.lns) {
				return nil, errors.New("sandbox: kfake asked for more listeners than nodes")
			}
			next++
			// Every connection goes through the wire tap, which the
			// data faults use (wiretap.go).
			return &tapListener{nodeListener: c.lns[next-1], c: c, node: int32(next)}, nil
		}),
	)
	if err != nil {
		c.closeListeners()
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	c.kf = kf
	kf.Control(c.handle)
	c.armFaults(opts.Faults)
	return c, nil
}

func (c *Cluster) closeListeners() {
	for _, ln := range c.lns {
		ln.Close()
	}
}

// Close stops the cluster and every pending election.
func (c *Cluster) Close() {
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for t := range c.timers {
		t.Stop()
	}
	c.mu.Unlock()
	c.kf.Close()
	c.closeListeners()
}

// Nodes lists the nodes with their Kafka address and liveness.
func (c *Cluster) Nodes() []NodeInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]NodeInfo, len(c.lns))
	for i, ln := range c.lns {
		id := int32(i + 1)
		out[i] = NodeInfo{ID: id, Address: ln.Addr().String(), Up: !c.down[id]}
	}
	return out
}

// Addrs are the Kafka addresses of every node, node 1 first.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.lns))
	for i, ln := range c.lns {
		out[i] = ln.Addr().String()
	}
	return out
}

// Timeline returns every event so far, oldest first.
func (c *Cluster) Timeline() []Event {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.timeline)
}

// Leader returns the current leader of a partition (-1 while leaderless) and
// its epoch, as the cluster itself knows them.
func (c *Cluster) Leader(topic string, partition int32) (leader, epoch int32, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p := c.part(topic, partition)
	if p == nil {
		return -1, -1, false
	}
	return p.leader, p.epoch, true
}

func (c *Cluster) part(topic string, partition int32) *partState {
	t := c.topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.parts) {
		return nil
	}
	return t.parts[partition]
}

func (c *Cluster) checkID(id int32) error {
	if id < 1 || int(id) > len(c.lns) {
		return fmt.Errorf("node %d: no such node (the sandbox has nodes 1..%d)", id, len(c.lns))
	}
	return nil
}

// Up reports whether a node is running.
func (c *Cluster) Up(_ context.Context, id int32) (bool, error) {
	if err := c.checkID(id); err != nil {
		return false, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return !c.down[id], nil
}

// Kill stops a node at once, as SIGKILL would: its listener and every open
// connection close, and the partitions it led become leaderless until an
// election among the remaining replicas (if they are a majority).
func (c *Cluster) Kill(_ context.Context, id int32) error {
	if err := c.checkID(id); err != nil {
		return err
	}
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("sandbox is closed")
	}
	if c.down[id] {
		c.mu.Unlock()
		return nil
	}
	now := time.Now()
	c.down[id] = true
	c.record(Event{At: now, Kind: EventKill, Node: id})
	var leaderless []*partState
	var names []string
	var nums []int32
	c.eachPart(func(t *topicState, n int32, p *partState) {
		if p.leader == id {
			p.leader, p.last = -1, id
			c.record(Event{At: now, Kind: EventLeaderless, Node: id, Topic: t.name, Partition: ptr(n), Epoch: ptr(p.epoch)})
			leaderless = append(leaderless, p)
			names = append(names, t.name)
			nums = append(nums, n)
		}
	})
	c.mu.Unlock()
	// Close the socket only after the node is marked down, so a request
	// that raced in is refused by handle rather than served by a dead node.
	c.lns[id-1].kill()
	c.loseOnKill(id, names, nums)
	c.log.Info("node killed", "node", id, "leaderless_partitions", len(leaderless))
	c.refreshQuorum()
	for i, p := range leaderless {
		c.scheduleElection(names[i], nums[i], p)
	}
	return nil
}

// Restart brings a killed node back. It rejoins as a follower: leadership
// does not move back to it, but leaderless partitions that regain a majority
// elect a leader.
func (c *Cluster) Restart(_ context.Context, id int32) error {
	if err := c.checkID(id); err != nil {
		return err
	}
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.RLock()
	closed, down := c.closed, c.down[id]
	c.mu.RUnlock()
	if closed {
		return errors.New("sandbox is closed")
	}
	if !down {
		return nil
	}
	if err := c.lns[id-1].restart(); err != nil {
		return fmt.Errorf("restart node %d: listen on %s: %w", id, c.lns[id-1].Addr(), err)
	}
	c.mu.Lock()
	c.down[id] = false
	c.record(Event{At: time.Now(), Kind: EventRestart, Node: id})
	type tp struct {
		t string
		n int32
		p *partState
	}
	var pending []tp
	c.eachPart(func(t *topicState, n int32, p *partState) {
		if p.leader == -1 && p.election == nil {
			pending = append(pending, tp{t.name, n, p})
		}
	})
	c.mu.Unlock()
	c.log.Info("node restarted", "node", id)
	c.refreshQuorum()
	for _, x := range pending {
		c.scheduleElection(x.t, x.n, x.p)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// maxTimeline bounds the timeline of a long-running sandbox; the oldest
// events go first.
const maxTimeline = 10000

func (c *Cluster) record(e Event) {
	if len(c.timeline) >= maxTimeline {
		c.timeline = append(c.timeline[:0], c.timeline[len(c.timeline)-maxTimeline/2:]...)
	}
	c.timeline = append(c.timeline, e)
}

// eachPart visits partitions in a stable order. Callers hold mu.
func (c *Cluster) eachPart(fn func(t *topicState, n int32, p *partState)) {
	names := make([]string, 0, len(c.topics))
	for name := range c.topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := c.topics[name]
		for n, p := range t.parts {
			fn(t, int32(n), p)
		}
	}
}

// liveReplicas returns the replicas of p that are up. Callers hold mu.
func (c *Cluster) liveReplicas(p *partState) []int32 {
	var live []int32
	for _, r := range p.replicas {
		if !c.down[r] {
			live = append(live, r)
		}
	}
	return live
}

func hasMajority(live, replicas int) bool { return live*2 > replicas }

// refreshQuorum refuses writes to every partition whose replicas lost their
// majority, and accepts them again where it came back. Callers hold ops.
func (c *Cluster) refreshQuorum() {
	type change struct {
		t   string
		n   int32
		p   *partState
		add bool
	}
	var changes []change
	c.mu.RLock()
	c.eachPart(func(t *topicState, n int32, p *partState) {
		quorum := hasMajority(len(c.liveReplicas(p)), len(p.replicas)) || c.faults.AckWithoutQuorum
		if !quorum && p.noQuorum == nil {
			changes = append(changes, change{t.name, n, p, true})
		} else if quorum && p.noQuorum != nil {
			changes = append(changes, change{t.name, n, p, false})
		}
	})
	c.mu.RUnlock()
	for _, ch := range changes {
		if ch.add {
			h := c.kf.Fault(kfake.Fault{
				Keys:       []kmsg.Key{kmsg.Produce},
				Topic:      ch.t,
				Partitions: []int32{ch.n},
				Err:        kerr.NotEnoughReplicas,
				Count:      -1,
			})
			c.mu.Lock()
			ch.p.noQuorum = h
			c.mu.Unlock()
			continue
		}
		c.mu.Lock()
		h := ch.p.noQuorum
		ch.p.noQuorum = nil
		c.mu.Unlock()
		h.Remove()
	}
}

// scheduleElection arms a randomised election timeout for a leaderless
// partition. Callers hold ops.
func (c *Cluster) scheduleElection(topic string, n int32, p *partState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || p.election != nil || c.faults.NeverElect {
		return
	}
	if !hasMajority(len(c.liveReplicas(p)), len(p.replicas)) {
		return // nothing is elected without a majority; a restart retries
	}
	span := c.opts.ElectionTimeoutMax - c.opts.ElectionTimeoutMin
	d := c.opts.ElectionTimeoutMin
	if span > 0 {
		d += rand.N(span)
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		c.mu.Lock()
		delete(c.timers, t)
		c.mu.Unlock()
		c.elect(topic, n, p)
	})
	p.election = t
	c.timers[t] = struct{}{}
}

// elect makes a live replica the leader with a higher epoch, if the partition
// is still leaderless and a majority of its replicas is up.
func (c *Cluster) elect(topic string, n int32, p *partState) {
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.Lock()
	p.election = nil
	live := c.liveReplicas(p)
	if c.closed || p.leader != -1 || !hasMajority(len(live), len(p.replicas)) {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	winner := live[rand.IntN(len(live))]
	epoch, err := c.moveLeader(topic, n, winner)
	if err != nil {
		c.log.Error("election failed", "topic", topic, "partition", n, "err", err)
		return
	}
	c.mu.Lock()
	p.leader, p.last, p.epoch = winner, winner, epoch
	c.record(Event{At: time.Now(), Kind: EventElected, Node: winner, Topic: topic, Partition: ptr(n), Epoch: ptr(epoch)})
	c.mu.Unlock()
	c.log.Info("leader elected", "topic", topic, "partition", n, "leader", winner, "epoch", epoch)
}

// moveLeader points kfake's own notion of the leader (which it uses to accept
// produce and fetch) at node, and returns the new epoch kfake assigned.
func (c *Cluster) moveLeader(topic string, n, node int32) (int32, error) {
	if err := c.kf.MoveTopicPartition(topic, n, node-1); err != nil {
		return 0, err
	}
	info := c.kf.PartitionInfo(topic, n)
	if info == nil {
		return 0, fmt.Errorf("partition %s/%d vanished", topic, n)
	}
	return info.Epoch, nil
}

// CreateTopic creates a topic with replicas spread over the live nodes and a
// live leader for each partition.
func (c *Cluster) CreateTopic(name string, partitions int32, rf int16) error {
	c.ops.Lock()
	defer c.ops.Unlock()
	return c.createTopic(name, partitions, rf)
}

func (c *Cluster) createTopic(name string, partitions int32, rf int16) error {
	c.mu.RLock()
	_, exists := c.topics[name]
	var live []int32
	for i := range c.lns {
		if id := int32(i + 1); !c.down[id] {
			live = append(live, id)
		}
	}
	c.mu.RUnlock()
	if exists {
		return kerr.TopicAlreadyExists
	}
	if partitions <= 0 {
		partitions = 3
	}
	if rf <= 0 {
		rf = int16(min(3, len(c.lns)))
	}
	if int(rf) > len(live) {
		return kerr.InvalidReplicationFactor
	}
	// An hour of retention bounds the memory of a sandbox left drilling
	// for days (make run); drills read back only their own run.
	if err := c.kf.CreateTopic(name, partitions, map[string]string{"retention.ms": "3600000"}); err != nil {
		return err
	}
	info := c.kf.TopicInfo(name)
	if info == nil {
		return fmt.Errorf("topic %s vanished after creation", name)
	}
	t := &topicState{name: name, id: info.TopicID}
	for n := int32(0); n < partitions; n++ {
		p := &partState{}
		for r := 0; r < int(rf); r++ {
			p.replicas = append(p.replicas, live[(int(n)+r)%len(live)])
		}
		epoch, err := c.moveLeader(name, n, p.replicas[0])
		if err != nil {
			return err
		}
		p.leader, p.last, p.epoch = p.replicas[0], p.replicas[0], epoch
		// Every replica serves fetches (follower fetching), so a drill
		// can read each node's copy.
		kfIDs := make([]int32, len(p.replicas))
		for i, r := range p.replicas {
			kfIDs[i] = r - 1
		}
		c.kf.SetFollowers(name, n, kfIDs)
		t.parts = append(t.parts, p)
	}
	c.mu.Lock()
	c.topics[name] = t
	c.mu.Unlock()
	c.log.Info("topic created", "topic", name, "partitions", partitions, "replication_factor", rf)
	return nil
}

func (c *Cluster) deleteTopic(name string) error {
	c.mu.Lock()
	t := c.topics[name]
	if t != nil {
		delete(c.topics, name)
		for _, p := range t.parts {
			if p.election != nil {
				p.election.Stop()
			}
		}
	}
	c.mu.Unlock()
	if t == nil {
		return kerr.UnknownTopicOrPartition
	}
	for _, p := range t.parts {
		if p.noQuorum != nil {
			p.noQuorum.Remove()
		}
	}
	return c.kf.DeleteTopic(name)
}
