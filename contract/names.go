package contract

// Fault names one way a fault scenario breaks a running stream.
type Fault string

// The faults, each run against every transport.
const (
	// Crash: the server SIGKILLed mid-stream and restarted after a downtime.
	Crash Fault = "crash"
	// Graceful: SIGTERM (the server drains), restarted after a downtime.
	Graceful Fault = "graceful"
	// SlowClose: a graceful restart while the network takes a while to pass
	// on the server's close (Toxiproxy slow_close).
	SlowClose Fault = "slowclose"
	// Reset: every connection reset (RST) by the network and new ones
	// refused for a downtime, the server staying up.
	Reset Fault = "reset"
	// Partition: no byte passes either way and nothing closes: half-open
	// connections only a heartbeat and a read timeout reveal.
	Partition Fault = "partition"
	// Degrade: added latency and a bandwidth limit on data from the
	// server; nothing breaks, latency pays.
	Degrade Fault = "degrade"
	// Storm: every connection reset at once and let back at once.
	Storm Fault = "storm"
)

// Faults is every fault, in run order.
var Faults = []Fault{Crash, Graceful, SlowClose, Reset, Partition, Degrade, Storm}

// Breaks reports whether the fault breaks connections (every fault but
// Degrade, which only slows them).
func (f Fault) Breaks() bool { return f != Degrade }

// Jitter is how clients spread their reconnects.
type Jitter string

// Jitter policies. The zero value means FullJitter.
const (
	// FullJitter: the WebSocket and TCP clients draw each pause uniformly
	// from [0, ceiling] (exponential backoff with full jitter), and the
	// server gives each SSE stream its own retry:.
	FullJitter Jitter = "full"
	// NoJitter: every client waits exactly as long, as clients written
	// without care do: kept to show what jitter buys.
	NoJitter Jitter = "none"
)

// Kind names what a scenario measures; the report treats each kind's point.
type Kind string

// Scenario kinds.
const (
	// FanOut: latency and cost as the client count grows at a moderate rate.
	FanOut Kind = "fan-out"
	// Saturation: the offered rate steps up until p99 breaks the bound or an
	// event is lost.
	Saturation Kind = "saturation"
	// Payload: the same load with small, medium and large events.
	Payload Kind = "payload"
	// Idle: connections held with almost no events: memory and heartbeat
	// cost per connection.
	Idle Kind = "idle"
	// PollInterval: what latency a poller accepts against what it costs.
	PollInterval Kind = "poll-interval"
	// PollCapacity: the polling server's raw request capacity (vegeta).
	PollCapacity Kind = "poll-capacity"
	// Scale: concurrent clients step up at a low rate.
	Scale Kind = "scale"
	// FaultKind: one fault strikes mid-stream through a fault proxy.
	FaultKind Kind = "fault"
	// Implementations: every server implementation of every transport
	// under the same loads: what the protocol costs and what the library
	// costs.
	Implementations Kind = "implementations"
)
