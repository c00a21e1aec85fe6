package deploy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// scheme knows every kind deploy/ uses: client-go's (core, apps, rbac, …)
// and the Prometheus Operator's monitoring.coreos.com/v1.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// strict decodes YAML or JSON into the registered Go type of its kind, and
// fails on a field that type does not have, or has twice.
var strict = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

// object is one decoded manifest and where it came from.
type object struct {
	source string // file and document number
	obj    runtime.Object
}

// decodeAll decodes every YAML document of r strictly. A document of an
// unknown kind, or with an unknown or duplicated field, is an error.
func decodeAll(source string, r io.Reader) ([]object, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var out []object
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", source, err)
		}
		if isBlank(doc) {
			continue
		}
		where := fmt.Sprintf("%s (document %d)", source, i)
		obj, _, err := strict.Decode(doc, nil, nil)
		if err != nil {
			return out, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, object{where, obj})
	}
}

// isBlank: only comments and white space.
func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") && l != "---" {
			return false
		}
	}
	return true
}

func decodeFile(t *testing.T, path string) []object {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs, err := decodeAll(path, f)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// manifests are the files under kubernetes/ that are Kubernetes objects:
// all but kustomize's own files and JSON patches.
func manifests(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("kubernetes", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		switch {
		case filepath.Base(path) == "kustomization.yaml":
		case isJSONPatch(t, path):
		default:
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// isJSONPatch: a YAML list of RFC 6902 operations (sidecar/container.yaml).
func isJSONPatch(t *testing.T, path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return strings.HasPrefix(l, "- op:")
		}
	}
	return false
}

// find returns the objects of type T, fatally unless there are want of them.
func find[T runtime.Object](t *testing.T, objs []object, want int) []T {
	t.Helper()
	var out []T
	for _, o := range objs {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	if len(out) != want {
		var zero T
		t.Fatalf("%d objects of type %T, want %d", len(out), zero, want)
	}
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	files := manifests(t)
	if len(files) < 10 {
		t.Fatalf("only %d manifests found: %v", len(files), files)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			if objs := decodeFile(t, f); len(objs) == 0 {
				t.Error("no objects")
			}
		})
	}
}

// The decoder the tests rely on does catch a misspelt field, a field in the
// wrong place, a duplicated field, and an unknown kind.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"misspelt field", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  template:
    spec:
      containers:
        - name: x
          imagePullPolicyy: Always
`, `unknown field "spec.template.spec.containers[0].imagePullPolicyy"`},
		{"misplaced field", `
apiVersion: v1
kind: Service
metadata: {name: x}
spec:
  ports:
    - port: 80
      selector: {a: b}
`, `unknown field "spec.ports[0].selector"`},
		{"duplicate field", `
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
data: {a: "1"}
data: {b: "2"}
`, `key "data" already set in map`},
		{"ServiceMonitor typo", `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: x}
spec:
  selector: {}
  endpoints:
    - port: http
      intervall: 15s
`, `unknown field "spec.endpoints[0].intervall"`},
		{"PrometheusRule typo", `
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: x}
spec:
  groups:
    - name: g
      rules:
        - alert: A
          expression: up == 0
`, `unknown field "spec.groups[0].rules[0].expression"`},
		{"unknown kind", `
apiVersion: apps/v1
kind: Deploymnet
metadata: {name: x}
`, `no kind "Deploymnet" is registered`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeAll(tt.name, strings.NewReader(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}
