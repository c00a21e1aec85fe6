package sandbox

import (
	"errors"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handle runs on every request kfake receives, before kfake's own handler.
// It refuses requests that reach a dead node, and answers the requests whose
// answer depends on Raft state (metadata, topic creation); the rest is
// kfake's, whose idea of each leader moveLeader keeps in step.
func (c *Cluster) handle(req kmsg.Request) (kmsg.Response, error, bool) {
	node := c.kf.CurrentNode() + 1
	// Before the liveness check, so a node killed during the delay refuses.
	c.delayProduce(node, req)
	c.mu.RLock()
	down := c.down[node]
	c.mu.RUnlock()
	if down {
		c.kf.KeepControl()
		return nil, errNodeDown, true // kfake closes the connection
	}
	switch r := req.(type) {
	case *kmsg.MetadataRequest:
		c.kf.KeepControl()
		return c.metadata(node, r), nil, true
	case *kmsg.CreateTopicsRequest:
		c.kf.KeepControl()
		return c.createTopics(r), nil, true
	case *kmsg.DeleteTopicsRequest:
		c.kf.KeepControl()
		return c.deleteTopics(r), nil, true
	}
	return nil, nil, false
}

// metadata answers as a Raft-replicated Kafka cluster would: only live
// brokers are listed, a leaderless partition says LEADER_NOT_AVAILABLE with
// leader -1, the ISR is the live replicas and the epoch rises with each
// election.
func (c *Cluster) metadata(node int32, req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	c.mu.RLock()
	defer c.mu.RUnlock()

	resp.ControllerID = -1
	for i, ln := range c.lns {
		id := int32(i + 1)
		if c.down[id] {
			continue
		}
		if resp.ControllerID == -1 {
			resp.ControllerID = id
		}
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID = id
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		p, _ := strconv.Atoi(port)
		b.Host, b.Port = host, int32(p)
		resp.Brokers = append(resp.Brokers, b)
	}
	clusterID := "raftdrill-sandbox"
	resp.ClusterID = &clusterID

	addTopic := func(t *topicState) {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = kmsg.StringPtr(t.name)
		rt.TopicID = t.id
		for n, p := range t.parts {
			rp := kmsg.NewMetadataResponseTopicPartition()
			rp.Partition = int32(n)
			leader := metadataLeader(c.faults, node, p.leader, p.last)
			rp.Leader = leader
			rp.LeaderEpoch = p.epoch
			if leader == -1 {
				rp.ErrorCode = kerr.LeaderNotAvailable.Code
			}
			rp.Replicas = append([]int32(nil), p.replicas...)
			for _, r := range p.replicas {
				if c.down[r] {
					rp.OfflineReplicas = append(rp.OfflineReplicas, r)
				} else {
					rp.ISR = append(rp.ISR, r)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if req.Topics == nil {
		c.eachTopic(addTopic)
		return resp
	}
	for _, want := range req.Topics {
		var t *topicState
		switch {
		case want.Topic != nil:
			t = c.topics[*want.Topic]
		case want.TopicID != [16]byte{}:
			for _, cand := range c.topics {
				if cand.id == want.TopicID {
					t = cand
				}
			}
		}
		if t == nil {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic = want.Topic
			rt.TopicID = want.TopicID
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		addTopic(t)
	}
	return resp
}

func (c *Cluster) eachTopic(fn func(*topicState)) {
	c.eachPart(func(t *topicState, n int32, _ *partState) {
		if n == 0 {
			fn(t)
		}
	})
}

func (c *Cluster) createTopics(req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions = rt.NumPartitions
		st.ReplicationFactor = rt.ReplicationFactor
		var err error
		switch {
		case len(rt.ReplicaAssignment) > 0:
			err = kerr.InvalidReplicaAssignment // the sandbox places replicas itself
		case req.ValidateOnly:
		default:
			c.ops.Lock()
			err = c.createTopic(rt.Topic, rt.NumPartitions, rt.ReplicationFactor)
			c.ops.Unlock()
		}
		if err != nil {
			var ke *kerr.Error
			if errors.As(err, &ke) {
				st.ErrorCode = ke.Code
			} else {
				st.ErrorCode = kerr.UnknownServerError.Code
			}
			msg := err.Error()
			st.ErrorMessage = &msg
		} else if !req.ValidateOnly {
			c.mu.RLock()
			if t := c.topics[rt.Topic]; t != nil {
				st.TopicID = t.id
				st.NumPartitions = int32(len(t.parts))
				st.ReplicationFactor = int16(len(t.parts[0].replicas))
			}
			c.mu.RUnlock()
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (c *Cluster) deleteTopics(req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	names := req.TopicNames
	for _, t := range req.Topics {
		if t.Topic != nil {
			names = append(names, *t.Topic)
		}
	}
	for _, name := range names {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic = kmsg.StringPtr(name)
		c.ops.Lock()
		err := c.deleteTopic(name)
		c.ops.Unlock()
		var ke *kerr.Error
		if errors.As(err, &ke) {
			st.ErrorCode = ke.Code
		} else if err != nil {
			st.ErrorCode = kerr.UnknownServerError.Code
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
