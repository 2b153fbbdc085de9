package report

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// scaleRun is a scale step with round figures: p99 at p99ms, the server and
// generator holding srvKiB and genKiB per connection.
func scaleRun(tb testing.TB, tr string, clients int, p99ms int64, lost uint64, srvKiB, genKiB float64) results.Run {
	tb.Helper()
	h := hdrhistogram.New(1, 600e9, 3)
	for i := range 100 {
		v := int64(i+1) * p99ms * 1e6 / 99
		if err := h.RecordValue(v); err != nil {
			tb.Fatal(err)
		}
	}
	enc, err := results.EncodeHistogram(h)
	if err != nil {
		tb.Fatal(err)
	}
	r := results.Run{
		Scenario: "scale", Transport: contract.Transport(tr), Clients: clients, Rate: 0.5, Burst: 1, Payload: 64, DurationS: 6,
		EventsPublished: 4, Delivery: results.Delivery{Expected: 4 * uint64(clients), Delivered: 4*uint64(clients) - lost, Lost: lost},
		LatencyNS: results.LatencyOf(h), Histogram: enc,
		Connections: results.Connections{Attempted: uint64(clients), Established: uint64(clients), PeakConcurrent: int64(clients),
			ConnectP99NS: 2e6, ConnectRate: 1990},
		Server:  results.Process{BytesPerConn: srvKiB * 1024, HeapPerConn: srvKiB * 512},
		Loadgen: results.Process{BytesPerConn: genKiB * 1024, HeapPerConn: genKiB * 256},
		Idle:    &results.Idle{Seconds: 4, BytesIn: uint64(clients) * 40, BytesPerSecPerConn: 10},
	}
	if tr == "poll" {
		r.PollIntervalS = 2
	}
	return r
}

func scaleFixture(tb testing.TB) *results.Report {
	return &results.Report{
		Env:       results.Env{CPU: "Test CPU", Cores: 2, GoVersion: "go1.26", StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		Scenarios: []results.ScenarioInfo{{Name: "scale", Kind: contract.Scale, Description: "ramp", P99BoundS: 0.5}},
		Runs: []results.Run{
			scaleRun(tb, "poll", 1000, 2100, 0, 3, 6),
			scaleRun(tb, "poll", 19000, 2400, 0, 2, 5),
			scaleRun(tb, "sse", 1000, 20, 0, 12, 9),
			scaleRun(tb, "sse", 19000, 300, 7, 11, 9),
			scaleRun(tb, "ws", 1000, 15, 0, 20, 12),
			scaleRun(tb, "ws", 19000, 900, 0, 21, 18),
			scaleRun(tb, string(contract.Floor), 19000, 90, 0, 3, 4),
		},
	}
}

func TestScaleReport(t *testing.T) {
	r := scaleFixture(t)
	golden(t, "scale.txt", render(t, newScaleReport(r, "scale", defaultScaleTargets, styleText)))
	golden(t, "scale.md", render(t, newScaleReport(r, "scale", defaultScaleTargets, styleMarkdown)))
	if got := render(t, newScaleReport(r, "none", defaultScaleTargets, styleText)); len(got) != 0 {
		t.Fatalf("a scenario without runs rendered %q", got)
	}
}

func TestScalePlots(t *testing.T) {
	dir := t.TempDir()
	all, err := writePlots(dir, scaleFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for _, p := range all {
		if strings.HasPrefix(path.Base(p), "scale-") {
			ps = append(ps, p)
		}
	}
	if want := []string{"plots/scale/scale-memory-0.5-per-s-64B.png", "plots/scale/scale-p99-0.5-per-s-64B.png"}; !slices.Equal(ps, want) {
		t.Fatalf("scale plots %q, want memory and p99: %q", ps, want)
	}
	for _, p := range ps {
		for _, f := range []string{p, p[:len(p)-len(".png")] + ".svg"} {
			if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil || st.Size() < 1000 {
				t.Fatalf("%s: %v", f, err)
			}
		}
	}
}
