package report

import (
	"math"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// fixture describes the synthetic report the golden tests render. Every
// number is fixed, so rendered output only changes when a renderer does.
type fixture struct {
	// base is each transport's latency floor in ns at 100 clients; a
	// polling transport adds half its interval.
	base map[string]int64
	// lose is the number of events lost by fanout ws at 1000 clients in its
	// second repetition.
	lose uint64
}

func defaultFixture() fixture {
	return fixture{
		base: map[string]int64{"tcp": 200_000, "ws": 400_000, "sse": 500_000, "poll": 1_000_000},
		lose: 7,
	}
}

// Per-transport costs: wire bytes per event, server CPU ns per 1k
// deliveries, server bytes per connection, and the load generator's CPU
// and bytes per connection. The tcp floor's client costs more CPU per
// delivery than its server, as does every poller, and its RSS did not grow
// (not recorded); ws clients take more than the 16 KiB target.
var fixtureCost = map[string]struct {
	wire, cpu1k, conn, lgCPU1k, lgConn float64
}{
	"tcp":  {90, 2e6, 6 << 10, 2.4e6, 0},
	"ws":   {96, 4e6, 14 << 10, 3e6, 18 << 10},
	"sse":  {150, 5e6, 10 << 10, 3.5e6, 12 << 10},
	"poll": {300, 20e6, 3 << 10, 30e6, 8 << 10},
}

var fixtureEnv = results.Env{
	CPU: "Test CPU @ 2.00GHz", Cores: 2, MemoryBytes: 4 << 30, Kernel: "6.1.0-test",
	OS: "Debian GNU/Linux 12 (bookworm) linux/amd64", GoVersion: "go1.26.8", Commit: "abc1234",
	Hostname: "bench-host", StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	Pinning: "server pinned to CPU 0, load generator to CPU 1",
}

// report builds the synthetic report: a fan-out scenario (100 and 1000
// clients, two repetitions, poll/sse/ws/tcp, one repetition with loss), a
// polling-interval scenario (poll at 100 ms and 1 s beside sse, ws and tcp)
// and a two-step saturation scenario.
func (f fixture) report(tb testing.TB) *results.Report {
	tb.Helper()
	r := &results.Report{
		Env:    fixtureEnv,
		Matrix: "test",
		Settings: results.Settings{
			WarmupS: 1, DurationS: 5, Repetitions: 2, ServerCPUs: "0", LoadgenCPUs: "1",
			HeartbeatS: 15, SSERetry: "1s", WSBackoff: "100ms–5s exponential", PollInterval: "1s",
			Extra: map[string]string{"GOMAXPROCS": "1 each"},
		},
		Scenarios: []results.ScenarioInfo{
			{Name: "fanout", Kind: "fan-out", Description: "one stream to many clients at 10 events/s"},
			{Name: "poll-interval", Kind: contract.PollInterval, Description: "pollers at 100 ms and 1 s beside SSE and WebSocket"},
			{Name: "saturation", Kind: contract.Saturation, Description: "the rate steps up until p99 exceeds 50 ms", P99BoundS: 0.05},
		},
		Notes: []string{"Synthetic numbers for the golden tests."},
		Capacity: []results.Capacity{{
			Scenario: "poll-capacity", Target: "empty", Payload: 1024, Rate: 2000, DurationS: 3,
			Requests: 6000, Throughput: 1998.5, Success: 1,
			LatencyNS:   results.Latency{P50: 180_000, P90: 300_000, P99: 900_000, P999: 2_000_000, Max: 4_100_000, Count: 6000},
			StatusCodes: map[string]int{"204": 6000}, Server: results.Process{CPUSeconds: 1.2},
		}},
	}
	for rep := range 2 {
		for _, clients := range []int{100, 1000} {
			for _, tr := range []string{"poll", "sse", "ws", "tcp"} {
				iv := 0.0
				if tr == "poll" {
					iv = 1
				}
				var lost uint64
				if tr == "ws" && clients == 1000 && rep == 1 {
					lost = f.lose
				}
				r.Runs = append(r.Runs, f.run(tb, "fanout", tr, clients, 10, iv, rep, lost))
			}
		}
	}
	for _, c := range []struct {
		tr string
		iv float64
	}{{"poll", 0.1}, {"poll", 1}, {"sse", 0}, {"ws", 0}, {"tcp", 0}} {
		r.Runs = append(r.Runs, f.run(tb, "poll-interval", c.tr, 200, 10, c.iv, 0, 0))
	}
	for _, rate := range []float64{500, 2000} {
		for _, tr := range []string{"sse", "ws", "tcp"} {
			r.Runs = append(r.Runs, f.run(tb, "saturation", tr, 50, rate, 0, 0, 0))
		}
	}
	return r
}

// run makes one synthetic run whose percentiles come from a real
// histogram, so tables, plots and summary read the same figures.
func (f fixture) run(tb testing.TB, scenario, tr string, clients int, rate, interval float64, rep int, lost uint64) results.Run {
	tb.Helper()
	const duration = 5.0
	// Latency grows with clients and rate, and by 3% a repetition.
	base := float64(f.base[tr]) * (1 + float64(clients)/1000) * (1 + rate/1000) * (1 + 0.03*float64(rep))
	base += interval / 2 * 1e9
	h := hdrhistogram.New(1, int64(10*60*1e9), 3)
	for i := range 1000 {
		if err := h.RecordValue(int64(base * (1 + 2*float64(i)/1000))); err != nil {
			tb.Fatal(err)
		}
	}
	if err := h.RecordValues(int64(base*10), 3); err != nil {
		tb.Fatal(err)
	}
	enc, err := results.EncodeHistogram(h)
	if err != nil {
		tb.Fatal(err)
	}
	published := uint64(rate * duration)
	expected := published * uint64(clients)
	cost := fixtureCost[tr]
	run := results.Run{
		Scenario: scenario, Transport: contract.Transport(tr), Clients: clients, Rate: rate, Burst: 1, Payload: 64,
		PollIntervalS: interval, DurationS: duration,
		EventsPublished: published, Delivery: results.Delivery{Expected: expected, Delivered: expected - lost, Lost: lost},
		LatencyNS:        results.LatencyOf(h),
		DeliveriesPerSec: float64(expected-lost) / (duration + 0.2 + 0.1*float64(rep)),
		Connections: results.Connections{
			Attempted: uint64(clients), Established: uint64(clients), PeakConcurrent: int64(clients),
			ConnectP50NS: 800_000, ConnectP99NS: 3_000_000,
		},
		Wire:      results.Wire{BytesPerEvent: cost.wire},
		Server:    results.Process{CPUPer1kDeliveries: cost.cpu1k / 1e9, BytesPerConn: cost.conn, RSSBytes: 40 << 20},
		Loadgen:   results.Process{CPUPer1kDeliveries: cost.lgCPU1k / 1e9, BytesPerConn: cost.lgConn, RSSBytes: 60 << 20},
		Histogram: enc,
	}
	if tr == "poll" {
		// Shorter intervals cost more per event: more requests, more empty.
		reqs := float64(clients) / interval
		empty := math.Exp(-rate * interval) // Poisson: no event in an interval
		run.Polls = &results.Polls{
			Requests: uint64(reqs * duration), RequestsPerSec: reqs,
			Empty: uint64(reqs * duration * empty), EmptyShare: empty,
		}
		run.Wire.BytesPerEvent = cost.wire / max(interval, 0.05) * 0.5
		run.Server.CPUPer1kDeliveries = cost.cpu1k / 1e9 / max(interval, 0.25)
		run.Loadgen.CPUPer1kDeliveries = cost.lgCPU1k / 1e9 / max(interval, 0.25)
	}
	run.Wire.BytesIn = uint64(run.Wire.BytesPerEvent * float64(run.Delivered))
	return run
}
