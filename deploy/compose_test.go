package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/raftdrill/raftdrill/daemon"
	"github.com/raftdrill/raftdrill/internal/testutil"
	"go.yaml.in/yaml/v3"
)

// loadCompose reads compose.yaml as docker compose does, with compose-spec's
// loader: the file is validated against the Compose Specification's schema,
// so an unknown or misspelt key is an error.
func loadCompose(t *testing.T, file string, profiles ...string) *types.Project {
	t.Helper()
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	details, err := loader.LoadConfigFiles(ctx, []string{filepath.Join(dir, filepath.Base(file))}, dir)
	if err != nil {
		t.Fatal(err)
	}
	details.Environment = types.Mapping{}
	p, err := loader.LoadWithContext(ctx, *details, loader.WithProfiles(profiles))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return p
}

func TestComposeFile(t *testing.T) {
	p := loadCompose(t, "compose/compose.yaml", "prometheus")
	if p.Name != "raftdrill" {
		t.Errorf("project %q", p.Name)
	}
	rd, ok := p.Services["raftdrill"]
	if !ok {
		t.Fatal("no service raftdrill")
	}
	if !slices.Equal([]string(rd.Command), []string{"serve", "--config", "/etc/raftdrill/raftdrill.yaml"}) {
		t.Errorf("command %q", rd.Command)
	}
	if rd.User != "65532:65532" || !rd.ReadOnly || !slices.Contains(rd.CapDrop, "ALL") {
		t.Errorf("user %q, read_only %v, cap_drop %v: want 65532, a read-only root and no capabilities", rd.User, rd.ReadOnly, rd.CapDrop)
	}
	if rd.Restart != "unless-stopped" {
		t.Errorf("restart %q", rd.Restart)
	}
	if len(rd.Ports) != 1 || rd.Ports[0].Target != 9479 || rd.Ports[0].Published != "9479" {
		t.Errorf("ports %+v", rd.Ports)
	}
	mounts := map[string]types.ServiceVolumeConfig{}
	for _, v := range rd.Volumes {
		mounts[v.Target] = v
	}
	if m := mounts["/etc/raftdrill/raftdrill.yaml"]; m.Type != types.VolumeTypeBind || !m.ReadOnly || filepath.Base(m.Source) != "raftdrill.yaml" {
		t.Errorf("config mount %+v: want ./raftdrill.yaml read-only", m)
	}
	if m := mounts["/var/lib/raftdrill"]; m.Type != types.VolumeTypeVolume || m.Source != "state" {
		t.Errorf("state mount %+v: want the volume state", m)
	}
	if _, ok := p.Volumes["state"]; !ok {
		t.Error("volume state is not declared")
	}
	secrets := map[string]string{}
	for _, s := range rd.Secrets {
		secrets[s.Source] = s.Target
	}

	// The config the service mounts agrees with it.
	var cfg map[string]any
	b, err := os.ReadFile("compose/raftdrill.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if got := at(t, cfg, "server.listen"); got != "0.0.0.0:9479" {
		t.Errorf("server.listen %v: unreachable through the published port", got)
	}
	if got := at(t, cfg, "server.auth_token_file"); got != secrets["token"] {
		t.Errorf("server.auth_token_file %v, but the secret token is at %q", got, secrets["token"])
	}
	if got := at(t, cfg, "state.dir"); got != "/var/lib/raftdrill" {
		t.Errorf("state.dir %v is not the state volume", got)
	}
	for _, key := range []string{"kill", "restart", "up"} {
		cmd := at(t, cfg, "cluster.controller.exec."+key).(string)
		if !strings.Contains(cmd, "-i "+secrets["ssh-key"]+" ") || !strings.Contains(cmd, "UserKnownHostsFile="+mounts["/etc/raftdrill/known_hosts"].Target) {
			t.Errorf("exec.%s does not use the mounted ssh key and known_hosts: %s", key, cmd)
		}
	}

	prom, ok := p.Services["prometheus"]
	if !ok || !slices.Equal(prom.Profiles, []string{"prometheus"}) {
		t.Fatalf("prometheus service %+v: want it under the profile prometheus", prom.Profiles)
	}
	var rules bool
	for _, v := range prom.Volumes {
		if v.Target == "/etc/prometheus/rules/raftdrill.yml" && strings.HasSuffix(v.Source, "/alerts/prometheus-rules.yml") {
			rules = true
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("rules mount: %v", err)
			}
		}
	}
	if !rules {
		t.Error("Prometheus does not mount alerts/prometheus-rules.yml under rules/")
	}
	// Without the profile, raftdrill runs alone.
	if _, ok := loadCompose(t, "compose/compose.yaml").Services["prometheus"]; ok {
		t.Error("prometheus runs without --profile prometheus")
	}
}

// The loader catches a misspelt key, so TestComposeFile proves the file.
func TestComposeLoaderIsStrict(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte("services:\n  raftdrill:\n    image: x\n    read_onyl: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	details, err := loader.LoadConfigFiles(ctx, []string{file}, dir)
	if err != nil {
		t.Fatal(err)
	}
	details.Environment = types.Mapping{}
	_, err = loader.LoadWithContext(ctx, *details, func(o *loader.Options) { o.SetProjectName("x", true) })
	if err == nil || !strings.Contains(err.Error(), "read_onyl") {
		t.Errorf("got %v, want an error naming read_onyl", err)
	}
}

// compose/raftdrill.yaml loads with raftdrill's config, and Prometheus
// accepts compose/prometheus.yml.
func TestComposeConfigs(t *testing.T) {
	b, err := os.ReadFile("compose/raftdrill.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	b, err = yaml.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	// The token file is mounted where the config is deployed; a stand-in
	// here, through the key's environment override.
	standIn(t, "RAFTDRILL_SERVER_AUTH_TOKEN_FILE")
	file := filepath.Join(t.TempDir(), "raftdrill.yaml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.LoadConfig(file); err != nil {
		t.Errorf("compose/raftdrill.yaml: %v", err)
	}

	promtool := testutil.RequireTool(t, "promtool")
	out, err := exec.Command(promtool, "check", "config", "--syntax-only", "compose/prometheus.yml").CombinedOutput()
	if err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}

// standIn points the environment override env at a stand-in file for the
// rest of the test.
func standIn(t *testing.T, env string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "stand-in")
	if err := os.WriteFile(file, []byte("stand-in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(env, file)
}
