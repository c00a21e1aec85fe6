package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftdrill/raftdrill/internal/testutil"
)

const unitFile = "systemd/raftdrill.service"

// unit is a parsed systemd unit file: section → key → values (a key may
// repeat; an empty assignment resets the list, as systemd does).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, text string) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] != nil {
				t.Fatalf("line %d: section [%s] twice", n, section)
			}
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("line %d: %q outside any section", n, line)
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || strings.HasSuffix(line, "\\") {
				t.Fatalf("line %d: %q is not key=value on one line", n, line)
			}
			key, value = strings.TrimSpace(key), strings.TrimSpace(value)
			if value == "" {
				u[section][key] = []string{}
			} else {
				u[section][key] = append(u[section][key], value)
			}
		}
	}
	return u
}

func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

func TestSystemdUnit(t *testing.T) {
	text, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, string(text))
	for _, tt := range []struct{ section, key, want string }{
		{"Service", "ExecStart", "/usr/local/bin/raftdrill serve --config /etc/raftdrill/raftdrill.yaml"},
		{"Service", "ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Service", "Restart", "on-failure"},
		{"Service", "DynamicUser", "yes"},
		{"Service", "StateDirectory", "raftdrill"}, // /var/lib/raftdrill, the state.dir of the examples
		{"Service", "ConfigurationDirectory", "raftdrill"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "ProtectHome", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "CapabilityBoundingSet", ""},
		{"Service", "TimeoutStopSec", "90s"},
		{"Unit", "After", "network-online.target"},
		{"Unit", "Wants", "network-online.target"},
		{"Install", "WantedBy", "multi-user.target"},
	} {
		if got := u.get(tt.section, tt.key); got != tt.want {
			t.Errorf("[%s] %s=%q, want %q", tt.section, tt.key, got, tt.want)
		}
	}
	if _, ok := u["Service"]["CapabilityBoundingSet"]; !ok {
		t.Error("[Service] CapabilityBoundingSet= (none) is missing")
	}
}

// systemd itself reads the unit: no unknown key, no bad value, and an
// exposure of at most 2.0 by systemd-analyze security.
func TestSystemdAnalyze(t *testing.T) {
	analyze := testutil.RequireTool(t, "systemd-analyze")
	text, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	// verify wants ExecStart's binary to exist: point it at a stand-in.
	dir := t.TempDir()
	bin := filepath.Join(dir, "raftdrill")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "raftdrill.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(text, []byte("/usr/local/bin/raftdrill"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(analyze, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("systemd-analyze %s: %v\n%s%s", strings.Join(args, " "), err, stderr.Bytes(), tail(out, 6))
		}
	}
	run("verify", unit)
	// The threshold is in tenths: 20 is an exposure of 2.0 ("OK").
	run("security", "--offline=true", "--threshold=20", unit)
}

func tail(b []byte, lines int) string {
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
