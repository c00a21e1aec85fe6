package sandboxctl

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/sandbox"
)

// The sandbox can serve Kafka over TLS and demand SASL, so that raftdrill's
// client side of both (cluster.tls, cluster.sasl) is drilled against a
// server that enforces them: sandbox.tls and sandbox.sasl are the server
// side, the flags of `raftdrill sandbox` the same for a separate one.

// TLS is sandbox.tls: with a certificate, every node's listener speaks TLS.
type TLS struct {
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// ClientCAFile, when set, makes every client present a certificate
	// signed by one of its CAs (mutual TLS).
	ClientCAFile string `mapstructure:"client_ca_file"`
}

// Enabled reports whether the listeners speak TLS.
func (t TLS) Enabled() bool { return t != (TLS{}) }

// SASL is sandbox.sasl: with users, every node demands SASL authentication.
type SASL struct {
	// Mechanisms offered: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; none: all.
	Mechanisms []string `mapstructure:"mechanisms"`
	Users      []User   `mapstructure:"users"`
}

// User is one user the sandbox knows, its password in a file.
type User struct {
	Name         string `mapstructure:"name"`
	PasswordFile string `mapstructure:"password_file"`
}

// Enabled reports whether the listeners demand SASL.
func (s SASL) Enabled() bool { return len(s.Mechanisms) > 0 || len(s.Users) > 0 }

// offers reports whether mechanism is among those offered.
func (s SASL) offers(mechanism string) bool {
	if len(s.Mechanisms) == 0 {
		return slices.Contains(sandbox.SASLMechanisms, mechanism)
	}
	return slices.Contains(s.Mechanisms, mechanism)
}

// Listener reads the files t and s name into the sandbox's listener
// options. The files are read once: a sandbox is restarted to change them.
func Listener(t TLS, s SASL) (sandbox.ListenerOptions, error) {
	var lo sandbox.ListenerOptions
	if t.Enabled() {
		if t.CertFile == "" || t.KeyFile == "" {
			return lo, errors.New("sandbox TLS: a certificate and its key go together")
		}
		lo.TLS = &sandbox.ListenerTLS{}
		var err error
		if lo.TLS.CertPEM, err = os.ReadFile(t.CertFile); err != nil {
			return lo, fmt.Errorf("sandbox TLS certificate: %w", err)
		}
		if lo.TLS.KeyPEM, err = os.ReadFile(t.KeyFile); err != nil {
			return lo, fmt.Errorf("sandbox TLS key: %w", err)
		}
		if t.ClientCAFile != "" {
			if lo.TLS.ClientCAPEM, err = os.ReadFile(t.ClientCAFile); err != nil {
				return lo, fmt.Errorf("sandbox TLS client CA: %w", err)
			}
		}
	}
	if s.Enabled() {
		lo.SASL = &sandbox.ListenerSASL{Mechanisms: slices.Clone(s.Mechanisms), Users: map[string]string{}}
		for _, u := range s.Users {
			raw, err := os.ReadFile(u.PasswordFile)
			if err != nil {
				return lo, fmt.Errorf("sandbox SASL user %q: %w", u.Name, err)
			}
			password := strings.TrimSpace(string(raw))
			if password == "" {
				return lo, fmt.Errorf("sandbox SASL user %q: %s is empty", u.Name, u.PasswordFile)
			}
			lo.SASL.Users[u.Name] = password
		}
	}
	return lo, nil
}

// ParseUser reads a --sasl-user flag: NAME:PASSWORD_FILE.
func ParseUser(flag string) (User, error) {
	name, file, ok := strings.Cut(flag, ":")
	if !ok || name == "" || file == "" {
		return User{}, fmt.Errorf("--sasl-user %q: want NAME:PASSWORD_FILE", flag)
	}
	return User{Name: name, PasswordFile: file}, nil
}

// CheckFlags checks the listener flags of `raftdrill sandbox` as Validate
// checks sandbox.tls and sandbox.sasl, naming the flags.
func CheckFlags(t TLS, s SASL) error {
	var errs []error
	if t.Enabled() && (t.CertFile == "" || t.KeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-key-file go together (and --tls-client-ca-file needs them)"))
	}
	for _, m := range s.Mechanisms {
		if !slices.Contains(sandbox.SASLMechanisms, m) {
			errs = append(errs, fmt.Errorf("--sasl-mechanism %q: must be one of %s", m, strings.Join(sandbox.SASLMechanisms, ", ")))
		}
	}
	if s.Enabled() && len(s.Users) == 0 {
		errs = append(errs, errors.New("--sasl-mechanism needs at least one --sasl-user NAME:PASSWORD_FILE"))
	}
	return errors.Join(errs...)
}

// validateSecurity checks sandbox.tls and sandbox.sasl and, for the
// embedded sandbox, that cluster.tls and cluster.sasl can reach it: a
// plaintext client of a TLS sandbox would only ever see closed
// connections.
func (e *Embedded) validateSecurity(ch *config.Checker, root *config.Config) {
	t := e.TLS
	if t.Enabled() {
		switch {
		case t.CertFile == "":
			ch.Add("tls.cert_file", "required with sandbox.tls.key_file or client_ca_file (the nodes' certificate)")
		case t.KeyFile == "":
			ch.Add("tls.key_file", "required with sandbox.tls.cert_file (the certificate's private key)")
		default:
			checkKeyPair(ch, t.CertFile, t.KeyFile)
		}
		if t.ClientCAFile != "" {
			checkCAFile(ch, "tls.client_ca_file", t.ClientCAFile)
		}
	}
	s := e.SASL
	seen := map[string]bool{}
	for i, m := range s.Mechanisms {
		key := fmt.Sprintf("sasl.mechanisms[%d]", i)
		switch {
		case !slices.Contains(sandbox.SASLMechanisms, m):
			ch.Add(key, "must be one of %s (got %q)", strings.Join(sandbox.SASLMechanisms, ", "), m)
		case seen[m]:
			ch.Add(key, "%s is listed twice", m)
		}
		seen[m] = true
	}
	if s.Enabled() && len(s.Users) == 0 {
		ch.Add("sasl.users", "required with sandbox.sasl.mechanisms: at least one {name, password_file}")
	}
	names := map[string]bool{}
	for i, u := range s.Users {
		key := fmt.Sprintf("sasl.users[%d]", i)
		switch {
		case u.Name == "":
			ch.Add(key+".name", "must not be empty")
		case strings.ContainsRune(u.Name, 0):
			ch.Add(key+".name", "must not contain a NUL character")
		case names[u.Name]:
			ch.Add(key+".name", "duplicate user %q", u.Name)
		}
		names[u.Name] = true
		if u.PasswordFile == "" {
			ch.Add(key+".password_file", "required (the password comes only from a file)")
		} else {
			ch.SecretFile(key+".password_file", u.PasswordFile)
		}
	}
	if !root.UsesSandbox() {
		return
	}
	cl := root.Cluster
	switch {
	case t.Enabled() && !cl.TLS.Enabled:
		ch.AddAbs("cluster.tls.enabled", "must be true: the embedded sandbox serves TLS (sandbox.tls); set cluster.tls.ca_file to the CA that signed sandbox.tls.cert_file")
	case !t.Enabled() && cl.TLS.Enabled:
		ch.AddAbs("cluster.tls.enabled", "the embedded sandbox serves plaintext: set sandbox.tls.cert_file and key_file, or turn cluster.tls off")
	case t.ClientCAFile != "" && cl.TLS.CertFile == "":
		ch.AddAbs("cluster.tls.cert_file", "required: the embedded sandbox asks every client for a certificate (sandbox.tls.client_ca_file)")
	}
	switch {
	case s.Enabled() && cl.SASL.Mechanism == "":
		ch.AddAbs("cluster.sasl.mechanism", "required: the embedded sandbox demands SASL (sandbox.sasl)")
	case !s.Enabled() && cl.SASL.Mechanism != "":
		ch.AddAbs("cluster.sasl.mechanism", "the embedded sandbox takes no SASL: add sandbox.sasl.users, or leave cluster.sasl out")
	case s.Enabled() && slices.Contains(sandbox.SASLMechanisms, cl.SASL.Mechanism) && !s.offers(cl.SASL.Mechanism):
		ch.AddAbs("cluster.sasl.mechanism", "must be a mechanism the embedded sandbox offers (sandbox.sasl.mechanisms: %s)", strings.Join(s.Mechanisms, ", "))
	}
}

// checkKeyPair reports a certificate or key that cannot be read or that do
// not belong together, at load rather than when the sandbox starts.
func checkKeyPair(ch *config.Checker, certFile, keyFile string) {
	cert, err := os.ReadFile(certFile)
	if err != nil {
		ch.Add("tls.cert_file", "%v", err)
		return
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		ch.Add("tls.key_file", "%v", err)
		return
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		ch.Add("tls.cert_file", "with sandbox.tls.key_file: %v", err)
	}
}

func checkCAFile(ch *config.Checker, key, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		ch.Add(key, "%v", err)
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(raw) {
		ch.Add(key, "%s holds no PEM certificate", path)
	}
}
