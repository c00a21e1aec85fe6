package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/raftdrill/raftdrill/internal/testutil"
)

// writeWebConfig writes, into dir, a self-signed certificate for 127.0.0.1
// and a web config file that serves it with the basic auth user
// prometheus (password s3cret, stored as a bcrypt hash).
func writeWebConfig(t *testing.T, dir string) (webConfig, caFile string, client *http.Client) {
	t.Helper()
	pool := testutil.ServerCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig = filepath.Join(dir, "web.yml")
	text := fmt.Sprintf("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prometheus: %s\n", hash)
	if err := os.WriteFile(webConfig, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return webConfig, filepath.Join(dir, "cert.pem"), client
}

// curlStatus runs curl and returns the HTTP status it got and the body.
func curlStatus(t *testing.T, curl string, args ...string) (int, string) {
	t.Helper()
	body := filepath.Join(t.TempDir(), "body")
	args = append([]string{"-sS", "--max-time", "10", "-o", body, "-w", "%{http_code}"}, args...)
	out, err := exec.Command(curl, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var code int
	if _, err := fmt.Sscan(string(out), &code); err != nil {
		t.Fatalf("curl printed %q", out)
	}
	raw, _ := os.ReadFile(body)
	return code, string(raw)
}

// `raftdrill serve` behind a web config file, as Prometheus exporters are:
// --web.listen-address and --web.config.file, TLS with a self-signed
// certificate, basic auth with a bcrypt-hashed password; curl with the
// certificate as its CA gets the metrics with the right password only. The
// trigger token travels beside the basic auth, in X-Raftdrill-Token.
func TestServeBehindAWebConfigFile(t *testing.T) {
	curl := testutil.RequireTool(t, "curl")
	dir := t.TempDir()
	webConfig, ca, client := writeWebConfig(t, dir)
	token := testutil.SecretFile(t, "token", "tok3n")
	cfg := filepath.Join(dir, "raftdrill.yaml")
	text := fmt.Sprintf("server:\n  auth_token_file: %q\nstate:\n  dir: %q\ndrills:\n  leader-failover:\n    schedule: \"off\"\n", token, t.TempDir())
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	logs := &lockedBuffer{}
	serve := exec.Command(binary, "serve", "--config", cfg, "--web.listen-address", listen, "--web.config.file", webConfig)
	serve.Env = childEnv()
	serve.Stdout, serve.Stderr = logs, logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = serve.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = serve.Process.Kill()
		<-exited
	})
	base := "https://" + listen
	testutil.WaitFor(t, "serve ready over TLS", 60*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("serve exited:\n%s", logs.tail(30))
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/readyz", nil)
		req.SetBasicAuth("prometheus", "s3cret")
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	tests := []struct {
		name string
		args []string
		want int
	}{
		{"right password", []string{"-u", "prometheus:s3cret"}, 200},
		{"no password", nil, 401},
		{"wrong password", []string{"-u", "prometheus:guess"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := curlStatus(t, curl, append(append([]string{"--cacert", ca}, tt.args...), base+"/metrics")...)
			if code != tt.want {
				t.Fatalf("curl https://…/metrics: %d, want %d\n%s", code, tt.want, body)
			}
			if tt.want == 200 && !strings.Contains(body, "raftdrill_build_info") {
				t.Fatalf("no metrics in the answer:\n%.500s", body)
			}
		})
	}
	// Acting needs the token too, beside the basic auth: an unknown drill
	// gets past every guard to a 400 and starts nothing.
	trigger := []string{"--cacert", ca, "-u", "prometheus:s3cret", "-H", "Content-Type: application/json", "-d", `{"drill":"nope"}`}
	if code, body := curlStatus(t, curl, append(trigger, base+"/trigger")...); code != 401 || !strings.Contains(body, "X-Raftdrill-Token") {
		t.Errorf("trigger without the token: %d %s", code, body)
	}
	if code, body := curlStatus(t, curl, append(trigger, "-H", "X-Raftdrill-Token: tok3n", base+"/trigger")...); code != 400 || !strings.Contains(body, "unknown drill") {
		t.Errorf("trigger with the token: %d %s", code, body)
	}
	// Plain HTTP is not served.
	if code, _ := curlStatus(t, curl, "-u", "prometheus:s3cret", "http://"+listen+"/metrics"); code != 400 {
		t.Errorf("plain HTTP: %d, want 400", code)
	}
}

// A broken web config file stops serve before it listens, with one line
// that names the file and its key; config check reports it under the key.
func TestBrokenWebConfigFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(bad, []byte("basic_auth_users:\n  prometheus: s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "raftdrill.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("state:\n  dir: %q\n", t.TempDir())), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI("serve", "--config", cfg, "--web.listen-address", freeAddr(t), "--web.config.file", bad)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], "server.web_config_file: web config file "+bad+": ") ||
		!strings.Contains(lines[0], "bcrypt") {
		t.Fatalf("serve with a broken web config: exit %d, want 2 and one line naming %s:\n%s", code, bad, stderr)
	}

	withWeb := filepath.Join(dir, "with-web.yaml")
	if err := os.WriteFile(withWeb, []byte(fmt.Sprintf("server:\n  web_config_file: %q\n  listen: nowhere\n", bad)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCLI("config", "check", "--config", withWeb)
	if code != 2 || !strings.Contains(stderr, "\nserver.web_config_file: web config file "+bad+": basic_auth_users: every password must be a bcrypt hash") ||
		!strings.Contains(stderr, "\nserver.listen: ") {
		t.Fatalf("config check: exit %d, want 2 with every problem by key:\n%s", code, stderr)
	}
}

// --version is the version command's output, as Prometheus exporters have it.
func TestVersionFlag(t *testing.T) {
	flag, _, code := runCLI("--version")
	cmd, _, code2 := runCLI("version")
	if code != 0 || code2 != 0 || flag != cmd || !strings.HasPrefix(flag, "raftdrill, version ") {
		t.Fatalf("--version (exit %d):\n%s\nversion (exit %d):\n%s", code, flag, code2, cmd)
	}
}
