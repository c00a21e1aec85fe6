package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Node is a cluster member as the probes address it.
type Node struct {
	ID      int32
	Address string
}

// Client speaks the Kafka protocol to each node individually (sarama's
// low-level Broker), because a drill must see what every node says, not what
// a client library's cached and merged metadata says, and must know the
// outcome of every single send without hidden retries.
type Client struct {
	nodes   []Node
	version sarama.KafkaVersion
	timeout time.Duration
	log     *slog.Logger
}

// NewClient returns a client for the given nodes. timeout bounds every
// request (dial, write and read), so a hung node costs one timeout.
func NewClient(nodes []Node, version sarama.KafkaVersion, timeout time.Duration, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{nodes: nodes, version: version, timeout: timeout, log: log}
}

// Nodes returns the configured nodes.
func (c *Client) Nodes() []Node { return c.nodes }

// Node returns the node with the given id.
func (c *Client) Node(id int32) (Node, bool) {
	for _, n := range c.nodes {
		if n.ID == id {
			return n, true
		}
	}
	return Node{}, false
}

func (c *Client) saramaConfig() *sarama.Config {
	conf := sarama.NewConfig()
	conf.ClientID = "raftdrill"
	conf.Version = c.version
	conf.Net.DialTimeout = c.timeout
	conf.Net.ReadTimeout = c.timeout
	conf.Net.WriteTimeout = c.timeout
	conf.Net.MaxOpenRequests = 5
	return conf
}

// conn is a private connection pool keyed by node id. Each user of the
// client (the poller, each partition's producer) gets its own pool, so a
// stalled request on one never queues another behind it.
type conn struct {
	c     *Client
	mu    sync.Mutex
	conns map[int32]*sarama.Broker
}

func (c *Client) newConn() *conn { return &conn{c: c, conns: map[int32]*sarama.Broker{}} }

var errUnknownNode = errors.New("unknown node")

// errDial marks a request that never left this process: the node could not
// be reached, so the cluster cannot have acted on it.
type errDial struct{ err error }

func (e errDial) Error() string { return "connect: " + e.err.Error() }
func (e errDial) Unwrap() error { return e.err }

func (p *conn) broker(id int32) (*sarama.Broker, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.conns[id]; b != nil {
		return b, nil
	}
	n, ok := p.c.Node(id)
	if !ok {
		return nil, fmt.Errorf("node %d: %w", id, errUnknownNode)
	}
	b := sarama.NewBroker(n.Address)
	if err := b.Open(p.c.saramaConfig()); err != nil {
		return nil, errDial{err}
	}
	// Open dials in the background; Connected waits for it.
	if ok, err := b.Connected(); !ok {
		b.Close()
		if err == nil {
			err = errors.New("not connected")
		}
		return nil, errDial{err}
	}
	p.conns[id] = b
	return b, nil
}

// drop forgets a connection after an error, so the next call dials afresh.
func (p *conn) drop(id int32) {
	p.mu.Lock()
	b := p.conns[id]
	delete(p.conns, id)
	p.mu.Unlock()
	if b != nil {
		b.Close()
	}
}

func (p *conn) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, b := range p.conns {
		b.Close()
		delete(p.conns, id)
	}
}

// Close is a no-op kept for symmetry with the callers' defer: every user of
// the client owns its own connections and closes them itself.
func (c *Client) Close() {}

// PartitionState is what one node says about one partition.
type PartitionState struct {
	Leader   int32
	Epoch    int32
	Err      sarama.KError
	Replicas []int32
	ISR      []int32
}

// View is the metadata one node serves at one moment.
type View struct {
	Node       int32
	At         time.Time // when the answer arrived
	Err        error     // the node could not be asked
	Brokers    map[int32]string
	Controller int32
	Topic      sarama.KError // topic-level error
	Partitions map[int32]PartitionState
}

// LiveLeader returns the partition's leader if the view names one that is
// among the brokers the same view lists as live.
func (v View) LiveLeader(partition int32) (int32, bool) {
	ps, ok := v.Partitions[partition]
	if !ok || ps.Leader < 0 {
		return -1, false
	}
	_, live := v.Brokers[ps.Leader]
	return ps.Leader, live
}

func (p *conn) metadata(id int32, topic string) View {
	v := View{Node: id}
	b, err := p.broker(id)
	if err != nil {
		v.Err, v.At = err, time.Now()
		return v
	}
	var topics []string
	if topic != "" {
		topics = []string{topic}
	}
	resp, err := b.GetMetadata(sarama.NewMetadataRequest(p.c.version, topics))
	v.At = time.Now()
	if err != nil {
		p.drop(id)
		v.Err = err
		return v
	}
	v.Brokers = map[int32]string{}
	for _, br := range resp.Brokers {
		v.Brokers[br.ID()] = br.Addr()
	}
	v.Controller = resp.ControllerID
	v.Partitions = map[int32]PartitionState{}
	for _, t := range resp.Topics {
		if t.Name != topic {
			continue
		}
		v.Topic = t.Err
		for _, pm := range t.Partitions {
			v.Partitions[pm.ID] = PartitionState{
				Leader: pm.Leader, Epoch: pm.LeaderEpoch, Err: pm.Err,
				Replicas: pm.Replicas, ISR: pm.Isr,
			}
		}
	}
	return v
}

// Views asks every given node, concurrently, for its metadata of topic.
func (p *conn) views(ctx context.Context, ids []int32, topic string) []View {
	out := make([]View, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = p.metadata(id, topic)
		}()
	}
	wg.Wait()
	return out
}

// Views asks every configured node for its metadata of topic.
func (c *Client) Views(ctx context.Context, topic string) []View {
	p := c.newConn()
	defer p.close()
	return p.views(ctx, c.ids(), topic)
}

func (c *Client) ids() []int32 {
	ids := make([]int32, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.ID
	}
	return ids
}

// Health summarises the cluster as the drills' preflight sees it.
type Health struct {
	Views        []View
	Unreachable  []int32 // nodes that did not answer
	Leaderless   []int32 // partitions no answering node names a live leader for
	MissingTopic bool
}

// Problems lists what makes the cluster unfit for a drill; empty means
// healthy.
func (h Health) Problems() []string {
	var out []string
	if len(h.Unreachable) > 0 {
		out = append(out, fmt.Sprintf("nodes %v not reachable", h.Unreachable))
	}
	if h.MissingTopic {
		out = append(out, "drill topic missing")
	}
	if len(h.Leaderless) > 0 {
		out = append(out, fmt.Sprintf("partitions %v without a live leader", h.Leaderless))
	}
	return out
}

// CheckHealth asks every node for metadata of topic and reports unreachable
// nodes and partitions without a live leader.
func (c *Client) CheckHealth(ctx context.Context, topic string, partitions int32) Health {
	h := Health{Views: c.Views(ctx, topic)}
	led := map[int32]bool{}
	answered := 0
	for _, v := range h.Views {
		if v.Err != nil {
			h.Unreachable = append(h.Unreachable, v.Node)
			continue
		}
		answered++
		if v.Topic == sarama.ErrUnknownTopicOrPartition {
			h.MissingTopic = true
		}
		for p := range v.Partitions {
			if _, ok := v.LiveLeader(p); ok {
				led[p] = true
			}
		}
	}
	if answered > 0 && !h.MissingTopic {
		for p := int32(0); p < partitions; p++ {
			if !led[p] {
				h.Leaderless = append(h.Leaderless, p)
			}
		}
	}
	return h
}

// EnsureTopic creates the topic through the first node that answers, and
// accepts one that already exists.
func (c *Client) EnsureTopic(ctx context.Context, topic string, partitions int32, rf int16) error {
	p := c.newConn()
	defer p.close()
	var errs []error
	for _, n := range c.nodes {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b, err := p.broker(n.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", n.ID, err))
			continue
		}
		req := &sarama.CreateTopicsRequest{
			Version: 1,
			Timeout: c.timeout,
			TopicDetails: map[string]*sarama.TopicDetail{
				topic: {NumPartitions: partitions, ReplicationFactor: rf},
			},
		}
		resp, err := b.CreateTopics(req)
		if err != nil {
			p.drop(n.ID)
			errs = append(errs, fmt.Errorf("node %d: %w", n.ID, err))
			continue
		}
		te := resp.TopicErrors[topic]
		if te == nil || te.Err == sarama.ErrNoError || te.Err == sarama.ErrTopicAlreadyExists {
			return nil
		}
		if te.Err == sarama.ErrNotController {
			continue
		}
		return fmt.Errorf("create topic %s: %w", topic, te)
	}
	return fmt.Errorf("create topic %s: no node could: %w", topic, errors.Join(errs...))
}

// Serving reports whether a node answers Kafka requests (ApiVersions).
func (c *Client) Serving(ctx context.Context, id int32) error {
	p := c.newConn()
	defer p.close()
	b, err := p.broker(id)
	if err != nil {
		return err
	}
	_, err = b.ApiVersions(&sarama.ApiVersionsRequest{})
	return err
}

// WaitServing polls until the node answers metadata requests or ctx ends.
func (c *Client) WaitServing(ctx context.Context, id int32, topic string) error {
	p := c.newConn()
	defer p.close()
	for {
		v := p.metadata(id, topic)
		if v.Err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d not serving: %w (last error: %v)", id, ctx.Err(), v.Err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sortedIDs returns the keys of a set in order.
func sortedIDs(m map[int32]bool) []int32 {
	out := make([]int32, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
