package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	kubecontrol "github.com/raftdrill/raftdrill/cluster/control/kubernetes"
	kubesettings "github.com/raftdrill/raftdrill/cluster/control/kubernetes/settings"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/daemon"
	"github.com/raftdrill/raftdrill/daemon/ha"
	hasettings "github.com/raftdrill/raftdrill/daemon/ha/settings"
	"github.com/raftdrill/raftdrill/internal/testutil"
)

// exampleConfig is raftdrill.yaml of the ConfigMap, as a generic tree.
func exampleConfig(t *testing.T) (string, map[string]any) {
	t.Helper()
	cm := find[*corev1.ConfigMap](t, decodeFile(t, "kubernetes/common/configmap.yaml"), 1)[0]
	text, ok := cm.Data["raftdrill.yaml"]
	if !ok {
		t.Fatal("the ConfigMap has no raftdrill.yaml")
	}
	var tree map[string]any
	if err := yaml.Unmarshal([]byte(text), &tree); err != nil {
		t.Fatal(err)
	}
	return text, tree
}

// at walks a config tree by key path.
func at(t *testing.T, tree map[string]any, keyPath string) any {
	t.Helper()
	var v any = tree
	for _, k := range strings.Split(keyPath, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %s is not a section", keyPath, k)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("the example config has no %s", keyPath)
		}
	}
	return v
}

// section decodes one section the way raftdrill's loader does: over its
// defaults, unknown keys are errors, durations need units.
func section[T any](t *testing.T, tree map[string]any, keyPath string, defaults T) T {
	t.Helper()
	out, err := testutil.DecodeSection(at(t, tree, keyPath), defaults)
	if err != nil {
		t.Fatalf("%s: %v", keyPath, err)
	}
	return out
}

func TestExampleConfig(t *testing.T) {
	_, tree := exampleConfig(t)
	for key, want := range map[string]any{
		"server.listen":                           "0.0.0.0:9479",
		"server.auth_token_file":                  "/etc/raftdrill/token",
		"cluster.controller.type":                 "kubernetes",
		"state.dir":                               "/var/lib/raftdrill",
		"ha.kubernetes.lease_name":                "raftdrill",
		"cluster.controller.kubernetes.namespace": "kafka",
		"cluster.controller.kubernetes.pod":       "kafka-{{.ID}}",
	} {
		if got := at(t, tree, key); got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}

	var nodes []config.Node
	for i, n := range at(t, tree, "cluster.nodes").([]any) {
		m := n.(map[string]any)
		if len(m) != 2 {
			t.Errorf("cluster.nodes[%d] has keys other than id and address: %v", i, m)
		}
		nodes = append(nodes, config.Node{ID: int32(m["id"].(int)), Address: m["address"].(string)})
	}
	if len(nodes) != 3 {
		t.Fatalf("%d nodes, want 3", len(nodes))
	}

	ctl := section(t, tree, kubesettings.Key, kubesettings.Default())
	if ps := ctl.Validate(kubesettings.Key); len(ps) > 0 {
		t.Errorf("invalid: %v", ps)
	}
	names, err := ctl.PodNames(nodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if want := fmt.Sprintf("kafka-%d", n.ID); names[n.ID] != want {
			t.Errorf("node %d is pod %q, want %q", n.ID, names[n.ID], want)
		}
		if !strings.HasPrefix(n.Address, names[n.ID]+".kafka.kafka.svc:") {
			t.Errorf("node %d: address %s is not its pod's (%s) in the headless Service kafka", n.ID, n.Address, names[n.ID])
		}
	}
	lease := section(t, tree, hasettings.Key, hasettings.Default())
	if ps := lease.Validate(hasettings.Key); len(ps) > 0 {
		t.Errorf("invalid: %v", ps)
	}
}

// The example config loads strictly, as raftdrill loads it.
func TestExampleConfigLoads(t *testing.T) {
	_, tree := exampleConfig(t)
	b, err := yaml.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	// The token file is mounted where the config is deployed; a stand-in
	// here, through the key's environment override.
	standIn(t, "RAFTDRILL_SERVER_AUTH_TOKEN_FILE")
	file := path.Join(t.TempDir(), "raftdrill.yaml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.LoadConfig(file); err != nil {
		t.Fatal(err)
	}
}

// ruleSet flattens RBAC rules to one "group resource name verb" per grant,
// so rule sets can be compared however they are grouped.
func ruleSet(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{"*"}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, n := range names {
					for _, v := range r.Verbs {
						out = append(out, fmt.Sprintf("%q %s %s %s", g, res, n, v))
					}
				}
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func TestRoleIsExactlyWhatTheCodeNeeds(t *testing.T) {
	_, tree := exampleConfig(t)
	leaseName := at(t, tree, "ha.kubernetes.lease_name").(string)
	role := find[*rbacv1.Role](t, decodeFile(t, "kubernetes/common/role.yaml"), 1)[0]
	want := ruleSet(append(slices.Clone(kubecontrol.RequiredRules), ha.RequiredRules(leaseName)...))
	if got := ruleSet(role.Rules); !slices.Equal(got, want) {
		t.Errorf("Role grants\n  %s\nthe code needs\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	binding := find[*rbacv1.RoleBinding](t, decodeFile(t, "kubernetes/common/rolebinding.yaml"), 1)[0]
	sa := find[*corev1.ServiceAccount](t, decodeFile(t, "kubernetes/common/serviceaccount.yaml"), 1)[0]
	if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Name {
		t.Errorf("RoleBinding refers to %s %s, want Role %s", binding.RoleRef.Kind, binding.RoleRef.Name, role.Name)
	}
	if len(binding.Subjects) != 1 || binding.Subjects[0].Kind != "ServiceAccount" || binding.Subjects[0].Name != sa.Name {
		t.Errorf("RoleBinding subjects %+v, want the ServiceAccount %s", binding.Subjects, sa.Name)
	}
	d := find[*appsv1.Deployment](t, decodeFile(t, "kubernetes/deployment.yaml"), 1)[0]
	if d.Spec.Template.Spec.ServiceAccountName != sa.Name {
		t.Errorf("the Deployment runs as %q, want %q", d.Spec.Template.Spec.ServiceAccountName, sa.Name)
	}
}

// container checks what the raftdrill container needs wherever it runs and
// returns the mount path of each volume.
func checkContainer(t *testing.T, c corev1.Container, port string, tree map[string]any) map[string]string {
	t.Helper()
	if c.Image != "ghcr.io/raftdrill/raftdrill:latest" {
		t.Errorf("image %s", c.Image)
	}
	if !slices.Equal(c.Args, []string{"serve", "--config", "/etc/raftdrill/raftdrill.yaml"}) {
		t.Errorf("args %q", c.Args)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != port || c.Ports[0].ContainerPort != 9479 {
		t.Errorf("ports %+v, want 9479 named %s", c.Ports, port)
	}
	if listen := at(t, tree, "server.listen").(string); !strings.HasSuffix(listen, ":9479") {
		t.Errorf("server.listen %s does not match the container port", listen)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != port {
		t.Errorf("liveness probe %+v, want GET /healthz on %s", p, port)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["POD_NAME"] != "metadata.name" || env["POD_NAMESPACE"] != "metadata.namespace" {
		t.Errorf("downward API env %v, want POD_NAME and POD_NAMESPACE", env)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v: want a read-only root, no privilege escalation, all capabilities dropped", sc)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	return mounts
}

// checkVolumes: the config volume holds raftdrill.yaml and the token where
// the config says, and the state dir is writable.
func checkVolumes(t *testing.T, spec corev1.PodSpec, mounts map[string]string, configVolume, stateVolume string, tree map[string]any) {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	if mounts[configVolume] != "/etc/raftdrill" {
		t.Errorf("config mounted at %q, want /etc/raftdrill", mounts[configVolume])
	}
	cfg := volumes[configVolume].Projected
	if cfg == nil || len(cfg.Sources) != 2 || cfg.Sources[0].ConfigMap == nil || cfg.Sources[0].ConfigMap.Name != "raftdrill-config" ||
		cfg.Sources[1].Secret == nil || cfg.Sources[1].Secret.Name != "raftdrill-auth" ||
		len(cfg.Sources[1].Secret.Items) != 1 || cfg.Sources[1].Secret.Items[0].Key != "token" {
		t.Fatalf("config volume %+v: want the ConfigMap raftdrill-config and the token of the Secret raftdrill-auth", volumes[configVolume])
	}
	if tokenFile := at(t, tree, "server.auth_token_file"); tokenFile != path.Join(mounts[configVolume], cfg.Sources[1].Secret.Items[0].Path) {
		t.Errorf("server.auth_token_file %s is not where the Secret's token is mounted", tokenFile)
	}
	if dir := at(t, tree, "state.dir"); mounts[stateVolume] != dir || volumes[stateVolume].EmptyDir == nil {
		t.Errorf("state.dir %s: the volume %s is %+v at %q", dir, stateVolume, volumes[stateVolume], mounts[stateVolume])
	}
}

func TestDeployment(t *testing.T) {
	_, tree := exampleConfig(t)
	d := find[*appsv1.Deployment](t, decodeFile(t, "kubernetes/deployment.yaml"), 1)[0]
	spec := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2 (one driller, one standby)", d.Spec.Replicas)
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod securityContext %+v, want runAsNonRoot with uid 65532", psc)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	mounts := checkContainer(t, c, "http", tree)
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "http" {
		t.Errorf("readiness probe %+v, want GET /readyz on http", p)
	}
	checkVolumes(t, spec, mounts, "config", "state", tree)
	if mounts["tmp"] != "/tmp" {
		t.Error("no writable /tmp under a read-only root")
	}

	svc := find[*corev1.Service](t, decodeFile(t, "kubernetes/service.yaml"), 1)[0]
	if svc.Name != "raftdrill" {
		t.Errorf("Service %s: the alert rules expect job=\"raftdrill\", which the ServiceMonitor takes from the Service's name", svc.Name)
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pods lack", k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports %+v", svc.Spec.Ports)
	}
	sm := find[*monitoringv1.ServiceMonitor](t, decodeFile(t, "kubernetes/servicemonitor.yaml"), 1)[0]
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, which the Service lacks", k, v)
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
	}
}

func TestMonitoring(t *testing.T) {
	rule := find[*monitoringv1.PrometheusRule](t, decodeFile(t, "kubernetes/monitoring/prometheusrule.yaml"), 1)[0]
	var src struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	b, err := os.ReadFile("../alerts/prometheus-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &src); err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, g := range src.Groups {
		for _, r := range g.Rules {
			want = append(want, r.Alert)
		}
	}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			got = append(got, r.Alert)
		}
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("PrometheusRule alerts %v, alerts/prometheus-rules.yml has %v", got, want)
	}

	cms := find[*corev1.ConfigMap](t, decodeFile(t, "kubernetes/monitoring/grafana-dashboards.yaml"), 3)
	for _, cm := range cms {
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("%s lacks the label grafana_dashboard: \"1\"", cm.Name)
		}
		if len(cm.Data) != 1 {
			t.Fatalf("%s: %d files", cm.Name, len(cm.Data))
		}
		for file, content := range cm.Data {
			src, err := os.ReadFile("../dashboards/grafana/" + file)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if json.Unmarshal([]byte(content), &a) != nil || json.Unmarshal(src, &b) != nil {
				t.Fatalf("%s: not JSON", file)
			}
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("%s: %s differs from dashboards/grafana/%s", cm.Name, file, file)
			}
		}
	}
}
