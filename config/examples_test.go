package config_test

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"mvdan.cc/sh/v3/syntax"

	"github.com/raftdrill/raftdrill/cluster/control/exec"
	kubesettings "github.com/raftdrill/raftdrill/cluster/control/kubernetes/settings"
	"github.com/raftdrill/raftdrill/config"
)

// The images of the Dockerfile, as the examples name them on their first
// lines ("# image: default"): "none" is for the process controller, whose
// servers (chronik-server, …) neither image holds.
var imageFor = map[string]string{
	"sandbox":    "default",
	"kubernetes": "default",
	"exec":       "exec",
	"process":    "none",
}

// execImage lists the programs of the exec image (Dockerfile, target exec)
// that example commands may start, each with what puts it there: dash (the
// image's /bin/sh, with its builtins) and the other Essential packages of
// Debian, which every Debian image has, bookworm-slim included; or a
// package the Dockerfile installs; or a file it copies in.
var execImage = map[string]string{
	"[": "dash", "test": "dash", "echo": "dash", "printf": "dash", "true": "dash", "false": "dash",
	"exec": "dash", "command": "dash", "exit": "dash", "kill": "dash", "read": "dash", "cd": "dash",
	"cat": "coreutils", "rm": "coreutils", "sleep": "coreutils", "timeout": "coreutils",
	"env": "coreutils", "nohup": "coreutils", "mkdir": "coreutils", "date": "coreutils",
	"grep": "grep", "sed": "sed",
	"ssh":     "openssh-client",
	"kubectl": "/usr/local/bin/kubectl",
}

// essential are the Debian packages of execImage that the Dockerfile need
// not install.
var essential = []string{"dash", "coreutils", "grep", "sed"}

func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples missing: %v %v", files, err)
	}
	return files
}

var imageLine = regexp.MustCompile(`^#\s*image:\s*(\S+)`)

// declaredImage is the "# image: NAME" line among the comments the file
// starts with.
func declaredImage(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var found []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		if m := imageLine.FindStringSubmatch(line); m != nil {
			found = append(found, m[1])
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no %q line among the comments it starts with", "# image: default|exec|none")
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("several image lines: %v", found)
}

// standInKeys are the keys whose files config validation opens: they live
// where the example is deployed, so the tests read stand-ins instead.
var standInKeys = []string{"server.auth_token_file", "cluster.tls.ca_file", "cluster.tls.cert_file", "cluster.tls.key_file", "cluster.sasl.password_file"}

// loadExample loads an example as raftdrill would where it is deployed:
// each file of standInKeys it names is replaced, through the environment
// override of its key, by a stand-in file.
func loadExample(t *testing.T, path string) (*config.Config, error) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		return nil, err
	}
	var env []string
	for _, key := range standInKeys {
		if lookup(tree, key) == nil {
			continue
		}
		file := filepath.Join(t.TempDir(), "stand-in")
		if err := os.WriteFile(file, []byte("stand-in\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env = append(env, "RAFTDRILL_"+strings.ToUpper(strings.ReplaceAll(key, ".", "_"))+"="+file)
	}
	return load(path, env)
}

func lookup(tree map[string]any, key string) any {
	var v any = tree
	for part := range strings.SplitSeq(key, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	return v
}

// Every example says which image runs it, and it is the one its controller
// needs: the default image for sandbox and kubernetes, exec for exec.
func TestExamplesDeclareTheirImage(t *testing.T) {
	t.Parallel()
	for _, f := range examples(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			image, err := declaredImage(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := loadExample(t, f)
			if err != nil {
				t.Fatal(err)
			}
			typ := c.Cluster.Controller.Type
			want, ok := imageFor[typ]
			if !ok {
				t.Fatalf("controller %q: which image runs it? (add it to imageFor)", typ)
			}
			if image != want {
				t.Errorf("declares image %q; the %s controller needs %q", image, typ, want)
			}
		})
	}
}

// The exec controller runs each command with /bin/sh -c in the exec image:
// every program a command starts must be there. Commands are rendered for
// every node and parsed as the shell does (pipelines, lists, loops,
// command substitutions, wrappers such as timeout and env); what runs on
// the far side of ssh is the host's business, not the image's.
func TestExecExamplesStartOnlyWhatTheExecImageShips(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, f := range examples(t) {
		c, err := loadExample(t, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.Cluster.Controller.Type != "exec" {
			continue
		}
		checked++
		ec, err := exec.New(config.Get[*exec.Config](c, exec.Key), c.Cluster.Nodes, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		lines := ec.CommandLines()
		for _, verb := range slices.Sorted(maps.Keys(lines)) {
			for i, line := range lines[verb] {
				progs, err := programs(line)
				if err != nil {
					t.Errorf("%s: exec.%s, line %d: %v\n%s", f, verb, i+1, err, line)
					continue
				}
				for _, p := range progs {
					if _, ok := execImage[p]; !ok {
						t.Errorf("%s: exec.%s, line %d, starts %q, which the exec image does not ship (Dockerfile, target exec; execImage here)", f, verb, i+1, p)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no example uses the exec controller")
	}
}

// programs are the programs a shell command line starts: the name of each
// simple command, looking through exec, command, nohup, env and timeout.
func programs(line string) ([]string, error) {
	file, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(line), "")
	if err != nil {
		return nil, err
	}
	var out []string
	var bad error
	syntax.Walk(file, func(node syntax.Node) bool {
		call, ok := node.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 || bad != nil {
			return bad == nil
		}
		words := call.Args
		for len(words) > 0 {
			name := words[0].Lit()
			if name == "" {
				bad = fmt.Errorf("a command whose name is not a plain word: cannot tell which program it starts")
				return false
			}
			out = append(out, name)
			words = words[1:]
			switch name {
			case "exec", "command", "nohup":
				words = options(words, nil, false)
			case "env":
				words = options(words, []string{"-u", "-C", "-S", "--unset", "--chdir", "--split-string"}, true)
			case "timeout":
				words = options(words, []string{"-s", "-k", "--signal", "--kill-after"}, false)
				if len(words) > 0 {
					words = words[1:] // the duration
				}
			default:
				words = nil
			}
		}
		return true
	})
	return out, bad
}

// options skips a wrapper's options (those in withArg take the next word
// too) and, with assignments, NAME=VALUE words.
func options(words []*syntax.Word, withArg []string, assignments bool) []*syntax.Word {
	for len(words) > 0 {
		w := words[0].Lit()
		switch {
		case slices.Contains(withArg, w):
			words = words[min(2, len(words)):]
		case strings.HasPrefix(w, "-"), assignments && strings.Contains(w, "="):
			words = words[1:]
		default:
			return words
		}
	}
	return words
}

// The kubernetes examples name a distinct, valid pod for every node, as the
// controller renders them at start-up.
func TestKubernetesExamplesNameEveryPod(t *testing.T) {
	t.Parallel()
	for _, f := range examples(t) {
		c, err := loadExample(t, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.Cluster.Controller.Type != "kubernetes" {
			continue
		}
		k := config.Get[interface {
			PodNames([]config.Node) (map[int32]string, error)
		}](c, kubesettings.Key)
		names, err := k.PodNames(c.Cluster.Nodes)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		t.Logf("%s: %v", filepath.Base(f), names)
	}
}

// dockerStage is one FROM of the Dockerfile and the instructions under it.
type dockerStage struct {
	from, name string
	body       string
}

func dockerStages(t *testing.T) []dockerStage {
	t.Helper()
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continued lines, drop comments.
	text := regexp.MustCompile(`\\\n`).ReplaceAllString(string(raw), " ")
	var stages []dockerStage
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Fields(line); strings.EqualFold(f[0], "FROM") {
			s := dockerStage{from: f[1]}
			if len(f) == 4 && strings.EqualFold(f[2], "AS") {
				s.name = f[3]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			continue
		}
		stages[len(stages)-1].body += strings.Join(strings.Fields(line), " ") + "\n"
	}
	return stages
}

func stage(t *testing.T, stages []dockerStage, name string) dockerStage {
	t.Helper()
	i := slices.IndexFunc(stages, func(s dockerStage) bool { return s.name == name })
	if i < 0 {
		t.Fatalf("Dockerfile: no stage %q", name)
	}
	return stages[i]
}

// The Dockerfile keeps the promises the examples and `make check-static`
// rely on.
func TestDockerfileBuildsTheImagesTheExamplesNeed(t *testing.T) {
	t.Parallel()
	stages := dockerStages(t)
	has := func(s dockerStage, what string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(s.body, w) {
				t.Errorf("Dockerfile, stage %s (%s): no %q", s.name, what, w)
			}
		}
	}

	// The binary, built as check-static builds it (Makefile).
	build := stage(t, stages, "build")
	has(build, "the static binary", "CGO_ENABLED=0", "go build -trimpath -tags kubernetes",
		"-X github.com/prometheus/common/version.Version=${VERSION}",
		"-X github.com/prometheus/common/version.Revision=${COMMIT}",
		"-X github.com/prometheus/common/version.Branch=${BRANCH}")
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"STATIC_TAGS := kubernetes", "CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -tags $(STATIC_TAGS) -ldflags '$(LDFLAGS)'"} {
		if !strings.Contains(string(makefile), w) {
			t.Errorf("Makefile: check-static no longer builds as the Dockerfile does: no %q", w)
		}
	}

	// The default image: the last stage, distroless static, nonroot, with
	// its state directory.
	last := stages[len(stages)-1]
	if last.name != "default" || !strings.HasPrefix(last.from, "gcr.io/distroless/static") || !strings.HasSuffix(last.from, ":nonroot") {
		t.Errorf("Dockerfile: the last stage (what `docker build .` gives) is %s %q, want default from distroless static nonroot", last.name, last.from)
	}
	has(last, "the default image", "COPY --from=build /out/raftdrill /usr/local/bin/raftdrill",
		"--chown=65532:65532", "WORKDIR /var/lib/raftdrill", "USER 65532:65532")

	// The exec image: everything execImage promises.
	ex := stage(t, stages, "exec")
	has(ex, "the exec image", "COPY --from=build /out/raftdrill /usr/local/bin/raftdrill", "USER 65532:65532",
		"--uid 65532", "install -d -o 65532 -g 65532 -m 0750 /var/lib/raftdrill")
	if !strings.HasPrefix(ex.from, "debian:") {
		t.Errorf("Dockerfile: exec image from %q; execImage counts on Debian's Essential packages", ex.from)
	}
	install := regexp.MustCompile(`apt-get install -y --no-install-recommends ([^&]+)`).FindStringSubmatch(ex.body)
	if install == nil {
		t.Fatal("Dockerfile, stage exec: no apt-get install")
	}
	pkgs := strings.Fields(install[1])
	if !slices.Contains(pkgs, "ca-certificates") {
		t.Error("Dockerfile, stage exec: no ca-certificates")
	}
	for prog, from := range execImage {
		switch {
		case slices.Contains(essential, from):
		case strings.HasPrefix(from, "/"):
			if !strings.Contains(ex.body, " "+from+"\n") {
				t.Errorf("Dockerfile, stage exec: %s (%s) is not copied in", from, prog)
			}
		case !slices.Contains(pkgs, from):
			t.Errorf("Dockerfile, stage exec: package %s (%s) is not installed", from, prog)
		}
	}

	// kubectl: a pinned upstream release, its sha256 checked.
	kc := stage(t, stages, "kubectl")
	if !regexp.MustCompile(`ARG KUBECTL_VERSION=v\d+\.\d+\.\d+\n`).MatchString(kc.body) {
		t.Error("Dockerfile, stage kubectl: KUBECTL_VERSION is not pinned to a release vX.Y.Z")
	}
	has(kc, "kubectl", "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${arch}/kubectl", "sha256sum --check --strict")
}

// README's table says which image each example needs, as the example does.
func TestReadmeSaysWhichImageEachExampleNeeds(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for line := range strings.Lines(string(raw)) {
		if m := regexp.MustCompile(`^\|.*\]\((examples/[a-z0-9-]+\.yaml)\).*\|\s*(?:\x60)?(default|exec|none)\b`).FindStringSubmatch(line); m != nil {
			rows[m[1]] = m[2]
		}
	}
	for _, f := range examples(t) {
		image, err := declaredImage(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		name := "examples/" + filepath.Base(f)
		switch got, ok := rows[name]; {
		case !ok:
			t.Errorf("README.md: no row of the examples table for %s", name)
		case got != image:
			t.Errorf("README.md: %s needs image %s, the README says %s", name, image, got)
		}
	}
}

// The parser behind TestExecExamplesStartOnlyWhatTheExecImageShips sees
// every program a line starts, and refuses what it cannot name.
func TestProgramsOfACommandLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line    string
		want    []string
		wantErr bool
	}{
		{line: "ssh -F /etc/raftdrill/ssh_config kafka-1 sudo systemctl start kafka", want: []string{"ssh"}},
		{line: "systemctl kill -s KILL chronik", want: []string{"systemctl"}},
		{line: "kubectl get pod x -o name | grep -q x && echo up || exit 1", want: []string{"kubectl", "grep", "echo", "exit"}},
		{line: "old=$(cat /tmp/f 2>/dev/null || true)\nuntil uid=$(kubectl get pod x) && [ \"$uid\" != \"$old\" ]; do sleep 1; done",
			want: []string{"cat", "true", "kubectl", "[", "sleep"}},
		{line: "timeout -s KILL 5 env FOO=1 -u BAR curl -fsS http://x/admin/health", want: []string{"timeout", "env", "curl"}},
		{line: "exec nohup chronik-server start &", want: []string{"exec", "nohup", "chronik-server"}},
		{line: "$KILL node-1", wantErr: true},
		{line: "if then fi (", wantErr: true},
	} {
		got, err := programs(tc.line)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: got %v, want an error", tc.line, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %v, %v; want %v", tc.line, got, err, tc.want)
		}
	}
	for _, p := range []string{"systemctl", "curl", "sudo", "chronik-server"} {
		if _, ok := execImage[p]; ok {
			t.Errorf("execImage ships %s: the Dockerfile does not install it", p)
		}
	}
}

func TestDeclaredImage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ text, want string }{
		{"# image: exec\n# about\nserver: {}\n", "exec"},
		{"# about\n# image: default (why)\ncluster: {}\n", "default"},
		{"# about\ncluster: {}\n# image: exec\n", ""},   // not among the first comments
		{"# image: exec\n# image: default\nx: 1\n", ""}, // two
		{"server: {}\n", ""},
	} {
		f := filepath.Join(t.TempDir(), "x.yaml")
		if err := os.WriteFile(f, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := declaredImage(f)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("%q: got %q, %v; want %q", tc.text, got, err, tc.want)
		}
	}
}
