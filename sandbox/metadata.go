package sandbox

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/raftdrill/raftdrill/sandbox/internal/entry"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The metadata group is one Raft group of every node, as KRaft's metadata
// quorum is: topic creation and deletion are entries in its log, and every
// node applies them, starting or stopping its replicas of the topic's
// partitions. Any node takes a CreateTopics request: Raft forwards the
// proposal to the group's leader.

// metadataTopic is the name the metadata group goes by in the timeline.
const metadataTopic = "__cluster_metadata"

type topicMeta struct {
	Name string   `json:"name"`
	ID   [16]byte `json:"id"`
	// Inc is the index of the entry that created the topic: a topic
	// deleted and created again under the same name is another topic.
	Inc   uint64    `json:"inc"`
	Parts [][]int32 `json:"parts"` // replicas of each partition, preferred leader first
}

// groupID names a partition's Raft group: unique across the topics' lives.
func (t *topicMeta) groupID(partition int32) uint64 { return t.Inc<<16 | uint64(partition) }

type metaCmd struct {
	Op    string    `json:"op"` // create, delete
	Topic topicMeta `json:"topic"`
}

// metaSM is a node's copy of the topics.
type metaSM struct {
	n *node

	mu     sync.RWMutex
	topics map[string]*topicMeta
	// bootCommit is the commit index the node started with: topics
	// created at or below it existed before, so the preferred leader
	// does not campaign for them.
	bootCommit uint64
}

func (m *metaSM) applyEntry(index, _ uint64, data []byte, _ int64) error {
	if kind, _ := entry.Kind(data); kind != entry.MetaCmd {
		return nil
	}
	var cmd metaCmd
	if err := json.Unmarshal(data[entry.HeaderLen:], &cmd); err != nil {
		return fmt.Errorf("metadata entry %d: %w", index, err)
	}
	switch cmd.Op {
	case "create":
		m.mu.Lock()
		if _, ok := m.topics[cmd.Topic.Name]; ok {
			m.mu.Unlock()
			return kerr.TopicAlreadyExists
		}
		t := cmd.Topic
		t.Inc = index
		m.topics[t.Name] = &t
		m.mu.Unlock()
		m.n.startTopic(&t, index > m.bootCommit)
	case "delete":
		m.mu.Lock()
		t, ok := m.topics[cmd.Topic.Name]
		delete(m.topics, cmd.Topic.Name)
		m.mu.Unlock()
		if !ok {
			return kerr.UnknownTopicOrPartition
		}
		m.n.stopTopic(t)
	}
	return nil
}

func (m *metaSM) applied(uint64) {}

func (m *metaSM) snapshotPayload() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, _ := json.Marshal(m.topics)
	return b
}

func (m *metaSM) restore(payload []byte) {
	topics := map[string]*topicMeta{}
	if len(payload) > 0 {
		_ = json.Unmarshal(payload, &topics)
	}
	m.mu.Lock()
	m.topics = topics
	m.mu.Unlock()
	if m.n.meta != nil {
		m.n.reconcileTopics()
	}
}

func (m *metaSM) topic(name string) (*topicMeta, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, ok := m.topics[name]
	return t, ok
}

func (m *metaSM) topicByID(id [16]byte) (*topicMeta, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, t := range m.topics {
		if t.ID == id {
			return t, true
		}
	}
	return nil, false
}

// list returns the topics sorted by name.
func (m *metaSM) list() []*topicMeta {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := slices.Sorted(maps.Keys(m.topics))
	out := make([]*topicMeta, 0, len(names))
	for _, n := range names {
		out = append(out, m.topics[n])
	}
	return out
}

// placeReplicas spreads partitions over the live nodes as the sandbox
// always has: partition n's replicas start at live node n (mod the count),
// the first of them the preferred leader.
func placeReplicas(live []int32, partitions int32, rf int16) [][]int32 {
	live = slices.Clone(live)
	sort.Slice(live, func(i, j int) bool { return live[i] < live[j] })
	out := make([][]int32, partitions)
	for n := int32(0); n < partitions; n++ {
		for r := 0; r < int(rf); r++ {
			out[n] = append(out[n], live[(int(n)+r)%len(live)])
		}
	}
	return out
}

// validTopicName is Kafka's rule: 1–249 of [a-zA-Z0-9._-], not . or ..
func validTopicName(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
