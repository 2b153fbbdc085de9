package results

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	want := defaultFixture().report(t)
	if err := want.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("report changed in a save and load")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != FileName {
		t.Errorf("directory holds %v, want only %s (no temporary left)", entries, FileName)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if _, err := Decode(strings.NewReader(`{"runs": []}`)); !errors.Is(err, ErrNoRuns) {
		t.Errorf("empty report: %v, want ErrNoRuns", err)
	}
	if _, err := Decode(strings.NewReader(`{"runs": [`)); err == nil {
		t.Error("truncated JSON: no error")
	}
	// A newer pushbench's fields do not stop an older one rendering.
	r, err := Decode(strings.NewReader(`{"future": 1, "runs": [{"transport": "sse", "clients": 1, "future": true}]}`))
	if err != nil || len(r.Runs) != 1 {
		t.Errorf("unknown fields: %v", err)
	}
}

func TestGroups(t *testing.T) {
	r := defaultFixture().report(t)
	gs := Groups(r.Runs)
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
		want Spread
	}{
		{nil, Spread{}},
		{[]float64{5}, Spread{5, 5, 5, 1}},
		{[]float64{3, 1, 2}, Spread{1, 2, 3, 3}},
		{[]float64{4, 1, 3, 2}, Spread{1, 2, 4, 4}},
	} {
		if got := spreadOf(c.in); got != c.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestCurrentEnv(t *testing.T) {
	e := CurrentEnv()
	if e.Cores < 1 || e.GoVersion != runtime.Version() || e.StartedAt.IsZero() || !strings.Contains(e.OS, runtime.GOOS) {
		t.Errorf("CurrentEnv() = %+v", e)
	}
	if runtime.GOOS == "linux" && (e.Kernel == "" || e.MemoryBytes == 0) {
		t.Errorf("on Linux, kernel %q and memory %d should be known", e.Kernel, e.MemoryBytes)
	}
}

func TestSettingsList(t *testing.T) {
	s := Settings{Repetitions: 3, WarmupS: 2, Extra: map[string]string{"b": "2", "a": "1"}}
	var got []string
	for _, kv := range s.List() {
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
