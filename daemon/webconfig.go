package daemon

import (
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/daemon/web"
)

// checkWebConfig reads server.web_config_file as serve will (its
// certificates and password hashes included), so that `config check`, a
// start and a reload name a broken one by its key before anything is
// served. The problem is one line that names the file.
func checkWebConfig(ch *config.Checker, root *config.Config) {
	if err := web.Validate(root.Server.WebConfigFile); err != nil {
		ch.AddAbs("server.web_config_file", "%v", err)
	}
}
