package exec

import (
	"time"

	"github.com/raftdrill/raftdrill/config"
)

// Key is where the exec controller's settings live.
const Key = config.ControllerKey + ".exec"

// Config controls nodes through shell commands (systemctl, kubectl, ssh, …),
// each a template of the node ({{.ID}}, {{.Address}}, {{.Host}}, {{.Port}}).
type Config struct {
	Kill    string        `mapstructure:"kill"`
	Restart string        `mapstructure:"restart"`
	Up      string        `mapstructure:"up"`
	Timeout time.Duration `mapstructure:"timeout"`
	// Isolate and Heal cut node {{.ID}}'s replication traffic off from
	// {{.Peers}} and restore it (the split-brain drill's partition mode);
	// Pause and Resume freeze and thaw the node (its pause mode). Each
	// pair is optional; a drill that needs a missing one stops before it
	// touches anything. Heal and Resume must be safe to run twice.
	Isolate string `mapstructure:"isolate"`
	Heal    string `mapstructure:"heal"`
	Pause   string `mapstructure:"pause"`
	Resume  string `mapstructure:"resume"`
}

// Defaults are the settings of a key left unset.
func Defaults() *Config { return &Config{Timeout: 60 * time.Second} }

// Validate checks the section when the exec controller is the one in use.
func (e *Config) Validate(ch *config.Checker, root *config.Config) {
	if root.Cluster.Controller.Type != "exec" {
		return
	}
	if len(root.Cluster.Nodes) == 0 {
		ch.AddAbs("cluster.nodes", "required with the exec controller")
	}
	for _, kv := range [][2]string{{"kill", e.Kill}, {"restart", e.Restart}, {"up", e.Up}} {
		if kv[1] == "" {
			ch.Add(kv[0], "required with the exec controller")
			continue
		}
		ch.Template(kv[0], kv[1])
	}
	ch.Positive("timeout", e.Timeout)
	for _, pair := range [][4]string{{"isolate", e.Isolate, "heal", e.Heal}, {"pause", e.Pause, "resume", e.Resume}} {
		switch {
		case pair[1] != "" && pair[3] == "":
			ch.Add(pair[2], "required with %s.%s: what is done must be undone", Key, pair[0])
		case pair[1] == "" && pair[3] != "":
			ch.Add(pair[0], "required with %s.%s", Key, pair[2])
		}
		for _, kv := range [][2]string{{pair[0], pair[1]}, {pair[2], pair[3]}} {
			if kv[1] != "" {
				ch.Template(kv[0], kv[1])
			}
		}
	}
}
