package sandbox

import (
	"cmp"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/raftdrill/raftdrill/sandbox/internal/entry"
	"github.com/raftdrill/raftdrill/sandbox/internal/raftlog"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// A group is one Raft group on one node: the metadata group every node is
// a member of, or one partition's group among its replicas. One goroutine
// drives it: ticks, messages from peers, proposals, and each Ready (persist,
// send, apply), so that the group's state needs no lock except what
// readers outside the loop look at.

// stateMachine is what a group applies committed entries to.
type stateMachine interface {
	// applyEntry applies one committed entry; its error is the answer
	// to the proposal that made it, if this node made it.
	applyEntry(index, term uint64, data []byte, base int64) error
	// applied runs after a Ready's committed entries are applied.
	applied(index uint64)
	// snapshotPayload is the state to keep when the log is compacted.
	snapshotPayload() []byte
	// restore starts from a snapshot's payload.
	restore(payload []byte)
}

var (
	errNotLeader  = errors.New("not the leader")
	errDropped    = errors.New("proposal dropped")
	errSuperseded = errors.New("another entry was committed at the proposal's index")
	errStopped    = errors.New("node stopped")
	// errDeposed: the leader lost office while the write waited for its
	// fate. Its successor may still commit the entry, or truncate it.
	errDeposed = errors.New("the leader lost office before the write was committed")
)

// proposal is one write waiting for its fate.
type proposal struct {
	id          uint64
	data        []byte
	ackOnAppend bool // answer once durably appended here (acks=1)
	done        chan propResult
	created     time.Time

	index, term uint64 // set by the loop once appended
}

type propResult struct {
	err   error
	index uint64
	term  uint64
	base  int64 // Kafka offset of the entry's first record
}

func (p *proposal) resolve(r propResult) {
	select {
	case p.done <- r:
	default:
	}
}

type groupState struct {
	state    raft.StateType
	lead     uint64
	lastLead uint64
	term     uint64
	commit   uint64
	applied  uint64
	isr      uint64 // leader only: bit n set when node n is in sync
	// The leader's lease (see checkLease): leaseOK says it holds by the
	// group's own ticks; leaseUntil is its end by the wall clock, zero
	// for a group whose only voter is this node, which needs no lease.
	leaseOK    bool
	leaseUntil time.Time
}

// serving reports whether this node acts as its group's leader: takes
// writes, answers for the partition and claims it. thawed is when the
// node was last resumed from a pause: one thawed after its lease's end
// by the wall clock does not serve, whatever its ticks say.
func (gs groupState) serving(thawed time.Time) bool {
	if gs.state != raft.StateLeader {
		return false
	}
	return gs.leaseUntil.IsZero() || (gs.leaseOK && !thawed.After(gs.leaseUntil))
}

type group struct {
	n         *node
	id        uint64
	topic     string
	partition int32
	voters    []uint64
	rn        *raft.RawNode
	st        *raftlog.Log
	sm        stateMachine
	isMeta    bool

	propc    chan *proposal
	recvc    chan parkedMsg // with when it arrived
	tickc    chan struct{}
	ctrlc    chan func()
	stopc    chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	// owned by the loop
	pending   map[uint64]*proposal // by id, until appended
	byIndex   map[uint64]*proposal // appended, until committed
	ticks     int
	caughtUp  map[uint64]time.Time // leader: when each follower last matched the commit index
	wasLeader bool                 // serving, as last reported
	inOffice  bool                 // Raft's own state is leader
	ledTerm   uint64               // the term of this node's latest leadership
	heard     map[uint64]time.Time // leader: when each follower last answered it
	heardTick map[uint64]int       // leader: and at which of the group's ticks

	mu sync.RWMutex
	gs groupState
}

type groupConfig struct {
	id        uint64
	topic     string
	partition int32
	voters    []uint64
	dir       string
	meta      bool
	sm        stateMachine
}

// newGroup opens the group's log and its Raft node. fresh is true when the
// log did not exist before.
func (n *node) newGroup(gc groupConfig) (*group, bool, error) {
	g := &group{
		n: n, id: gc.id, topic: gc.topic, partition: gc.partition, voters: gc.voters, sm: gc.sm, isMeta: gc.meta,
		propc: make(chan *proposal, 1024), recvc: make(chan parkedMsg, 4096), tickc: make(chan struct{}, 1),
		ctrlc: make(chan func(), 64), stopc: make(chan struct{}), done: make(chan struct{}),
		pending: map[uint64]*proposal{}, byIndex: map[uint64]*proposal{}, caughtUp: map[uint64]time.Time{}, heard: map[uint64]time.Time{}, heardTick: map[uint64]int{},
	}
	so := raftlog.Options{
		Fsync: n.spec.Fsync, SegmentBytes: n.spec.SegmentBytes, FlushInterval: n.spec.FlushInterval, Count: entry.Count,
	}
	if !gc.meta {
		so.OnTruncate = g.truncated
	}
	st, fresh, err := raftlog.Open(gc.dir, so, gc.voters)
	if err != nil {
		return nil, false, err
	}
	g.st = st
	snap, _ := st.Snapshot()
	_, payload := raftlog.SplitSnapData(snap.GetData())
	g.sm.restore(payload)
	cfg := &raft.Config{
		ID:            uint64(n.spec.ID),
		ElectionTick:  n.spec.ElectionTick,
		HeartbeatTick: n.spec.HeartbeatTick,
		Storage:       st,
		Applied:       snap.GetMetadata().GetIndex(),
		// Bounds on what one group holds in memory: appends of at most
		// 1 MiB, 32 MiB in flight to each follower, 64 MiB proposed and
		// not yet committed (beyond that a produce is refused).
		MaxSizePerMsg:             1 << 20,
		MaxCommittedSizePerReady:  32 << 20,
		MaxUncommittedEntriesSize: 64 << 20,
		MaxInflightMsgs:           128,
		MaxInflightBytes:          32 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		DisableProposalForwarding: !gc.meta, // only a partition's leader takes writes
		StepDownOnRemoval:         true,
		Logger:                    n.raftLog,
	}
	rn, err := raft.NewRawNode(cfg)
	if err != nil {
		st.Close(false)
		return nil, false, err
	}
	g.rn = rn
	bs := rn.BasicStatus()
	g.gs = groupState{state: bs.RaftState, lead: bs.Lead, term: bs.GetTerm(), commit: bs.GetCommit(), applied: bs.Applied}
	return g, fresh, nil
}

func (g *group) start() {
	g.n.wg.Add(1)
	go func() {
		defer g.n.wg.Done()
		g.run()
	}()
}

// stop ends the loop. With flush false (a kill) unsynced writes are lost.
func (g *group) stop(flush bool) {
	g.stopOnce.Do(func() {
		close(g.stopc)
		<-g.done
		g.st.Close(flush)
	})
}

func (g *group) state() groupState {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.gs
}

// do runs f in the group's loop; false if the group stopped.
func (g *group) do(f func()) bool {
	select {
	case g.ctrlc <- f:
		return true
	case <-g.stopc:
		return false
	}
}

func (g *group) run() {
	defer close(g.done)
	for {
		if !g.n.gate.wait(g.stopc) {
			return
		}
		select {
		case <-g.stopc:
			return
		case <-g.tickc:
			g.tick()
		case m := <-g.recvc:
			g.step(m.m, m.at)
		case p := <-g.propc:
			g.propose(p)
		case f := <-g.ctrlc:
			f()
		}
		// Take whatever else is waiting, so that one Ready (one fsync)
		// covers it all.
	drain:
		for i := 0; i < 1024; i++ {
			select {
			case m := <-g.recvc:
				g.step(m.m, m.at)
			case p := <-g.propc:
				g.propose(p)
			default:
				break drain
			}
		}
		// Advancing may make more ready (a single node's own append
		// commits its entries), so go on until nothing is.
		for g.rn.HasReady() {
			if err := g.handleReady(); err != nil {
				g.n.log.Error("raft group failed; stopping it", "group", g.id, "topic", g.topic, "partition", g.partition, "err", err)
				g.failAll(err)
				<-g.stopc
				return
			}
		}
	}
}

// step hands Raft a message from a peer that arrived at.
func (g *group) step(m *pb.Message, at time.Time) {
	if err := g.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
		g.n.log.Debug("raft step", "group", g.id, "err", err)
	}
	if g.inOffice && (m.GetType() == pb.MsgAppResp || m.GetType() == pb.MsgHeartbeatResp) && m.GetTerm() == g.ledTerm {
		g.heardTick[m.GetFrom()] = g.ticks
		if at.After(g.heard[m.GetFrom()]) {
			g.heard[m.GetFrom()] = at
			g.renewLease()
		}
	}
}

// A leader's lease. Raft's CheckQuorum alone deposes a leader cut off
// from its followers one to two election timeouts after the cut: it looks
// once per timeout at whether each follower was heard during the whole
// last one. Meanwhile the followers elect a successor after one to two
// election timeouts of silence, so two leaders could take writes at once.
// The lease closes that window: a leader serves only while a majority,
// itself counted, has answered it within the last election timeout, so a
// cut-off leader stops one election timeout after the last answer it had
// (within one timeout and one heartbeat of the cut), before any successor
// can have been elected. It is what Kafka's and Redpanda's leaders do
// when they lose their followers; Raft steps it down later.
//
// The timeout is counted in the group's ticks, as Raft counts its own, so
// that a machine too busy to tick on time slows the lease down with the
// elections rather than deposing healthy leaders. A frozen node cannot
// count ticks at all: the wall-clock end (renewLease) is what it checks
// when it is thawed.

// renewLease moves the lease's wall-clock end: one election timeout after
// the majority's latest answers arrived.
func (g *group) renewLease() {
	at, ok := majorityHeard(g, g.heard, time.Time.Compare)
	if !ok {
		return
	}
	until := at.Add(g.n.electionTimeout())
	g.mu.Lock()
	g.gs.leaseUntil = until
	g.mu.Unlock()
}

// leaseHolds reports whether a majority answered within the last
// election timeout's worth of ticks.
func (g *group) leaseHolds() bool {
	at, ok := majorityHeard(g, g.heardTick, cmp.Compare[int])
	return !ok || g.ticks-at < g.n.spec.ElectionTick
}

// majorityHeard is when (by heard, a time or a tick) the last of the
// followers a majority needs besides this node answered it: the answers
// after it make a majority with this node. ok is false for a group of
// one, which needs none.
func majorityHeard[T any](g *group, heard map[uint64]T, compare func(a, b T) int) (at T, ok bool) {
	need := len(g.voters) / 2 // answers needed besides its own
	if need == 0 {
		return at, false
	}
	var last []T
	for _, v := range g.voters {
		if v != uint64(g.n.spec.ID) {
			last = append(last, heard[v])
		}
	}
	slices.SortFunc(last, func(a, b T) int { return compare(b, a) })
	return last[need-1], true
}

// quorumReachable reports whether this node believes a majority of the
// group's voters, itself included, is alive.
func (g *group) quorumReachable() bool {
	up := 0
	for _, v := range g.voters {
		if g.n.reachable(int32(v)) {
			up++
		}
	}
	return up > len(g.voters)/2
}

// heardAll counts every voter as having answered now.
func (g *group) heardAll(at time.Time) {
	for _, v := range g.voters {
		g.heard[v] = at
		g.heardTick[v] = g.ticks
	}
	g.renewLease()
}

func (g *group) propose(p *proposal) {
	if err := g.rn.Propose(p.data); err != nil {
		if g.rn.BasicStatus().RaftState != raft.StateLeader {
			p.resolve(propResult{err: errNotLeader})
		} else {
			p.resolve(propResult{err: errDropped})
		}
		return
	}
	g.pending[p.id] = p
}

func (g *group) tick() {
	if g.inOffice {
		// Before Raft's own tick, whose CheckQuorum would otherwise
		// take the credit for a step-down the lease already made.
		g.checkLease()
	}
	g.rn.Tick()
	g.ticks++
	if g.rn.BasicStatus().RaftState == raft.StateLeader {
		if !g.isMeta && g.n.ackWithoutQuorum() {
			g.pretendQuorum()
		}
		if !g.isMeta && g.n.noCampaign() {
			g.handOver()
		}
		g.trackISR()
	}
	// Every 10 s (more often for a retention shorter than 100 s):
	// retention, and forgetting proposals nobody waits for.
	every := min(10*time.Second, g.n.spec.Retention/10)
	if g.ticks%max(1, int(every/g.n.spec.Tick)) == 0 {
		g.sweep()
		g.retain()
	}
	if err := g.st.FlushIfDue(); err != nil {
		g.n.log.Error("flush log", "group", g.id, "err", err)
	}
}

// checkLease serves or stops serving as the lease says. A leader whose
// lease ran out answers the writes it holds as a deposed one does; if
// answers come back while Raft still has it in office (the cut healed
// before CheckQuorum deposed it), it serves again in the same term.
func (g *group) checkLease() {
	ok := g.leaseHolds()
	g.mu.Lock()
	g.gs.leaseOK = ok
	gs := g.gs
	g.mu.Unlock()
	thawed := g.n.gate.resumedAt()
	serving := gs.serving(thawed)
	if serving == g.wasLeader {
		return
	}
	g.changed(serving, gs.term, g.stoppedAt(gs, thawed, time.Now()), reasonLease)
	if !serving {
		g.failAll(errDeposed)
	}
}

// stoppedAt is when a leader noticed at now to have stopped serving did
// stop: now, or, for a node thawed after its lease's end, the thaw, from
// when it refused to serve.
func (g *group) stoppedAt(gs groupState, thawed, now time.Time) time.Time {
	if !gs.leaseUntil.IsZero() && thawed.After(gs.leaseUntil) && thawed.Before(now) {
		return thawed
	}
	return now
}

// pretendQuorum keeps a leader that lost its majority in office (fault
// ack_without_quorum, a split brain): CheckQuorum sees heartbeat answers
// from every follower whether or not they are alive.
func (g *group) pretendQuorum() {
	term := g.rn.BasicStatus().GetTerm()
	for _, v := range g.voters {
		if v == uint64(g.n.spec.ID) {
			continue
		}
		_ = g.rn.Step(&pb.Message{Type: pb.MsgHeartbeatResp.Enum(), From: proto.Uint64(v), To: proto.Uint64(uint64(g.n.spec.ID)), Term: proto.Uint64(term)})
	}
	g.heardAll(time.Now())
}

// handOver transfers leadership to the follower that has the most of the
// log among those heard from lately (fault never_catch_up: this node must
// not lead). Raft refuses writes until the transfer is done or given up,
// and the next tick tries again.
func (g *group) handOver() {
	if g.rn.BasicStatus().LeadTransferee != 0 {
		return
	}
	var to, match uint64
	pl := g.n.env.servePlan()
	g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id != uint64(g.n.spec.ID) && pr.RecentActive && !pl.noCampaign(int32(id)) && (to == 0 || pr.Match > match) {
			to, match = id, pr.Match
		}
	})
	if to != 0 {
		g.rn.TransferLeader(to)
	}
}

// trackISR notes which followers are caught up: active, and holding every
// committed entry. A follower stays in sync for the ISR lag after it last
// was.
func (g *group) trackISR() {
	now := time.Now()
	bs := g.rn.BasicStatus()
	isr := uint64(1) << uint(g.n.spec.ID)
	g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id == uint64(g.n.spec.ID) {
			return
		}
		if pr.Match >= bs.GetCommit() && g.n.reachable(int32(id)) {
			g.caughtUp[id] = now
		}
		if at, ok := g.caughtUp[id]; ok && now.Sub(at) < g.n.isrLag() {
			isr |= 1 << uint(id)
		}
	})
	g.mu.Lock()
	g.gs.isr = isr
	g.mu.Unlock()
}

// sweep answers proposals that have waited far longer than any client
// would: the client is gone, and the entry's fate is unknown here.
func (g *group) sweep() {
	cut := time.Now().Add(-2 * time.Minute)
	for id, p := range g.pending {
		if p.created.Before(cut) {
			delete(g.pending, id)
			p.resolve(propResult{err: errDropped})
		}
	}
	for idx, p := range g.byIndex {
		if p.created.Before(cut) {
			delete(g.byIndex, idx)
		}
	}
}

// retain compacts the log: entries older than the retention time, or
// beyond the retention size, go behind a snapshot.
func (g *group) retain() {
	applied := g.state().applied
	if g.isMeta {
		if g.st.EntryCount() > 1000 {
			if err := g.st.Compact(applied, g.sm.snapshotPayload()); err != nil {
				g.n.log.Error("compact metadata log", "err", err)
			}
		}
		return
	}
	point := g.st.RetentionPoint(applied, time.Now().Add(-g.n.spec.Retention), g.n.spec.RetentionBytes)
	if point == 0 {
		return
	}
	if err := g.st.Compact(point, g.sm.snapshotPayload()); err != nil {
		g.n.log.Error("compact partition log", "topic", g.topic, "partition", g.partition, "err", err)
	}
}

// needsDurable lists the messages that may only leave once this node's
// writes are on disk: answers that promise what it stored or voted.
func needsDurable(m *pb.Message) bool {
	switch m.GetType() {
	case pb.MsgAppResp, pb.MsgVoteResp, pb.MsgPreVoteResp:
		return true
	}
	return false
}

func (g *group) handleReady() error {
	rd := g.rn.Ready()
	now := time.Now()
	deposed := false
	if rd.SoftState != nil {
		deposed = g.softState(rd.SoftState, now)
	}
	if deposed {
		// Proposed while leading, not yet in the log: whatever this
		// Ready appends, no longer as the leader's, so not acked on append.
		g.answerPending(g.pending, errDeposed)
	}
	// A leader replicates while it writes its own copy.
	var after []*pb.Message
	for _, m := range rd.Messages {
		if needsDurable(m) {
			after = append(after, m)
		} else {
			g.send(m)
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := g.st.ApplySnapshot(rd.Snapshot); err != nil {
			return err
		}
		_, payload := raftlog.SplitSnapData(rd.Snapshot.GetData())
		g.sm.restore(payload)
	}
	if err := g.st.Append(rd.Entries); err != nil {
		return err
	}
	// acks=1 is answered once the leader has written the entry to its
	// log, before the fsync, as Kafka's acks=1 waits for no flush (with
	// fsync never, once it is in the buffer); and only while it serves,
	// so never after its lease ran out.
	if err := g.st.WriteOut(); err != nil {
		return err
	}
	serving := g.state().serving(g.n.gate.resumedAt())
	for _, e := range rd.Entries {
		_, id := entry.Kind(e.GetData())
		p := g.pending[id]
		if p == nil || id == 0 {
			continue
		}
		delete(g.pending, id)
		p.index, p.term = e.GetIndex(), e.GetTerm()
		if p.ackOnAppend {
			if !serving {
				p.resolve(propResult{err: errDeposed})
				continue
			}
			base, _ := g.st.BaseAt(p.index)
			p.resolve(propResult{index: p.index, term: p.term, base: base})
			continue
		}
		g.byIndex[p.index] = p
	}
	if rd.HardState != nil {
		g.st.SetHardState(rd.HardState)
	}
	if err := g.st.Persist(rd.MustSync); err != nil {
		return err
	}
	for _, m := range after {
		g.send(m)
	}
	var last uint64
	for _, e := range rd.CommittedEntries {
		idx := e.GetIndex()
		last = idx
		base, _ := g.st.BaseAt(idx)
		var err error
		if e.GetType() == pb.EntryNormal && len(e.GetData()) > 0 {
			err = g.sm.applyEntry(idx, e.GetTerm(), e.GetData(), base)
		}
		if p := g.byIndex[idx]; p != nil {
			delete(g.byIndex, idx)
			_, id := entry.Kind(e.GetData())
			switch {
			case id != p.id:
				p.resolve(propResult{err: errSuperseded})
			default:
				p.resolve(propResult{err: err, index: idx, term: e.GetTerm(), base: base})
			}
		}
	}
	if last > 0 {
		g.sm.applied(last)
	}
	if deposed {
		// After this Ready's commits, which answered what they could:
		// the rest wait on a successor that may commit or truncate them,
		// which the client learns only by reading. Kafka answers its
		// delayed produces so on a leadership change, at once, rather
		// than at the request timeout.
		g.answerPending(g.byIndex, errDeposed)
	}
	g.mu.Lock()
	if rd.HardState != nil {
		g.gs.term = rd.HardState.GetTerm()
		g.gs.commit = rd.HardState.GetCommit()
	}
	if last > 0 {
		g.gs.applied = last
	}
	g.mu.Unlock()
	g.rn.Advance(rd)
	return nil
}

// softState publishes a change of Raft state and reports a change of
// leadership, stamped at, when the loop hands the change over and before
// any client can see it. It returns whether this node stopped leading.
func (g *group) softState(ss *raft.SoftState, at time.Time) bool {
	term := g.rn.BasicStatus().GetTerm()
	g.mu.Lock()
	g.gs.state, g.gs.lead, g.gs.term = ss.RaftState, ss.Lead, term
	if ss.Lead != 0 {
		g.gs.lastLead = ss.Lead
	}
	if ss.RaftState != raft.StateLeader {
		g.gs.isr = 0
	}
	g.mu.Unlock()
	isLeader := ss.RaftState == raft.StateLeader
	if isLeader && !g.inOffice {
		// Just elected: the votes were a majority's answers.
		g.ledTerm = term
		g.heardAll(at)
		g.mu.Lock()
		g.gs.leaseOK = true
		g.mu.Unlock()
	}
	left := g.inOffice && !isLeader
	g.inOffice = isLeader
	if isLeader == g.wasLeader {
		return left // its lease may have ended its service before
	}
	// A leader leaves office in the term it led only by CheckQuorum here
	// (no leadership transfer, no membership change), otherwise because
	// it heard of a higher term.
	reason := reasonHigherTerm
	if term == g.ledTerm {
		reason = reasonCheckQuorum
	}
	if gs, thawed := g.state(), g.n.gate.resumedAt(); !isLeader && g.stoppedAt(gs, thawed, at) != at {
		// Thawed after its lease's end, it refused to serve from the
		// thaw, before Raft heard of its successor.
		reason, at = reasonLease, thawed
	}
	g.changed(isLeader, term, at, reason)
	return left
}

// changed reports that this node started or stopped serving as leader,
// stamped at, when the loop hands the change over and before any client
// can see it; why is the reason it stopped.
func (g *group) changed(serving bool, term uint64, at time.Time, why string) {
	g.wasLeader = serving
	r := report{
		Kind: reportState, Node: g.n.spec.ID, Inc: g.n.spec.Incarnation, Group: g.id, Topic: g.topic, Partition: g.partition,
		Leader: serving, Term: term, At: at,
	}
	if !serving {
		clear(g.caughtUp)
		r.Term, r.Reason = g.ledTerm, why
	}
	g.n.leadershipChanged()
	g.n.env.report(r)
}

func (g *group) send(m *pb.Message) {
	to := int32(m.GetTo())
	if !g.isMeta && (m.GetType() == pb.MsgPreVote || m.GetType() == pb.MsgVote) && m.GetTerm() > 1 && g.n.neverElect() {
		return // fault never_elect: no election after the first one succeeds
	}
	if !g.isMeta && (m.GetType() == pb.MsgPreVote || m.GetType() == pb.MsgVote) && g.n.noCampaign() {
		return // fault never_catch_up: a replica that far behind could not win
	}
	b, err := proto.Marshal(m)
	if err != nil {
		g.n.log.Error("marshal raft message", "err", err)
		return
	}
	bulk := m.GetType() == pb.MsgApp || m.GetType() == pb.MsgSnap
	g.n.tr.Send(to, g.id, b, bulk)
	if m.GetType() == pb.MsgSnap {
		g.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
	}
}

// failAll answers every waiting proposal after the group failed.
func (g *group) failAll(err error) {
	g.answerPending(g.pending, err)
	g.answerPending(g.byIndex, err)
}

// answerPending answers and forgets the proposals of one of the loop's
// tables.
func (g *group) answerPending(table map[uint64]*proposal, err error) {
	for k, p := range table {
		delete(table, k)
		p.resolve(propResult{err: err})
	}
}

// truncated learns, from the log (raftlog), of entries a new leader replaced.
func (g *group) truncated(removed []raftlog.Entry) {
	g.n.recordTruncated(g, removed)
}

// campaign makes this node stand for election now, as the preferred
// leader of a group that was just created.
func (g *group) campaign() {
	g.do(func() {
		if err := g.rn.Campaign(); err != nil {
			g.n.log.Debug("campaign", "group", g.id, "err", err)
		}
	})
}

// submit hands a proposal to the loop; false if the group stopped.
func (g *group) submit(p *proposal) bool {
	select {
	case g.propc <- p:
		return true
	case <-g.stopc:
		return false
	}
}
