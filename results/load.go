package results

import (
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pushbench/pushbench/contract"
)

// LoadRun is one `pushbench load` run: clients of an endpoint that knows
// nothing of pushbench (no sequence numbers, no /stats, no /control),
// started evenly over a ramp and held for a duration, reconnecting as a
// browser does. Without sequence numbers there is no delivery account:
// what was received is counted, and timed per message. Durations are in
// ns, as in Latency.
type LoadRun struct {
	// URL is the endpoint, with any password in it redacted.
	URL       string             `json:"url"`
	Transport contract.Transport `json:"transport"`
	Clients   int                `json:"clients"`
	// RampS is the time the clients were started over, in seconds;
	// DurationS how long they were held after it.
	RampS     float64 `json:"ramp_s"`
	DurationS float64 `json:"duration_s"`

	// EventsReceived is messages received by every client over the whole
	// run (SSE events dispatched, WebSocket messages), ramp included;
	// EventsPerClient the fewest and most one client received.
	EventsReceived  uint64 `json:"events_received"`
	EventsPerClient MinMax `json:"events_per_client"`
	// EventsPerSec is messages received, all clients, per second of the
	// hold: once every client had been started.
	EventsPerSec float64 `json:"events_per_sec"`

	// ConnectNS is TCP connect times, of every connection opened.
	ConnectNS Latency `json:"connect_ns"`
	// FirstEventNS is, per connection that delivered, the time from the
	// start of its attempt (dial, TLS, request or handshake included) to
	// its first message.
	FirstEventNS Latency `json:"first_event_ns"`
	// InterArrivalNS is the time between consecutive messages of one
	// client, across its reconnections.
	InterArrivalNS Latency `json:"inter_arrival_ns"`
	// LatencyNS is arrival minus the send time the messages carry, when a
	// timestamp field was named.
	LatencyNS *StampLatency `json:"latency_ns,omitempty"`

	// Bytes is counted at the clients' sockets: headers, handshakes and
	// framing included.
	Bytes LoadBytes `json:"bytes"`
	// Connections counts connection attempts at the clients' sockets and
	// the peak open at once.
	Connections LoadConnections `json:"connections"`
	// Reconnects is streams opened beyond each client's first.
	Reconnects uint64 `json:"reconnects"`
	// Errors counts failed attempts and ended connections by kind, those
	// a client gave up on included; {} when there were none.
	Errors Errors `json:"errors"`
	// GaveUp is how many clients stopped for good before the end, as a
	// browser's EventSource or a page's WebSocket code would (a status
	// that is not 200 text/event-stream, a refused handshake, a message
	// over the limits), and GaveUpError the first one's reason.
	GaveUp      int    `json:"gave_up,omitempty"`
	GaveUpError string `json:"gave_up_error,omitempty"`

	// Histograms are the distributions above in the HdrHistogram
	// compressed base64 format, for plots and exact merging.
	Histograms LoadHistograms `json:"histograms"`
}

// MinMax is the least and greatest of some values.
type MinMax struct {
	Min uint64 `json:"min"`
	Max uint64 `json:"max"`
}

// LoadBytes is bytes each way at the clients' sockets.
type LoadBytes struct {
	In  uint64 `json:"in"`
	Out uint64 `json:"out"`
}

// LoadConnections counts a load run's connections.
type LoadConnections struct {
	Attempted      uint64 `json:"attempted"`
	Established    uint64 `json:"established"`
	Failed         uint64 `json:"failed"`
	PeakConcurrent int64  `json:"peak_concurrent"`
}

// StampLatency is latency measured from a send time each message carries.
type StampLatency struct {
	Latency
	// Field is the JSON member read; Unit its unit ("ns", "us", "ms",
	// "s"), and UnitFrom how that was known: "given" (--timestamp-unit) or
	// "detected" from the first stamp's magnitude. Unit is empty when no
	// message carried a stamp.
	Field    string `json:"field"`
	Unit     string `json:"unit"`
	UnitFrom string `json:"unit_from"`
	// Missing counts messages without the field, or whose value was not a
	// number; Negative those stamped later than they arrived, which the
	// percentiles leave out, and AheadMaxNS the most any was: the sender's
	// clock is at least that far ahead of the load generator's.
	Missing    uint64 `json:"missing"`
	Negative   uint64 `json:"negative"`
	AheadMaxNS int64  `json:"ahead_max_ns,omitempty"`
	// Clock says what the figures can mean: the stamp is the sender's
	// clock and the arrival the load generator's.
	Clock string `json:"clock"`
}

// LoadHistograms are a load run's histograms, encoded as Run.Histogram is;
// Latency is empty without a timestamp field.
type LoadHistograms struct {
	Connect      string `json:"connect,omitempty"`
	FirstEvent   string `json:"first_event,omitempty"`
	InterArrival string `json:"inter_arrival,omitempty"`
	Latency      string `json:"latency,omitempty"`
}

// Clock notes for StampLatency.Clock.
const (
	// ClockNote is what latency from a stamp means in general.
	ClockNote = "arrival on the load generator's clock minus the sender's stamp on its own clock: exact only if both are one clock (same host); across hosts the figures include the clocks' offset, which NTP keeps to about a millisecond and PTP to microseconds"
	// ClockNoteNegative is added when some stamps were later than their
	// arrival.
	ClockNoteNegative = "; some stamps came later than their arrival, so the sender's clock is ahead of this one's and every figure is short by at least that much"
)

// DecodeLoadHistogram decodes one of LoadRun.Histograms; nil for an empty
// one.
func DecodeLoadHistogram(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return nil, nil
	}
	return hdrhistogram.Decode([]byte(s))
}
