// Package testbin builds the pushbench command for tests and benchmarks that
// must run the server as a separate process of the code under test: crash
// and restart checks, real-browser checks, benchmarks.
package testbin

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// Pushbench builds the pushbench command into a temporary directory removed
// when tb ends and returns its path. It skips tb when no go tool is on PATH.
func Pushbench(tb testing.TB) string {
	tb.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Skipf("go is not on PATH, so pushbench cannot be built to run as a separate process: %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "pushbench")
	// The package path, not ./cmd/pushbench: it builds from any directory
	// inside the module, whichever package's test calls it.
	out, err := exec.Command(goTool, "build", "-o", bin, "github.com/pushbench/pushbench/cmd/pushbench").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build ./cmd/pushbench: %v\n%s", err, out)
	}
	return bin
}
