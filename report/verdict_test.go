package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// vrun is one run of the verdict fixture: only the figures the verdict
// reads, every one fixed.
type vrun struct {
	scenario  string
	transport contract.Transport
	impl      string
	clients   int
	rate      float64
	payload   int
	interval  float64 // polling interval, s
	p99ms     float64
	cpuMS     float64 // server CPU per 1k deliveries, ms
	memKiB    float64 // server memory per connection
	lost      uint64
}

func (v vrun) run() results.Run {
	expected := uint64(v.rate*5) * uint64(v.clients)
	return results.Run{
		Scenario: v.scenario, Transport: v.transport, Impl: v.impl, Clients: v.clients, Rate: v.rate, Burst: 1,
		Payload: cmpOr(v.payload, 64), PollIntervalS: v.interval, DurationS: 5,
		Delivery:         results.Delivery{Expected: expected, Delivered: expected - v.lost, Lost: v.lost},
		LatencyNS:        results.Latency{P50: int64(v.p99ms * 5e5), P99: int64(v.p99ms * 1e6), Count: 1000},
		DeliveriesPerSec: float64(expected-v.lost) / 5,
		Server:           results.Process{CPUPer1kDeliveries: v.cpuMS / 1e3, BytesPerConn: v.memKiB * 1024},
	}
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// reps makes one run per p99 (ms), the rest of v alike but for memory per
// connection, which varies by 0.3% a run, as in the reference run.
func reps(v vrun, p99s ...float64) []results.Run {
	var out []results.Run
	mem := v.memKiB
	for i, p := range p99s {
		v.p99ms, v.memKiB = p, mem*(1+0.003*float64(i%2))
		out = append(out, v.run())
	}
	return out
}

// verdictFixture is a report every verdict rule has something to say
// about, with a known answer each:
//
//   - fanout, 1,000 clients, 4 runs each: sse and ws overlap (no measurable
//     difference in p99); poll costs least per delivery, significantly;
//     ws at 100 clients is faster, but the rule reads the most clients;
//   - impl-fanout: ws/gws beats sse/std by less than ws's implementations
//     differ (the implementation matters more);
//   - payload, 2 runs each: too few repetitions to tell;
//   - saturation: ws held 4k/s, sse lost events at 4k/s (use ws);
//   - idle, one run each: sse's memory per connection beyond the report's
//     noise (use sse);
//   - recovery: crash and partition, one run each.
func verdictFixture() *results.Report {
	r := &results.Report{
		Env: fixtureEnv, Matrix: "verdict",
		Scenarios: []results.ScenarioInfo{
			{Name: "fanout", Kind: contract.FanOut},
			{Name: "impl-fanout", Kind: contract.FanOut},
			{Name: "payload", Kind: contract.Payload},
			{Name: "saturation", Kind: contract.Saturation, P99BoundS: 0.05},
			{Name: "idle", Kind: contract.Idle},
			{Name: "recovery", Kind: contract.FaultKind},
		},
	}
	add := func(rs ...[]results.Run) {
		for _, x := range rs {
			r.Runs = append(r.Runs, x...)
		}
	}
	fan := func(tr contract.Transport, clients int, cpu, mem float64) vrun {
		v := vrun{scenario: "fanout", transport: tr, clients: clients, rate: 10, cpuMS: cpu, memKiB: mem}
		if tr == contract.Poll {
			v.interval = 1
		}
		return v
	}
	add(reps(fan(contract.Poll, 100, 8, 20), 990, 992, 991, 993),
		reps(fan(contract.SSE, 100, 19, 28), 3.1, 3.3, 3.2, 3.4),
		reps(fan(contract.WS, 100, 18, 25), 2.1, 2.2, 2.3, 2.0),
		reps(fan(contract.TCP, 100, 14, 6), 1.9, 2.0, 2.1, 1.8),
		reps(fan(contract.Poll, 1000, 8.5, 21), 990, 991, 992, 994),
		reps(fan(contract.SSE, 1000, 18.8, 28.8), 21.9, 26, 22.5, 24),
		reps(fan(contract.WS, 1000, 19.7, 25), 21.6, 23.2, 25, 22),
		reps(fan(contract.TCP, 1000, 14.4, 6.2), 17.2, 20.2, 18, 17.5))
	// The cost of the same runs, per repetition, for the cost rule: poll's
	// runs all cheaper than sse's.
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.Clients == 1000 {
			run.Server.CPUPer1kDeliveries *= 1 + 0.01*float64(i%4)
		}
	}
	impl := func(tr contract.Transport, name string) vrun {
		return vrun{scenario: "impl-fanout", transport: tr, impl: name, clients: 1000, rate: 10, cpuMS: 15, memKiB: 20}
	}
	add(reps(impl(contract.SSE, "std"), 11, 11.2, 11.1, 11.3),
		reps(impl(contract.SSE, "gosse"), 12, 12.1, 12.2, 12.3),
		reps(impl(contract.WS, "gorilla"), 16, 16.5, 16.2, 16.1),
		reps(impl(contract.WS, "gws"), 10, 10.2, 10.1, 10.3),
		reps(impl(contract.TCP, "std"), 8, 8.1, 8.2, 8.3))
	pay := func(tr contract.Transport) vrun {
		return vrun{scenario: "payload", transport: tr, clients: 100, rate: 100, payload: 16384, cpuMS: 20, memKiB: 30}
	}
	add(reps(pay(contract.SSE), 4.4, 4.5), reps(pay(contract.WS), 3.9, 4.0), reps(pay(contract.TCP), 3.7, 3.8))
	for _, rate := range []float64{1000, 2000, 4000} {
		for _, tr := range []contract.Transport{contract.SSE, contract.WS, contract.TCP} {
			v := vrun{scenario: "saturation", transport: tr, clients: 100, rate: rate, p99ms: 2 + rate/1000, cpuMS: 5, memKiB: 30}
			if tr == contract.SSE && rate == 4000 {
				v.lost = 120
			}
			add([]results.Run{v.run()})
		}
	}
	idle := func(tr contract.Transport, interval, p99, mem float64) vrun {
		return vrun{scenario: "idle", transport: tr, clients: 5000, rate: 0.5, interval: interval, p99ms: p99, cpuMS: 30, memKiB: mem}
	}
	add([]results.Run{idle(contract.Poll, 2, 1940, 20.3).run(), idle(contract.SSE, 0, 90, 17).run(),
		idle(contract.WS, 0, 86, 23.4).run(), idle(contract.TCP, 0, 81, 5.1).run()})

	set := results.FaultSettings{Heartbeat: time.Second, ReadTimeout: 5 * time.Second, PollInterval: time.Second}
	ms := func(v float64) int64 { return int64(v * 1e6) }
	fault := func(f contract.Fault, tr contract.Transport, detect, reconnect, catchUp float64) results.FaultRun {
		return results.FaultRun{
			Scenario: "recovery", Transport: tr, Fault: f, Clients: 50, Rate: 100, Payload: 64, Settings: set,
			Recovery: results.Recovery{Clients: 50, Broken: 50, Reconnected: 50, CaughtUp: 50,
				Detect: results.Latency{P99: ms(detect)}, Reconnect: results.Latency{P99: ms(reconnect)}, CatchUp: results.Latency{P99: ms(catchUp)}},
			Delivery: results.Delivery{Expected: 5000, Delivered: 5000},
		}
	}
	r.Faults = []results.FaultRun{
		fault(contract.Crash, contract.Poll, 1000, 2010, 1000),
		fault(contract.Crash, contract.SSE, 5.35, 1980, 12),
		fault(contract.Crash, contract.WS, 4.84, 5360, 10.2),
		fault(contract.Crash, contract.TCP, 4.55, 4080, 11.2),
		fault(contract.Partition, contract.Poll, 6000, 4010, 1020),
		fault(contract.Partition, contract.SSE, 5000, 4950, 11.3),
		fault(contract.Partition, contract.WS, 5520, 2770, 10.4),
		fault(contract.Partition, contract.TCP, 5520, 2760, 11.4),
	}
	return r
}

// verdictFacts are a browser and a proxy outcome as their packages hand
// them over: SSE fastest in the page, the buffering pitfall losing events.
func verdictFacts() Facts {
	return Facts{
		Browser: &BrowserFacts{
			Anchor: "real-browser", Browser: "Chrome/156",
			Delivery: []BrowserDelivery{
				{Transport: contract.SSE, Name: "SSE (EventSource)", OK: true, P99NS: 7e6},
				{Transport: contract.WS, Name: "WebSocket", OK: true, P99NS: 9.1e6},
				{Transport: contract.Poll, Name: "polling (fetch)", OK: true, P99NS: 62e6},
			},
			Limit: []BrowserLimit{
				{Protocol: "http/1.1", Opened: 8, Streaming: 6, PeakConnections: 6},
				{Protocol: "h2", Opened: 8, Streaming: 8, PeakConnections: 1},
			},
			Resume: &BrowserResume{OK: true, LastEventID: "20", ResumeS: 0.207},
		},
		Proxy: &ProxyFacts{
			Anchor: "reverse-proxy", Proxy: "nginx/1.22.1",
			Overhead: []ProxyOverhead{
				{Transport: contract.Poll, OK: true, DirectP99NS: 990e6, ProxiedP99NS: 991e6},
				{Transport: contract.SSE, OK: true, DirectP99NS: 4.39e6, ProxiedP99NS: 8.63e6},
				{Transport: contract.WS, OK: true, DirectP99NS: 4.39e6, ProxiedP99NS: 6.3e6},
			},
			Buffering: []ProxyBuffering{
				{Name: "pitfall", Defaults: true, Expected: 8200, Delivered: 5200, Lost: 3000, Published: 41, ArrivalWindows: 2},
				{Name: "fix: header", Defaults: true, AccelHeader: true, OK: true, Expected: 8200, Delivered: 8200, Published: 41, ArrivalWindows: 41},
				{Name: "fix: config", BufferingOff: true, OK: true, Expected: 8200, Delivered: 8200, Published: 41, ArrivalWindows: 41},
			},
		},
	}
}

func renderVerdict(t *testing.T, r *results.Report, f Facts, s style) string {
	t.Helper()
	var buf bytes.Buffer
	m := &errWriter{w: &buf}
	m.writeVerdict(r, f, s)
	if m.err != nil {
		t.Fatal(m.err)
	}
	return buf.String()
}

func TestGoldenVerdict(t *testing.T) {
	r := verdictFixture()
	golden(t, "verdict.md", []byte(renderVerdict(t, r, verdictFacts(), styleMarkdown)))
	golden(t, "verdict.txt", []byte(renderVerdict(t, r, verdictFacts(), styleText)))
}

// line returns the verdict's line for workload (its first, or the one
// whose where part contains in).
func line(t *testing.T, v, workload, in string) string {
	t.Helper()
	for _, l := range strings.Split(v, "\n") {
		if strings.HasPrefix(l, "- **"+workload+"**") && strings.Contains(l, in) {
			return l
		}
	}
	t.Fatalf("no line for %q (%q) in\n%s", workload, in, v)
	return ""
}

func TestVerdictOutcomes(t *testing.T) {
	v := renderVerdict(t, verdictFixture(), verdictFacts(), styleMarkdown)
	for _, c := range []struct{ name, workload, in, want string }{
		{"overlapping repetitions", "Many clients at a low rate", "fanout,", "**no measurable difference** between ws (22ms) and sse (22.5ms, 1.02×): Mann-Whitney p="},
		{"separated repetitions", "Many clients at a low rate, cost", "fanout,", "**use poll 1s** (8.59ms, p99 latency 991ms); runner-up sse (19.2ms, 2.23×): significant: Mann-Whitney p=0.029 over 4 runs each"},
		{"implementations spread", "Many clients at a low rate", "impl-fanout", "**no measurable difference between ws and sse; the implementation matters more**: the best of each differ by 1ms, less than their implementations do (ws/gws 10.1ms, sse/std 11.1ms, sse/gosse 12.1ms, ws/gorilla 16.1ms)"},
		{"two runs each", "Large payloads", "", "**too few repetitions to tell** ws (3.9ms) from sse (4.4ms, 1.13×): 2 runs each; the U test needs 4 runs against 4"},
		{"ladder break by loss", "Few clients at a high rate", "", "**use ws** (4k/s, p99 latency 6ms); runner-up sse (2k/s, 0.5×): sse lost 120 events at 4k/s: a break, not noise"},
		{"single run beyond noise", "Mostly idle connections", "", "**use sse** (17 KiB, p99 latency 90ms); runner-up poll 2s (20.3 KiB, 1.19×): 1 run each, beyond the run-to-run spread of server memory per connection"},
		{"recovery", "After a server crash", "", "**use SSE** (2s); runner-up polling (4.01s, 2.01×)"},
		{"browser", "Browser pages", "", "**use SSE (EventSource)** (7ms); runner-up WebSocket (9.1ms, 1.3×)"},
		{"proxy", "Behind a reverse proxy", "", "[through nginx/1.22.1](#reverse-proxy)"},
	} {
		if l := line(t, v, c.workload, c.in); !strings.Contains(l, c.want) {
			t.Errorf("%s: line lacks %q:\n%s", c.name, c.want, l)
		}
	}
	for _, want := range []string{
		"**SSE behind nginx/1.22.1 needs `X-Accel-Buffering: no` from the server or `proxy_buffering off`.** With its defaults and none of these, 3,000 of 8,200 deliveries never arrived",
		"**Over HTTP/1.1 a browser page streams at most 6 EventSources per host.** Of 8 opened, 6 streamed over 6 connections and the rest stalled; over HTTP/2 8 of 8 streamed, over 1 connection.",
		"**A silent network failure is noticed only by a read timeout.** With a 5s read timeout and a heartbeat or ping every 1s, polling noticed it after 6s, SSE noticed it after 5s and WebSocket noticed it after 5.52s (detect p99)",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict lacks condition %q:\n%s", want, v)
		}
	}
}

// TestVerdictFollowsData: the verdict names whichever choice the data
// favours, and stops naming one when the data no longer supports it.
func TestVerdictFollowsData(t *testing.T) {
	r := verdictFixture()
	// Make sse's runs at 1,000 clients all faster than ws's: now significant.
	for i := range r.Runs {
		if run := &r.Runs[i]; run.Scenario == "fanout" && run.Clients == 1000 && run.Transport == contract.SSE {
			run.LatencyNS.P99 /= 2
		}
	}
	v := renderVerdict(t, r, Facts{}, styleMarkdown)
	if l := line(t, v, "Many clients at a low rate", "fanout,"); !strings.Contains(l, "**use sse**") || !strings.Contains(l, "p=0.029") {
		t.Errorf("with sse twice as fast in every run, the line does not choose it:\n%s", l)
	}
	// One run of sse lost an event: it is left out, not chosen.
	r.Runs[slicesIndex(r.Runs, "fanout", contract.SSE, 1000)].Lost = 1
	v = renderVerdict(t, r, Facts{}, styleMarkdown)
	if l := line(t, v, "Many clients at a low rate", "fanout,"); strings.Contains(l, "use sse") || !strings.Contains(l, "Left out: sse broke the delivery guarantee (1 lost)") {
		t.Errorf("sse lost an event and is still a choice:\n%s", l)
	}
	// No browser or proxy facts: no such lines nor conditions.
	if strings.Contains(v, "Browser pages") || strings.Contains(v, "nginx") {
		t.Errorf("verdict speaks of sections it was not given:\n%s", v)
	}
}

func slicesIndex(runs []results.Run, scenario string, tr contract.Transport, clients int) int {
	for i := range runs {
		if runs[i].Scenario == scenario && runs[i].Transport == tr && runs[i].Clients == clients {
			return i
		}
	}
	return -1
}

// TestVerdictNeverChoosesTheFloor: the tcp floor is a reference; at a point
// where it is fastest the choice is still a transport.
func TestVerdictNeverChoosesTheFloor(t *testing.T) {
	v := renderVerdict(t, verdictFixture(), Facts{}, styleText)
	for _, l := range strings.Split(v, "\n") {
		if strings.Contains(l, "use tcp") || strings.Contains(l, "runner-up tcp") || strings.Contains(l, "TCP floor") && strings.HasPrefix(l, "- After") {
			t.Errorf("the floor is offered as a choice: %s", l)
		}
	}
}

// TestVerdictWithoutNoise: figures measured once in a report that repeated
// nothing cannot be judged, and the line says so instead of choosing.
func TestVerdictWithoutNoise(t *testing.T) {
	r := verdictFixture()
	var once []results.Run
	seen := map[config]bool{}
	for _, run := range r.Runs {
		if c := configOf(&run); !seen[c] {
			seen[c] = true
			once = append(once, run)
		}
	}
	r.Runs = once
	v := renderVerdict(t, r, Facts{}, styleMarkdown)
	l := line(t, v, "Mostly idle connections", "")
	if !strings.Contains(l, "**cannot tell** sse (17 KiB, p99 latency 90ms) from poll 2s") || !strings.Contains(l, "this report repeated no configuration") {
		t.Errorf("idle line without noise:\n%s", l)
	}
	if l := line(t, v, "Many clients at a low rate", "fanout,"); !strings.Contains(l, "too few repetitions to tell") {
		t.Errorf("fan-out line from single runs:\n%s", l)
	}
}

// TestVerdictLadderWithinNoise: a runner-up whose p99 broke the bound by
// less than the report's noise did not measurably break earlier.
func TestVerdictLadderWithinNoise(t *testing.T) {
	r := verdictFixture()
	for i := range r.Runs {
		if run := &r.Runs[i]; run.Scenario == "saturation" && run.Transport == contract.SSE && run.Rate == 4000 {
			run.Lost, run.Delivered = 0, run.Expected
			run.LatencyNS.P99 = 51e6 // 2% over the 50 ms bound
		}
	}
	v := renderVerdict(t, r, Facts{}, styleMarkdown)
	l := line(t, v, "Few clients at a high rate", "")
	if !strings.Contains(l, "**no measurable difference** between ws (4k/s") || !strings.Contains(l, "2% over the 50ms bound: within the run-to-run spread") {
		t.Errorf("ladder line:\n%s", l)
	}
}

// TestVerdictFirstScreen: in the committed reference report the verdict
// ends within the first 40 lines.
func TestVerdictFirstScreen(t *testing.T) {
	md := markdown(t, verdictFixture())
	lines := strings.Split(md, "\n")
	for i, l := range lines {
		if l == "## Setup" {
			if i > 40 {
				t.Errorf("the verdict ends on line %d", i)
			}
			return
		}
	}
	t.Fatal("no Setup section")
}

func TestMinP(t *testing.T) {
	for _, c := range []struct {
		n1, n2 int
		want   float64
	}{{1, 1, 1}, {2, 2, 1.0 / 3}, {3, 3, 0.1}, {4, 4, 2.0 / 70}, {3, 4, 2.0 / 35}, {5, 5, 2.0 / 252}} {
		if got := minP(c.n1, c.n2); got < c.want*0.999 || got > c.want*1.001 {
			t.Errorf("minP(%d, %d) = %g, want %g", c.n1, c.n2, got, c.want)
		}
	}
}

func TestSignificance(t *testing.T) {
	if s := uTest([]float64{1, 2}, []float64{3, 4}); s.judgement != tooFew || s.short() != "? 2+2 runs" {
		t.Errorf("2 against 2: %+v %s", s, s.short())
	}
	if s := uTest([]float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}); s.judgement != differs || s.short() != "p=0.029" {
		t.Errorf("4 apart against 4: %+v %s", s, s.short())
	}
	if s := uTest([]float64{1, 3, 5, 7}, []float64{2, 4, 6, 8}); s.judgement != same || !strings.HasPrefix(s.short(), "~ p=") {
		t.Errorf("4 interleaved against 4: %+v %s", s, s.short())
	}
	nz := noise{rel: 0.1, n: 3}
	if s := noiseTest(100, 105, nz); s.judgement != same || s.short() != "~ noise 10%" {
		t.Errorf("5%% within 10%% noise: %+v %s", s, s.short())
	}
	if s := noiseTest(100, 150, nz); s.judgement != differs || s.short() != "> noise 10%" {
		t.Errorf("50%% beyond 10%% noise: %+v %s", s, s.short())
	}
	if s := noiseTest(100, 150, noise{}); s.judgement != untested {
		t.Errorf("no noise: %+v", s)
	}
	// judge: repeated figures never fall back to noise; once-measured ones
	// do, until the U test can decide.
	if s := judge([]float64{1, 2}, []float64{30, 40}, false, nz); s.judgement != tooFew {
		t.Errorf("repeated figure, 2 runs: %+v", s)
	}
	if s := judge([]float64{1, 2}, []float64{30, 40}, true, nz); s.judgement != differs || !s.byNoise {
		t.Errorf("once-measured figure, 2 runs: %+v", s)
	}
	if s := judge([]float64{1, 2, 3, 4}, []float64{30, 40, 50, 60}, true, nz); s.byNoise {
		t.Errorf("4 runs each should take the U test: %+v", s)
	}
}

func TestNoiseOf(t *testing.T) {
	gs := groupRuns(verdictFixture().Runs)
	nz := noiseOf(gs, p99Of)
	if nz.n == 0 || nz.rel <= 0 || nz.rel > 0.2 {
		t.Errorf("p99 noise of the fixture: %+v", nz)
	}
	if nz := noiseOf(gs, func(r *results.Run) float64 { return 0 }); nz.n != 0 {
		t.Errorf("noise of an unrecorded figure: %+v", nz)
	}
}

func TestHeadingAnchor(t *testing.T) {
	for in, want := range map[string]string{
		"Scenario: fanout":      "scenario-fanout",
		"Scenario: impl-fanout": "scenario-impl-fanout",
		"Real browser":          "real-browser",
		"Against the tcp floor": "against-the-tcp-floor",
	} {
		if got := headingAnchor(in); got != want {
			t.Errorf("headingAnchor(%q) = %q, want %q", in, got, want)
		}
	}
}
