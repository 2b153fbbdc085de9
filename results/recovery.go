package results

import (
	"time"

	"github.com/pushbench/pushbench/contract"
)

// FaultRun is one fault against one transport: clients streamed through a
// fault proxy to a server that resumes from its event log, the fault struck
// mid-stream, and every client had to catch up. Field names are the
// results.json schema; units are in the names.
type FaultRun struct {
	// Scenario names the fault scenario the run belongs to.
	Scenario  string             `json:"scenario,omitempty"`
	Transport contract.Transport `json:"transport"`
	// Impl and Library name the server implementation, as on Run.
	Impl    string `json:"impl,omitempty"`
	Library string `json:"library,omitempty"`
	// Fault is what broke (package contract says what each does).
	Fault contract.Fault `json:"fault"`
	// Jitter is the clients' reconnect jitter policy: "full" (WebSocket and
	// TCP back off with full jitter; the server spreads SSE's retry:) or
	// "none" (every client waits exactly as long).
	Jitter contract.Jitter `json:"jitter,omitempty"`
	// Clients, Rate (events/s) and Payload (bytes) are the load.
	Clients int     `json:"clients"`
	Rate    float64 `json:"rate"`
	Payload int     `json:"payload"`
	// Settings are the fault's timings and the clients' policies.
	Settings FaultSettings `json:"settings"`
	// FaultAt is when the fault began, in ms on the timelines' clock.
	FaultAt  int64    `json:"fault_at_ms"`
	Recovery Recovery `json:"recovery"`
	Delivery Delivery `json:"delivery"`
	// LatencyNS is delivery latency of events scheduled from when every
	// client streamed to the end of the run, from each event's scheduled
	// time: the fault's cost included.
	LatencyNS Latency `json:"latency_ns"`
	// Timeline is the clients' side every SampleEvery, Server the server's.
	Timeline []Sample       `json:"timeline"`
	Server   []ServerSample `json:"server"`
	Notes    []string       `json:"notes,omitempty"`
	// Error says why the run did not complete; its figures are then partial.
	Error string `json:"error,omitempty"`
}

// FaultSettings are what shaped a fault run besides its load. Durations are
// in nanoseconds in JSON, as time.Duration marshals.
type FaultSettings struct {
	// Before is steady streaming before the fault; After is streaming after
	// every client recovered.
	Before time.Duration `json:"before_ns"`
	After  time.Duration `json:"after_ns"`
	// Downtime is how long the server (crash, graceful, slowclose) or the
	// network (reset) stays down.
	Downtime time.Duration `json:"downtime_ns"`
	// Length is how long a partition or a degradation lasts.
	Length time.Duration `json:"length_ns"`
	// Latency ± LatencyJitter and BandwidthKBs (KB/s, 0: unlimited) are
	// what degrade adds to data from the server.
	Latency       time.Duration `json:"latency_ns"`
	LatencyJitter time.Duration `json:"latency_jitter_ns"`
	BandwidthKBs  int64         `json:"bandwidth_kbs"`
	// SlowClose is how long slowclose's network takes to pass on a close.
	SlowClose time.Duration `json:"slow_close_ns"`
	// Heartbeat is the server's SSE heartbeat and WebSocket ping interval;
	// Retry the retry: it sends SSE clients (RetryJitter: each stream its
	// own, uniform in [0, 2·Retry]).
	Heartbeat   time.Duration `json:"server_heartbeat_ns"`
	Retry       time.Duration `json:"server_sse_retry_ns"`
	RetryJitter bool          `json:"server_sse_retry_jitter,omitempty"`
	// The clients' policies: polling interval, SSE's retry until the server
	// sends one, the WebSocket and TCP backoff bounds, and every client's
	// read timeout (polling: its request timeout).
	PollInterval time.Duration `json:"poll_interval_ns"`
	SSERetry     time.Duration `json:"sse_retry_until_server_says_ns"`
	BackoffMin   time.Duration `json:"ws_tcp_backoff_min_ns"`
	BackoffMax   time.Duration `json:"ws_tcp_backoff_max_ns"`
	ReadTimeout  time.Duration `json:"read_timeout_ns"`
}

// Recovery is how a group of clients weathered one fault.
//
// A client's recovery starts with the first break it detected in the fault's
// window and ends with the first connection after it that caught up. Between
// the two there may be several connections that opened but died before
// delivering (a polling or TCP connection accepted during a partition): they
// count as attempts, not as recoveries.
type Recovery struct {
	// Clients is the number of clients looked at; Broken those that noticed
	// a break in the window, Reconnected those that got a connection that
	// delivered an event, and CaughtUp those that caught up on it.
	Clients     int `json:"clients"`
	Broken      int `json:"broken"`
	Reconnected int `json:"reconnected"`
	CaughtUp    int `json:"caught_up"`
	// Detect is from the fault (or, without a fault time, from the last
	// event before the break) to the client noticing; Reconnect from
	// noticing to the connection that delivered; CatchUp from that
	// connection to having every event published before it.
	Detect    Latency `json:"detect_ns"`
	Reconnect Latency `json:"reconnect_ns"`
	CatchUp   Latency `json:"catch_up_ns"`
	// Replayed is events resent after reconnecting. Attempts is connection
	// attempts (polling: requests) from noticing to reconnecting;
	// FailedAttempts those that did not become the delivering connection
	// (refused dials, failed handshakes, connections that died silent).
	Replayed       uint64 `json:"replayed"`
	Attempts       uint64 `json:"attempts"`
	FailedAttempts uint64 `json:"failed_attempts"`
}

// Sample is one point of the clients' timeline around a fault.
type Sample struct {
	// At is the sample's time since the timeline began, in milliseconds.
	At int64 `json:"at_ms"`
	// Connected is the clients with a working connection.
	Connected int `json:"connected"`
	// Delivered is the events delivered since the previous sample.
	Delivered uint64 `json:"delivered"`
}

// ServerSample is the server's /stats at one instant of the timeline.
type ServerSample struct {
	At int64 `json:"at_ms"`
	// Up is false when /stats did not answer (the server is down).
	Up         bool    `json:"up"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// Accepted is streams opened (the TCP floor's included) plus polls
	// answered since the server (re)started: its difference between
	// samples is the accept rate.
	Accepted uint64 `json:"accepted"`
}

// RecoveryNS is the run's time to recover, detect + reconnect + catch-up, as
// the sum of the three p99s over clients: a bound on the slowest 1% of
// clients, as each p99 may be another client's.
func (r FaultRun) RecoveryNS() int64 {
	rc := r.Recovery
	return rc.Detect.P99 + rc.Reconnect.P99 + rc.CatchUp.P99
}

// Storm is the server's side of a run from its fault on.
type Storm struct {
	// PeakAcceptsPerSec is the most streams opened plus polls answered per
	// second over a StormWindow; zero when the server counted none.
	PeakAcceptsPerSec float64
	// PeakCPU is the most CPU the server used over a StormWindow, in cores
	// (1 = one core busy).
	PeakCPU float64
}

// StormWindow is the span Storm's rates are taken over. The samples are
// 100 ms apart as the sampler asked for them, but each is timed when the
// server's answer arrived: under a storm one answer can come 200 ms late and
// the next 10 ms after it, so a rate over one interval can read more cores
// than the machine has. Over a second that error is a few percent.
const StormWindow = time.Second

// Storm reads the server's samples from the last one before the fault on,
// over every window of at least StormWindow between two samples with the
// server up throughout and not restarted (its counters never went back).
func (r FaultRun) Storm() Storm {
	var s Storm
	win := StormWindow.Milliseconds()
	for i, a := range r.Server {
		// A window may open on the last sample before the fault: the
		// reconnections of a storm can all land before the first sample
		// after it.
		if !a.Up || (a.At < r.FaultAt && (i+1 == len(r.Server) || r.Server[i+1].At < r.FaultAt)) {
			continue
		}
		for _, b := range r.Server[i+1:] {
			if !b.Up || b.Accepted < a.Accepted || b.CPUSeconds < a.CPUSeconds {
				break // down or restarted: no rate across it
			}
			if b.At-a.At < win {
				continue
			}
			dt := float64(b.At-a.At) / 1e3
			s.PeakAcceptsPerSec = max(s.PeakAcceptsPerSec, float64(b.Accepted-a.Accepted)/dt)
			s.PeakCPU = max(s.PeakCPU, (b.CPUSeconds-a.CPUSeconds)/dt)
			break
		}
	}
	return s
}
