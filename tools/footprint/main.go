// Command footprint measures what `raftdrill serve` costs when it sits idle
// beside a cluster: its resident memory, with an external cluster (a
// `raftdrill sandbox` process) and with the embedded sandbox, and how long
// a Prometheus scrape of /metrics takes. Each round starts the daemon
// afresh, waits until it is ready and has settled, samples VmRSS from
// /proc (and its anonymous and file-backed parts), then scrapes /metrics
// sequentially over one kept-alive connection, as Prometheus does. It
// prints every round and the medians. `make bench-footprint` runs it;
// docs/benchmark.md records the figures.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

type options struct {
	raftdrill string
	rounds    int
	settle    time.Duration
	samples   int
	scrapes   int
}

func main() {
	var o options
	flag.StringVar(&o.raftdrill, "raftdrill", "bin/raftdrill", "the raftdrill binary")
	flag.IntVar(&o.rounds, "rounds", 3, "daemon starts per setup; medians are reported")
	flag.DurationVar(&o.settle, "settle", 20*time.Second, "idle time after ready before RSS is sampled")
	flag.IntVar(&o.samples, "samples", 10, "RSS samples, one a second, after settling")
	flag.IntVar(&o.scrapes, "scrapes", 2000, "sequential /metrics scrapes per round")
	flag.Parse()
	if abs, err := filepath.Abs(o.raftdrill); err == nil && strings.ContainsRune(o.raftdrill, '/') {
		o.raftdrill = abs // the processes run in a scratch directory
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
}

// figures are one round's measurements.
type figures struct {
	rss, anon, file  float64 // MB, medians of the samples
	p50, p99, maxLat time.Duration
	rssAfter         float64 // MB after the scrapes
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "footprint")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("raftdrill serve, idle: %d rounds per setup, RSS sampled %d times after %s settled, then %d sequential /metrics scrapes\n\n",
		o.rounds, o.samples, o.settle, o.scrapes)
	setups := []struct {
		name  string
		start func(round int) (cfg string, stop func(), err error)
	}{
		{"external cluster", func(round int) (string, func(), error) { return externalConfig(o, dir, round) }},
		{"embedded sandbox", func(round int) (string, func(), error) { return embeddedConfig(dir, round) }},
	}
	all := map[string][]figures{}
	for _, s := range setups {
		for r := 1; r <= o.rounds; r++ {
			cfg, stop, err := s.start(r)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", s.name, r, err)
			}
			f, err := measure(o, cfg)
			stop()
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", s.name, r, err)
			}
			fmt.Printf("%-17s round %d  VmRSS %.1f MB (anon %.1f, file %.1f)  after scrapes %.1f MB  /metrics p50 %s p99 %s max %s\n",
				s.name, r, f.rss, f.anon, f.file, f.rssAfter, ms(f.p50), ms(f.p99), ms(f.maxLat))
			all[s.name] = append(all[s.name], f)
		}
	}
	fmt.Println()
	for _, s := range setups {
		fs := all[s.name]
		fmt.Printf("%-17s median  VmRSS %.1f MB (anon %.1f, file %.1f)  after scrapes %.1f MB  /metrics p50 %s p99 %s\n", s.name,
			median(fs, func(f figures) float64 { return f.rss }),
			median(fs, func(f figures) float64 { return f.anon }),
			median(fs, func(f figures) float64 { return f.file }),
			median(fs, func(f figures) float64 { return f.rssAfter }),
			ms(time.Duration(median(fs, func(f figures) float64 { return float64(f.p50) }))),
			ms(time.Duration(median(fs, func(f figures) float64 { return float64(f.p99) }))))
	}
	return nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the daemon binds it; the daemon then fails to start and
// the round says so.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func writeConfig(dir string, round int, kind, body string) (string, error) {
	listen, err := freePort()
	if err != nil {
		return "", err
	}
	state := filepath.Join(dir, fmt.Sprintf("%s-%d-state", kind, round))
	cfg := fmt.Sprintf("server:\n  listen: %s\nstate:\n  dir: %s\n%s", listen, state, body)
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", kind, round))
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// embeddedConfig is the default setup: no cluster, the embedded sandbox.
func embeddedConfig(dir string, round int) (string, func(), error) {
	path, err := writeConfig(dir, round, "embedded", "")
	return path, func() {}, err
}

// externalConfig starts a `raftdrill sandbox` process and points the
// daemon at it as at any external cluster.
func externalConfig(o options, dir string, round int) (string, func(), error) {
	cmd := exec.Command(o.raftdrill, "sandbox", "--nodes", "3", "--kafka-base-port", "0", "--control-listen", "127.0.0.1:0")
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start sandbox: %w", err)
	}
	stop := func() { stopProcess(cmd) }
	var brokers []string
	var control string
	sc := bufio.NewScanner(out)
	for control == "" && sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && f[0] == "node" && f[2] == "kafka":
			brokers = append(brokers, f[3])
		case len(f) == 2 && f[0] == "control":
			control = f[1]
		}
	}
	go io.Copy(io.Discard, out)
	if control == "" || len(brokers) == 0 {
		stop()
		return "", nil, fmt.Errorf("the sandbox did not print its addresses")
	}
	var b strings.Builder
	b.WriteString("cluster:\n  nodes:\n")
	for i, a := range brokers {
		fmt.Fprintf(&b, "    - {id: %d, address: %q}\n", i+1, a)
	}
	fmt.Fprintf(&b, "  controller: {type: sandbox, sandbox_url: %q}\n", "http://"+control)
	path, err := writeConfig(dir, round, "external", b.String())
	if err != nil {
		stop()
		return "", nil, err
	}
	return path, stop, nil
}

func stopProcess(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// measure starts the daemon on cfg and measures it.
func measure(o options, cfg string) (figures, error) {
	listen, err := listenOf(cfg)
	if err != nil {
		return figures{}, err
	}
	cmd := exec.Command(o.raftdrill, "serve", "--config", cfg)
	logf, err := os.Create(cfg + ".log")
	if err != nil {
		return figures{}, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return figures{}, err
	}
	defer stopProcess(cmd)
	base := "http://" + listen
	hc := &http.Client{Timeout: 5 * time.Second}
	if err := waitReady(hc, base+"/readyz", 60*time.Second); err != nil {
		return figures{}, fmt.Errorf("%w (log: %s)", err, cfg+".log")
	}
	time.Sleep(o.settle)
	proc, err := procfs.NewProc(cmd.Process.Pid)
	if err != nil {
		return figures{}, err
	}
	var f figures
	var rss, anon, file []float64
	for i := 0; i < o.samples; i++ {
		st, err := proc.NewStatus()
		if err != nil {
			return figures{}, err
		}
		rss = append(rss, mb(st.VmRSS))
		anon = append(anon, mb(st.RssAnon))
		file = append(file, mb(st.RssFile))
		if i < o.samples-1 {
			time.Sleep(time.Second)
		}
	}
	f.rss, f.anon, f.file = med(rss), med(anon), med(file)

	lats := make([]time.Duration, 0, o.scrapes)
	for i := 0; i < o.scrapes; i++ {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/metrics", nil)
		// What Prometheus asks for.
		req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
		req.Header.Set("Accept-Encoding", "gzip")
		began := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return figures{}, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return figures{}, fmt.Errorf("scrape: %v %v", resp.Status, err)
		}
		lats = append(lats, time.Since(began))
	}
	slices.Sort(lats)
	f.p50 = lats[len(lats)/2]
	f.p99 = lats[len(lats)*99/100]
	f.maxLat = lats[len(lats)-1]
	if st, err := proc.NewStatus(); err == nil {
		f.rssAfter = mb(st.VmRSS)
	}
	return f, nil
}

func listenOf(cfg string) (string, error) {
	b, err := os.ReadFile(cfg)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "listen: "); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s: no server.listen", cfg)
}

func waitReady(hc *http.Client, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %s", url, timeout)
}

func mb(b uint64) float64 { return float64(b) / 1e6 }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func med(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func median(fs []figures, f func(figures) float64) float64 {
	xs := make([]float64, len(fs))
	for i, x := range fs {
		xs[i] = f(x)
	}
	return med(xs)
}
