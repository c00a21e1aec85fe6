package benchmark

import (
	"sync"
	"time"

	"github.com/prometheus/procfs"

	"github.com/raftdrill/raftdrill/cluster/control"
	"github.com/raftdrill/raftdrill/cluster/kafka"
)

// procUsage reads a process's CPU time and resident set size from /proc
// (prometheus/procfs).
func procUsage(pid int) (cpu time.Duration, rss int64, err error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, 0, err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(st.CPUTime() * float64(time.Second)), int64(st.ResidentMemory()), nil
}

// nodeUsage is one node's resource use over a measurement.
type nodeUsage struct {
	ID         int32
	Known      bool    // false: the node's process is not known, or changed
	CPUPercent float64 // CPU time over wall time; 100 = one core busy
	RSSBytes   int64   // the largest resident set size sampled
}

// nodeSampler watches the nodes' processes during a measurement: CPU as
// the difference of the process's CPU time between start and stop, RSS as
// the peak of samples taken every interval.
type nodeSampler struct {
	pids  control.PIDSource
	start time.Time
	nodes []sampledNode
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex // guards nodes[].rss during sampling
}

type sampledNode struct {
	id   int32
	pid  int
	cpu0 time.Duration
	rss  int64
	ok   bool
}

// startNodeSampler starts sampling; with a nil PIDSource it samples nothing
// and every node's usage is unknown.
func startNodeSampler(pids control.PIDSource, nodes []kafka.Node, every time.Duration) *nodeSampler {
	s := &nodeSampler{pids: pids, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	for _, n := range nodes {
		sn := sampledNode{id: n.ID}
		if pids != nil {
			if pid, ok := pids.PID(n.ID); ok {
				if cpu, rss, err := procUsage(pid); err == nil {
					sn.pid, sn.cpu0, sn.rss, sn.ok = pid, cpu, rss, true
				}
			}
		}
		s.nodes = append(s.nodes, sn)
	}
	go s.loop(every)
	return s
}

func (s *nodeSampler) loop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sampleRSS()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *nodeSampler) sampleRSS() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.nodes {
		n := &s.nodes[i]
		if !n.ok {
			continue
		}
		if _, rss, err := procUsage(n.pid); err == nil {
			n.rss = max(n.rss, rss)
		}
	}
}

// finish stops sampling and returns each node's usage. A node whose process
// changed (it restarted) or vanished is reported unknown rather than with
// a figure from two different processes.
func (s *nodeSampler) finish() []nodeUsage {
	close(s.stop)
	<-s.done
	s.sampleRSS()
	wall := time.Since(s.start)
	out := make([]nodeUsage, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = nodeUsage{ID: n.id}
		if !n.ok || wall <= 0 {
			continue
		}
		if pid, ok := s.pids.PID(n.id); !ok || pid != n.pid {
			continue
		}
		cpu, _, err := procUsage(n.pid)
		if err != nil {
			continue
		}
		out[i] = nodeUsage{ID: n.id, Known: true, CPUPercent: 100 * (cpu - n.cpu0).Seconds() / wall.Seconds(), RSSBytes: n.rss}
	}
	return out
}
