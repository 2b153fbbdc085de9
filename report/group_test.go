package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/results"
)

func TestGroups(t *testing.T) {
	r := defaultFixture().report(t)
	gs := groupRuns(r.Runs)
	if len(gs) != 8+5+6 {
		t.Fatalf("%d groups, want 19", len(gs))
	}
	// Scenario order, then clients, then transport order.
	var order []string
	for _, g := range gs[:8] {
		order = append(order, g.Config.Label())
	}
	want := "poll 1s sse ws tcp poll 1s sse ws tcp"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	ws := gs[6] // fanout ws at 1000 clients: two repetitions, one lossy
	if ws.Config.Transport != "ws" || ws.Config.Clients != 1000 || len(ws.Runs) != 2 {
		t.Fatalf("group 6 is %+v", ws.Config)
	}
	if ws.P99.N != 2 || ws.P99.Min >= ws.P99.Max || ws.P99.Median != ws.P99.Min {
		t.Errorf("p99 spread %+v: want two values, median the lower", ws.P99)
	}
	if ws.Median.LatencyNS.P99 != int64(ws.P99.Median) {
		t.Errorf("median run's p99 %d, spread median %v", ws.Median.LatencyNS.P99, ws.P99.Median)
	}
	// Totals keep the loss the median run does not have.
	if ws.Median.Lost != 0 || ws.Totals().Lost != 7 {
		t.Errorf("median run lost %d, totals %d; want 0 and 7", ws.Median.Lost, ws.Totals().Lost)
	}
	h, err := ws.Latency()
	if err != nil {
		t.Fatal(err)
	}
	if h.TotalCount() != ws.Runs[0].LatencyNS.Count+ws.Runs[1].LatencyNS.Count {
		t.Errorf("merged histogram holds %d values", h.TotalCount())
	}
}

func TestSpreadOf(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want spread
	}{
		{nil, spread{}},
		{[]float64{5}, spread{5, 5, 5, 1}},
		{[]float64{3, 1, 2}, spread{1, 2, 3, 3}},
		{[]float64{4, 1, 3, 2}, spread{1, 2, 4, 4}},
	} {
		if got := spreadOf(c.in); got != c.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestSettingsList(t *testing.T) {
	s := results.Settings{Repetitions: 3, WarmupS: 2, Extra: map[string]string{"b": "2", "a": "1"}}
	var got []string
	for _, kv := range settingsList(s) {
		got = append(got, kv.Name+"="+kv.Value)
	}
	if want := "warm-up=2s repetitions=3 a=1 b=2"; strings.Join(got, " ") != want {
		t.Errorf("List() = %q, want %q", got, want)
	}
}

func TestWriteDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := WriteDir(dir, defaultFixture().report(t)); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, ReportName))
	if err != nil {
		t.Fatal(err)
	}
	// Every embedded plot exists.
	for _, line := range strings.Split(string(md), "\n") {
		if _, rest, ok := strings.Cut(line, "]("); ok && strings.HasPrefix(line, "[![") {
			png := rest[:strings.Index(rest, ")")]
			if _, err := os.Stat(filepath.Join(dir, png)); err != nil {
				t.Errorf("report embeds %s: %v", png, err)
			}
		}
	}
	if !strings.Contains(string(md), "plots/fanout/latency-100-clients-10-per-s-64B.png") {
		t.Error("report embeds no fan-out latency plot")
	}
}
