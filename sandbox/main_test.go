package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/raftdrill/raftdrill/sandbox"
)

// childEnv marks a run of this test binary as a sandbox node started by a
// process-per-node test (the binary stands in for `raftdrill sandbox node`).
const childEnv = "RAFTDRILL_SANDBOX_TEST_NODE"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := sandbox.NodeMain(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
