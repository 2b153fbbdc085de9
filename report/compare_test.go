package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/results"
)

// clone deep-copies r through JSON, as an edited copy of results.json is.
func clone(t *testing.T, r *results.Report) *results.Report {
	t.Helper()
	r.Schema = results.SchemaVersion // as Save writes it
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	out, err := results.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func reference(t *testing.T) *results.Report {
	t.Helper()
	r, err := results.Load(filepath.Join("..", "results", "reference"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// cleanFixture is the verdict fixture without its one loss (saturation sse at
// 4k/s), which would fail lost>0 in any comparison.
func cleanFixture() *results.Report {
	r := verdictFixture()
	for i := range r.Runs {
		r.Runs[i].Lost, r.Runs[i].Delivered = 0, r.Runs[i].Expected
	}
	return r
}

func defaults(t *testing.T) []Threshold {
	t.Helper()
	th, err := ParseThresholds(DefaultFailOn)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

func compareText(t *testing.T, c *Comparison) string {
	t.Helper()
	return string(render(t, NewCompareReport(c, false, "old", "new")))
}

// TestCompareSelf: a run compared with itself passes, with every change 0.
func TestCompareSelf(t *testing.T) {
	for name, r := range map[string]*results.Report{"reference": reference(t), "verdict fixture": cleanFixture()} {
		c := Compare([]*results.Report{r}, []*results.Report{clone(t, r)}, defaults(t))
		if c.Failed() {
			t.Errorf("%s against itself fails: %q", name, c.FailedConfigs())
		}
		if len(c.OnlyOld)+len(c.OnlyNew) > 0 || c.Configs == 0 {
			t.Errorf("%s against itself: %d configurations, only old %q, only new %q", name, c.Configs, c.OnlyOld, c.OnlyNew)
		}
		for _, row := range c.Rows {
			if row.Change != 0 {
				t.Errorf("%s against itself: %s %s changed %g", name, row.Config, row.Metric, row.Change)
			}
		}
		if out := compareText(t, c); !strings.Contains(out, "PASS: no significant change crossed a threshold.") {
			t.Errorf("%s against itself:\n%s", name, out)
		}
	}
}

// doubleP99 doubles the p99 of every run of r for which pick is true.
func doubleP99(r *results.Report, pick func(*results.Run) bool) {
	for i := range r.Runs {
		if run := &r.Runs[i]; pick(run) {
			run.LatencyNS.P99 *= 2
		}
	}
}

// TestCompareDoubledP99: a copy with p99 doubled fails and names exactly
// the configurations doubled: with 4 runs each by the U test, with fewer
// against the noise the two files show.
func TestCompareDoubledP99(t *testing.T) {
	t.Run("4 runs each", func(t *testing.T) {
		old := cleanFixture()
		new := clone(t, old)
		doubleP99(new, func(r *results.Run) bool { return r.Scenario == "fanout" && r.Clients == 1000 && r.Transport == "sse" })
		c := Compare([]*results.Report{old}, []*results.Report{new}, defaults(t))
		if got, want := c.FailedConfigs(), []string{"fanout sse, 1,000 clients, 10/s, 64 B"}; !slices.Equal(got, want) {
			t.Fatalf("failed %q, want %q", got, want)
		}
		out := compareText(t, c)
		for _, want := range []string{"FAIL: 1 configuration crossed a threshold:", "fanout sse, 1,000 clients, 10/s, 64 B: p99 22.5ms → 45ms (+100%, p=0.029) fails p99>+20%"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("reference, runs measured once", func(t *testing.T) {
		old := reference(t)
		new := clone(t, old)
		doubleP99(new, func(*results.Run) bool { return true })
		c := Compare([]*results.Report{old}, []*results.Report{new}, defaults(t))
		got := c.FailedConfigs()
		// A configuration measured once has no U test: doubling its p99
		// must fail it against the noise the repeated ones show. (Those
		// run 4 times, where the U test decides; the subtest above covers
		// them.)
		once := 0
		for _, g := range groupRuns(old.Runs) {
			if len(g.Runs) != 1 {
				continue
			}
			once++
			if name := g.Config.Scenario + " " + g.Config.Label() + ", " + g.Config.Load(); !slices.Contains(got, name) {
				t.Errorf("%s, measured once, did not fail with its p99 doubled", name)
			}
		}
		if once == 0 {
			t.Fatal("the reference has no configuration measured once")
		}
		if slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "recovery ") }) {
			t.Errorf("a recovery configuration failed, though its figures did not change: %q", got)
		}
		if out := compareText(t, c); !regexp.MustCompile(`> noise [0-9.]+%\) fails p99>\+20%`).MatchString(out) {
			t.Errorf("doubled p99 not judged against the noise:\n%s", out)
		}
	})
	t.Run("a small rise is not enough", func(t *testing.T) {
		old := cleanFixture()
		new := clone(t, old)
		for i := range new.Runs {
			new.Runs[i].LatencyNS.P99 = new.Runs[i].LatencyNS.P99 * 11 / 10
		}
		if c := Compare([]*results.Report{old}, []*results.Report{new}, defaults(t)); c.Failed() {
			t.Errorf("+10%% fails p99>+20%%: %q", c.FailedConfigs())
		}
	})
}

// TestCompareLost: one lost event fails, with no statistics needed.
func TestCompareLost(t *testing.T) {
	old := reference(t)
	new := clone(t, old)
	i := slices.IndexFunc(new.Runs, func(r results.Run) bool { return r.Scenario == "idle" && r.Transport == "ws" })
	new.Runs[i].Lost = 1
	c := Compare([]*results.Report{old}, []*results.Report{new}, defaults(t))
	if got, want := c.FailedConfigs(), []string{"idle ws/gorilla, 5,000 clients, 0.5/s, 64 B"}; !slices.Equal(got, want) {
		t.Fatalf("failed %q, want %q", got, want)
	}
	md := string(render(t, NewCompareReport(c, true, "old", "new")))
	for _, want := range []string{"## lost", "| idle ws/gorilla, 5,000 clients, 0.5/s, 64 B |   0 |   1 |     +∞ | count        | FAIL lost>0 |", "**FAIL**: 1 configuration crossed a threshold"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// The same in a fault run.
	new = clone(t, old)
	new.Faults[0].Delivery.Duplicates = 2
	c = Compare([]*results.Report{old}, []*results.Report{new}, defaults(t))
	if got := c.FailedConfigs(); len(got) != 1 || !strings.HasPrefix(got[0], "recovery crash poll") {
		t.Errorf("a duplicated event in a fault run: failed %q", got)
	}
}

// TestComparePools: sessions pooled on one side are repetitions of one
// another, so four quick runs per side reach the U test.
func TestComparePools(t *testing.T) {
	base := cleanFixture()
	one := func(rep int, factor int64) *results.Report {
		r := clone(t, base)
		var runs []results.Run
		seen := map[config]int{}
		for _, run := range r.Runs {
			c := configOf(&run)
			if seen[c] == rep {
				run.LatencyNS.P99 *= factor
				runs = append(runs, run)
			}
			seen[c]++
		}
		r.Runs = runs
		return r
	}
	var old, new []*results.Report
	for rep := range 4 {
		old = append(old, one(rep, 1))
		new = append(new, one(rep, 3))
	}
	c := Compare(old, new, defaults(t))
	if !c.Failed() {
		t.Fatal("p99 tripled in 4 pooled sessions does not fail")
	}
	if out := compareText(t, c); !strings.Contains(out, "(+200%, p=0.029) fails p99>+20%") {
		t.Errorf("pooled sessions not tested over their runs:\n%s", out)
	}
}

// TestCompareMatchesUnnamedImpls: a file written before runs named their
// implementation compares with one that names it, where that is
// unambiguous.
func TestCompareMatchesUnnamedImpls(t *testing.T) {
	old := reference(t)
	new := clone(t, old)
	for i := range new.Runs {
		if new.Runs[i].Scenario == "fanout" {
			new.Runs[i].Impl = "std"
		}
	}
	c := Compare([]*results.Report{old}, []*results.Report{new}, defaults(t))
	if len(c.OnlyOld)+len(c.OnlyNew) > 0 || c.Failed() {
		t.Errorf("only old %q, only new %q, failed %q", c.OnlyOld, c.OnlyNew, c.FailedConfigs())
	}
}

func TestParseThresholds(t *testing.T) {
	th, err := ParseThresholds("p99>+10%, deliveries/s<-5%,p99>=50ms,mem/conn>16KiB,lost>0")
	if err != nil {
		t.Fatal(err)
	}
	want := []Threshold{
		{Metric: "p99", Op: ">", Value: 0.1, Relative: true},
		{Metric: "deliveries/s", Op: "<", Value: -0.05, Relative: true},
		{Metric: "p99", Op: ">=", Value: 50e6},
		{Metric: "mem/conn", Op: ">", Value: 16 << 10},
		{Metric: "lost", Op: ">", Value: 0},
	}
	if len(th) != len(want) {
		t.Fatalf("got %d thresholds", len(th))
	}
	for i := range want {
		got := th[i]
		got.text = ""
		if got.Metric != want[i].Metric || got.Op != want[i].Op || got.Relative != want[i].Relative ||
			got.Value < want[i].Value-1e-9 || got.Value > want[i].Value+1e-9 {
			t.Errorf("threshold %d = %+v, want %+v", i, got, want[i])
		}
	}
	if th, err := ParseThresholds("none"); err != nil || len(th) != 0 {
		t.Errorf("none: %v %v", th, err)
	}
	for _, bad := range []string{"p98>+10%", "p99=10%", ">10%", "lost>+10%", "p99>fast"} {
		if _, err := ParseThresholds(bad); !errors.Is(err, ErrThreshold) {
			t.Errorf("ParseThresholds(%q) = %v, want ErrThreshold", bad, err)
		}
	}
}

// TestCompareAbsoluteThreshold: an absolute limit fails on the new figure
// alone.
func TestCompareAbsoluteThreshold(t *testing.T) {
	r := verdictFixture()
	th, err := ParseThresholds("p99>500ms")
	if err != nil {
		t.Fatal(err)
	}
	c := Compare([]*results.Report{r}, []*results.Report{clone(t, r)}, th)
	got := c.FailedConfigs()
	if len(got) == 0 || !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "poll 1s") }) ||
		slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, " ws") }) {
		t.Errorf("p99>500ms failed %q: want the pollers only", got)
	}
}

func TestGoldenCompare(t *testing.T) {
	old := cleanFixture()
	new := clone(t, old)
	doubleP99(new, func(r *results.Run) bool { return r.Scenario == "fanout" && r.Transport == "ws" })
	new.Runs[0].Lost = 1
	c := Compare([]*results.Report{old}, []*results.Report{new}, defaults(t))
	golden(t, "compare.txt", render(t, NewCompareReport(c, false, "old", "new")))
	golden(t, "compare.md", render(t, NewCompareReport(c, true, "old", "new")))
}
