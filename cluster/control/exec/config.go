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
}
