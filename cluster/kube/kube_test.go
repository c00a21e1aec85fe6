package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOwnNamespace(t *testing.T) {
	dir := t.TempDir()
	NamespaceFile = filepath.Join(dir, "namespace")
	t.Setenv("POD_NAMESPACE", "")
	if _, err := OwnNamespace(); err == nil {
		t.Fatal("no file, no $POD_NAMESPACE: want an error")
	}
	if err := os.WriteFile(NamespaceFile, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OwnNamespace(); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("empty file: %v", err)
	}
	if err := os.WriteFile(NamespaceFile, []byte("kafka\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ns, err := OwnNamespace(); err != nil || ns != "kafka" {
		t.Fatalf("from the file: %q %v", ns, err)
	}
	t.Setenv("POD_NAMESPACE", "staging")
	if ns, err := OwnNamespace(); err != nil || ns != "staging" {
		t.Fatalf("$POD_NAMESPACE wins: %q %v", ns, err)
	}
}

func TestConnectNamesWhatToSet(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err := Connect("", "", "cluster.controller.kubernetes", " for a test")
	if err == nil || !strings.Contains(err.Error(), "set cluster.controller.kubernetes.kubeconfig") || !strings.Contains(err.Error(), "for a test") {
		t.Fatalf("no kubeconfig anywhere: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "kubeconfig")
	if _, err := Connect(missing, "", "k", ""); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("a kubeconfig that does not exist: %v", err)
	}
}
