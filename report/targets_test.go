package report

import (
	"strings"
	"testing"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// verdictOf evaluates r against projectTargets and returns the verdict of the
// named target for one transport ("" for a target judged over all).
func verdictOf(t *testing.T, r *results.Report, name, tr string) verdict {
	t.Helper()
	for _, v := range evaluate(r, projectTargets) {
		if v.Target.Name == name && v.Transport == contract.Transport(tr) {
			return v
		}
	}
	t.Fatalf("no verdict for %q %q", name, tr)
	return verdict{}
}

// edit applies f to every run of r that match accepts.
func edit(r *results.Report, match func(*results.Run) bool, f func(*results.Run)) {
	for i := range r.Runs {
		if match(&r.Runs[i]) {
			f(&r.Runs[i])
		}
	}
}

func at1k(tr string) func(*results.Run) bool {
	return func(r *results.Run) bool {
		return r.Transport == contract.Transport(tr) && r.Clients == 1000 && r.Rate == 10
	}
}

// TestTargetsFlip: each target turns from met to missed when its figure
// crosses the limit, and the limit itself falls on the side the target
// states ("under" excludes it, "at most" and "at least" include it).
func TestTargetsFlip(t *testing.T) {
	streaming := func(r *results.Run) bool { return r.Transport != "poll" }
	for _, c := range []struct {
		target, tr string
		// set moves the target's figure to v in the fixture.
		set func(r *results.Report, v float64)
		// met and missed are figures either side of the limit.
		met, missed float64
	}{
		{"p50 latency", "ws", func(r *results.Report, v float64) {
			edit(r, at1k("ws"), func(run *results.Run) { run.LatencyNS.P50 = int64(v) })
		}, 999_999, 1_000_000},
		{"p99 latency", "sse", func(r *results.Report, v float64) {
			edit(r, at1k("sse"), func(run *results.Run) { run.LatencyNS.P99 = int64(v) })
		}, 4_999_999, 5_000_000},
		{"no loss", "ws", func(r *results.Report, v float64) {
			// v events lost in the first repetition, none in the second.
			edit(r, at1k("ws"), func(run *results.Run) { run.Lost, v = uint64(v), 0 })
		}, 0, 1},
		{"saturation throughput", "sse", func(r *results.Report, share float64) {
			var floor float64
			edit(r, func(run *results.Run) bool {
				return run.Scenario == "saturation" && run.Transport == contract.Floor && run.Rate == 2000
			},
				func(run *results.Run) { floor = run.DeliveriesPerSec })
			edit(r, func(run *results.Run) bool {
				return run.Scenario == "saturation" && run.Transport == "sse" && run.Rate == 2000
			},
				func(run *results.Run) { run.DeliveriesPerSec = share * floor })
		}, 0.7, 0.699},
		{"load generator CPU", "", func(r *results.Report, ratio float64) {
			edit(r, streaming, func(run *results.Run) { run.Loadgen.CPUPer1kDeliveries = 0.5 * run.Server.CPUPer1kDeliveries })
			edit(r, func(run *results.Run) bool { return run.Scenario == "poll-interval" && run.Transport == "ws" },
				func(run *results.Run) { run.Loadgen.CPUPer1kDeliveries = ratio * run.Server.CPUPer1kDeliveries })
		}, 0.999, 1},
		{"server memory/conn", "sse", func(r *results.Report, v float64) {
			edit(r, at1k("sse"), func(run *results.Run) { run.Server.BytesPerConn = v })
		}, 16 << 10, 16<<10 + 1},
		{"load generator memory/conn", "ws", func(r *results.Report, v float64) {
			edit(r, at1k("ws"), func(run *results.Run) { run.Loadgen.BytesPerConn = v })
		}, 16 << 10, 16<<10 + 1},
	} {
		t.Run(c.target, func(t *testing.T) {
			for _, want := range []struct {
				v      float64
				status status
			}{{c.met, met}, {c.missed, missed}, {c.met, met}} {
				r := defaultFixture().report(t)
				c.set(r, want.v)
				v := verdictOf(t, r, c.target, c.tr)
				if v.Status != want.status {
					t.Errorf("at %v: %s (%s), want %s", want.v, v.Status, v.Text, want.status)
				}
			}
		})
	}
}

func TestTargetsText(t *testing.T) {
	f := defaultFixture()
	r := f.report(t)
	for _, c := range []struct{ target, tr, want string }{
		{"p50 latency", "ws", "fanout, 1,000 clients, 10/s, 64 B: p50 1.62ms, 1.62× the 1ms target"},
		{"no loss", "ws", "fanout, 1,000 clients, 10/s, 64 B: lost 7"},
		{"saturation throughput", "sse", "deliveries/s 96.2k, 1.43× the 67.3k target (0.7× the tcp floor's 96.2k)"},
		{"load generator CPU", "", "10 of 15 configurations meet it; worst: fanout tcp, 100 clients, 10/s, 64 B: load generator CPU/1k 2.4ms, 1.2× the server's 2ms"},
		{"load generator memory/conn", "ws", "load generator RSS/conn 18 KiB, 1.13× the 16 KiB target"},
	} {
		if v := verdictOf(t, r, c.target, c.tr); !strings.Contains(v.Text, c.want) {
			t.Errorf("%s %s: %q lacks %q", c.target, c.tr, v.Text, c.want)
		}
	}

	// When the floor misses a latency target too, the verdict says the
	// bound is the machine's.
	f.base["tcp"] = 2_000_000
	r = f.report(t)
	v := verdictOf(t, r, "p50 latency", "sse")
	if want := "; the tcp floor measured 8.09ms here: this machine's bound, not the protocol's"; v.Status != missed || !strings.HasSuffix(v.Text, want) {
		t.Errorf("floor slower than the target: %s %q, want it to end %q", v.Status, v.Text, want)
	}
	if v := verdictOf(t, defaultFixture().report(t), "p50 latency", "sse"); strings.Contains(v.Text, "floor") {
		t.Errorf("floor within the target, yet named: %q", v.Text)
	}
}

func TestTargetsNotMeasured(t *testing.T) {
	r := defaultFixture().report(t)
	var keep []results.Run
	for _, run := range r.Runs {
		if run.Clients != 1000 && run.Scenario != "saturation" {
			keep = append(keep, run)
		}
	}
	r.Runs = keep
	edit(r, func(run *results.Run) bool { return run.Transport == "ws" }, func(run *results.Run) { run.Loadgen.BytesPerConn = 0 })
	for _, c := range []struct{ target, tr, want string }{
		{"p50 latency", "sse", "no sse run at 1,000 clients and 10/s"},
		{"saturation throughput", "ws", "no saturation scenario ran ws beside the tcp floor"},
		{"load generator memory/conn", "ws", "the ws runs at 200 clients did not record it"},
	} {
		v := verdictOf(t, r, c.target, c.tr)
		if v.Status != notMeasured || v.Measured != 0 || !strings.HasPrefix(v.Text, c.want) {
			t.Errorf("%s %s: %s %q, want not measured, %q", c.target, c.tr, v.Status, v.Text, c.want)
		}
	}
	// Memory is read at the most clients when no idle scenario ran.
	if v := verdictOf(t, r, "server memory/conn", "sse"); v.Status != met || v.Worst.Group.Config.Clients != 200 {
		t.Errorf("server memory at 200 clients: %s %q", v.Status, v.Text)
	}
}

// TestTargetsSaturationLadder: a transport whose ladder stopped below the
// floor's highest rate is held to its best, and the verdict says so.
func TestTargetsSaturationLadder(t *testing.T) {
	r := defaultFixture().report(t)
	var keep []results.Run
	for _, run := range r.Runs {
		if !(run.Scenario == "saturation" && run.Transport == "ws" && run.Rate == 2000) {
			keep = append(keep, run)
		}
	}
	r.Runs = keep
	v := verdictOf(t, r, "saturation throughput", "ws")
	if v.Status != missed || !strings.Contains(v.Text, "deliveries/s 24k, 0.357× the 67.3k target") ||
		!strings.Contains(v.Text, "its ladder stopped at 500/s, below the floor's 2k/s") {
		t.Errorf("ws ladder stopped at 500/s: %s %q", v.Status, v.Text)
	}
}

// TestTargetsIdle: with an idle scenario, memory per connection is read
// there, not at the most clients.
func TestTargetsIdle(t *testing.T) {
	v := verdictOf(t, plotsFixture(t), "server memory/conn", "ws")
	if v.Worst.Group == nil || v.Worst.Group.Config.Scenario != "idle" {
		t.Errorf("memory read off %+v, want the idle scenario", v.Worst.Group)
	}
}

func TestLoadgenFacts(t *testing.T) {
	r := defaultFixture().report(t)
	md := markdown(t, r)
	for _, want := range []string{
		"The load generator used less CPU per delivery than the server in 10 of 19 configurations; the exceptions:",
		"- fanout tcp, 1,000 clients, 10/s, 64 B: 2.4ms against the server's 2ms per 1k deliveries (1.2×)\n",
		"- poll-interval poll 100ms, 200 clients, 10/s, 64 B: 120ms against the server's 80ms per 1k deliveries (1.5×), polling\n",
		"For polling, client and server work per delivery differ by design",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}

	edit(r, func(*results.Run) bool { return true }, func(run *results.Run) { run.Loadgen.CPUPer1kDeliveries = run.Server.CPUPer1kDeliveries / 2 })
	if md := markdown(t, r); !strings.Contains(md, "The load generator used less CPU per delivery than the server in 19 of 19 configurations.\n") ||
		strings.Contains(md, "exception") {
		t.Errorf("cheap load generator:\n%s", md)
	}

	edit(r, func(*results.Run) bool { return true }, func(run *results.Run) { run.Loadgen = results.Process{} })
	md = markdown(t, r)
	if !strings.Contains(md, "## Load generator\n\nNo run recorded the load generator's resource use.\n") {
		t.Errorf("report without load generator figures:\n%s", md)
	}
}
