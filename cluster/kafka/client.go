package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/raftdrill/raftdrill/config"
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
	tls     config.TLS
	sasl    config.SASL
	log     *slog.Logger
}

// Options shape how a client talks to the nodes.
type Options struct {
	Version sarama.KafkaVersion
	// Timeout bounds every request (dial, write and read), so a hung node
	// costs one timeout.
	Timeout time.Duration
	TLS     config.TLS
	SASL    config.SASL
}

// NewClient returns a client for the given nodes.
func NewClient(nodes []Node, opts Options, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{nodes: nodes, version: opts.Version, timeout: opts.Timeout, tls: opts.TLS, sasl: opts.SASL, log: log}
}

// WithNodes returns a client like c for other nodes (the benchmark's
// baseline).
func (c *Client) WithNodes(nodes []Node) *Client {
	cp := *c
	cp.nodes = nodes
	return &cp
}

// WithTimeout returns a client like c whose requests are bounded by d.
func (c *Client) WithTimeout(d time.Duration) *Client {
	cp := *c
	cp.timeout = d
	return &cp
}

// Timeout is the bound of one request.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Version is the protocol version the client speaks.
func (c *Client) Version() sarama.KafkaVersion { return c.version }

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

// SaramaConfig is the sarama configuration every connection of this client
// uses: its version, timeouts, client id, TLS and SASL.
func (c *Client) SaramaConfig() (*sarama.Config, error) {
	conf := sarama.NewConfig()
	conf.ClientID = "raftdrill"
	conf.Version = c.version
	conf.Net.DialTimeout = c.timeout
	conf.Net.ReadTimeout = c.timeout
	conf.Net.WriteTimeout = c.timeout
	conf.Net.MaxOpenRequests = 5
	if err := secure(conf, c.tls, c.sasl); err != nil {
		return nil, err
	}
	return conf, nil
}

// Pool is a private connection pool keyed by node id. Each user of the
// client (the poller, each partition's producer) gets its own pool, so a
// stalled request on one never queues another behind it.
type Pool struct {
	c     *Client
	mu    sync.Mutex
	conns map[int32]*sarama.Broker
}

// Pool returns a new connection pool; close it when done.
func (c *Client) Pool() *Pool { return &Pool{c: c, conns: map[int32]*sarama.Broker{}} }

// ErrUnknownNode is a node id that is not among the configured nodes.
var ErrUnknownNode = errors.New("unknown node")

// DialError marks a request that never left this process: the node could
// not be reached, so the cluster cannot have acted on it.
type DialError struct{ Err error }

func (e DialError) Error() string {
	var ae *AuthError
	if errors.As(e.Err, &ae) {
		return ae.Error() // it says what refused what, and where
	}
	return "connect: " + e.Err.Error()
}
func (e DialError) Unwrap() error { return e.Err }

// Broker returns the open connection to node id, dialling it if needed.
func (p *Pool) Broker(id int32) (*sarama.Broker, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.conns[id]; b != nil {
		return b, nil
	}
	n, ok := p.c.Node(id)
	if !ok {
		return nil, fmt.Errorf("node %d: %w", id, ErrUnknownNode)
	}
	conf, err := p.c.SaramaConfig()
	if err != nil {
		return nil, DialError{err}
	}
	b := sarama.NewBroker(n.Address)
	if err := b.Open(conf); err != nil {
		return nil, DialError{explain(n, p.c.sasl, err)}
	}
	// Open dials in the background; Connected waits for it.
	if ok, err := b.Connected(); !ok {
		b.Close()
		if err == nil {
			err = errors.New("not connected")
		}
		return nil, DialError{explain(n, p.c.sasl, err)}
	}
	p.conns[id] = b
	return b, nil
}

// Drop forgets a connection after an error, so the next call dials afresh.
func (p *Pool) Drop(id int32) {
	p.mu.Lock()
	b := p.conns[id]
	delete(p.conns, id)
	p.mu.Unlock()
	if b != nil {
		b.Close()
	}
}

// Close closes every connection of the pool.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, b := range p.conns {
		b.Close()
		delete(p.conns, id)
	}
}

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

// Metadata asks node id for its metadata of topic (every topic if empty).
func (p *Pool) Metadata(id int32, topic string) View {
	v := View{Node: id}
	b, err := p.Broker(id)
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
		p.Drop(id)
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
func (p *Pool) Views(ids []int32, topic string) []View {
	out := make([]View, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = p.Metadata(id, topic)
		}()
	}
	wg.Wait()
	return out
}

// Views asks every configured node for its metadata of topic.
func (c *Client) Views(topic string) []View {
	p := c.Pool()
	defer p.Close()
	return p.Views(c.IDs(), topic)
}

// IDs lists the configured nodes' ids.
func (c *Client) IDs() []int32 {
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
		// The first node's reason says what is wrong (a refused
		// password, an untrusted certificate, a closed port).
		var why error
		for _, v := range h.Views {
			if v.Node == h.Unreachable[0] {
				why = v.Err
			}
		}
		var ae *AuthError
		if errors.As(why, &ae) {
			// It names the node and its address itself.
			out = append(out, fmt.Sprintf("nodes %v not reachable: %v", h.Unreachable, ae))
		} else {
			out = append(out, fmt.Sprintf("nodes %v not reachable (node %d: %v)", h.Unreachable, h.Unreachable[0], why))
		}
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
func (c *Client) CheckHealth(topic string, partitions int32) Health {
	h := Health{Views: c.Views(topic)}
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

// Addrs lists the configured nodes' addresses.
func (c *Client) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Address
	}
	return out
}

// admin opens sarama's cluster admin on the configured nodes; it finds the
// controller and follows it when it moves.
func (c *Client) admin() (sarama.ClusterAdmin, error) {
	conf, err := c.SaramaConfig()
	if err != nil {
		return nil, err
	}
	conf.Admin.Timeout = c.timeout
	a, err := sarama.NewClusterAdmin(c.Addrs(), conf)
	if err != nil {
		// Sarama's cluster client does not always keep the brokers'
		// errors: a refusal is then found by asking the nodes.
		var ae *AuthError
		if errors.Is(err, sarama.ErrOutOfBrokers) || errors.As(explain(Node{}, c.sasl, err), &ae) {
			if named := c.refusal(); named != nil {
				return nil, named
			}
		}
		return nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	return a, nil
}

// refusal asks every node, concurrently, and returns the first one's
// refusal on TLS or SASL grounds (nil if none refuses): sarama's cluster
// client says only that it ran out of brokers, not which refused what.
func (c *Client) refusal() error {
	p := c.Pool()
	defer p.Close()
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.Broker(n.ID)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		var ae *AuthError
		if errors.As(err, &ae) {
			return ae
		}
	}
	return nil
}

// EnsureTopic creates the topic, and accepts one that already exists.
func (c *Client) EnsureTopic(topic string, partitions int32, rf int16) error {
	a, err := c.admin()
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	defer a.Close()
	err = a.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: rf}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// DeleteTopic deletes the topic; one that does not exist is not an error.
func (c *Client) DeleteTopic(topic string) error {
	a, err := c.admin()
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	defer a.Close()
	if err := a.DeleteTopic(topic); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	return nil
}

// Serving reports whether a node answers Kafka requests (ApiVersions).
func (c *Client) Serving(id int32) error {
	p := c.Pool()
	defer p.Close()
	b, err := p.Broker(id)
	if err != nil {
		return err
	}
	_, err = b.ApiVersions(&sarama.ApiVersionsRequest{})
	return err
}

// WaitServing polls until the node answers metadata requests or ctx ends.
func (c *Client) WaitServing(ctx context.Context, id int32, topic string) error {
	p := c.Pool()
	defer p.Close()
	for {
		v := p.Metadata(id, topic)
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
