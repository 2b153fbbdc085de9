package report

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/resultstest"
	"github.com/pushbench/pushbench/results"
)

func scaleFixture(tb testing.TB) *results.Report {
	return &results.Report{
		Env:       results.Env{CPU: "Test CPU", Cores: 2, GoVersion: "go1.26", StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		Scenarios: []results.ScenarioInfo{{Name: "scale", Kind: contract.Scale, Description: "ramp", P99BoundS: 0.5}},
		Runs: []results.Run{
			resultstest.ScaleRun(tb, "poll", 1000, 2100, 0, 3, 6),
			resultstest.ScaleRun(tb, "poll", 19000, 2400, 0, 2, 5),
			resultstest.ScaleRun(tb, "sse", 1000, 20, 0, 12, 9),
			resultstest.ScaleRun(tb, "sse", 19000, 300, 7, 11, 9),
			resultstest.ScaleRun(tb, "ws", 1000, 15, 0, 20, 12),
			resultstest.ScaleRun(tb, "ws", 19000, 900, 0, 21, 18),
			resultstest.ScaleRun(tb, string(contract.Floor), 19000, 90, 0, 3, 4),
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
