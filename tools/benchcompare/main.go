// Command benchcompare answers one question: is raftdrill's benchmark probe
// the bottleneck of its own measurement? It produces the same workload
// (N messages of S bytes, acks=all) to a `raftdrill sandbox` running as its
// own process with these load generators:
//
//   - raftdrill: `raftdrill run benchmark` (the probe as users run it, with
//     its default batch producer),
//   - raftdrill-async: the same with drills.benchmark.producer.type: async
//     (sarama's AsyncProducer: shown, not part of the ratio),
//   - sarama: sarama's own tools/kafka-producer-performance at its default
//     batching, and sarama-batched: the same tool with the probe's batching
//     (256 KiB batches, 1 ms linger, 5 requests in flight),
//   - kcat: Debian's kcat -P (librdkafka, the C client),
//
// each on a fresh sandbox, over several rounds in rotating order. Every tool
// is measured the same way, from outside: throughput is N over the time from
// the first to the last acked message as the cluster's high watermarks show
// them (polled every few milliseconds), and CPU is the tool process's CPU
// time over that same window (from /proc). No tool's own figure is used, so
// start-up, read-back and reporting count for none of them. It prints each
// round's figures and ratio, then each tool's medians and the median of the
// per-round ratios of raftdrill over the best other tool. `make
// bench-compare` runs it; docs/benchmark.md explains the figures.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/procfs"
)

type options struct {
	raftdrill, saramaPerf, kcat string
	messages, size, rounds      int
	partitions                  int
	version                     string
}

func main() {
	var o options
	flag.StringVar(&o.raftdrill, "raftdrill", "bin/raftdrill", "the raftdrill binary")
	flag.StringVar(&o.saramaPerf, "sarama-perf", "bin/kafka-producer-performance", "sarama's kafka-producer-performance binary")
	flag.StringVar(&o.kcat, "kcat", "kcat", "the kcat binary")
	flag.IntVar(&o.messages, "messages", 100000, "messages per run")
	flag.IntVar(&o.size, "size", 1024, "message size in bytes")
	flag.IntVar(&o.rounds, "rounds", 15, "runs per tool; the median is reported")
	flag.IntVar(&o.partitions, "partitions", 3, "partitions of the topic (replication factor 3)")
	flag.StringVar(&o.version, "kafka-version", "3.6.0", "Kafka protocol version the Go clients assume")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(1)
	}
}

// result is one tool's run, measured from outside.
type result struct {
	mps       float64 // messages per second, first to last ack
	cpuPer100 float64 // the tool's CPU seconds per 100,000 messages, same window
	// sandboxCPU is the sandbox's CPU seconds per 100,000 messages over the
	// same window: the load a tool's requests put on the server side.
	sandboxCPU float64
	note       string
}

// tool is one load generator: start launches it against a sandbox, to
// write to topic (created beforehand, so that its high watermarks can be
// read from the first message on).
type tool struct {
	name string
	// probe: one of raftdrill's own producers, not one of the others it is
	// compared with.
	probe bool
	start func(sb *sandboxProc, topic string) (*proc, error)
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "benchcompare")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lines := filepath.Join(dir, "messages.txt")
	if err := writeLines(lines, o.messages, o.size); err != nil {
		return err
	}
	tools := []tool{
		{"raftdrill", true, func(sb *sandboxProc, topic string) (*proc, error) { return startRaftdrill(o, dir, sb, topic, "batch") }},
		{"raftdrill-async", true, func(sb *sandboxProc, topic string) (*proc, error) { return startRaftdrill(o, dir, sb, topic, "async") }},
		{"sarama", false, func(sb *sandboxProc, topic string) (*proc, error) { return startSaramaPerf(o, sb, topic, false) }},
		{"sarama-batched", false, func(sb *sandboxProc, topic string) (*proc, error) { return startSaramaPerf(o, sb, topic, true) }},
		{"kcat", false, func(sb *sandboxProc, topic string) (*proc, error) { return startKcat(o, lines, sb, topic) }},
	}
	fmt.Printf("workload: %d messages of %d B, acks=all, topic of %d partitions with replication factor 3,\n", o.messages, o.size, o.partitions)
	fmt.Printf("each run on a fresh `raftdrill sandbox --nodes 3` process; %d rounds, order rotating.\n", o.rounds)
	fmt.Printf("Every tool is measured alike, from outside: msg/s = N / (last ack - first ack) as the cluster's\n")
	fmt.Printf("high watermarks show them (polled every %s); CPU = the tool's and the sandbox's over that window.\n\n", pollEvery)
	all := map[string][]result{}
	var ratios []float64
	for r := 0; r < o.rounds; r++ {
		round := map[string]result{}
		for i := range tools {
			t := tools[(i+r)%len(tools)]
			res, err := runOnFreshSandbox(o, t)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, t.name, err)
			}
			fmt.Printf("round %2d  %-15s  %7.0f msg/s  CPU s/100k: %.3f tool, %.3f sandbox  %s\n", r+1, t.name, res.mps, res.cpuPer100, res.sandboxCPU, res.note)
			all[t.name] = append(all[t.name], res)
			round[t.name] = res
		}
		best, name := bestOther(tools, func(t string) float64 { return round[t].mps })
		ratio := round["raftdrill"].mps / best
		ratios = append(ratios, ratio)
		fmt.Printf("round %2d  ratio raftdrill / best other (%s): %.2f\n", r+1, name, ratio)
	}
	return summarise(o, tools, all, ratios)
}

// bestOther is the fastest tool that is not one of raftdrill's own.
func bestOther(tools []tool, mps func(string) float64) (float64, string) {
	best, name := 0.0, ""
	for _, t := range tools {
		if !t.probe && mps(t.name) > best {
			best, name = mps(t.name), t.name
		}
	}
	return best, name
}

func summarise(o options, tools []tool, all map[string][]result, ratios []float64) error {
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "tool\tmedian msg/s\tMiB/s\tCPU s/100k msgs\tsandbox CPU s/100k")
	med := map[string]float64{}
	for _, t := range tools {
		rs := all[t.name]
		med[t.name] = median(rs, func(r result) float64 { return r.mps })
		cpu := median(rs, func(r result) float64 { return r.cpuPer100 })
		sbCPU := median(rs, func(r result) float64 { return r.sandboxCPU })
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.3f\t%.3f\n", t.name, med[t.name], med[t.name]*float64(o.size)/(1<<20), cpu, sbCPU)
	}
	tw.Flush()
	fmt.Println("\nthroughput: messages over first-to-last ack by the cluster's high watermarks; CPU: the tool's process over the same window")
	best, bestName := bestOther(tools, func(t string) float64 { return med[t] })
	fmt.Println()
	for _, t := range tools {
		if !t.probe {
			fmt.Printf("ratio of medians raftdrill / %s: %.2f\n", t.name, med["raftdrill"]/med[t.name])
		}
	}
	fmt.Printf("ratio of medians raftdrill-async / best other (%s): %.2f  (sarama's AsyncProducer, for comparison)\n", bestName, med["raftdrill-async"]/best)
	sorted := slices.Clone(ratios)
	slices.Sort(sorted)
	m := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		m = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	fmt.Printf("median of the per-round ratios raftdrill / best other: %.2f (min %.2f, max %.2f; goal >= 1.00: %s)\n",
		m, sorted[0], sorted[len(sorted)-1], verdict(m >= 1))
	return nil
}
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// writeLines writes n messages of size random letters, one per line, for
// kcat (which sends each line as a message, without the newline).
func writeLines(path string, n, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := make([]byte, size+1)
	line[size] = '\n'
	for i := 0; i < n; i++ {
		for j := 0; j < size; j++ {
			line[j] = 'a' + byte(rand.IntN(26))
		}
		if _, err := w.Write(line); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sandboxProc is a `raftdrill sandbox` child process.
type sandboxProc struct {
	cmd     *exec.Cmd
	brokers []string
	control string
}

func startSandbox(o options) (*sandboxProc, error) {
	cmd := exec.Command(o.raftdrill, "sandbox", "--nodes", "3", "--kafka-base-port", "0", "--control-listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	sb := &sandboxProc{cmd: cmd}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && f[0] == "node" && f[2] == "kafka":
			sb.brokers = append(sb.brokers, f[3])
		case len(f) == 2 && f[0] == "control":
			sb.control = f[1]
		}
		if sb.control != "" {
			break
		}
	}
	go io.Copy(io.Discard, out)
	if sb.control == "" || len(sb.brokers) != 3 {
		sb.stop()
		return nil, fmt.Errorf("sandbox did not print its addresses (got %v, %q)", sb.brokers, sb.control)
	}
	return sb, nil
}

func (sb *sandboxProc) stop() {
	_ = sb.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = sb.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = sb.cmd.Process.Kill()
		<-done
	}
}

// pollEvery is how often the high watermarks are read while a tool runs:
// the resolution of the first and last ack.
const pollEvery = 2 * time.Millisecond

func runOnFreshSandbox(o options, t tool) (result, error) {
	sb, err := startSandbox(o)
	if err != nil {
		return result{}, err
	}
	defer sb.stop()
	topic := "bench-" + t.name
	if err := createTopic(o, sb, topic); err != nil {
		return result{}, err
	}
	hwm, err := newWatermarks(o, sb, topic)
	if err != nil {
		return result{}, err
	}
	defer hwm.Close()
	if n, err := hwm.total(); err != nil || n != 0 {
		return result{}, fmt.Errorf("a fresh topic %s holds %d messages (%v)", topic, n, err)
	}
	p, err := t.start(sb, topic)
	if err != nil {
		return result{}, err
	}
	res, werr := watch(o, hwm, p, sb.cmd.Process.Pid)
	if err := p.wait(); err != nil {
		return res, err
	}
	return res, werr
}

// watermarks reads one topic's high watermarks.
type watermarks struct {
	sarama.Client
	topic      string
	partitions int
}

func newWatermarks(o options, sb *sandboxProc, topic string) (*watermarks, error) {
	conf, err := saramaConfig(o)
	if err != nil {
		return nil, err
	}
	conf.Metadata.Retry.Max = 0 // a poll must not stall behind metadata retries
	c, err := sarama.NewClient(sb.brokers, conf)
	if err != nil {
		return nil, err
	}
	return &watermarks{Client: c, topic: topic, partitions: o.partitions}, nil
}

// total is the sum of the topic's high watermarks.
func (w *watermarks) total() (int64, error) {
	var total int64
	for p := int32(0); p < int32(w.partitions); p++ {
		off, err := w.GetOffset(w.topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, fmt.Errorf("high watermark of %s/%d: %w", w.topic, p, err)
		}
		total += off
	}
	return total, nil
}

// watch follows the high watermarks while the tool runs and times its N
// messages from the first ack to the last, with the tool's and the
// sandbox's CPU time over the same window.
func watch(o options, hwm *watermarks, p *proc, sandboxPID int) (result, error) {
	deadline := time.Now().Add(5 * time.Minute)
	var first time.Time
	var cpuFirst, sbFirst time.Duration
	for {
		n, err := hwm.total()
		now := time.Now()
		cpu, cerr := procCPU(p.cmd.Process.Pid)
		sbCPU, serr := procCPU(sandboxPID)
		if err == nil && cerr == nil && serr == nil {
			if first.IsZero() && n > 0 {
				first, cpuFirst, sbFirst = now, cpu, sbCPU
			}
			if n >= int64(o.messages) {
				window := now.Sub(first)
				return result{
					mps:        float64(o.messages) / window.Seconds(),
					cpuPer100:  per100k(cpu-cpuFirst, o.messages),
					sandboxCPU: per100k(sbCPU-sbFirst, o.messages),
					note:       fmt.Sprintf("(first to last ack %.3fs)", window.Seconds()),
				}, nil
			}
		}
		select {
		case <-p.done:
			return result{}, fmt.Errorf("%s exited before the cluster held its %d messages (it holds %d)", p.cmd.Args[0], o.messages, n)
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("%d messages not in %s within 5 minutes", o.messages, hwm.topic)
		}
	}
}

// procCPU is a process's user and system CPU time (prometheus/procfs).
func procCPU(pid int) (time.Duration, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, err
	}
	return time.Duration(st.CPUTime() * float64(time.Second)), nil
}

func saramaConfig(o options) (*sarama.Config, error) {
	c := sarama.NewConfig()
	v, err := sarama.ParseKafkaVersion(o.version)
	if err != nil {
		return nil, err
	}
	c.Version = v
	return c, nil
}

// createTopic creates the topic the other tools write to (the probe creates
// its own, as it does on any cluster).
func createTopic(o options, sb *sandboxProc, topic string) error {
	conf, err := saramaConfig(o)
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdmin(sb.brokers, conf)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer admin.Close()
	return admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: int32(o.partitions), ReplicationFactor: 3}, false)
}

// proc is a tool's running process.
type proc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{} // closed once it has exited
	err    error         // its Wait, set before done closes
}

// startProc starts cmd with its stderr kept for errors.
func startProc(cmd *exec.Cmd) (*proc, error) {
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = io.Discard, &p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Args[0], err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// wait waits for the process and says how it failed, if it did.
func (p *proc) wait() error {
	<-p.done
	if p.err != nil {
		return fmt.Errorf("%s: %w: %s", p.cmd.Args[0], p.err, tail(p.stderr.Bytes()))
	}
	return nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}
	return s
}

func per100k(cpu time.Duration, n int) float64 { return cpu.Seconds() * 100000 / float64(n) }

// startRaftdrill runs the benchmark probe with producer ("batch" or
// "async"): no warm-up, so that it writes exactly N messages, and the topic
// kept, so that its high watermarks can be read.
func startRaftdrill(o options, dir string, sb *sandboxProc, topic, producer string) (*proc, error) {
	cfgPath := filepath.Join(dir, "raftdrill-"+producer+".yaml")
	var nodes strings.Builder
	for i, a := range sb.brokers {
		fmt.Fprintf(&nodes, "    - {id: %d, address: %q}\n", i+1, a)
	}
	cfg := fmt.Sprintf(`log: {level: error}
cluster:
  kafka_version: %q
  controller: {type: sandbox, sandbox_url: %q}
  nodes:
%sdrills:
  benchmark:
    topic: %s
    messages: %d
    message_size: %d
    partitions: %d
    warmup_messages: 0
    delete_topic: false
    producer: {type: %s}
`, o.version, sb.control, nodes.String(), topic, o.messages, o.size, o.partitions, producer)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	return startProc(exec.Command(o.raftdrill, "run", "benchmark", "--config", cfgPath))
}

// startSaramaPerf runs sarama's own load generator, at its default batching
// or at the probe's (batched).
func startSaramaPerf(o options, sb *sandboxProc, topic string, batched bool) (*proc, error) {
	args := []string{"-brokers", strings.Join(sb.brokers, ","), "-message-load", strconv.Itoa(o.messages),
		"-message-size", strconv.Itoa(o.size), "-required-acks", "-1", "-version", o.version}
	if batched {
		args = append(args, "-flush-bytes", strconv.Itoa(256<<10), "-flush-frequency", "1ms", "-max-open-requests", "5")
	}
	return startProc(exec.Command(o.saramaPerf, append(args, "-topic", topic)...))
}

func startKcat(o options, lines string, sb *sandboxProc, topic string) (*proc, error) {
	f, err := os.Open(lines)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.kcat, "-P", "-b", strings.Join(sb.brokers, ","), "-t", topic, "-X", "acks=all")
	cmd.Stdin = f
	p, err := startProc(cmd)
	f.Close() // the child has its own descriptor
	return p, err
}
