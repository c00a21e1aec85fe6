package daemon

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/raftdrill/raftdrill/internal/testutil"
)

// webConfig writes a web config file with TLS (a self-signed certificate)
// and the basic auth user prometheus, password s3cret, and returns its
// path and a client that trusts the certificate.
func webConfig(t *testing.T) (string, *http.Client) {
	t.Helper()
	dir := t.TempDir()
	pool := testutil.ServerCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "web.yml")
	text := "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prometheus: " + string(hash) + "\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

type request struct {
	method, path, body string
	user, pass         string
	header             map[string]string
	host               string
}

func (r request) do(t *testing.T, c *http.Client, base string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if r.host != "" {
		req.Host = r.host
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// Every endpoint is served through the web config file: TLS, and basic
// auth in front of everything, health checks included. Behind it, the
// endpoints that act still need the trigger token, which travels in
// X-Raftdrill-Token since Authorization carries the basic auth, and still
// refuse a foreign Host or a body that is not JSON.
func TestWebConfigGuardsEveryEndpoint(t *testing.T) {
	path, client := webConfig(t)
	cfg := shortConfig(t)
	cfg.Server.WebConfigFile = path
	cfg.Server.AuthTokenFile = testutil.SecretFile(t, "token", "tok3n")
	d, err := New(context.Background(), cfg, Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serving(t, d)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "https://" + addr
	testutil.WaitFor(t, "ready", 10*time.Second, func() bool {
		code, _ := request{method: http.MethodGet, path: "/readyz", user: "prometheus", pass: "s3cret"}.do(t, client, base)
		return code == http.StatusOK
	})

	const unknown = `{"drill":"nope"}` // past every guard it is a 400, and starts nothing
	json := map[string]string{"Content-Type": "application/json"}
	withToken := func(tok string) map[string]string {
		return map[string]string{"Content-Type": "application/json", TokenHeader: tok}
	}
	tests := []struct {
		name    string
		req     request
		want    int
		mention string
	}{
		{"metrics, right password", request{method: "GET", path: "/metrics", user: "prometheus", pass: "s3cret"}, 200, "raftdrill_build_info"},
		{"metrics, no password", request{method: "GET", path: "/metrics"}, 401, "Unauthorized"},
		{"metrics, wrong password", request{method: "GET", path: "/metrics", user: "prometheus", pass: "guess"}, 401, "Unauthorized"},
		{"status page, no password", request{method: "GET", path: "/"}, 401, ""},
		{"runs, no password", request{method: "GET", path: "/runs"}, 401, ""},
		{"health, no password", request{method: "GET", path: "/healthz"}, 401, ""},
		{"health, right password", request{method: "GET", path: "/healthz", user: "prometheus", pass: "s3cret"}, 200, "ok"},
		{"trigger, token but no password", request{method: "POST", path: "/trigger", body: unknown, header: withToken("tok3n")}, 401, ""},
		{"trigger, password but no token", request{method: "POST", path: "/trigger", body: unknown, header: json, user: "prometheus", pass: "s3cret"}, 401, TokenHeader},
		{"trigger, password and wrong token", request{method: "POST", path: "/trigger", body: unknown, header: withToken("guess"), user: "prometheus", pass: "s3cret"}, 401, ""},
		{"trigger, password and token", request{method: "POST", path: "/trigger", body: unknown, header: withToken("tok3n"), user: "prometheus", pass: "s3cret"}, 400, "unknown drill"},
		{"trigger, foreign Host", request{method: "POST", path: "/trigger", body: unknown, header: withToken("tok3n"), user: "prometheus", pass: "s3cret", host: "evil.example:443"}, 403, "Host"},
		{"trigger, not JSON", request{method: "POST", path: "/trigger", body: unknown, header: map[string]string{TokenHeader: "tok3n", "Content-Type": "text/plain"}, user: "prometheus", pass: "s3cret"}, 415, ""},
		{"reload, password but no token", request{method: "POST", path: "/-/reload", user: "prometheus", pass: "s3cret"}, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := tt.req.do(t, client, base)
			if code != tt.want || !strings.Contains(body, tt.mention) {
				t.Fatalf("got %d %q, want %d mentioning %q", code, body, tt.want, tt.mention)
			}
		})
	}
	if runs := d.store.list(); len(runs) != 0 {
		t.Fatalf("a refused request started a run: %+v", runs)
	}

	// Plain HTTP to the TLS port is refused.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/metrics")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP: %d, want 400", resp.StatusCode)
		}
	}
}

// Without basic auth, the token is accepted in either header.
func TestTokenInItsOwnHeader(t *testing.T) {
	cfg := shortConfig(t)
	cfg.Server.AuthTokenFile = testutil.SecretFile(t, "token", "s3cret")
	_, url := startDaemon(t, cfg)
	for _, h := range []map[string]string{{TokenHeader: "s3cret"}, {TokenHeader: " s3cret "}, {"Authorization": "Bearer s3cret"}} {
		if code, _, _ := post(t, url+"/trigger", `{"drill":"nope"}`, h); code != http.StatusBadRequest {
			t.Errorf("%v: %d, want past auth", h, code)
		}
	}
	if code, _, body := post(t, url+"/trigger", `{"drill":"nope"}`, map[string]string{TokenHeader: "guess", "Authorization": "Bearer s3cret"}); code != http.StatusUnauthorized {
		t.Errorf("a wrong token in %s passed because Authorization had the right one: %d %v", TokenHeader, code, body)
	}
}

// A web config file broken after start-up (or given to New directly) stops
// Serve before anything is served, naming the file.
func TestServeRefusesABrokenWebConfig(t *testing.T) {
	cfg := shortConfig(t)
	cfg.Server.WebConfigFile = filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg.Server.WebConfigFile, []byte("basic_auth_users:\n  prometheus: s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := New(context.Background(), cfg, Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Serve(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "web config file "+cfg.Server.WebConfigFile+": ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v, want one line naming the file", err)
	}
}

// The web config file's path is read at start only: a reload that changes
// it fails naming the key.
func TestReloadRefusesANewWebConfigPath(t *testing.T) {
	old, cfg := shortConfig(t), shortConfig(t)
	cfg.State.Dir = old.State.Dir
	cfg.Server.WebConfigFile = "/etc/raftdrill/web.yml"
	ps := needsRestart(old, cfg)
	if len(ps) != 1 || ps[0].Key != "server.web_config_file" {
		t.Fatalf("problems %v", ps)
	}
}
