package probes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// pidSource is a node controller that knows each node's server process (the
// process controller). The benchmark reads the nodes' CPU and memory from
// /proc/PID through it; with other controllers they are not known.
type pidSource interface {
	PID(id int32) (int, bool)
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. The
// kernel fixes it at 100 on every architecture Go supports on Linux (it is
// not CONFIG_HZ), so it is not read through sysconf, which needs cgo.
const clockTicks = 100

// procCPU returns the user plus system CPU time pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	cpu, err := parseStatCPU(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return cpu, nil
}

// parseStatCPU reads utime plus stime from the content of /proc/PID/stat.
func parseStatCPU(b []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself; the fixed fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields, want at least 15", len(f)+2)
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad utime or stime")
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// procRSS returns the resident set size of pid in bytes (VmRSS).
func procRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("VmRSS:")) {
			continue
		}
		fields := bytes.Fields(line[len("VmRSS:"):])
		if len(fields) < 1 {
			break
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
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
	pids  pidSource
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

// startNodeSampler starts sampling; with a nil pidSource it samples nothing
// and every node's usage is unknown.
func startNodeSampler(pids pidSource, nodes []Node, every time.Duration) *nodeSampler {
	s := &nodeSampler{pids: pids, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	for _, n := range nodes {
		sn := sampledNode{id: n.ID}
		if pids != nil {
			if pid, ok := pids.PID(n.ID); ok {
				if cpu, err := procCPU(pid); err == nil {
					sn.pid, sn.cpu0, sn.ok = pid, cpu, true
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
		if rss, err := procRSS(n.pid); err == nil {
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
		cpu, err := procCPU(n.pid)
		if err != nil {
			continue
		}
		out[i] = nodeUsage{ID: n.id, Known: true, CPUPercent: 100 * (cpu - n.cpu0).Seconds() / wall.Seconds(), RSSBytes: n.rss}
	}
	return out
}
