package sandbox

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/raftdrill/raftdrill/sandbox/internal/batch"
	"github.com/raftdrill/raftdrill/sandbox/internal/entry"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The Kafka requests a node answers. Each works on this node's own state:
// its Raft groups' view of leadership, its log, its copy of the metadata.
// The node's Kafka server (internal/kafkaserver) does the rest: the
// framing, the order of the answers, TLS, SASL and ApiVersions.

const clusterID = "raftdrill-sandbox"

// versions are the requests handleKafka answers and the versions it
// handles: with the server's own, exactly what ApiVersions advertises.
var versions = map[kmsg.Key][2]int16{
	kmsg.Produce:        {3, 12}, // v3+: record batches v2; v13 names topics by id
	kmsg.Fetch:          {4, 12}, // v13 names topics by id
	kmsg.ListOffsets:    {1, 7},
	kmsg.Metadata:       {1, 12},
	kmsg.CreateTopics:   {0, 7},
	kmsg.DeleteTopics:   {0, 6},
	kmsg.InitProducerID: {0, 4},
}

// handleKafka answers one request of those in versions; nil for any other.
func (n *node) handleKafka(req kmsg.Request) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.MetadataRequest:
		return n.handleMetadata(r)
	case *kmsg.ProduceRequest:
		return n.handleProduce(r)
	case *kmsg.FetchRequest:
		return n.handleFetch(r)
	case *kmsg.ListOffsetsRequest:
		return n.handleListOffsets(r)
	case *kmsg.CreateTopicsRequest:
		return n.handleCreateTopics(r)
	case *kmsg.DeleteTopicsRequest:
		return n.handleDeleteTopics(r)
	case *kmsg.InitProducerIDRequest:
		return n.handleInitProducerID(r)
	}
	return nil
}

func errCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

func (n *node) peer(id int32) (peerSpec, bool) {
	for _, p := range n.spec.Peers {
		if p.ID == id {
			return p, true
		}
	}
	return peerSpec{}, false
}

// handleMetadata lists the brokers this node believes alive and, for each
// partition, the leader its Raft group knows (leader epoch = Raft term),
// the replicas and the ISR from who is caught up. A topic a producer asks
// for that does not exist is created, as auto.create.topics.enable does.
func (n *node) handleMetadata(r *kmsg.MetadataRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	live := n.liveBrokers()
	for _, id := range live {
		p, _ := n.peer(id)
		host, port, _ := net.SplitHostPort(p.KafkaAddr)
		pn, _ := strconv.Atoi(port)
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = id, host, int32(pn)
		resp.Brokers = append(resp.Brokers, b)
	}
	cid := clusterID
	resp.ClusterID = &cid
	resp.ControllerID = -1
	if ms := n.meta.state(); ms.lead != 0 && n.reachable(int32(ms.lead)) {
		resp.ControllerID = int32(ms.lead)
	}
	f := n.env.faults()
	add := func(t *topicMeta) {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = kmsg.StringPtr(t.Name)
		rt.TopicID = t.ID
		for i, reps := range t.Parts {
			pv := n.describe(t, int32(i))
			rp := kmsg.NewMetadataResponseTopicPartition()
			rp.Partition = int32(i)
			rp.Leader = metadataLeader(f, n.spec.ID, pv.leader, pv.last)
			rp.LeaderEpoch = pv.epoch
			if rp.Leader == -1 {
				rp.ErrorCode = kerr.LeaderNotAvailable.Code
			}
			rp.Replicas = slices.Clone(reps)
			rp.ISR = pv.isr
			if rp.ISR == nil {
				rp.ISR = []int32{}
			}
			for _, rep := range reps {
				if !slices.Contains(live, rep) {
					rp.OfflineReplicas = append(rp.OfflineReplicas, rep)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if r.Topics == nil {
		for _, t := range n.msm.list() {
			add(t)
		}
		return resp
	}
	for _, want := range r.Topics {
		var t *topicMeta
		var ok bool
		switch {
		case want.Topic != nil:
			t, ok = n.msm.topic(*want.Topic)
			if !ok && r.Version >= 4 && r.AllowAutoTopicCreation && validTopicName(*want.Topic) {
				n.autoCreate(*want.Topic)
				t, ok = n.msm.topic(*want.Topic)
			}
		case want.TopicID != [16]byte{}:
			t, ok = n.msm.topicByID(want.TopicID)
		}
		if !ok {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic = want.Topic
			rt.TopicID = want.TopicID
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		add(t)
	}
	return resp
}

// autoCreate creates a topic with the default shape and waits a little for
// its leaders.
func (n *node) autoCreate(name string) {
	err := n.createTopic(name, 3, 0, 5*time.Second)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		n.log.Debug("auto-create topic", "topic", name, "err", err)
		return
	}
	n.waitLeaders(name, 3*time.Second)
}

// waitLeaders waits until every partition of a topic has a leader this node
// can reach, or the timeout.
func (n *node) waitLeaders(name string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !n.leadersReady(name) {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-n.stopc:
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}

// handleProduce appends each partition's records through its Raft group.
// acks=1 is answered once the leader has the entry durably, acks=all
// (-1) once a majority has it and it is applied, acks=0 not at all (nil).
func (n *node) handleProduce(r *kmsg.ProduceRequest) kmsg.Response {
	if d := n.env.produceWait(n.spec.ID, time.Now()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-n.stopc:
			t.Stop()
			return nil
		}
	}
	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	hooks := n.env.hooks()
	armed := hooks.armed()
	var wg sync.WaitGroup
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(r.Topics))
	for i := range r.Topics {
		rt := &r.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = rp.Partition, -1, -1, -1
			if len(r.Topics) == 1 && len(rt.Partitions) == 1 {
				n.producePartition(rt.Topic, rp.Partition, rp.Records, r.Acks, timeout, hooks, armed, sp)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.producePartition(rt.Topic, rp.Partition, rp.Records, r.Acks, timeout, hooks, armed, sp)
			}()
		}
	}
	wg.Wait()
	if r.Acks == 0 {
		return nil
	}
	return resp
}

// noReplicaCode answers for a partition this node holds no replica of:
// not its leader if the topic has it (a node that has not yet created its
// group), unknown otherwise.
func (n *node) noReplicaCode(topic string, idx int32) int16 {
	if t, ok := n.msm.topic(topic); ok && idx >= 0 && int(idx) < len(t.Parts) {
		return kerr.NotLeaderForPartition.Code
	}
	return kerr.UnknownTopicOrPartition.Code
}

func (n *node) producePartition(topic string, idx int32, records []byte, acks int16, timeout time.Duration, hooks faultHooks, armed bool, out *kmsg.ProduceResponseTopicPartition) {
	p := n.partition(topic, idx)
	if p == nil {
		out.ErrorCode = n.noReplicaCode(topic, idx)
		return
	}
	if !p.g.state().serving(n.gate.resumedAt()) {
		out.ErrorCode = kerr.NotLeaderForPartition.Code
		return
	}
	count, _, err := batch.Validate(records)
	if err != nil {
		if errors.Is(err, batch.ErrCorrupt) {
			out.ErrorCode = kerr.CorruptMessage.Code
		} else {
			out.ErrorCode = kerr.InvalidRecord.Code
		}
		return
	}
	key := tp{topic, idx}
	var dec produceDecision
	var first []byte
	if armed {
		if v, ok := batch.FirstValue(records); ok {
			first = slices.Clone(v)
			dec = hooks.onProduce(key, first)
		}
	}
	records, dirs := n.applyProduceFaults(p, records, dec)
	id := n.nextPropID()
	// The fault lies only where the truth would be "not enough replicas":
	// with a majority reachable the write waits for its commit, so what
	// the fault shows is the ack without quorum and nothing else.
	ackOnAppend := acks != -1 || (n.ackWithoutQuorum() && !p.g.quorumReachable())
	res := n.propose(p.g, entry.EncodeRecords(id, dirs, records), id, ackOnAppend, timeout)
	switch {
	case res.err == nil:
		out.BaseOffset = res.base
		out.LogStartOffset = p.g.st.LogStart()
		if armed {
			ad := hooks.onAck(ackInfo{TP: key, Offset: res.base, Records: count, Value: first, Swapped: dec.Swap, Node: n.spec.ID, Acked: acks != 0})
			switch {
			case ad.MinusOne:
				out.BaseOffset = -1
			case ad.Refuse:
				out.ErrorCode, out.BaseOffset = kerr.NotEnoughReplicas.Code, -1
			case ad.Timeout:
				out.ErrorCode, out.BaseOffset = kerr.RequestTimedOut.Code, -1
			case ad.Shift != 0:
				out.BaseOffset += ad.Shift
			}
		}
	case errors.Is(res.err, errNotLeader), errors.Is(res.err, errSuperseded):
		// Never in the log, or replaced in it by a committed entry: the
		// write did not happen.
		out.ErrorCode = kerr.NotLeaderForPartition.Code
	case errors.Is(res.err, errDeposed):
		// Its fate is open, as Kafka's answer to the produces a deposed
		// leader was waiting on is: clients take NOT_LEADER_OR_FOLLOWER
		// as "ask the new leader", not as a refusal.
		out.ErrorCode = kerr.NotLeaderForPartition.Code
	case errors.Is(res.err, errDropped):
		out.ErrorCode = kerr.NotEnoughReplicas.Code
	default:
		// In the log, fate unknown: it may yet be committed.
		out.ErrorCode = kerr.RequestTimedOut.Code
	}
}

// divergentValue is what a divergent replica serves in place of the record
// the others have: not a raftdrill message, as an old term's entry would not
// be this run's.
var divergentValue = []byte("raftdrill-sandbox: divergent replica: an entry of an older term")

// applyProduceFaults changes the records as the fault decision says and
// returns the directives that go into the entry with them.
func (n *node) applyProduceFaults(p *partition, records []byte, dec produceDecision) ([]byte, entry.Directives) {
	var dirs entry.Directives
	orig := records
	if dec.Corrupt {
		if c, ok := batch.WithFirstValue(records, func(v []byte) []byte {
			v = slices.Clone(v)
			if len(v) > 0 {
				v[len(v)-1] ^= 0x20 // one flipped bit; the batch CRC is recomputed over it
			}
			return v
		}); ok {
			records, orig = c, c
		}
	}
	if dec.Duplicate {
		records = append(slices.Clone(records), orig...)
	}
	if dec.Phantom != nil {
		var firstBatch []byte
		batch.Each(orig, func(b []byte) bool { firstBatch = b; return false })
		if ph, ok := batch.WithFirstValue(firstBatch, func([]byte) []byte { return dec.Phantom }); ok {
			records = append(slices.Clone(records), ph...)
		}
	}
	if dec.Divergent {
		dirs.DivergentNode = p.highestReplicaBut(n.spec.ID)
		dirs.DivergentValue = divergentValue
	}
	if dec.Swap {
		dirs.Swap, dirs.SwapOffset, dirs.SwapValue = true, dec.SwapOffset, dec.SwapValue
	}
	return records, dirs
}

// handleFetch serves committed records from this node's own log, on the
// leader and on followers alike, waiting up to MaxWaitMillis for MinBytes.
func (n *node) handleFetch(r *kmsg.FetchRequest) kmsg.Response {
	deadline := time.Now().Add(time.Duration(r.MaxWaitMillis) * time.Millisecond)
	for {
		resp, total, wake := n.fetchOnce(r)
		if total >= int(r.MinBytes) || !time.Now().Before(deadline) || len(wake) == 0 {
			return resp
		}
		cases := make(chan struct{})
		var once sync.Once
		stop := make(chan struct{})
		for _, ch := range wake {
			go func() {
				select {
				case <-ch:
					once.Do(func() { close(cases) })
				case <-stop:
				}
			}()
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-cases:
		case <-t.C:
		case <-n.stopc:
		}
		t.Stop()
		close(stop)
		select {
		case <-n.stopc:
			return resp
		default:
		}
	}
}

func (n *node) fetchOnce(r *kmsg.FetchRequest) (*kmsg.FetchResponse, int, []<-chan struct{}) {
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	total := 0
	budget := int(r.MaxBytes)
	if budget <= 0 {
		budget = 50 << 20
	}
	var wake []<-chan struct{}
	for _, rt := range r.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			sp.RecordBatches = []byte{} // not null: some clients cannot read a null
			p := n.partition(rt.Topic, rp.Partition)
			sf := noServeFaults
			if p != nil {
				sf = p.servedFaults()
			}
			switch {
			case p == nil:
				sp.ErrorCode = n.noReplicaCode(rt.Topic, rp.Partition)
			case sf.refuse:
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				maxBytes := int(rp.PartitionMaxBytes)
				if maxBytes <= 0 || maxBytes > budget {
					maxBytes = max(budget, 1)
				}
				if total > 0 && budget <= 0 {
					maxBytes = 0
				}
				var more <-chan struct{}
				var code int16
				if maxBytes > 0 {
					sp.RecordBatches, sp.HighWatermark, sp.LogStartOffset, more, code = p.read(rp.FetchOffset, maxBytes, n.spec.ID, sf)
				} else {
					sp.HighWatermark, sp.LogStartOffset = p.offsets(n.spec.ID)
					sp.HighWatermark = sf.cap(sp.HighWatermark)
				}
				if sp.RecordBatches == nil {
					sp.RecordBatches = []byte{} // not null: some clients cannot read a null
				}
				sp.ErrorCode = code
				sp.LastStableOffset = sp.HighWatermark
				total += len(sp.RecordBatches)
				budget -= len(sp.RecordBatches)
				if more != nil {
					wake = append(wake, more)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, total, wake
}

// handleListOffsets answers from this node's log, on any replica.
func (n *node) handleListOffsets(r *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition, sp.Offset, sp.Timestamp, sp.LeaderEpoch = rp.Partition, -1, -1, -1
			p := n.partition(rt.Topic, rp.Partition)
			if p == nil {
				sp.ErrorCode = n.noReplicaCode(rt.Topic, rp.Partition)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			hwm, start := p.offsets(n.spec.ID)
			hwm = p.servedFaults().cap(hwm) // never_catch_up reports its frozen end
			sp.LeaderEpoch = int32(p.g.state().term)
			switch rp.Timestamp {
			case -1: // latest
				sp.Offset = hwm
			case -2: // earliest
				sp.Offset = start
			case -3: // the record with the largest timestamp: not tracked; the last one
				sp.Offset = max(start, hwm-1)
			default:
				sp.Offset = p.g.st.OffsetForTime(rp.Timestamp, hwm)
				sp.Timestamp = rp.Timestamp
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// handleCreateTopics creates topics through the metadata group and answers
// once their partitions have leaders (or the request's timeout passed).
func (n *node) handleCreateTopics(r *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	for _, rt := range r.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = rt.NumPartitions, rt.ReplicationFactor
		var err error
		switch {
		case len(rt.ReplicaAssignment) > 0:
			err = kerr.InvalidReplicaAssignment // the sandbox places replicas itself
		case !validTopicName(rt.Topic):
			err = kerr.InvalidTopicException
		case r.ValidateOnly:
			if _, ok := n.msm.topic(rt.Topic); ok {
				err = kerr.TopicAlreadyExists
			}
		default:
			if err = n.createTopic(rt.Topic, rt.NumPartitions, rt.ReplicationFactor, timeout); err == nil {
				n.waitLeaders(rt.Topic, timeout)
			}
		}
		if err != nil {
			st.ErrorCode = errCode(err)
			msg := err.Error()
			st.ErrorMessage = &msg
		} else if t, ok := n.msm.topic(rt.Topic); ok {
			st.TopicID = t.ID
			st.NumPartitions = int32(len(t.Parts))
			st.ReplicationFactor = int16(len(t.Parts[0]))
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (n *node) handleDeleteTopics(r *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	names := slices.Clone(r.TopicNames)
	for _, t := range r.Topics {
		switch {
		case t.Topic != nil:
			names = append(names, *t.Topic)
		case t.TopicID != [16]byte{}:
			if tm, ok := n.msm.topicByID(t.TopicID); ok {
				names = append(names, tm.Name)
			}
		}
	}
	for _, name := range names {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic = kmsg.StringPtr(name)
		if t, ok := n.msm.topic(name); ok {
			st.TopicID = t.ID
		}
		if err := n.deleteTopic(name, timeout); err != nil {
			st.ErrorCode = errCode(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// handleInitProducerID hands out producer ids for idempotent producers.
// The sandbox does not deduplicate by sequence number; transactions are
// not supported.
func (n *node) handleInitProducerID(r *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	if r.TransactionalID != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp
	}
	if r.ProducerID >= 0 && r.ProducerEpoch >= 0 {
		resp.ProducerID, resp.ProducerEpoch = r.ProducerID, r.ProducerEpoch+1
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = n.pidSeq.Add(1), 0
	return resp
}
