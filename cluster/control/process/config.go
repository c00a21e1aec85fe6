package process

import (
	"fmt"
	"time"

	"github.com/raftdrill/raftdrill/config"
)

// Key is where the process controller's settings live.
const Key = config.ControllerKey + ".process"

// Config runs each node as a local process started from a command template,
// as the original verification suite did.
type Config struct {
	Command      []string          `mapstructure:"command"`
	Dir          string            `mapstructure:"dir"`
	Env          map[string]string `mapstructure:"env"`
	LogFile      string            `mapstructure:"log_file"`
	StartTimeout time.Duration     `mapstructure:"start_timeout"`
}

// Defaults are the settings of a key left unset.
func Defaults() *Config {
	return &Config{LogFile: "node{{.ID}}.log", StartTimeout: 60 * time.Second}
}

// Validate checks the section when the process controller is the one in use.
func (p *Config) Validate(ch *config.Checker, root *config.Config) {
	if root.Cluster.Controller.Type != "process" {
		return
	}
	if len(root.Cluster.Nodes) == 0 {
		ch.AddAbs("cluster.nodes", "required with the process controller")
	}
	if len(p.Command) == 0 {
		ch.Add("command", "required with the process controller")
	}
	for i, arg := range p.Command {
		ch.Template(fmt.Sprintf("command[%d]", i), arg)
	}
	for k, val := range p.Env {
		ch.Template("env."+k, val)
	}
	ch.Template("log_file", p.LogFile)
	ch.Positive("start_timeout", p.StartTimeout)
}
