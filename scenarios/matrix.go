package scenarios

import (
	"time"

	"github.com/pushbench/pushbench/contract"
)

// Default is the matrix `make bench` runs: about half an hour on a 2-core
// machine. Edit a number here, or copy a scenario under a new name, to ask a
// new question.
var Default = Matrix{
	{
		Name: "fanout", Kind: FanOut,
		Description: "one stream to many clients at a moderate rate (10 events/s)",
		Clients:     []int{100, 1000, 5000},
		Rates:       []float64{10},
		// Four runs each: the fewest for which a Mann-Whitney test over
		// the repetitions can find a difference at p ≤ 0.05.
		Repetitions: 4,
		Duration:    4 * time.Second,
	},
	{
		Name: "saturation", Kind: Saturation,
		Description: "100 clients; the rate steps up until p99 exceeds 50 ms or an event is lost",
		Clients:     []int{100},
		Rates:       []float64{100, 300, 1000, 2000, 4000, 8000},
		P99Bound:    50 * time.Millisecond,
		Duration:    4 * time.Second,
	},
	{
		Name: "payload", Kind: Payload,
		Description: "100 clients at 100 events/s with 64 B, 1 KiB and 16 KiB events",
		Clients:     []int{100},
		Rates:       []float64{100},
		Payloads:    []int{64, 1024, 16384},
	},
	{
		Name: "idle", Kind: Idle,
		Description: "5000 connections and one event every 2 s: memory and heartbeat cost per connection",
		Clients:     []int{5000},
		Rates:       []float64{0.5},
		Heartbeat:   time.Second,
		// Polling at 2 s, the interval the scale targets use.
		PollIntervals: []time.Duration{2 * time.Second},
		Duration:      6 * time.Second,
	},
	{
		Name: "poll-interval", Kind: PollInterval,
		Description: "1000 pollers at 100 ms, 500 ms and 2 s beside SSE and WebSocket, 10 events/s",
		Transports:  []contract.Transport{Poll, SSE, WS},
		Clients:     []int{1000},
		Rates:       []float64{10},
		PollIntervals: []time.Duration{
			100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second,
		},
		Duration: 6 * time.Second,
	},
	{
		Name: "http2", Kind: FanOut,
		Description: "200 clients at 10 events/s over HTTP/1.1, HTTP/2 with TLS and cleartext h2c, one connection per client",
		Transports:  []contract.Transport{Poll, PollH2, PollH2C, SSE, SSEH2, SSEH2C},
		Clients:     []int{200},
		Rates:       []float64{10},
		Duration:    4 * time.Second,
	},
	{
		Name: "impl-fanout", Kind: FanOut, EveryImpl: true,
		Description: "every server implementation of every transport, beside the TCP floor: 1,000 clients at 10 events/s, pollers every second",
		Transports:  []contract.Transport{Poll, LongPoll, SSE, WS, TCP},
		Clients:     []int{1000},
		Rates:       []float64{10},
		Duration:    3 * time.Second,
		Repetitions: 4,
	},
	{
		Name: "impl-idle", Kind: Idle, EveryImpl: true,
		Description: "every server implementation holding 5,000 connections with one event every 2 s: memory and heartbeat cost per connection",
		Transports:  []contract.Transport{Poll, LongPoll, SSE, WS, TCP},
		Clients:     []int{5000},
		Rates:       []float64{0.5},
		Heartbeat:   time.Second,
		// Polling at 2 s, the interval the scale targets use.
		PollIntervals: []time.Duration{2 * time.Second},
		Duration:      6 * time.Second,
	},
	{
		Name: "impl-saturation", Kind: Saturation, EveryImpl: true,
		Description: "every streaming implementation, 100 clients; the rate doubles until p99 exceeds 50 ms or an event is lost: where each one breaks",
		Transports:  []contract.Transport{LongPoll, SSE, WS, TCP},
		Clients:     []int{100},
		Rates:       []float64{500, 1000, 2000, 4000, 8000, 16000, 32000, 64000},
		P99Bound:    50 * time.Millisecond,
		Duration:    3 * time.Second,
	},
	{
		Name: "recovery", Kind: Fault,
		Description: "50 clients at 100 events/s through a fault proxy: the server killed (kill -9) and restarted, and the network silently partitioned; the rest of the faults are in the faults matrix",
		Clients:     []int{50},
		Rates:       []float64{100},
		Fault:       &FaultSpec{Faults: []contract.Fault{Crash, Partition}},
	},
	{
		Name: "poll-capacity", Kind: PollCapacity,
		Description: "raw /poll request capacity with vegeta, constant open-loop rates (requests/s)",
		Transports:  []contract.Transport{Poll},
		Clients:     []int{0},
		Rates:       []float64{2000, 5000, 10000},
		Payloads:    []int{1024},
		Duration:    3 * time.Second,
	},
}

// FaultsMatrix is every fault against every transport, `pushbench bench
// --matrix faults` (or `pushbench faults`): about seven minutes on a 2-core
// machine. Each run has a fresh server process keeping its history in a
// write-ahead log, and clients behind an in-process Toxiproxy.
var FaultsMatrix = Matrix{
	{
		Name: "faults", Kind: Fault,
		Description: "50 clients at 100 events/s through a fault proxy, one fault each run: kill -9, graceful restart, a graceful restart behind a slow-closing network, every connection reset, a silent partition",
		Clients:     []int{50},
		Rates:       []float64{100},
		Fault:       &FaultSpec{Faults: []contract.Fault{Crash, Graceful, SlowClose, Reset, Partition}},
	},
	{
		Name: "degraded-fanout", Kind: Fault,
		Description: "the fan-out load, 1,000 clients at 10 events/s, while the network adds 200 ms ± 100 ms and limits each connection to 64 KB/s for 8 s",
		Clients:     []int{1000},
		Rates:       []float64{10},
		Fault:       &FaultSpec{Faults: []contract.Fault{Degrade}},
	},
	{
		Name: "storm", Kind: Fault,
		Description: "5,000 clients at 2 events/s dropped at the same instant and let back at once, reconnecting with jitter and without",
		Clients:     []int{5000},
		Rates:       []float64{2},
		Fault:       &FaultSpec{Faults: []contract.Fault{Storm}, Jitters: []contract.Jitter{FullJitter, NoJitter}},
	},
}

// Quick is a reduced matrix for a first look in about a minute.
var Quick = Matrix{
	{
		Name: "fanout", Kind: FanOut,
		Description: "one stream to 200 clients at 10 events/s",
		Clients:     []int{200},
		Rates:       []float64{10},
		Duration:    3 * time.Second,
	},
	{
		Name: "saturation", Kind: Saturation,
		Description: "50 clients; the rate steps up until p99 exceeds 50 ms or an event is lost",
		Clients:     []int{50},
		Rates:       []float64{500, 2000},
		P99Bound:    50 * time.Millisecond,
		Duration:    2 * time.Second,
	},
	{
		Name: "poll-interval", Kind: PollInterval,
		Description: "200 pollers at 100 ms and 1 s beside SSE and WebSocket",
		Transports:  []contract.Transport{Poll, SSE, WS},
		Clients:     []int{200},
		PollIntervals: []time.Duration{
			100 * time.Millisecond, time.Second,
		},
		Duration: 3 * time.Second,
	},
}

// ScaleMatrix ramps concurrent clients to what one load-generator process
// may hold here (20,000 open files, hard limit) at a low event rate: about
// six minutes on a 2-core machine. Every step runs even after one fails, so
// the report can show by how much a target was missed.
var ScaleMatrix = Matrix{
	{
		Name: "scale", Kind: Scale,
		Description: "1,000 to 19,000 concurrent clients at 0.5 events/s, pollers every 2 s: the most connections held with p99 within 500 ms (pollers: 2.5 s) and nothing lost, and the memory and idle traffic of each; clients read through 1 KiB buffers",
		Clients:     []int{1000, 5000, 10000, 19000},
		Rates:       []float64{0.5},
		// Polling at 2 s, the interval the scale targets use.
		PollIntervals: []time.Duration{2 * time.Second},
		P99Bound:      500 * time.Millisecond,
		// A 2 s heartbeat puts two SSE heartbeats in the idle window;
		// WebSocket pings keep the server's 15 s.
		Heartbeat: 2 * time.Second,
		Idle:      4 * time.Second,
		Warmup:    2 * time.Second,
		Duration:  6 * time.Second,
		// 1 KiB holds a whole 64 B event in any framing; the default 4 KiB
		// would be most of what an idle client costs.
		ReadBuffer: 1024,
	},
	{
		Name: "scale-impls", Kind: Scale, EveryImpl: true,
		Description: "every SSE and WebSocket server implementation holding 19,000 clients at 0.5 events/s: the memory each one needs per connection, event loops beside goroutines",
		Transports:  []contract.Transport{SSE, WS},
		Clients:     []int{19000},
		Rates:       []float64{0.5},
		P99Bound:    500 * time.Millisecond,
		Heartbeat:   2 * time.Second,
		Idle:        4 * time.Second,
		Warmup:      2 * time.Second,
		Duration:    6 * time.Second,
		ReadBuffer:  1024,
	},
}
