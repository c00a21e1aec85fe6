package web

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/raftdrill/raftdrill/internal/testutil"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serve starts Serve on a loopback port with a handler that answers 200
// "ok" on every path, and stops it when the test ends.
func serve(t *testing.T, webConfig string) (addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln, webConfig, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(ShutdownTimeout + 5*time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return ln.Addr().String()
}

func TestTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	pool := testutil.ServerCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "web.yml")
	write(t, config, "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prometheus: "+string(hash)+"\n")
	addr := serve(t, config)

	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	tests := []struct {
		name       string
		user, pass string
		want       int
	}{
		{"right password", "prometheus", "s3cret", http.StatusOK},
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong password", "prometheus", "guess", http.StatusUnauthorized},
		{"unknown user", "root", "s3cret", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusOK && string(body) != "ok" {
				t.Errorf("body %q", body)
			}
			if tt.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 without a Basic challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	// Plain HTTP to the TLS port is refused.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/metrics")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP got %d, want 400", resp.StatusCode)
		}
	}
}

func TestPlainHTTPWithoutConfig(t *testing.T) {
	addr := serve(t, "")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestInvalidWebConfig(t *testing.T) {
	dir := t.TempDir()
	testutil.ServerCert(t, dir)
	tests := []struct {
		name, content string
		want          []string
	}{
		{"unknown key", "basic_auth_user:\n  prometheus: x\n",
			[]string{"web.yml: ", "field basic_auth_user not found"}},
		{"plain password", "basic_auth_users:\n  prometheus: s3cret\n",
			[]string{"web.yml: basic_auth_users: every password must be a bcrypt hash", "htpasswd -nBC 10"}},
		{"missing key file", "tls_server_config:\n  cert_file: cert.pem\n  key_file: nope.pem\n",
			[]string{"web.yml: ", "nope.pem"}},
		{"not YAML", "tls_server_config: [\n", []string{"web.yml: yaml: "}},
		{"no such file", "", []string{"absent.yml: open ", "no such file or directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "absent.yml")
			if tt.content != "" {
				path = filepath.Join(dir, "web.yml")
				write(t, path, tt.content)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			err = Serve(context.Background(), &http.Server{ReadHeaderTimeout: time.Second}, ln, path, nil)
			if err == nil {
				t.Fatal("Serve accepted an invalid web config")
			}
			if !strings.HasPrefix(err.Error(), "web config file "+dir) {
				t.Errorf("%q does not start with the file's path", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q\nlacks %q", err, w)
				}
			}
			if tt.content == "" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%v does not wrap fs.ErrNotExist", err)
			}
			// The listener was closed: nothing answers.
			if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("listener still open: %v", err)
			}
		})
	}
}
