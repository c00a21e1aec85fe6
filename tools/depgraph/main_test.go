package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func packages(t *testing.T) []Package {
	t.Helper()
	pkgs, err := List("../..")
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// The picture in docs/architecture.md is the code's.
func TestArchitectureDocIsCurrent(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("../..", docPath))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Splice(string(doc), Mermaid(packages(t)))
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != want {
		t.Fatalf("%s's dependency picture differs from the code's: run make docs", docPath)
	}
}

// The layout's rules: test equipment is reached only through its
// controller, the exporters know nothing of the alerts, and no package
// grows into a fifth of the code.
func TestLayoutRules(t *testing.T) {
	pkgs := packages(t)
	for _, e := range Edges(pkgs) {
		from, to := e[0], e[1]
		if to == "sandbox" && from != "cluster/control/sandboxctl" {
			t.Errorf("%s imports the sandbox: only its controller may", from)
		}
		if from == "exporters" && strings.HasPrefix(to, "alerts") {
			t.Errorf("exporters imports %s", to)
		}
		if from == "config" && to != "config" {
			t.Errorf("config imports %s: config is the schema everyone else builds on", to)
		}
		if from == "run" {
			t.Errorf("run imports %s: the run type must stay a leaf", to)
		}
	}
	lines := map[string]int{}
	total := 0
	for _, p := range pkgs {
		for _, f := range p.GoFiles {
			n := countLines(t, filepath.Join(p.Dir, f))
			lines[p.Short()] += n
			total += n
		}
	}
	for name, n := range lines {
		if n*5 > total {
			t.Errorf("%s holds %d of %d lines of non-test code, more than a fifth", name, n, total)
		}
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
	}
	return n
}
