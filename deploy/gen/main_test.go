package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// The committed files are what gen writes from the current sources.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := Generate(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("%d files", len(files))
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("%v: run go generate ./deploy", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what deploy/gen makes of its sources: run go generate ./deploy (or go run ./deploy/gen)", name)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"no rules", fstest.MapFS{}, "open alerts/prometheus-rules.yml: file does not exist"},
		{"not a mapping", fstest.MapFS{RulesSource: {Data: []byte("- a\n")}}, "alerts/prometheus-rules.yml: not a YAML mapping"},
		{"more than groups", fstest.MapFS{RulesSource: {Data: []byte("groups: []\nextra: 1\n")}}, "alerts/prometheus-rules.yml: want a mapping with groups alone"},
		{"no dashboards", fstest.MapFS{RulesSource: {Data: []byte("groups: []\n")}}, "no dashboards in dashboards/grafana"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(tt.files)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
}
