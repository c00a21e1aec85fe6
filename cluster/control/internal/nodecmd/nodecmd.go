// Package nodecmd holds what the command-running node controllers (process,
// exec) share: command templates rendered per node, and the tail of a log
// or stderr quoted in an error.
package nodecmd

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"text/template"

	"github.com/raftdrill/raftdrill/config"
)

// TailBytes bounds the log or stderr quoted in an error: enough for the
// last few lines, short enough for a Slack message.
const TailBytes = 500

// Data is what a node's command templates see.
type Data struct {
	ID      int32
	Address string
	Host    string
	Port    string
}

// PeerData is what the commands that cut a node off from its peers see:
// the node's own fields and its peers'.
type PeerData struct {
	Data
	// Peers are the nodes to cut off: {{.Peers}} prints their addresses
	// separated by spaces; {{range .Peers}} reaches each one's fields.
	Peers Peers
	// PeerHosts are the peers' distinct hosts separated by commas, as
	// iptables -s and nft's anonymous sets take them.
	PeerHosts string
}

// Peers are nodes, printed as their addresses.
type Peers []Data

func (ps Peers) String() string {
	addrs := make([]string, len(ps))
	for i, p := range ps {
		addrs[i] = p.Address
	}
	return strings.Join(addrs, " ")
}

// WithPeers is d with peers.
func WithPeers(d Data, peers []Data) PeerData {
	var hosts []string
	for _, p := range peers {
		if !slices.Contains(hosts, p.Host) {
			hosts = append(hosts, p.Host)
		}
	}
	return PeerData{Data: d, Peers: peers, PeerHosts: strings.Join(hosts, ",")}
}

// Template is one templated config value and the key that holds it.
type Template struct {
	key string
	t   *template.Template
}

// Key is the config key the template came from.
func (nt Template) Key() string { return nt.key }

// Parse parses the value at key. The template is named after the key's last
// part only: the error already starts with the whole key.
func Parse(key, text string) (Template, error) {
	name := key[strings.LastIndexByte(key, '.')+1:]
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return Template{}, fmt.Errorf("%s: %w", key, err)
	}
	return Template{key, t}, nil
}

// Render renders the template for one node.
func (nt Template) Render(d Data) (string, error) {
	var b strings.Builder
	if err := nt.t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("%s: node %d: %w", nt.key, d.ID, err)
	}
	return b.String(), nil
}

// RenderPeers renders the template for a node and the peers it is cut
// off from.
func (nt Template) RenderPeers(d PeerData) (string, error) {
	var b strings.Builder
	if err := nt.t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("%s: node %d: %w", nt.key, d.ID, err)
	}
	return b.String(), nil
}

// Datas returns each node's template data, in config order.
func Datas(nodes []config.Node, controller string) ([]Data, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("cluster.nodes: required with the %s controller", controller)
	}
	var errs []error
	seen := map[int32]bool{}
	datas := make([]Data, len(nodes))
	for i, n := range nodes {
		if seen[n.ID] {
			errs = append(errs, fmt.Errorf("cluster.nodes[%d].id: duplicate node id %d", i, n.ID))
		}
		seen[n.ID] = true
		host, port, err := net.SplitHostPort(n.Address)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster.nodes[%d].address: %w", i, err))
		}
		datas[i] = Data{ID: n.ID, Address: n.Address, Host: host, Port: port}
	}
	return datas, errors.Join(errs...)
}

// LogFileTail returns the last TailBytes of the file at path, trimmed, or
// "" when it cannot be read.
func LogFileTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return Tail(f)
}

// Tail returns the last TailBytes of an open file, trimmed.
func Tail(f *os.File) string {
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-TailBytes, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), ""))
	if off > 0 && s != "" {
		s = "…" + s
	}
	return s
}

// Logger tags a logger with the controller kind.
func Logger(logger *slog.Logger, kind string) *slog.Logger {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return logger.With("controller", kind)
}
