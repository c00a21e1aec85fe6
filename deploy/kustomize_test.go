package deploy

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/raftdrill/raftdrill/internal/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// build runs kustomize (the library kubectl embeds) on dir, and decodes the
// result strictly.
func build(t *testing.T, dir string) []object {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll("kustomize build "+dir, bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// kinds counts the objects by kind.
func kinds(objs []object) map[string]int {
	n := map[string]int{}
	for _, o := range objs {
		n[o.obj.GetObjectKind().GroupVersionKind().Kind]++
	}
	return n
}

var wantBase = map[string]int{
	"ServiceAccount": 1, "Role": 1, "RoleBinding": 1, "ConfigMap": 4, "Deployment": 1,
	"Service": 1, "ServiceMonitor": 1, "PrometheusRule": 1,
}

func checkBase(t *testing.T, objs []object) {
	t.Helper()
	if got := kinds(objs); !maps.Equal(got, wantBase) {
		t.Errorf("kinds %v, want %v", got, wantBase)
	}
	for _, o := range objs {
		if ns := namespaceOf(o); ns != "kafka" {
			t.Errorf("%s is in namespace %q, want kafka", o.source, ns)
		}
	}
	rb := find[*rbacv1.RoleBinding](t, objs, 1)[0]
	if rb.Subjects[0].Namespace != "kafka" {
		t.Errorf("RoleBinding subject in namespace %q, want kafka", rb.Subjects[0].Namespace)
	}
}

func namespaceOf(o object) string {
	if m, ok := o.obj.(interface{ GetNamespace() string }); ok {
		return m.GetNamespace()
	}
	return ""
}

func TestKustomizeBase(t *testing.T) {
	checkBase(t, build(t, "kubernetes"))
}

// The sidecar Component adds the container, its volumes and its label to
// the labelled workloads of any kind it targets, and to no other.
func TestKustomizeSidecar(t *testing.T) {
	objs := build(t, "kubernetes/examples/sidecar")
	deployments := find[*appsv1.Deployment](t, objs, 1)
	sts := find[*appsv1.StatefulSet](t, objs, 1)[0]
	if n := len(sts.Spec.Template.Spec.Containers); n != 1 {
		t.Errorf("the unlabelled StatefulSet kafka got a sidecar (%d containers)", n)
	}
	checkSidecar(t, deployments[0].Spec.Template, "kafka-ui")
	want := map[string]int{"ServiceAccount": 2, "Role": 1, "RoleBinding": 1, "ConfigMap": 4, "Deployment": 1,
		"StatefulSet": 1, "PodMonitor": 1, "PrometheusRule": 1}
	if got := kinds(objs); !maps.Equal(got, want) {
		t.Errorf("kinds %v, want %v", got, want)
	}
	if rb := find[*rbacv1.RoleBinding](t, objs, 1)[0]; rb.Subjects[0].Name != "kafka-ui" {
		t.Errorf("the example binds the Role to %s, want kafka-ui's ServiceAccount", rb.Subjects[0].Name)
	}

	// A labelled StatefulSet gets it too.
	dir := t.TempDir()
	sidecar, err := filepath.Abs("kubernetes/sidecar")
	if err != nil {
		t.Fatal(err)
	}
	// kustomize takes components relative to the kustomization only.
	rel, err := filepath.Rel(dir, sidecar)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("kustomization.yaml", "resources: [sts.yaml]\ncomponents: ["+strconv.Quote(rel)+"]\n")
	write("sts.yaml", `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: tools
  labels: {raftdrill.io/sidecar: "true"}
spec:
  serviceName: tools
  selector: {matchLabels: {app: tools}}
  template:
    metadata: {labels: {app: tools}}
    spec:
      containers: [{name: tools, image: busybox}]
      volumes: [{name: data, emptyDir: {}}]
`)
	objs = build(t, dir)
	tools := find[*appsv1.StatefulSet](t, objs, 1)[0]
	checkSidecar(t, tools.Spec.Template, "tools")
	var volumes []string
	for _, v := range tools.Spec.Template.Spec.Volumes {
		volumes = append(volumes, v.Name)
	}
	if !slices.Contains(volumes, "data") || len(volumes) != 4 {
		t.Errorf("volumes %v, want the workload's own (data) and raftdrill's three", volumes)
	}
}

func checkSidecar(t *testing.T, tmpl corev1.PodTemplateSpec, own string) {
	t.Helper()
	_, tree := exampleConfig(t)
	cs := tmpl.Spec.Containers
	if len(cs) != 2 || cs[0].Name != own || cs[1].Name != "raftdrill" {
		names := []string{}
		for _, c := range cs {
			names = append(names, c.Name)
		}
		t.Fatalf("containers %v, want [%s raftdrill]", names, own)
	}
	mounts := checkContainer(t, cs[1], "raftdrill", tree)
	checkVolumes(t, tmpl.Spec, mounts, "raftdrill-config", "raftdrill-state", tree)
	sc := cs[1].SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		t.Errorf("the sidecar does not run as uid 65532 whatever the pod says: %+v", sc)
	}
	if tmpl.Labels["raftdrill.io/sidecar"] != "true" {
		t.Error("the pod lacks the label its PodMonitor selects")
	}
}

// What a user runs: kubectl kustomize, with the kustomize kubectl embeds.
func TestKubectlKustomize(t *testing.T) {
	kubectl := testutil.RequireTool(t, "kubectl")
	run := func(t *testing.T, dir string) []byte {
		cmd := exec.Command(kubectl, "kustomize", dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.Bytes())
		}
		return out
	}
	t.Run("base", func(t *testing.T) {
		objs, err := decodeAll("kubectl kustomize kubernetes", bytes.NewReader(run(t, "kubernetes")))
		if err != nil {
			t.Fatal(err)
		}
		checkBase(t, objs)
	})
	// The sidecar example is a kustomize Component, which came with
	// kustomize v3.7 (kubectl 1.21); Debian 12's kubernetes-client is
	// 1.20, so the library test (TestKustomizeSidecar) renders that one.
}
