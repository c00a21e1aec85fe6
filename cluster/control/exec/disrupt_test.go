package exec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftdrill/raftdrill/config"
)

func TestExecControllerDisruptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	nodes := []config.Node{{ID: 1, Address: "10.0.0.1:9092"}, {ID: 2, Address: "10.0.0.2:9092"}, {ID: 3, Address: "10.0.0.2:9093"}}
	e := Config{Kill: "true", Restart: "true", Up: "true", Timeout: 5e9,
		Isolate: fmt.Sprintf("echo isolate {{.ID}} from [{{.Peers}}] hosts {{.PeerHosts}}{{range .Peers}} id{{.ID}}{{end}} >> '%s'", events),
		Heal:    fmt.Sprintf("echo heal {{.ID}} {{.PeerHosts}} >> '%s'", events),
		Pause:   fmt.Sprintf("echo pause {{.Host}} >> '%s'", events),
		Resume:  fmt.Sprintf("echo resume {{.Host}} >> '%s'", events),
	}
	c, err := New(&e, nodes, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"partition", "pause"} {
		if err := c.Supports(mode); err != nil {
			t.Fatalf("Supports(%s) = %v", mode, err)
		}
	}
	if err := c.Isolate(ctx, 1, []int32{2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := c.Heal(ctx, 1, []int32{2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.Isolate(ctx, 1, []int32{9}); err == nil || err.Error() != "isolate node 1: peer 9 not in cluster.nodes" {
		t.Fatalf("Isolate from an unknown peer: %v", err)
	}
	got, _ := os.ReadFile(events)
	want := "isolate 1 from [10.0.0.2:9092 10.0.0.2:9093] hosts 10.0.0.2 id2 id3\nheal 1 10.0.0.2\npause 10.0.0.2\nresume 10.0.0.2\n"
	if string(got) != want {
		t.Fatalf("commands run:\n%s\nwant:\n%s", got, want)
	}

	// A failing command is the verb's error, with its stderr.
	e.Pause = "echo frozen solid >&2; exit 4"
	c, err = New(&e, nodes, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(ctx, 3); err == nil || !strings.HasPrefix(err.Error(), `pause node 3: exec "echo frozen solid >&2; exit 4": exit status 4: frozen solid`) {
		t.Fatalf("failing pause: %v", err)
	}
}

func TestExecControllerWithoutDisruptions(t *testing.T) {
	t.Parallel()
	c := newTestExecController(t, Config{Kill: "true", Restart: "true", Up: "true"})
	for _, mode := range []string{"partition", "pause"} {
		if err := c.Supports(mode); !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("Supports(%s) = %v, want unsupported", mode, err)
		}
	}
	if err := c.Pause(context.Background(), 1); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Pause without a command: %v", err)
	}
	// Half a pair, or a template that names what nodes do not have, is a
	// start-up error.
	nodes := []config.Node{{ID: 1, Address: "10.0.0.1:9092"}, {ID: 2, Address: "10.0.0.2:9092"}}
	for _, tc := range []struct {
		e    Config
		want string
	}{
		{Config{Kill: "true", Restart: "true", Up: "true", Isolate: "true"}, "cluster.controller.exec.isolate and cluster.controller.exec.heal: set both or neither"},
		{Config{Kill: "true", Restart: "true", Up: "true", Resume: "true"}, "cluster.controller.exec.pause and cluster.controller.exec.resume: set both or neither"},
		{Config{Kill: "true", Restart: "true", Up: "true", Isolate: "x {{.Nope}}", Heal: "true"}, "cluster.controller.exec.isolate: node 1: "},
	} {
		if _, err := New(&tc.e, nodes, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.e, err, tc.want)
		}
	}
}
