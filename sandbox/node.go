package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
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

	"github.com/raftdrill/raftdrill/sandbox/internal/damage"
	"github.com/raftdrill/raftdrill/sandbox/internal/entry"
	"github.com/raftdrill/raftdrill/sandbox/internal/kafkaserver"
	"github.com/raftdrill/raftdrill/sandbox/internal/raftlog"
	"github.com/raftdrill/raftdrill/sandbox/internal/transport"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A node is one sandbox broker: its own data directory, its own Raft
// groups (the metadata group and one per partition replica it holds), its
// own transport to its peers and its own Kafka listener. Everything it
// knows is in its memory and on its disk; stopping it (a kill) drops the
// memory, and starting it again reads the disk and catches up through Raft.
// It runs inside the sandbox's process or, with process-per-node, as the
// only node of a child process; nodeEnv is how it reaches the cluster that
// runs it (reports, faults, cut links, delays).

// nodeSpec is everything a node needs to start; it crosses to a child
// process as JSON.
type nodeSpec struct {
	ID            int32         `json:"id"`
	Incarnation   uint64        `json:"incarnation"`
	Dir           string        `json:"dir"`
	KafkaAddr     string        `json:"kafka_addr"`
	RaftAddr      string        `json:"raft_addr"`
	Peers         []peerSpec    `json:"peers"` // every node, this one too
	Tick          time.Duration `json:"tick"`
	ElectionTick  int           `json:"election_tick"`
	HeartbeatTick int           `json:"heartbeat_tick"`
	LinkDelay     time.Duration `json:"link_delay"`
	Fsync         bool          `json:"fsync"`
	FlushInterval time.Duration `json:"flush_interval"`
	SegmentBytes  int64         `json:"segment_bytes"`
	Retention     time.Duration `json:"retention"`
	// RetentionBytes bounds each partition replica's log.
	RetentionBytes int64 `json:"retention_bytes"`
	// Bootstrap: the node that starts the metadata group's first
	// election when the cluster is new.
	Bootstrap bool `json:"bootstrap"`
	// Hides are the ranges lose_acked_on_kill hid so far.
	Hides []hideRec `json:"hides,omitempty"`
}

type peerSpec struct {
	ID        int32  `json:"id"`
	KafkaAddr string `json:"kafka_addr"`
	RaftAddr  string `json:"raft_addr"`
}

// nodeEnv is the cluster as a node sees it.
type nodeEnv interface {
	report(r report)
	faults() Faults
	hooks() faultHooks
	// servePlan is what the per-node faults need where a node answers;
	// nil when none is set.
	servePlan() *servePlan
	linkAllowed(from, to int32) bool
	produceWait(node int32, now time.Time) time.Duration
}

// report is a state change a node tells the cluster about, stamped where
// and when it happened.
type report struct {
	Kind      string `json:"kind"`
	Node      int32  `json:"node"`
	Inc       uint64 `json:"inc"`
	Group     uint64 `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Leader    bool   `json:"leader"`
	// Term is the current term, or, when the node stopped leading, the
	// term it led.
	Term   uint64    `json:"term"`
	Reason string    `json:"reason,omitempty"` // why it stopped leading
	At     time.Time `json:"at"`
}

const (
	reportState        = "state"         // a group's node became or stopped being leader
	reportTopicDeleted = "topic-deleted" // the node applied a topic's deletion
)

// Why a leader stopped leading (Event.Reason).
const (
	reasonCheckQuorum = "check-quorum" // it had not heard from a majority for an election timeout
	reasonHigherTerm  = "higher-term"  // a message of a later term reached it
	reasonLease       = "lease"        // no majority had answered it for an election timeout
)

type node struct {
	spec    nodeSpec
	env     nodeEnv
	log     *slog.Logger
	raftLog raft.Logger
	gate    *gate
	stopc   chan struct{}
	wg      sync.WaitGroup
	started time.Time

	tr    *transport.Transport
	kafka *kafkaserver.Server

	propBase uint64
	propSeq  atomic.Uint64
	pidSeq   atomic.Int64

	meta *group
	msm  *metaSM

	mu      sync.RWMutex
	groups  map[uint64]*group
	parts   map[string]map[int32]*partition
	running map[string]*topicMeta
	parked  map[uint64][]parkedMsg
	pingNow chan struct{}
	hides   []hideRec
	stopped bool
}

type parkedMsg struct {
	at time.Time
	m  *pb.Message
}

// startNode starts a node. Listeners may be given (already bound); nil
// ones are opened on the spec's addresses.
func startNode(spec nodeSpec, env nodeEnv, log *slog.Logger, kafkaLn, raftLn net.Listener, lis *kafkaserver.Listener) (*node, error) {
	n := &node{
		spec: spec, env: env, log: log.With("node", spec.ID), gate: newGate(), stopc: make(chan struct{}), started: time.Now(),
		groups: map[uint64]*group{}, parts: map[string]map[int32]*partition{}, running: map[string]*topicMeta{}, parked: map[uint64][]parkedMsg{},
		hides: slices.Clone(spec.Hides), pingNow: make(chan struct{}, 1),
	}
	n.raftLog = raftLogger{n.log.With("component", "raft")}
	var rb [8]byte
	_, _ = rand.Read(rb[:])
	n.propBase = uint64(spec.ID)<<56 | (binary.BigEndian.Uint64(rb[:])&0xffffff)<<32
	n.pidSeq.Store(int64(spec.ID)<<40 | int64(binary.BigEndian.Uint32(rb[4:])&0xffffff)<<8)
	var err error
	if raftLn == nil {
		if raftLn, err = net.Listen("tcp", spec.RaftAddr); err != nil {
			return nil, fmt.Errorf("node %d: raft listener on %s: %w", spec.ID, spec.RaftAddr, err)
		}
	}
	if kafkaLn == nil {
		if kafkaLn, err = net.Listen("tcp", spec.KafkaAddr); err != nil {
			raftLn.Close()
			return nil, fmt.Errorf("node %d: kafka listener on %s: %w", spec.ID, spec.KafkaAddr, err)
		}
	}
	peers := make([]transport.Peer, len(spec.Peers))
	for i, p := range spec.Peers {
		peers[i] = transport.Peer{ID: p.ID, Addr: p.RaftAddr}
	}
	n.tr = transport.New(raftLn, transport.Config{
		Self: spec.ID, Peers: peers, LinkDelay: spec.LinkDelay, Allowed: env.linkAllowed, Wait: n.gate.wait, Deliver: n.deliver,
	})
	n.kafka = kafkaserver.New(kafkaLn, kafkaserver.Config{Versions: versions, Handle: n.handleKafka, Wait: n.gate.wait, Listener: lis, Log: n.log})

	var voters []uint64
	for _, p := range spec.Peers {
		voters = append(voters, uint64(p.ID))
	}
	n.msm = &metaSM{n: n, topics: map[string]*topicMeta{}}
	meta, fresh, err := n.newGroup(groupConfig{id: 0, topic: metadataTopic, voters: voters, dir: filepath.Join(spec.Dir, "meta"), meta: true, sm: n.msm})
	if err != nil {
		raftLn.Close()
		kafkaLn.Close()
		return nil, fmt.Errorf("node %d: metadata log: %w", spec.ID, err)
	}
	n.meta = meta
	n.msm.bootCommit = meta.state().commit
	n.groups[0] = meta
	// Topics in the metadata snapshot; the log after it replays as
	// Raft hands its committed entries over again.
	n.reconcileTopics()

	n.tr.Start()
	meta.start()
	if fresh && spec.Bootstrap {
		meta.campaign()
	}
	n.wg.Add(1)
	go n.tickLoop()
	n.kafka.Start()
	return n, nil
}

// stop ends the node. With flush false it dies as under SIGKILL: its
// sockets close at once, and what its logs had not written out is lost.
func (n *node) stop(flush bool) {
	if flush {
		n.kafka.Stop()
		n.tr.Stop()
	} else {
		// A kill is a crash: everything stops at one instant. Every
		// loop freezes at its next step, so no answer, append or Raft
		// message leaves after it, and what the transport still held
		// for its link delay is lost, as a dead host's unsent data is.
		// (Stopping the Kafka side first would wait for its requests
		// while the queued appends went out.)
		n.gate.pause()
		n.tr.Stop()
	}
	n.mu.Lock()
	n.stopped = true
	groups := slices.Collect(maps.Values(n.groups))
	n.mu.Unlock()
	close(n.stopc)
	if !flush {
		n.kafka.Stop() // its requests waiting for a fate end with the node
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.stop(flush)
		}()
	}
	wg.Wait()
	n.wg.Wait()
}

func (n *node) electionTimeout() time.Duration {
	return n.spec.Tick * time.Duration(n.spec.ElectionTick)
}

// isrLag is how long a follower stays in sync after it last caught up.
func (n *node) isrLag() time.Duration { return 2 * n.electionTimeout() }

func (n *node) tickLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.spec.Tick)
	defer t.Stop()
	var ticks int
	for {
		select {
		case <-n.stopc:
			return
		case <-n.pingNow:
			if n.gate.wait(n.stopc) {
				n.ping()
			}
			continue
		case <-t.C:
		}
		if !n.gate.wait(n.stopc) {
			return
		}
		ticks++
		n.mu.RLock()
		for _, g := range n.groups {
			select {
			case g.tickc <- struct{}{}:
			default:
			}
		}
		n.mu.RUnlock()
		if ticks%max(1, n.spec.HeartbeatTick) == 0 {
			n.ping()
		}
		if ticks%50 == 0 {
			n.sweepParked()
		}
	}
}

// leadershipChanged makes the node tell its peers at once that it became
// or stopped being a leader.
func (n *node) leadershipChanged() {
	select {
	case n.pingNow <- struct{}{}:
	default:
	}
}

// ping tells every peer which groups this node leads.
func (n *node) ping() {
	claims := map[uint64]transport.Claim{}
	thawed := n.gate.resumedAt()
	n.mu.RLock()
	for id, g := range n.groups {
		if gs := g.state(); gs.serving(thawed) {
			claims[id] = transport.Claim{Term: gs.term, Commit: gs.commit, ISR: gs.isr}
		}
	}
	n.mu.RUnlock()
	n.tr.Ping(claims)
}

// deliver hands a Raft message from a peer to its group. A message for a
// group this node has not created yet (it has not applied the topic's
// creation) waits a little for it.
func (n *node) deliver(gid uint64, payload []byte) {
	m := &pb.Message{}
	if err := proto.Unmarshal(payload, m); err != nil {
		return
	}
	n.mu.RLock()
	g := n.groups[gid]
	n.mu.RUnlock()
	if g == nil {
		n.mu.Lock()
		if g = n.groups[gid]; g == nil {
			if len(n.parked) < 1024 && len(n.parked[gid]) < 256 {
				n.parked[gid] = append(n.parked[gid], parkedMsg{time.Now(), m})
			}
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
	}
	select {
	case g.recvc <- parkedMsg{time.Now(), m}:
	default: // a full queue drops, as a network may
	}
}

func (n *node) sweepParked() {
	cut := time.Now().Add(-5 * time.Second)
	n.mu.Lock()
	defer n.mu.Unlock()
	for gid, ms := range n.parked {
		if len(ms) == 0 || ms[len(ms)-1].at.Before(cut) {
			delete(n.parked, gid)
		}
	}
}

// addGroup registers and starts a group, with the messages parked for it.
func (n *node) addGroup(g *group) bool {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return false
	}
	n.groups[g.id] = g
	parked := n.parked[g.id]
	delete(n.parked, g.id)
	n.mu.Unlock()
	for _, pm := range parked {
		select {
		case g.recvc <- pm:
		default:
		}
	}
	g.start()
	return true
}

func (n *node) topicDir(t *topicMeta) string {
	return filepath.Join(n.spec.Dir, "topics", t.Name+"-"+strconv.FormatUint(t.Inc, 10))
}

// startTopic starts this node's replicas of a topic's partitions. For a
// topic just created, each partition's preferred leader stands for
// election at once.
func (n *node) startTopic(t *topicMeta, justCreated bool) {
	n.mu.Lock()
	if n.stopped || n.running[t.Name] != nil {
		n.mu.Unlock()
		return
	}
	n.running[t.Name] = t
	n.parts[t.Name] = map[int32]*partition{}
	n.mu.Unlock()
	for i, reps := range t.Parts {
		idx := int32(i)
		mine := false
		voters := make([]uint64, len(reps))
		for j, r := range reps {
			voters[j] = uint64(r)
			mine = mine || r == n.spec.ID
		}
		if !mine {
			continue
		}
		p := newPartition(n, t.Name, idx, reps)
		g, fresh, err := n.newGroup(groupConfig{
			id: t.groupID(idx), topic: t.Name, partition: idx, voters: voters,
			dir: filepath.Join(n.topicDir(t), strconv.Itoa(i)), sm: p,
		})
		if err != nil {
			n.log.Error("start partition replica", "topic", t.Name, "partition", idx, "err", err)
			continue
		}
		p.g = g
		p.hwm = g.st.LogStart()
		n.mu.Lock()
		n.parts[t.Name][idx] = p
		n.mu.Unlock()
		if !n.addGroup(g) {
			g.st.Close(false)
			return
		}
		if justCreated && fresh && reps[0] == n.spec.ID {
			g.campaign()
		}
	}
}

// stopTopic stops this node's replicas of a deleted topic and deletes
// their logs.
func (n *node) stopTopic(t *topicMeta) {
	n.mu.Lock()
	run := n.running[t.Name]
	if run == nil || run.Inc != t.Inc {
		n.mu.Unlock()
		return
	}
	delete(n.running, t.Name)
	parts := n.parts[t.Name]
	delete(n.parts, t.Name)
	var gs []*group
	for _, p := range parts {
		gs = append(gs, p.g)
		delete(n.groups, p.g.id)
	}
	n.mu.Unlock()
	for _, g := range gs {
		g.stop(false)
	}
	if err := os.RemoveAll(n.topicDir(t)); err != nil {
		n.log.Error("delete topic logs", "topic", t.Name, "err", err)
	}
	n.env.report(report{Kind: reportTopicDeleted, Node: n.spec.ID, Inc: n.spec.Incarnation, Topic: t.Name, Group: t.Inc, At: time.Now()})
}

// reconcileTopics starts and stops replicas to match the metadata.
func (n *node) reconcileTopics() {
	want := map[string]*topicMeta{}
	for _, t := range n.msm.list() {
		want[t.Name] = t
	}
	n.mu.RLock()
	var gone []*topicMeta
	for name, t := range n.running {
		if w := want[name]; w == nil || w.Inc != t.Inc {
			gone = append(gone, t)
		}
	}
	n.mu.RUnlock()
	for _, t := range gone {
		n.stopTopic(t)
	}
	for _, t := range want {
		n.startTopic(t, false)
	}
}

func (n *node) partition(topic string, idx int32) *partition {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.parts[topic][idx]
}

func (n *node) recordTruncated(g *group, removed []raftlog.Entry) {
	if p := n.partition(g.topic, g.partition); p != nil && p.g == g {
		p.addTruncated(removed)
	}
}

func (n *node) nextPropID() uint64 {
	return n.propBase | (n.propSeq.Add(1) & 0xffffffff)
}

// neverElect: fault never_elect holds for this node's vote requests.
func (n *node) neverElect() bool {
	f := n.env.faults()
	return f.NeverElect && f.on(n.spec.ID)
}

// ackWithoutQuorum: fault ack_without_quorum holds for this node's
// partitions.
func (n *node) ackWithoutQuorum() bool {
	f := n.env.faults()
	return f.AckWithoutQuorum && f.on(n.spec.ID)
}

// noCampaign: this node stopped replicating (never_catch_up), so it leads
// no partition and stands for no election.
func (n *node) noCampaign() bool { return n.env.servePlan().noCampaign(n.spec.ID) }

// reachable reports whether this node believes peer id is alive.
func (n *node) reachable(id int32) bool { return n.tr.Reachable(id, n.electionTimeout()) }

// liveBrokers lists this node and the peers it believes alive.
func (n *node) liveBrokers() []int32 {
	var out []int32
	for _, p := range n.spec.Peers {
		if n.reachable(p.ID) {
			out = append(out, p.ID)
		}
	}
	return out
}

// partView is a partition as this node describes it in metadata.
type partView struct {
	leader, epoch, last int32
	isr                 []int32
}

func bitsToIDs(bits uint64, replicas []int32, keep func(int32) bool) []int32 {
	var out []int32
	for _, r := range replicas {
		if r < 64 && bits&(1<<uint(r)) != 0 && keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// describe says who leads a partition as far as this node knows: its own
// replica's Raft state, or, for a partition it holds no replica of, what
// its peers' pings claim. A leader this node cannot reach is not named.
func (n *node) describe(t *topicMeta, idx int32) partView {
	reps := t.Parts[idx]
	gid := t.groupID(idx)
	v := partView{leader: -1, epoch: 0, last: -1}
	// The best claim among reachable peers.
	var best transport.Claim
	bestNode := int32(-1)
	for _, p := range n.spec.Peers {
		if !n.reachable(p.ID) {
			continue
		}
		if c, ok := n.tr.Claim(p.ID, gid); ok && c.Term >= best.Term {
			best, bestNode = c, p.ID
		}
	}
	if p := n.partition(t.Name, idx); p != nil {
		gs := p.g.state()
		v.epoch, v.last = int32(gs.term), int32(gs.lastLead)
		if v.last == 0 {
			v.last = -1
		}
		lead := int32(gs.lead)
		switch {
		case lead == n.spec.ID && !gs.serving(n.gate.resumedAt()):
			// In office by Raft's count, but its lease ran out: it
			// names no leader, as a Kafka leader that lost its
			// followers would not.
			return v
		case lead == n.spec.ID:
			v.leader = lead
			v.isr = bitsToIDs(gs.isr, reps, n.reachable)
			return v
		case lead != 0 && bestNode == lead:
			// The leader this replica follows, confirmed by the leader's
			// own latest ping: a follower that has not yet noticed its
			// leader is gone does not send clients to it.
			v.leader = lead
		}
		if v.leader > 0 && bestNode == v.leader {
			v.isr = bitsToIDs(best.ISR, reps, n.reachable)
		} else {
			v.isr = bitsToIDs(^uint64(0), reps, n.reachable)
		}
		return v
	}
	if bestNode > 0 {
		v.leader, v.epoch, v.last = bestNode, int32(best.Term), bestNode
		v.isr = bitsToIDs(best.ISR, reps, n.reachable)
	}
	return v
}

// caughtUp reports whether every group of this node follows a leader
// that confirms it leads (or leads itself) and has applied everything
// that leader said was committed. A caught-up metadata group means every
// partition group this node should have exists.
func (n *node) caughtUp() bool {
	n.mu.RLock()
	groups := slices.Collect(maps.Values(n.groups))
	n.mu.RUnlock()
	for _, g := range groups {
		gs := g.state()
		if gs.lead == uint64(n.spec.ID) {
			continue
		}
		c, ok := n.claimOf(int32(gs.lead), g.id)
		if gs.lead == 0 || !ok || gs.applied < max(gs.commit, c.Commit) {
			return false
		}
	}
	return true
}

// claimOf is what peer's latest ping says about a group it leads.
func (n *node) claimOf(peer int32, gid uint64) (transport.Claim, bool) {
	if !n.reachable(peer) {
		return transport.Claim{}, false
	}
	return n.tr.Claim(peer, gid)
}

// propose submits data to a group and waits for its fate or the deadline.
func (n *node) propose(g *group, data []byte, id uint64, ackOnAppend bool, deadline time.Duration) propResult {
	p := &proposal{id: id, data: data, ackOnAppend: ackOnAppend, done: make(chan propResult, 1), created: time.Now()}
	if !g.submit(p) {
		return propResult{err: errStopped}
	}
	t := time.NewTimer(deadline)
	defer t.Stop()
	select {
	case r := <-p.done:
		return r
	case <-t.C:
		return propResult{err: errTimeout}
	case <-n.stopc:
		return propResult{err: errStopped}
	}
}

var errTimeout = errors.New("timed out waiting for the write's fate")

// createTopic proposes a topic to the metadata group and waits until this
// node has applied it.
func (n *node) createTopic(name string, partitions int32, rf int16, timeout time.Duration) error {
	if !validTopicName(name) {
		return kerr.InvalidTopicException
	}
	if _, ok := n.msm.topic(name); ok {
		return kerr.TopicAlreadyExists
	}
	live := n.liveBrokers()
	if partitions <= 0 {
		partitions = 3
	}
	if rf <= 0 {
		rf = int16(min(3, len(n.spec.Peers)))
	}
	if int(rf) > len(live) {
		return kerr.InvalidReplicationFactor
	}
	t := topicMeta{Name: name, Parts: placeReplicas(live, partitions, rf)}
	_, _ = rand.Read(t.ID[:])
	return n.proposeMeta(metaCmd{Op: "create", Topic: t}, timeout)
}

func (n *node) deleteTopic(name string, timeout time.Duration) error {
	if _, ok := n.msm.topic(name); !ok {
		return kerr.UnknownTopicOrPartition
	}
	return n.proposeMeta(metaCmd{Op: "delete", Topic: topicMeta{Name: name}}, timeout)
}

func (n *node) proposeMeta(cmd metaCmd, timeout time.Duration) error {
	b, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	id := n.nextPropID()
	r := n.propose(n.meta, entry.EncodeMeta(id, b), id, false, timeout)
	switch {
	case r.err == nil:
		return nil
	case errors.Is(r.err, errNotLeader), errors.Is(r.err, errDropped):
		return kerr.NotController
	case errors.Is(r.err, errTimeout), errors.Is(r.err, errSuperseded), errors.Is(r.err, errDeposed):
		return kerr.RequestTimedOut
	}
	return r.err
}

// leadersReady reports whether every partition of a topic has a leader
// this node can reach.
func (n *node) leadersReady(name string) bool {
	t, ok := n.msm.topic(name)
	if !ok {
		return false
	}
	for i := range t.Parts {
		if n.describe(t, int32(i)).leader < 0 {
			return false
		}
	}
	return true
}

// lose proposes, as a partition's leader, that offsets [from, to) are lost
// for good (fault lose_acked_on_kill).
func (n *node) lose(topic string, idx int32, from, to int64) error {
	p := n.partition(topic, idx)
	if p == nil {
		return fmt.Errorf("node %d holds no replica of %s/%d", n.spec.ID, topic, idx)
	}
	id := n.nextPropID()
	r := n.propose(p.g, entry.EncodeLose(id, from, to), id, false, 10*time.Second)
	return r.err
}

// hide hides offsets on this node at once, before the lose entry that
// says so durably is committed (lose_acked_on_kill).
func (n *node) hide(h hideRec) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hides = append(n.hides, h)
}

func (n *node) hidesFor(topic string, idx int32) []damage.Range {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []damage.Range
	for _, h := range n.hides {
		if h.Topic == topic && h.Partition == idx {
			out = append(out, damage.Range{From: h.From, To: h.To})
		}
	}
	return out
}

// hideRec is a range of a partition's offsets every node hides.
type hideRec struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
}

// ledPartitions lists the partitions this node leads, with its high
// watermark of each.
func (n *node) ledPartitions() []ledPartition {
	n.mu.RLock()
	defer n.mu.RUnlock()
	thawed := n.gate.resumedAt()
	var out []ledPartition
	for topic, ps := range n.parts {
		for idx, p := range ps {
			if gs := p.g.state(); gs.serving(thawed) {
				hwm, _ := p.offsets(n.spec.ID)
				out = append(out, ledPartition{Topic: topic, Partition: idx, HWM: hwm})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

type ledPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	HWM       int64  `json:"hwm"`
}

// raftLogger sends etcd/raft's log to slog, at debug level but for errors:
// its info lines (elections, terms) are what the timeline already says.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) debug(format string, v ...any) {
	if r.l.Enabled(context.Background(), slog.LevelDebug) {
		r.l.Debug(fmt.Sprintf(format, v...))
	}
}

func (r raftLogger) Debug(v ...any)                   { r.debug("%s", fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any)   { r.debug(format, v...) }
func (r raftLogger) Info(v ...any)                    { r.debug("%s", fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any)    { r.debug(format, v...) }
func (r raftLogger) Warning(v ...any)                 { r.debug("%s", fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) { r.debug(format, v...) }
func (r raftLogger) Error(v ...any)                   { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any)   { r.l.Error(fmt.Sprintf(format, v...)) }
func (r raftLogger) Fatal(v ...any)                   { panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(format string, v ...any)   { panic(fmt.Sprintf(format, v...)) }
func (r raftLogger) Panic(v ...any)                   { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(format string, v ...any)   { panic(fmt.Sprintf(format, v...)) }
