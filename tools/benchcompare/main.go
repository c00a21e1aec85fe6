// Command benchcompare answers one question: is raftdrill's benchmark probe
// the bottleneck of its own measurement? It produces the same workload
// (N messages of S bytes, acks=all) to a `raftdrill sandbox` running as its
// own process with these load generators:
//
//   - raftdrill: `raftdrill run benchmark` (the probe as users run it, with
//     its default batch producer),
//   - raftdrill-async: the same with drills.benchmark.producer.type: async
//     (sarama's AsyncProducer: shown, not part of the ratio),
//   - sarama: sarama's own tools/kafka-producer-performance, built from the
//     module cache (the same client library, its authors' load generator),
//   - kcat: Debian's kcat -P (librdkafka, the C client),
//
// each on a fresh sandbox, over several rounds in rotating order, and prints
// each one's median throughput, its CPU time per 100,000 messages, and the
// ratio of raftdrill's throughput to the best of the others. `make
// bench-compare` runs it; docs/benchmark.md explains the figures.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"
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

// result is one tool's run.
type result struct {
	mps       float64 // produce throughput, messages per second
	cpuPer100 float64 // the tool's CPU seconds per 100,000 messages
	// sandboxCPU is the sandbox's CPU seconds per 100,000 messages: the
	// load a tool's requests put on the server side (bigger batches, less).
	sandboxCPU float64
	note       string
}

// tool is one load generator.
type tool struct {
	name   string
	method string // how its throughput is measured
	cpu    string // whose CPU time is counted
	// probe: one of raftdrill's own producers, not one of the others it is
	// compared with.
	probe bool
	run   func(sb *sandboxProc) (result, error)
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
		{"raftdrill", "its own figure: first send to last ack", "produce phase, probe process (getrusage)", true,
			func(sb *sandboxProc) (result, error) { return runRaftdrill(o, dir, sb, "batch") }},
		{"raftdrill-async", "its own figure: first send to last ack", "produce phase, probe process (getrusage)", true,
			func(sb *sandboxProc) (result, error) { return runRaftdrill(o, dir, sb, "async") }},
		{"sarama", "its own figure: record-send-rate meter", "whole process", false,
			func(sb *sandboxProc) (result, error) { return runSaramaPerf(o, sb) }},
		{"kcat", "wall time minus a 1-message run's", "whole process", false,
			func(sb *sandboxProc) (result, error) { return runKcat(o, lines, sb) }},
	}
	fmt.Printf("workload: %d messages of %d B, acks=all, topic of %d partitions with replication factor 3,\n", o.messages, o.size, o.partitions)
	fmt.Printf("each run on a fresh `raftdrill sandbox --nodes 3` process; %d rounds, order rotating\n\n", o.rounds)
	all := map[string][]result{}
	for r := 0; r < o.rounds; r++ {
		for i := range tools {
			t := tools[(i+r)%len(tools)]
			res, err := runOnFreshSandbox(o, t)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, t.name, err)
			}
			fmt.Printf("round %d  %-15s  %7.0f msg/s  CPU s/100k: %.3f tool, %.3f sandbox  %s\n", r+1, t.name, res.mps, res.cpuPer100, res.sandboxCPU, res.note)
			all[t.name] = append(all[t.name], res)
		}
	}
	return summarise(o, tools, all)
}

func summarise(o options, tools []tool, all map[string][]result) error {
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "tool\tmedian msg/s\tMiB/s\tCPU s/100k msgs\tsandbox CPU s/100k\tthroughput measured as\ttool CPU counted")
	med := map[string]float64{}
	for _, t := range tools {
		rs := all[t.name]
		med[t.name] = median(rs, func(r result) float64 { return r.mps })
		cpu := median(rs, func(r result) float64 { return r.cpuPer100 })
		sbCPU := median(rs, func(r result) float64 { return r.sandboxCPU })
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.3f\t%.3f\t%s\t%s\n", t.name, med[t.name], med[t.name]*float64(o.size)/(1<<20), cpu, sbCPU, t.method, t.cpu)
	}
	tw.Flush()
	best, bestName := 0.0, ""
	for _, t := range tools {
		if !t.probe && med[t.name] > best {
			best, bestName = med[t.name], t.name
		}
	}
	fmt.Println()
	for _, t := range tools {
		if !t.probe {
			fmt.Printf("ratio raftdrill / %s: %.2f\n", t.name, med["raftdrill"]/med[t.name])
		}
	}
	fmt.Printf("ratio raftdrill-async / best other (%s): %.2f  (sarama's AsyncProducer, for comparison)\n", bestName, med["raftdrill-async"]/best)
	ratio := med["raftdrill"] / best
	fmt.Printf("ratio raftdrill / best other (%s): %.2f  (goal >= 1.00: %s)\n", bestName, ratio, verdict(ratio >= 1))
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

func runOnFreshSandbox(o options, t tool) (result, error) {
	sb, err := startSandbox(o)
	if err != nil {
		return result{}, err
	}
	defer sb.stop()
	before, err := procCPU(sb.cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	res, err := t.run(sb)
	if err != nil {
		return res, err
	}
	after, err := procCPU(sb.cmd.Process.Pid)
	if err != nil {
		return res, err
	}
	res.sandboxCPU = per100k(after-before, o.messages)
	return res, nil
}

// procCPU is a process's user and system CPU time from /proc/PID/stat
// (fields 14 and 15, in USER_HZ = 100 ticks per second).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime or stime", pid)
	}
	return time.Duration(u+s) * 10 * time.Millisecond, nil
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

// topicMessages is the sum of the topic's high watermarks: every tool's
// claim to have written N messages is checked against the sandbox.
func topicMessages(o options, sb *sandboxProc, topic string) (int64, error) {
	conf, err := saramaConfig(o)
	if err != nil {
		return 0, err
	}
	c, err := sarama.NewClient(sb.brokers, conf)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var total int64
	for p := int32(0); p < int32(o.partitions); p++ {
		off, err := c.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, fmt.Errorf("high watermark of %s/%d: %w", topic, p, err)
		}
		total += off
	}
	return total, nil
}

// child is a finished child process: its output, wall time and CPU time.
type child struct {
	stdout, stderr []byte
	wall           time.Duration
	cpu            time.Duration
}

func runChild(cmd *exec.Cmd) (child, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	c := child{stdout: out.Bytes(), stderr: errb.Bytes(), wall: time.Since(start)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			c.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if err != nil {
		return c, fmt.Errorf("%s: %w: %s", cmd.Args[0], err, tail(c.stderr))
	}
	return c, nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}
	return s
}

func per100k(cpu time.Duration, n int) float64 { return cpu.Seconds() * 100000 / float64(n) }

// runRaftdrill runs the benchmark probe with producer ("batch" or "async").
func runRaftdrill(o options, dir string, sb *sandboxProc, producer string) (result, error) {
	cfgPath := filepath.Join(dir, "raftdrill.yaml")
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
    messages: %d
    message_size: %d
    partitions: %d
    producer: {type: %s}
`, o.version, sb.control, nodes.String(), o.messages, o.size, o.partitions, producer)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return result{}, err
	}
	c, err := runChild(exec.Command(o.raftdrill, "run", "benchmark", "--json", "--config", cfgPath))
	if err != nil {
		return result{}, err
	}
	var run struct {
		Status   string             `json:"status"`
		Measures map[string]float64 `json:"measurements"`
	}
	if err := json.Unmarshal(c.stdout, &run); err != nil {
		return result{}, fmt.Errorf("raftdrill --json output: %w", err)
	}
	m := run.Measures
	if run.Status != "passed" || m["messages_acked"] != float64(o.messages) || m["messages_consumed"] != float64(o.messages) {
		return result{}, fmt.Errorf("raftdrill run %s: %v of %d acked, %v read back", run.Status, m["messages_acked"], o.messages, m["messages_consumed"])
	}
	return result{
		mps:       m["produce_throughput_mps"],
		cpuPer100: m["client_cpu_seconds_per_100k_messages"],
		note:      fmt.Sprintf("(whole run %.1fs wall, %.2f CPU s, with read-back of every message)", c.wall.Seconds(), c.cpu.Seconds()),
	}, nil
}

var saramaRate = regexp.MustCompile(`(\d+) records sent, ([0-9.]+) records/sec`)

func runSaramaPerf(o options, sb *sandboxProc) (result, error) {
	const topic = "sarama-perf"
	if err := createTopic(o, sb, topic); err != nil {
		return result{}, err
	}
	c, err := runChild(exec.Command(o.saramaPerf,
		"-brokers", strings.Join(sb.brokers, ","), "-topic", topic,
		"-message-load", strconv.Itoa(o.messages), "-message-size", strconv.Itoa(o.size),
		"-required-acks", "-1", "-version", o.version))
	if err != nil {
		return result{}, err
	}
	ms := saramaRate.FindAllSubmatch(c.stdout, -1)
	if len(ms) == 0 {
		return result{}, fmt.Errorf("no throughput in its output: %s", tail(c.stdout))
	}
	last := ms[len(ms)-1]
	rate, _ := strconv.ParseFloat(string(last[2]), 64)
	if err := checkWritten(o, sb, topic); err != nil {
		return result{}, err
	}
	return result{mps: rate, cpuPer100: per100k(c.cpu, o.messages),
		note: fmt.Sprintf("(process %.2fs wall, %.2f CPU s)", c.wall.Seconds(), c.cpu.Seconds())}, nil
}

func checkWritten(o options, sb *sandboxProc, topic string) error {
	n, err := topicMessages(o, sb, topic)
	if err != nil {
		return err
	}
	if n < int64(o.messages) {
		return fmt.Errorf("only %d of %d messages are in the topic", n, o.messages)
	}
	return nil
}

func runKcat(o options, lines string, sb *sandboxProc) (result, error) {
	const topic = "kcat"
	if err := createTopic(o, sb, topic); err != nil {
		return result{}, err
	}
	kcat := func(input io.Reader) (child, error) {
		cmd := exec.Command(o.kcat, "-P", "-b", strings.Join(sb.brokers, ","), "-t", topic, "-X", "acks=all")
		cmd.Stdin = input
		return runChild(cmd)
	}
	// kcat reports no throughput of its own: its wall time counts start-up,
	// metadata and connections too, so the wall time of a one-message run
	// is taken off.
	one, err := kcat(strings.NewReader(strings.Repeat("x", o.size) + "\n"))
	if err != nil {
		return result{}, err
	}
	f, err := os.Open(lines)
	if err != nil {
		return result{}, err
	}
	defer f.Close()
	c, err := kcat(f)
	if err != nil {
		return result{}, err
	}
	if bytes.Contains(c.stderr, []byte("Delivery failed")) {
		return result{}, errors.New("kcat: " + tail(c.stderr))
	}
	if err := checkWritten(o, sb, topic); err != nil {
		return result{}, err
	}
	prod := c.wall - one.wall
	return result{mps: float64(o.messages) / prod.Seconds(), cpuPer100: per100k(c.cpu, o.messages),
		note: fmt.Sprintf("(process %.2fs wall, of which %.2fs start-up; %.2f CPU s)", c.wall.Seconds(), one.wall.Seconds(), c.cpu.Seconds())}, nil
}
