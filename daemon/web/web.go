package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"
)

// ShutdownTimeout caps the graceful shutdown that ends Serve when its
// context ends; requests still running after it are cut.
const ShutdownTimeout = 10 * time.Second

// Serve serves srv on ln, with TLS and basic auth as webConfigFile says
// (none when it is ""), until srv is shut down or ctx ends; then it shuts
// srv down gracefully (at most ShutdownTimeout) and returns nil. A caller
// that wants its own timeout calls srv.Shutdown itself. An invalid web
// config file is an error before anything is served, and ln is closed.
// Note that basic auth, when configured, guards every path, health checks
// included.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, webConfigFile string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := Validate(webConfigFile); err != nil {
		ln.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() {
		errc <- web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &webConfigFile}, log.With("component", "web"))
	}()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		<-errc
		return fmt.Errorf("shut down HTTP on %s: %w", ln.Addr(), err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Validate reads webConfigFile, its certificates and its password hashes,
// as Serve does first; "" is valid (plain HTTP). raftdrill config check
// and a reload can use it before anything changes.
func Validate(webConfigFile string) error {
	if webConfigFile == "" {
		return nil
	}
	err := web.Validate(webConfigFile)
	if err == nil {
		return nil
	}
	var prefix *bcrypt.InvalidHashPrefixError
	var version bcrypt.HashVersionTooNewError
	if errors.Is(err, bcrypt.ErrHashTooShort) || errors.As(err, &prefix) || errors.As(err, &version) {
		return &configError{webConfigFile, "basic_auth_users: every password must be a bcrypt hash (make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'): ", err}
	}
	return &configError{webConfigFile, "", err}
}

// configError is a web config file's problem on one line (the YAML
// decoder's come on several), the original error wrapped.
type configError struct {
	path, hint string
	err        error
}

func (e *configError) Error() string {
	return "web config file " + e.path + ": " + e.hint + strings.Join(strings.Fields(e.err.Error()), " ")
}

func (e *configError) Unwrap() error { return e.err }
