package settings

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/raftdrill/raftdrill/config"
)

// Key is where this section lives in raftdrill's configuration. Messages
// that name a key outside Validate use it.
const Key = "cluster.controller.kubernetes"

// Config is the section cluster.controller.kubernetes.
type Config struct {
	// Namespace holds the cluster's pods. Empty: raftdrill's own namespace
	// (the service account's namespace file), so raftdrill must then run in
	// a pod.
	Namespace string `mapstructure:"namespace"`
	// Pod names node N's pod. A Go template with .ID, .Address, .Host and
	// .Port of the node and the functions add and sub ("kafka-{{.ID}}",
	// "chronik-{{sub .ID 1}}" for 1-based node ids), or the name of a
	// StatefulSet alone ("kafka"), which means "kafka-{{.ID}}".
	Pod string `mapstructure:"pod"`
	// Kubeconfig is a kubeconfig file; empty: in a pod, its service
	// account; elsewhere $KUBECONFIG or ~/.kube/config, as kubectl does.
	Kubeconfig string `mapstructure:"kubeconfig"`
	// Context of the kubeconfig; empty: its current context.
	Context string `mapstructure:"context"`
	// RestartTimeout bounds a restart: the wait for the StatefulSet to
	// recreate the pod and for it to become Ready.
	RestartTimeout time.Duration `mapstructure:"restart_timeout"`
	// RequestTimeout bounds each call to the Kubernetes API.
	RequestTimeout time.Duration `mapstructure:"request_timeout"`
}

// Default returns the section's defaults.
func Default() Config {
	return Config{
		RestartTimeout: 5 * time.Minute,
		RequestTimeout: 10 * time.Second,
	}
}

// Validate reports every problem with the section, each keyed by its full
// path under prefix (cluster.controller.kubernetes).
func (c Config) Validate(prefix string) config.Problems {
	var ps config.Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, config.Problem{Key: prefix + "." + key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Namespace != "" && !IsDNSLabel(c.Namespace) {
		add("namespace", "%q is not a namespace name (lower-case letters, digits and '-', at most 63)", c.Namespace)
	}
	if c.Pod == "" {
		add("pod", `required: the pod of node N, e.g. "kafka-{{.ID}}", or the StatefulSet's name`)
	} else if _, err := c.PodTemplate(); err != nil {
		add("pod", "%v", err)
	}
	if c.RestartTimeout <= 0 {
		add("restart_timeout", "must be > 0")
	}
	if c.RequestTimeout <= 0 {
		add("request_timeout", "must be > 0")
	}
	return ps
}

// PodData is what the pod template sees for one node.
type PodData struct {
	ID      int
	Address string
	Host    string
	Port    string
}

// PodTemplate parses Pod. A name with no template action is a StatefulSet's
// name: its pods are NAME-ORDINAL, the ordinal being the node id.
func (c Config) PodTemplate() (*template.Template, error) {
	text := c.Pod
	if !strings.Contains(text, "{{") {
		if !IsDNSLabel(text) {
			return nil, fmt.Errorf("%q is neither a StatefulSet name nor a template such as \"kafka-{{.ID}}\"", text)
		}
		text += "-{{.ID}}"
	}
	t, err := template.New("pod").Option("missingkey=error").Funcs(template.FuncMap{
		"add": func(a, b int) int { return a + b },
		"sub": func(a, b int) int { return a - b },
	}).Parse(text)
	if err != nil {
		return nil, err
	}
	// A template that names a field PodData lacks fails only when run, so
	// run it once here for a typical node.
	if _, err := render(t, PodData{ID: 1, Address: "kafka-1:9092", Host: "kafka-1", Port: "9092"}); err != nil {
		return nil, err
	}
	return t, nil
}

// PodNames renders the pod name of every node, and fails, keyed by Key.pod,
// on a name that is not a valid pod name or that two nodes share.
func (c Config) PodNames(nodes []config.Node) (map[int32]string, error) {
	t, err := c.PodTemplate()
	if err != nil {
		return nil, fmt.Errorf("%s.pod: %w", Key, err)
	}
	names := make(map[int32]string, len(nodes))
	owner := make(map[string]int32, len(nodes))
	for _, n := range nodes {
		d := PodData{ID: int(n.ID), Address: n.Address}
		if host, port, err := net.SplitHostPort(n.Address); err == nil {
			d.Host, d.Port = host, port
		}
		name, err := render(t, d)
		if err != nil {
			return nil, fmt.Errorf("%s.pod: node %d: %w", Key, n.ID, err)
		}
		if negativeOrdinal.MatchString(name) {
			return nil, fmt.Errorf("%s.pod: node %d: %q ends in a negative ordinal: are the node ids 0-based, like the StatefulSet's ordinals? Then use {{.ID}}", Key, n.ID, name)
		}
		if !IsDNSSubdomain(name) {
			return nil, fmt.Errorf("%s.pod: node %d: %q is not a valid pod name (lower-case letters, digits, '-' and '.')", Key, n.ID, name)
		}
		if other, ok := owner[name]; ok {
			return nil, fmt.Errorf("%s.pod: nodes %d and %d are both pod %q: the template must use {{.ID}}", Key, other, n.ID, name)
		}
		owner[name] = n.ID
		names[n.ID] = name
	}
	return names, nil
}

func render(t *template.Template, d PodData) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

var (
	negativeOrdinal = regexp.MustCompile(`--[0-9]+$`)
	dnsLabel        = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// IsDNSLabel reports whether s is an RFC 1123 label, as namespace names are.
func IsDNSLabel(s string) bool { return len(s) <= 63 && dnsLabel.MatchString(s) }

// IsDNSSubdomain reports whether s is an RFC 1123 subdomain, as pod names are.
func IsDNSSubdomain(s string) bool { return len(s) <= 253 && dnsSubdomain.MatchString(s) }
