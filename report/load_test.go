package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// loadFixture is two fixed load runs: SSE with a detected millisecond
// stamp, a few messages without one and a reconnection; WebSocket with no
// stamp field and a client that gave up.
func loadFixture(tb testing.TB) []results.LoadRun {
	tb.Helper()
	hist := func(values ...int64) (results.Latency, string) {
		h := hdrhistogram.New(1, 600e9, 3)
		for _, v := range values {
			if err := h.RecordValue(v); err != nil {
				tb.Fatal(err)
			}
		}
		enc, err := results.EncodeHistogram(h)
		if err != nil {
			tb.Fatal(err)
		}
		return results.LatencyOf(h), enc
	}
	spread := func(base, step int64, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = base + int64(i)*step
		}
		return out
	}
	sse := results.LoadRun{
		URL: "https://example.test/events", Transport: contract.SSE, Clients: 3, RampS: 0.3, DurationS: 10,
		EventsReceived: 300, EventsPerClient: results.MinMax{Min: 99, Max: 101}, EventsPerSec: 29.7,
		Bytes: results.LoadBytes{In: 48_213, Out: 1_200}, Reconnects: 1, Errors: results.Errors{Closed: 1},
		Connections: results.LoadConnections{Attempted: 4, Established: 4, PeakConcurrent: 3},
	}
	sse.ConnectNS, sse.Histograms.Connect = hist(spread(180_000, 20_000, 4)...)
	sse.FirstEventNS, sse.Histograms.FirstEvent = hist(spread(151_000_000, 500_000, 4)...)
	sse.InterArrivalNS, sse.Histograms.InterArrival = hist(spread(99_000_000, 10_000, 296)...)
	var lat results.Latency
	lat, sse.Histograms.Latency = hist(spread(400_000, 5_000, 290)...)
	sse.LatencyNS = &results.StampLatency{Latency: lat, Field: "ts", Unit: "ms", UnitFrom: "detected", Missing: 10, Clock: results.ClockNote}

	ws := results.LoadRun{
		URL: "wss://example.test/live", Transport: contract.WS, Clients: 2, RampS: 0.001, DurationS: 5,
		EventsReceived: 50, EventsPerClient: results.MinMax{Min: 0, Max: 50}, EventsPerSec: 10,
		Bytes:  results.LoadBytes{In: 9_000, Out: 700},
		Errors: results.Errors{TooLong: 1}, GaveUp: 1,
		GaveUpError: "websocket wss://example.test/live: loadgen: websocket protocol error: message longer than 1048576 bytes",
		Connections: results.LoadConnections{Attempted: 2, Established: 2, PeakConcurrent: 2},
	}
	ws.ConnectNS, ws.Histograms.Connect = hist(210_000, 230_000)
	ws.FirstEventNS, ws.Histograms.FirstEvent = hist(2_000_000)
	ws.InterArrivalNS, ws.Histograms.InterArrival = hist(spread(200_000_000, 1_000_000, 49)...)
	return []results.LoadRun{sse, ws}
}

func TestGoldenLoad(t *testing.T) {
	r := &results.Report{Env: fixtureEnv, Loads: loadFixture(t)}
	golden(t, "load.txt", render(t, NewLoadReport(r.Loads)))
	var buf bytes.Buffer
	m := &errWriter{w: &buf}
	m.loads(r, []string{"plots/endpoint-load/percentiles.png", "plots/fanout/other.png"}, map[string]bool{})
	if m.err != nil {
		t.Fatal(m.err)
	}
	golden(t, "load.md", buf.Bytes())
}

// A report of load runs alone renders, with its Load section in both
// reports and its chart drawn.
func TestLoadOnlyReport(t *testing.T) {
	r := &results.Report{Env: fixtureEnv, Loads: loadFixture(t)}
	dir := t.TempDir()
	if err := WriteDir(dir, r); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, ReportName))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Load\n", "### Load 1: SSE https://example.test/events", "| latency (ts, ms detected) |",
		"[![percentiles](plots/endpoint-load/percentiles.png)](plots/endpoint-load/percentiles.svg)"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, ext := range []string{".png", ".svg"} {
		if fi, err := os.Stat(filepath.Join(dir, PlotsDir, loadPlotDir, "percentiles"+ext)); err != nil || fi.Size() == 0 {
			t.Errorf("chart %s: %v", ext, err)
		}
	}
	txt := string(render(t, NewTextReport(r)))
	if !strings.Contains(txt, "load\n====\nLoad 1: SSE https://example.test/events") {
		t.Errorf("the text report has no Load section:\n%s", txt)
	}
}

// A report of load runs alone shows none of the sections judged from
// ordinary runs: no verdict that has nothing to decide, no clock note of
// pushbench's own stream, no floor, correctness, targets or summary.
func TestGoldenLoadOnlyReport(t *testing.T) {
	r := &results.Report{Env: fixtureEnv, Loads: loadFixture(t)}
	md := render(t, newMarkdownReport(r, nil))
	txt := render(t, NewTextReport(r))
	golden(t, "load_only.md", md)
	golden(t, "load_only.txt", txt)
	for name, out := range map[string]string{"report.md": string(md), "text report": string(txt)} {
		for _, absent := range []string{"erdict", "Nothing to decide", "floor", "Latency is measured against one clock", "How to read the tables",
			"orrectness", "No delivery was measured", "argets", "ummary", "No runs to compare"} {
			if strings.Contains(out, absent) {
				t.Errorf("load-only %s says %q", name, absent)
			}
		}
	}
}
