package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Process per node: each node runs in its own OS process (the hidden
// `raftdrill sandbox node` command, NodeMain), so that a kill is a real
// SIGKILL and a pause a real SIGSTOP. The parent keeps the control API,
// the timeline and the fault state:
//
//   - a child prints "ready ADDR" (its own control endpoint) on stdout,
//     then one JSON report per line (Raft state changes), which the parent
//     turns into timeline events;
//   - the parent pushes faults, delays and cut links to each child and
//     asks it about its state (caught up, logs) over HTTP on loopback;
//   - a child asks the parent, over HTTP, to decide counted faults, so
//     that "the next N" counts across the whole cluster; when an ack lets a
//     per-node fault take records, the parent pushes the new serve plan to
//     every child before it answers, so no node serves them intact after
//     the client has the ack.

type procParent struct {
	c         *Cluster
	srv       *http.Server
	addr      string // the parent's endpoint for children
	closeOnce sync.Once

	mu       sync.Mutex
	children map[int32]*childMember
}

func newProcParent(c *Cluster) (*procParent, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox parent endpoint: %w", err)
	}
	p := &procParent{c: c, addr: ln.Addr().String(), children: map[int32]*childMember{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /produce", func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			TP    tp     `json:"tp"`
			Value []byte `json:"value"`
		}
		if json.NewDecoder(r.Body).Decode(&q) != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		writeJSON(w, http.StatusOK, c.faults.onProduce(q.TP, q.Value))
	})
	mux.HandleFunc("POST /ack", func(w http.ResponseWriter, r *http.Request) {
		var q ackInfo
		if json.NewDecoder(r.Body).Decode(&q) != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		before := c.faults.plan.Load()
		d := c.faults.onAck(q)
		if c.faults.plan.Load() != before {
			p.push()
		}
		writeJSON(w, http.StatusOK, d)
	})
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

func (p *procParent) close() {
	p.closeOnce.Do(p.doClose)
}

// kids lists the children, so that they can be stopped or told
// something without holding the lock.
func (p *procParent) kids() []*childMember {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Collect(maps.Values(p.children))
}

func (p *procParent) doClose() {
	kids := p.kids()
	for _, ch := range kids {
		ch.stop(true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
}

// childState is what the parent pushes to a child.
type childState struct {
	Faults     Faults                  `json:"faults"`
	Armed      bool                    `json:"armed"`
	Plan       *servePlan              `json:"plan,omitempty"`
	FaultsVer  uint64                  `json:"faults_ver"` // orders Faults, Armed and Plan
	Delay      time.Duration           `json:"delay"`
	NodeDelay  map[int32]time.Duration `json:"node_delay,omitempty"`
	StallUntil time.Time               `json:"stall_until"`
	Sides      map[int32]int           `json:"sides,omitempty"`
}

func (p *procParent) childState() childState {
	c := p.c
	st := childState{Sides: c.links.sides()}
	st.Faults, st.Armed, st.Plan, st.FaultsVer = c.faults.snapshot()
	c.lat.mu.RLock()
	st.Delay, st.StallUntil = c.lat.all, c.lat.stallUntil
	st.NodeDelay = maps.Clone(c.lat.node)
	c.lat.mu.RUnlock()
	return st
}

func (p *procParent) push() {
	st := p.childState()
	kids := p.kids()
	var wg sync.WaitGroup
	for _, ch := range kids {
		if ch.paused.Load() {
			// A stopped process would hold the push (an ack waiting on it)
			// until the timeout and then lose it: it gets the state when
			// it resumes.
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = ch.call(http.MethodPost, "/state", st, nil, 2*time.Second)
		}()
	}
	wg.Wait()
}

// start runs a node as a child process and waits for it to listen.
func (p *procParent) start(spec nodeSpec) (memberCtl, error) {
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	argv := p.c.opts.Command
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find the raftdrill executable: %w", err)
		}
		argv = []string{exe, "sandbox", "node"}
	}
	args := append(append([]string(nil), argv[1:]...), "--spec", string(specJSON), "--parent", p.addr)
	// The listener's key and passwords go through stdin, never the
	// command line, which every user of the host can read.
	var listenerJSON []byte
	if lo := p.c.opts.Listener; lo.TLS != nil || lo.SASL != nil {
		if listenerJSON, err = json.Marshal(lo); err != nil {
			return nil, err
		}
		args = append(args, "--listener-stdin")
	}
	cmd := exec.Command(argv[0], args...)
	cmd.Stderr = &logWriter{log: p.c.log.With("node", spec.ID)}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// The child's stdin stays open while this process lives: a child
	// whose parent died (even by SIGKILL) sees it close and exits.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node %d: %w", spec.ID, err)
	}
	if listenerJSON != nil {
		// A child that dies before it reads it fails the write, and
		// then says so before "ready" below.
		_, _ = stdin.Write(append(listenerJSON, '\n'))
	}
	ch := &childMember{id: spec.ID, cmd: cmd, stdin: stdin, exited: make(chan struct{}), client: &http.Client{}}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	ready := make(chan string, 1)
	p.c.wg.Add(1)
	go func() {
		defer p.c.wg.Done()
		first := true
		for sc.Scan() {
			line := sc.Text()
			if first {
				first = false
				ready <- strings.TrimPrefix(line, "ready ")
				continue
			}
			var r report
			if json.Unmarshal([]byte(line), &r) == nil {
				p.c.onReport(r)
			}
		}
		if first {
			close(ready)
		}
		_ = cmd.Wait()
		stdin.Close()
		close(ch.exited)
	}()
	select {
	case addr, ok := <-ready:
		if !ok || addr == "" {
			<-ch.exited
			return nil, fmt.Errorf("node %d exited before it was ready", spec.ID)
		}
		ch.base = "http://" + addr
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-ch.exited
		return nil, fmt.Errorf("node %d: not ready within 30s", spec.ID)
	}
	p.mu.Lock()
	p.children[spec.ID] = ch
	p.mu.Unlock()
	_ = ch.call(http.MethodPost, "/state", p.childState(), nil, 2*time.Second)
	return &procMember{p: p, ch: ch}, nil
}

// childMember is a running child process.
type childMember struct {
	id     int32
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	base   string
	client *http.Client
	exited chan struct{}
	paused atomic.Bool
}

func (ch *childMember) stop(kill bool) {
	if kill {
		_ = ch.cmd.Process.Kill()
	} else {
		_ = ch.cmd.Process.Signal(syscall.SIGCONT)
		_ = ch.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-ch.exited:
		case <-time.After(10 * time.Second):
			_ = ch.cmd.Process.Kill()
		}
	}
	<-ch.exited
}

func (ch *childMember) call(method, path string, in, out any, timeout time.Duration) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, ch.base+path, body)
	if err != nil {
		return err
	}
	resp, err := ch.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("node %d %s: %s: %s", ch.id, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// procMember drives a child process.
type procMember struct {
	p  *procParent
	ch *childMember
}

func (m *procMember) stop(kill bool) {
	m.ch.stop(kill)
	m.p.mu.Lock()
	if m.p.children[m.ch.id] == m.ch {
		delete(m.p.children, m.ch.id)
	}
	m.p.mu.Unlock()
}

func (m *procMember) pause() {
	m.ch.paused.Store(true)
	_ = m.ch.cmd.Process.Signal(syscall.SIGSTOP)
}

// resume wakes the child and gives it what was pushed while it slept.
func (m *procMember) resume() {
	_ = m.ch.cmd.Process.Signal(syscall.SIGCONT)
	m.ch.paused.Store(false)
	_ = m.ch.call(http.MethodPost, "/state", m.p.childState(), nil, 2*time.Second)
}
func (m *procMember) hide(h hideRec) {
	_ = m.ch.call(http.MethodPost, "/hide", h, nil, 2*time.Second)
}
func (m *procMember) lose(h hideRec) error {
	return m.ch.call(http.MethodPost, "/lose", h, nil, 15*time.Second)
}
func (m *procMember) led() []ledPartition {
	var out []ledPartition
	_ = m.ch.call(http.MethodGet, "/led", nil, &out, 2*time.Second)
	return out
}
func (m *procMember) state() memberState {
	var st memberState
	if err := m.ch.call(http.MethodGet, "/member", nil, &st, time.Second); err != nil {
		return memberState{MetaLeader: -1}
	}
	return st
}
func (m *procMember) createTopic(name string, partitions int32, rf int16, timeout time.Duration) error {
	var out struct {
		Code int16 `json:"code"`
	}
	q := map[string]any{"name": name, "partitions": partitions, "rf": rf, "timeout": timeout}
	if err := m.ch.call(http.MethodPost, "/topics", q, &out, timeout+5*time.Second); err != nil {
		return err
	}
	if out.Code != 0 {
		return kerrOf(out.Code)
	}
	return nil
}
func (m *procMember) topicLed(name string) bool {
	var out struct {
		Led bool `json:"led"`
	}
	err := m.ch.call(http.MethodGet, "/topics/led?"+url.Values{"topic": {name}}.Encode(), nil, &out, time.Second)
	return err == nil && out.Led
}
func (m *procMember) log(topic string, partition int32) ([]LogRecord, error) {
	var out []LogRecord
	err := m.ch.call(http.MethodGet, "/log?"+tpQuery(topic, partition), nil, &out, 30*time.Second)
	return out, err
}
func (m *procMember) truncated(topic string, partition int32) ([]LogRecord, error) {
	var out []LogRecord
	err := m.ch.call(http.MethodGet, "/truncated?"+tpQuery(topic, partition), nil, &out, 30*time.Second)
	return out, err
}

func tpQuery(topic string, partition int32) string {
	return url.Values{"topic": {topic}, "partition": {strconv.Itoa(int(partition))}}.Encode()
}

// logWriter turns a child's stderr into log lines.
type logWriter struct {
	log *slog.Logger
	buf []byte
	mu  sync.Mutex
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(w.buf[:i])); line != "" {
			w.log.Info(line)
		}
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

// NodeMain runs one sandbox node as its own process, as the sandbox
// starts it with process-per-node (`raftdrill sandbox node --spec JSON
// --parent ADDR`). It returns when ctx ends (SIGTERM) or stdin closes (the
// parent is gone), after a clean stop.
func NodeMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sandbox node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	specJSON := fs.String("spec", "", "the node's spec (JSON), as the sandbox writes it")
	parent := fs.String("parent", "", "the parent sandbox's endpoint for its nodes")
	listenerStdin := fs.Bool("listener-stdin", false, "read the Kafka listener's options (JSON, one line) from stdin first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var spec nodeSpec
	if err := json.Unmarshal([]byte(*specJSON), &spec); err != nil {
		return fmt.Errorf("--spec: %w", err)
	}
	var in *bufio.Reader
	if stdin != nil {
		in = bufio.NewReader(stdin)
	}
	var lo ListenerOptions
	if *listenerStdin {
		if in == nil {
			return errors.New("--listener-stdin: no stdin")
		}
		line, err := in.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("--listener-stdin: %w", err)
		}
		if err := json.Unmarshal(line, &lo); err != nil {
			return fmt.Errorf("--listener-stdin: %w", err)
		}
	}
	lis, err := lo.build()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	env := &childEnv{parent: "http://" + *parent, out: stdout, client: &http.Client{Timeout: 2 * time.Second}}
	env.st.Store(&childState{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	n, err := startNode(spec, env, log, nil, nil, lis)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: childHandler(n, env), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	env.mu.Lock()
	fmt.Fprintf(stdout, "ready %s\n", ln.Addr())
	env.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if in != nil {
		go func() {
			_, _ = io.Copy(io.Discard, in)
			cancel()
		}()
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	n.stop(true)
	return nil
}

// childEnv is the cluster as a node in a child process sees it.
type childEnv struct {
	parent string
	client *http.Client
	st     atomic.Pointer[childState]
	mu     sync.Mutex // stdout, and replacing st
	out    io.Writer
}

func (e *childEnv) report(r report) {
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.out.Write(append(b, '\n'))
}

func (e *childEnv) faults() Faults        { return e.st.Load().Faults }
func (e *childEnv) hooks() faultHooks     { return childHooks{e} }
func (e *childEnv) servePlan() *servePlan { return e.st.Load().Plan }
func (e *childEnv) linkAllowed(from, to int32) bool {
	s := e.st.Load().Sides
	if s == nil {
		return true
	}
	return s[from] == s[to]
}

func (e *childEnv) produceWait(node int32, now time.Time) time.Duration {
	st := e.st.Load()
	d := st.Delay + st.NodeDelay[node]
	if rest := st.StallUntil.Sub(now); rest > d {
		d = rest
	}
	return d
}

func (e *childEnv) post(path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := e.client.Post(e.parent+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

type childHooks struct{ e *childEnv }

func (h childHooks) armed() bool { return h.e.st.Load().Armed }
func (h childHooks) onProduce(p tp, value []byte) produceDecision {
	var d produceDecision
	_ = h.e.post("/produce", map[string]any{"tp": p, "value": value}, &d)
	return d
}
func (h childHooks) onAck(a ackInfo) ackDecision {
	var d ackDecision
	_ = h.e.post("/ack", a, &d)
	return d
}

// childHandler is a child's control endpoint for its parent.
func childHandler(n *node, e *childEnv) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /state", func(w http.ResponseWriter, r *http.Request) {
		var st childState
		if json.NewDecoder(r.Body).Decode(&st) != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		st.Plan.index()
		e.mu.Lock()
		// Two pushes may cross (acks of two children at once): the
		// faults of the later one stand.
		if old := e.st.Load(); old.FaultsVer > st.FaultsVer {
			st.Faults, st.Armed, st.Plan, st.FaultsVer = old.Faults, old.Armed, old.Plan, old.FaultsVer
		}
		e.st.Store(&st)
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /member", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, n.memberState())
	})
	mux.HandleFunc("GET /led", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, n.ledPartitions())
	})
	mux.HandleFunc("POST /hide", func(w http.ResponseWriter, r *http.Request) {
		var h hideRec
		if json.NewDecoder(r.Body).Decode(&h) != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		n.hide(h)
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /lose", func(w http.ResponseWriter, r *http.Request) {
		var h hideRec
		if json.NewDecoder(r.Body).Decode(&h) != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := n.lose(h.Topic, h.Partition, h.From, h.To); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /topics", func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			Name       string        `json:"name"`
			Partitions int32         `json:"partitions"`
			RF         int16         `json:"rf"`
			Timeout    time.Duration `json:"timeout"`
		}
		if json.NewDecoder(r.Body).Decode(&q) != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		var code int16
		if err := n.createTopic(q.Name, q.Partitions, q.RF, q.Timeout); err != nil {
			code = errCode(err)
		}
		writeJSON(w, http.StatusOK, map[string]int16{"code": code})
	})
	mux.HandleFunc("GET /topics/led", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"led": n.leadersReady(r.URL.Query().Get("topic"))})
	})
	records := func(truncated bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			part, _ := strconv.Atoi(r.URL.Query().Get("partition"))
			p := n.partition(r.URL.Query().Get("topic"), int32(part))
			if p == nil {
				http.Error(w, "no such replica here", http.StatusNotFound)
				return
			}
			if truncated {
				writeJSON(w, http.StatusOK, p.truncatedRecords())
				return
			}
			recs, err := p.committedRecords()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			writeJSON(w, http.StatusOK, recs)
		}
	}
	mux.HandleFunc("GET /log", records(false))
	mux.HandleFunc("GET /truncated", records(true))
	return mux
}

func kerrOf(code int16) error { return kerr.ErrorForCode(code) }
