package report

import (
	"slices"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// irun is one run of the implementations fixture: the figures the
// Implementations section, the load generator's steps and the verdict
// read, every one fixed.
type irun struct {
	scenario  string
	transport contract.Transport
	impl      string
	clients   int
	rate      float64
	interval  float64 // polling interval, s
	p50ms     float64
	p99ms     float64
	cpuMS     float64 // server CPU per 1k deliveries, ms
	memKiB    float64 // server memory per connection
	lgShare   float64 // load generator CPU per delivery over the server's
	srvCores  float64
	lgCores   float64
	lost      uint64
}

// fixtureLibraries are what each implementation is built on, as runs
// record it.
var fixtureLibraries = map[string]string{
	"sse/std": "net/http go1.26.8", "sse/gosse": "github.com/tmaxmax/go-sse v0.11.0", "sse/nbio": "github.com/lesismal/nbio v1.6.7",
	"ws/gorilla": "github.com/gorilla/websocket v1.5.3", "ws/gws": "github.com/lxzan/gws v1.8.9",
	"ws/nbio": "github.com/lesismal/nbio v1.6.7", "ws/coder": "github.com/coder/websocket v1.8.13",
	"poll/std": "net/http go1.26.8", "longpoll/std": "net/http go1.26.8",
}

// run makes repetition rep of v: latency and CPU grow by 1% a repetition,
// memory by 0.3% every other one.
func (v irun) run(rep int) results.Run {
	expected := uint64(v.rate*5) * uint64(v.clients)
	f := 1 + 0.01*float64(rep)
	cpu := v.cpuMS / 1e3 * f
	return results.Run{
		Scenario: v.scenario, Transport: v.transport, Impl: v.impl, Library: fixtureLibraries[string(v.transport)+"/"+v.impl],
		ImplNotes: fixtureNotes[string(v.transport)+"/"+v.impl],
		Clients:   v.clients, Rate: v.rate, Burst: 1, Payload: 64, PollIntervalS: v.interval, DurationS: 5,
		Delivery:         results.Delivery{Expected: expected, Delivered: expected - v.lost, Lost: v.lost},
		LatencyNS:        results.Latency{P50: int64(v.p50ms * 1e6 * f), P99: int64(v.p99ms * 1e6 * f), Count: 1000},
		DeliveriesPerSec: float64(expected-v.lost) / 5,
		Connections:      results.Connections{Attempted: uint64(v.clients), Established: uint64(v.clients), PeakConcurrent: int64(v.clients)},
		Server:           results.Process{CPUPer1kDeliveries: cpu, BytesPerConn: v.memKiB * 1024 * (1 + 0.003*float64(rep%2)), Cores: v.srvCores},
		Loadgen:          results.Process{CPUPer1kDeliveries: cpu * v.lgShare, Cores: v.lgCores},
	}
}

// fixtureNotes are what some implementations do differently, as the
// registry says it.
var fixtureNotes = map[string]string{"ws/coder": "write deadlines are contexts"}

// implFixture is a report with several implementations per transport,
// each case with a known answer:
//
//   - fanout ran the defaults unnamed, and the runs recorded sse/std,
//     ws/gorilla and poll/std: the defaults come from the runs (longpoll's
//     from the registry's mirror);
//   - impl-fanout, 4 runs each: sse/std within 0.9× of sse's best on every
//     figure; ws/gorilla not within on p99, CPU and memory (within on p50);
//     sse and ws differ by 1.05× on p99, less than the 3.2× between ws's
//     implementations;
//   - impl-idle, one run each: memory per connection only;
//   - impl-saturation: sse/std breaks by loss at 8k/s, ws/gorilla by p99
//     at 4k/s with the server at its core, ws/gws is limited by the load
//     generator at 8k/s (0.97 of its core, the server at 0.55), sse/nbio
//     holds every rate.
func implFixture() *results.Report {
	r := &results.Report{
		Env: fixtureEnv, Matrix: "implementations",
		Settings: results.Settings{ServerCPUs: "0", LoadgenCPUs: "1", Repetitions: 4},
		Scenarios: []results.ScenarioInfo{
			{Name: "fanout", Kind: contract.FanOut, Description: "the defaults, 1,000 clients at 10 events/s"},
			{Name: "impl-fanout", Kind: contract.FanOut, Description: "every implementation, 1,000 clients at 10 events/s"},
			{Name: "impl-idle", Kind: contract.Idle, Description: "every implementation holding 5,000 connections"},
			{Name: "impl-saturation", Kind: contract.Saturation, Description: "every implementation, the rate doubling", P99BoundS: 0.05},
		},
	}
	add := func(v irun, n int) {
		for rep := range n {
			r.Runs = append(r.Runs, v.run(rep))
		}
	}
	fan := func(scenario string, tr contract.Transport, impl string, p50, p99, cpu, mem float64) irun {
		v := irun{scenario: scenario, transport: tr, impl: impl, clients: 1000, rate: 10, p50ms: p50, p99ms: p99, cpuMS: cpu, memKiB: mem, lgShare: 0.8}
		if tr == contract.Poll {
			v.interval = 1
		}
		return v
	}
	add(fan("fanout", contract.Poll, "std", 500, 990, 8.5, 21), 2)
	add(fan("fanout", contract.SSE, "std", 1.1, 10.5, 15, 20), 2)
	add(fan("fanout", contract.WS, "gorilla", 1.15, 13.1, 16, 25), 2)
	add(fan("fanout", contract.TCP, "", 0.8, 8, 10, 6), 2)
	for _, v := range []irun{
		fan("impl-fanout", contract.Poll, "std", 500, 990, 8.5, 21),
		fan("impl-fanout", contract.LongPoll, "std", 2, 9, 25, 24),
		fan("impl-fanout", contract.SSE, "std", 1.1, 10.5, 15, 20),
		fan("impl-fanout", contract.SSE, "gosse", 1.2, 11, 16, 22),
		fan("impl-fanout", contract.SSE, "nbio", 1, 10, 14.5, 19),
		fan("impl-fanout", contract.WS, "gorilla", 1.15, 13.1, 16, 25),
		fan("impl-fanout", contract.WS, "coder", 2.5, 33.6, 22, 20),
		fan("impl-fanout", contract.WS, "gws", 1.05, 10.5, 12, 18),
		fan("impl-fanout", contract.WS, "nbio", 1.1, 11.5, 13, 18),
		fan("impl-fanout", contract.TCP, "", 0.8, 8, 10, 6),
	} {
		add(v, 4)
	}
	idle := func(tr contract.Transport, impl string, interval, mem float64) irun {
		return irun{scenario: "impl-idle", transport: tr, impl: impl, clients: 5000, rate: 0.5, interval: interval,
			p50ms: 40, p99ms: 90, cpuMS: 30, memKiB: mem, lgShare: 0.7}
	}
	for _, v := range []irun{
		idle(contract.Poll, "std", 2, 20.3), idle(contract.SSE, "std", 0, 17), idle(contract.SSE, "nbio", 0, 6),
		idle(contract.WS, "gorilla", 0, 23.4), idle(contract.WS, "nbio", 0, 5.5), idle(contract.TCP, "", 0, 5.1),
	} {
		add(v, 1)
	}
	// Each ladder: p99 (ms), server and load generator cores, and load
	// generator share at 1k, 2k, 4k and 8k/s; lost events at 8k/s.
	type step struct{ p99, srv, lg, share float64 }
	for _, l := range []struct {
		tr    contract.Transport
		impl  string
		steps []step
		lost  uint64
	}{
		{contract.SSE, "std", []step{{3, 0.2, 0.1, 0.4}, {5, 0.4, 0.2, 0.4}, {9, 0.8, 0.35, 0.4}, {20, 0.99, 0.5, 0.4}}, 120},
		{contract.SSE, "nbio", []step{{2, 0.15, 0.07, 0.45}, {3, 0.3, 0.14, 0.45}, {5, 0.6, 0.28, 0.45}, {8, 0.88, 0.5, 0.45}}, 0},
		{contract.WS, "gorilla", []step{{3, 0.3, 0.2, 0.6}, {6, 0.6, 0.4, 0.6}, {80, 0.98, 0.6, 0.6}, {400, 0.99, 0.6, 0.6}}, 0},
		{contract.WS, "gws", []step{{2, 0.15, 0.14, 0.9}, {3, 0.28, 0.27, 0.9}, {6, 0.5, 0.5, 0.9}, {70, 0.55, 0.97, 0.9}}, 0},
		{contract.TCP, "", []step{{1, 0.1, 0.04, 0.4}, {2, 0.2, 0.08, 0.4}, {3, 0.4, 0.16, 0.4}, {5, 0.8, 0.32, 0.4}}, 0},
	} {
		for i, rate := range []float64{1000, 2000, 4000, 8000} {
			s := l.steps[i]
			v := irun{scenario: "impl-saturation", transport: l.tr, impl: l.impl, clients: 100, rate: rate,
				p50ms: s.p99 / 3, p99ms: s.p99, cpuMS: 4, memKiB: 30, lgShare: s.share, srvCores: s.srv, lgCores: s.lg}
			if rate == 8000 {
				v.lost = l.lost
			}
			add(v, 1)
		}
	}
	return r
}

func TestGoldenImplementations(t *testing.T) {
	r := implFixture()
	golden(t, "impls.md", render(t, newMarkdownReport(r, nil)))
	golden(t, "impls.txt", render(t, NewTextReport(r)))
}

// cells returns the trimmed cells of the first Markdown table row, after
// the first line containing after, whose first cell is first.
func cells(t *testing.T, md, after, first string) []string {
	t.Helper()
	i := strings.Index(md, after)
	if i < 0 {
		t.Fatalf("no %q in report.md", after)
	}
	for _, l := range strings.Split(md[i:], "\n") {
		if !strings.HasPrefix(l, "|") {
			continue
		}
		cs := strings.Split(strings.Trim(l, "|"), "|")
		for j := range cs {
			cs[j] = strings.TrimSpace(cs[j])
		}
		if cs[0] == first {
			return cs
		}
	}
	t.Fatalf("no row %q after %q", first, after)
	return nil
}

// The section's rules, each on the case the fixture built for it.
func TestImplementationsRules(t *testing.T) {
	md := string(render(t, newMarkdownReport(implFixture(), nil)))
	for _, c := range []struct{ name, want string }{
		{"defaults from the runs", "Defaults: poll/std, sse/std and ws/gorilla, as the report's other scenarios ran them; longpoll/std, as servers/impls.go registers it"},
		{"default within", "sse/std is within 0.9× of its transport's best on p50 latency, p99 latency, server CPU per 1k deliveries and server memory per connection."},
		{"default not within", "ws/gorilla **is not within 0.9×** of its transport's best: it has 1.25× the p99 latency of ws/gws (13.2ms against 10.6ms; p=0.029)"},
		{"memory not within", "uses 1.39× the server memory per connection of ws/gws (25 KiB against 18 KiB; p=0.029); within on p50 latency."},
		{"library matters more", "sse and ws differ by 1.05× on p50 latency, less than the 2.38× between ws's implementations (ws/gws 1.06ms to ws/coder 2.53ms); and by 1.05× on p99 latency, less than the 3.2× between ws's implementations (ws/gws 10.6ms to ws/coder 33.9ms)"},
		{"idle compares memory only", "sse/std **is not within 0.9×** of its transport's best: it uses 2.83× the server memory per connection of sse/nbio (17 KiB against 6 KiB; > noise 0.3%)."},
		{"break by the load generator", "at 8k/s the load generator, not the server, was the limit (load generator 0.97 of 1 core, server 0.55 of 1)"},
		{"no break", "no break up to 8k/s, the highest rate tried"},
		{"ladder default", "ws/gorilla held 2k/s, **not within 0.9× of its transport's best**: 0.5× what ws/gws held (at least 4k/s)."},
		{"loadgen share", "The load generator spent at most 0.5× the server's CPU per delivery in 12 of 20 saturation steps; more: impl-saturation ws/gorilla at all 4 of its steps (0.6×) and impl-saturation ws/gws at all 4 of its steps (0.9×)."},
		{"summary ladder", "ws/gws 4k/s (at 8k/s limited by the load generator, not the server), tcp 8k/s (the highest tried)"},
		{"verdict ladder", "ws/gws's ladder stopped at 8k/s limited by the load generator, not the server (load generator 0.97 of 1 core, server 0.55 of 1): the server's own limit was not found"},
	} {
		if !strings.Contains(md, c.want) {
			t.Errorf("%s: report.md lacks %q", c.name, c.want)
		}
	}
	for _, c := range []struct {
		name, after, first string
		want               []string
	}{
		{"median figures and library", "### impl-fanout", "ws/gws", []string{"ws/gws", "4", "", "exact", "1.06ms", "10.6ms", "12.1ms", "18 KiB", "github.com/lxzan/gws v1.8.9"}},
		{"default marked", "### impl-fanout", "ws/gorilla", []string{"ws/gorilla", "4", "default", "exact", "1.16ms", "13.2ms", "16.2ms", "25 KiB", "github.com/gorilla/websocket v1.5.3"}},
		{"spreads", "### impl-fanout", "ws", []string{"ws", "4", "2.38×", "1.05×", "3.2×", "1.17×", "1.83×", "1.41×", "1.39×", "1×"}},
		{"break by loss", "### impl-saturation", "sse/std", []string{"sse/std", "100 clients, 64 B", "default", "4k/s", "8k/s", "lost 120 events", "net/http go1.26.8"}},
		{"break by p99", "### impl-saturation", "ws/gorilla", []string{"ws/gorilla", "100 clients, 64 B", "default", "2k/s", "4k/s", "p99 80ms over the 50ms bound", "github.com/gorilla/websocket v1.5.3"}},
	} {
		got := cells(t, md, c.after, c.first)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: row %q", c.name, got)
		}
	}
	var limited []string
	i := strings.Index(md, "At saturation, every step")
	for _, l := range strings.Split(md[i:], "\n") {
		if strings.Contains(l, "limited by the load generator, not the server |") {
			limited = append(limited, l)
		}
	}
	if len(limited) != 1 || !strings.Contains(limited[0], "| ws/gws ") || !strings.Contains(limited[0], " 100 clients, 8k/s, 64 B ") {
		t.Errorf("steps limited by the load generator: %q, want ws/gws at 8k/s alone", limited)
	}
	// The step the load generator limited is no break of the server's.
	if strings.Contains(md, "ws/gws broke at 8k/s") {
		t.Error("the verdict counts the load generator's limit as ws/gws's break")
	}
}

// A report whose runs name no implementation, or one per transport, has
// no Implementations section and no saturation steps without cores.
func TestNoImplementationsSection(t *testing.T) {
	r := defaultFixture().report(t)
	md := string(render(t, newMarkdownReport(r, nil)))
	txt := string(render(t, NewTextReport(r)))
	for _, s := range []string{"## Implementations", "At saturation, every step"} {
		if strings.Contains(md, s) {
			t.Errorf("report.md has %q", s)
		}
	}
	if strings.Contains(txt, "implementations\n===") {
		t.Error("the text report has an implementations block")
	}
}

func TestCPUCount(t *testing.T) {
	for list, want := range map[string]int{"": 0, "0": 1, "1-1": 1, "1-3": 3, "0,2-3": 3, "x": 0, "3-1": 0} {
		if got := cpuCount(list); got != want {
			t.Errorf("cpuCount(%q) = %d, want %d", list, got, want)
		}
	}
}

func TestDefaultsOf(t *testing.T) {
	r := implFixture()
	d := defaultsOf(r)
	for tr, want := range map[contract.Transport]string{contract.SSE: "std", contract.WS: "gorilla", contract.LongPoll: "std"} {
		if d.impl[tr] != want {
			t.Errorf("default of %s: %q, want %q", tr, d.impl[tr], want)
		}
	}
	if !d.fromRuns[contract.WS] || d.fromRuns[contract.LongPoll] {
		t.Errorf("fromRuns = %v, want ws from the runs and longpoll from the registry", d.fromRuns)
	}
	// Scenarios that disagree fall back to the registry.
	r.Runs = append(r.Runs, irun{scenario: "other", transport: contract.WS, impl: "gws", clients: 1, rate: 1}.run(0))
	if d := defaultsOf(r); d.impl[contract.WS] != "gorilla" || d.fromRuns[contract.WS] {
		t.Errorf("with a scenario of ws/gws alone: default %q from runs %v, want gorilla from the registry", d.impl[contract.WS], d.fromRuns[contract.WS])
	}
}

// Two ladders that held the same rate, one stopped above it by the load
// generator: the verdict cannot tell them apart, rather than calling them
// equal.
func TestSaturationLadderLimitedByLoadgen(t *testing.T) {
	r := &results.Report{Env: fixtureEnv, Settings: results.Settings{ServerCPUs: "0", LoadgenCPUs: "1"},
		Scenarios: []results.ScenarioInfo{{Name: "sat", Kind: contract.Saturation, P99BoundS: 0.05}}}
	for _, s := range []struct {
		impl           string
		rate, p99      float64
		srv, lg, share float64
	}{
		{"std", 2000, 5, 0.5, 0.2, 0.4}, {"std", 4000, 90, 0.99, 0.4, 0.4},
		{"gws", 2000, 5, 0.4, 0.5, 0.9}, {"gws", 4000, 80, 0.5, 0.95, 0.9},
	} {
		tr := contract.SSE
		if s.impl == "gws" {
			tr = contract.WS
		}
		r.Runs = append(r.Runs, irun{scenario: "sat", transport: tr, impl: s.impl, clients: 100, rate: s.rate,
			p50ms: 1, p99ms: s.p99, cpuMS: 4, memKiB: 30, lgShare: s.share, srvCores: s.srv, lgCores: s.lg}.run(0))
	}
	v := renderVerdict(t, r, Facts{}, styleMarkdown)
	want := "both held 2k/s; above it the load generator, not the server, was the limit of ws/gws at 4k/s (load generator 0.95 of 1 core, server 0.5 of 1)"
	if l := line(t, v, "Few clients at a high rate", ""); !strings.Contains(l, "**cannot tell**") || !strings.Contains(l, want) {
		t.Errorf("verdict line:\n%s\nwant cannot tell and %q", l, want)
	}
}
