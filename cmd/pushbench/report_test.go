package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/results"
)

// The text report `pushbench report` prints weighs the sections stored
// beside results.json, as report.md does: its verdict has the browser's
// and the proxy's lines.
func TestReportTextVerdictReadsSections(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"browser.json", "proxy.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "results", "reference", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &results.Report{Runs: []results.Run{{
		Scenario: "fanout", Transport: "sse", Impl: "std", Clients: 10, Rate: 10, Burst: 1, Payload: 64, DurationS: 1,
		Delivery: results.Delivery{Expected: 100, Delivered: 100}, LatencyNS: results.Latency{P50: 1e6, P99: 2e6, Count: 100},
	}}}
	var out bytes.Buffer
	if err := renderTo(&out, dir, r); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Browser pages", "Behind a reverse proxy"} {
		if !strings.Contains(out.String(), "- "+want+" (") {
			t.Errorf("the text verdict lacks the %q line:\n%s", want, out.String())
		}
		if !strings.Contains(string(md), "- **"+want+"**") {
			t.Errorf("report.md's verdict lacks the %q line", want)
		}
	}
}
