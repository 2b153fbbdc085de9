package report

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// plotsFixture is the golden report plus a payload scenario, so every kind
// of plot has data.
func plotsFixture(t *testing.T) *results.Report {
	t.Helper()
	f := defaultFixture()
	r := f.report(t)
	r.Scenarios = append(r.Scenarios, results.ScenarioInfo{Name: "payload", Kind: "payload"},
		results.ScenarioInfo{Name: "idle", Kind: contract.Idle})
	for _, size := range []int{64, 1024, 16384} {
		for _, tr := range []string{"poll", "sse", "ws", "tcp"} {
			iv := 0.0
			if tr == "poll" {
				iv = 1
			}
			run := f.run(t, "payload", tr, 100, 100, iv, 0, 0)
			run.Payload = size
			run.Wire.BytesPerEvent += float64(size)
			r.Runs = append(r.Runs, run)
		}
	}
	for _, tr := range []string{"poll", "sse", "ws", "tcp"} {
		iv := 0.0
		if tr == "poll" {
			iv = 2
		}
		r.Runs = append(r.Runs, f.run(t, "idle", tr, 5000, 0.5, iv, 0, 0))
	}
	return r
}

func TestWritePlots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := plotsFixture(t)
	// PUSHBENCH_KEEP=dir keeps the fixture's results.json and plots there,
	// to look at them or feed them to `pushbench report`.
	if keep := os.Getenv("PUSHBENCH_KEEP"); keep != "" {
		dir = keep
		if err := r.Save(dir); err != nil {
			t.Fatal(err)
		}
	}
	plots, err := writePlots(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"plots/fanout/latency-1000-clients-10-per-s-64B.png",
		"plots/fanout/latency-vs-clients-10-per-s-64B.png",
		"plots/saturation/throughput-vs-rate-50-clients-64B.png",
		"plots/payload/bytes-per-event-100-clients-100-per-s.png",
		"plots/idle/memory-5000-clients-0.5-per-s-64B.png",
		"plots/poll-interval/polling-200-clients-10-per-s-64B.png",
	} {
		if !slices.Contains(plots, want) {
			t.Errorf("no %s in %q", want, plots)
		}
	}
	for _, p := range plots {
		if !strings.HasPrefix(p, PlotsDir+"/") || !strings.HasSuffix(p, ".png") {
			t.Errorf("plot path %q: want plots/….png", p)
		}
		png, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 1000 {
			t.Errorf("%s: not a PNG (%d bytes)", p, len(png))
		}
		svg, err := os.ReadFile(filepath.Join(dir, strings.TrimSuffix(p, ".png")+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(svg, []byte("<svg")) || !bytes.HasSuffix(bytes.TrimSpace(svg), []byte("</svg>")) {
			t.Errorf("%s: SVG twin has no <svg> root", p)
		}
	}
}

// TestWritePlotsSkipsAbsentData: runs without histograms, at one point, get
// no latency, fan-out, saturation or polling plot; only what they measured.
func TestWritePlotsSkipsAbsentData(t *testing.T) {
	t.Parallel()
	r := defaultFixture().report(t)
	var runs []results.Run
	for _, run := range r.RunsOf("fanout") {
		if run.Clients == 100 {
			run.Histogram = ""
			run.Server.BytesPerConn = 0
			runs = append(runs, run)
		}
	}
	r.Runs = runs
	dir := t.TempDir()
	plots, err := writePlots(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(plots) != 0 {
		t.Errorf("plots without data: %q", plots)
	}
	if _, err := os.Stat(filepath.Join(dir, PlotsDir)); err == nil {
		entries, err := os.ReadDir(filepath.Join(dir, PlotsDir))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("plots directory not empty: %v", entries)
		}
	}
}

// TestWritePlotsRemovesStale: re-rendering leaves only this report's plots.
func TestWritePlotsRemovesStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stale := filepath.Join(dir, PlotsDir, "gone", "latency-old.png")
	keep := filepath.Join(dir, PlotsDir, "notes.txt")
	for _, f := range []string{stale, keep} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := defaultFixture().report(t)
	r.Runs = r.RunsOf("poll-interval")
	plots, err := writePlots(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(plots) == 0 {
		t.Fatal("no plots")
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale plot still there: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("non-plot file removed: %v", err)
	}
}
