package results

import (
	"fmt"
	"strconv"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pushbench/pushbench/contract"
)

// Run is everything one measured run of one transport recorded. Field names
// are the results.json schema; units are in the names.
type Run struct {
	// Scenario names the scenario the run belongs to ("" for a single run).
	Scenario string `json:"scenario,omitempty"`
	// Transport is the transport measured (tcp: the floor).
	Transport contract.Transport `json:"transport"`
	// Impl is the server implementation of the transport ("gws"); empty in
	// files written before implementations were named, and for servers
	// that do not say. Library is what it is built on, with its version.
	Impl    string `json:"impl,omitempty"`
	Library string `json:"library,omitempty"`
	// ImplNotes says what the implementation does differently from the
	// others because its library offers nothing closer (servers.Impl's
	// Notes), for the report.
	ImplNotes string `json:"impl_notes,omitempty"`
	// Clients is the number of concurrent clients.
	Clients int `json:"clients"`
	// Rate is the offered event rate (events/s) and Burst how many events
	// share each scheduled instant.
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
	// Payload is the data size of each event in bytes.
	Payload int `json:"payload"`
	// PollIntervalS is the polling clients' interval, for polling runs.
	PollIntervalS float64 `json:"poll_interval_s,omitempty"`
	// DurationS is how long events were published, in seconds.
	DurationS float64 `json:"duration_s"`

	// EventsPublished is how many events the server published.
	EventsPublished uint64 `json:"events_published"`
	// Delivery is the clients' exact account of every event.
	Delivery
	// SlowDisconnects is how many streams the server ended for a slow
	// client, summed over its transports: cut off by the hub for lagging,
	// or a write that missed its deadline.
	SlowDisconnects uint64 `json:"slow_disconnects"`
	// Errors counts the clients' failed connection attempts and ended
	// connections by kind; absent when there were none (and in files
	// written before it existed).
	Errors Errors `json:"errors,omitzero"`

	// LatencyNS is delivery latency, scheduled publish time to arrival,
	// over every delivery of every client.
	LatencyNS Latency `json:"latency_ns"`
	// DeliveriesPerSec is events delivered (all clients) per second of the
	// publishing window.
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`

	Connections Connections `json:"connections"`
	Wire        Wire        `json:"wire"`
	// Polls is set for polling runs.
	Polls *Polls `json:"polls,omitempty"`
	// Server and Loadgen are each process's resource use over the run.
	Server  Process `json:"server"`
	Loadgen Process `json:"loadgen"`

	// Histogram is the merged latency histogram in the HdrHistogram
	// compressed base64 format, so runs and shards merge exactly.
	Histogram string `json:"histogram,omitempty"`

	// Idle is the traffic of the connections held open and idle before
	// publishing (heartbeats, pings, empty polls), when the run had an
	// idle window.
	Idle *Idle `json:"idle,omitempty"`
	// Clock is the estimated offset of the server's clock from the load
	// generator's, set when they may not share one (a --target run). Event
	// stamps are the server's and arrivals the generator's, so true latency
	// is LatencyNS + Clock.OffsetNS, within Clock.ErrorNS.
	Clock *Clock `json:"clock,omitempty"`
	// Shard is set on one shard's share of a sharded run; Shards on the run
	// merged from them, one entry per shard in index order.
	Shard  *Shard  `json:"shard,omitempty"`
	Shards []Shard `json:"shards,omitempty"`
}

// Idle is the traffic of connections held open with no event to send: SSE
// heartbeats, WebSocket pings and pongs, empty polls, with their headers.
type Idle struct {
	// Seconds is how long the connections were held idle.
	Seconds float64 `json:"seconds"`
	// BytesIn and BytesOut are counted at the clients' sockets.
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// BytesPerSecPerConn is (in + out) / Seconds / clients.
	BytesPerSecPerConn float64 `json:"bytes_per_s_per_conn"`
}

// Errors counts, by kind, the client connection attempts that failed and
// the connections that ended while the clients still meant to run. Every
// such attempt or connection counts once, under the first kind that fits,
// in the order of the fields. Kinds are snake_case in results.json.
type Errors struct {
	// HeaderTooLarge is responses whose header ran past the clients'
	// bound (loadgen.MaxResponseHeaderBytes).
	HeaderTooLarge uint64 `json:"header_too_large,omitempty"`
	// TooLong is messages, lines, events or poll answers longer than the
	// clients' limits.
	TooLong uint64 `json:"too_long,omitempty"`
	// Connect is connections that could not be opened: refused,
	// unreachable, or not within the connect timeout.
	Connect uint64 `json:"connect,omitempty"`
	// Status is answers the client does not stream from: a 4xx or 5xx, an
	// SSE answer that is not 200 text/event-stream, a refused handshake.
	Status uint64 `json:"status,omitempty"`
	// Timeout is connections silent for the clients' read timeout.
	Timeout uint64 `json:"timeout,omitempty"`
	// Closed is connections the server closed or reset, a stream's end
	// included.
	Closed uint64 `json:"closed,omitempty"`
	// Protocol is anything else: an answer that breaks HTTP, TLS,
	// WebSocket or the transport's framing.
	Protocol uint64 `json:"protocol,omitempty"`
}

// Add sums e and o.
func (e Errors) Add(o Errors) Errors {
	return Errors{
		HeaderTooLarge: e.HeaderTooLarge + o.HeaderTooLarge,
		TooLong:        e.TooLong + o.TooLong,
		Connect:        e.Connect + o.Connect,
		Status:         e.Status + o.Status,
		Timeout:        e.Timeout + o.Timeout,
		Closed:         e.Closed + o.Closed,
		Protocol:       e.Protocol + o.Protocol,
	}
}

// Total is the number of failures of every kind.
func (e Errors) Total() uint64 {
	return e.HeaderTooLarge + e.TooLong + e.Connect + e.Status + e.Timeout + e.Closed + e.Protocol
}

// String lists the kinds that occurred with their counts, as
// "3 header_too_large, 1 closed", or "none".
func (e Errors) String() string {
	var parts []string
	for _, k := range []struct {
		n    uint64
		name string
	}{
		{e.HeaderTooLarge, "header_too_large"}, {e.TooLong, "too_long"}, {e.Connect, "connect"},
		{e.Status, "status"}, {e.Timeout, "timeout"}, {e.Closed, "closed"}, {e.Protocol, "protocol"},
	} {
		if k.n > 0 {
			parts = append(parts, strconv.FormatUint(k.n, 10)+" "+k.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Delivery is the exact account of a run's events, summed over its clients:
// every expected event arrived once and in order, or it is counted here as
// lost, duplicated, reordered or named by a gap signal. The load generator's
// trackers keep it per client, and runs, fault runs and merged shards carry
// the same type.
type Delivery struct {
	// Expected is the sum over clients of the events each should get;
	// Delivered of the distinct events each received.
	Expected  uint64 `json:"events_expected"`
	Delivered uint64 `json:"events_delivered"`
	// Lost is events expected and never received nor signalled as a gap,
	// after the run drained.
	Lost       uint64 `json:"lost"`
	Duplicates uint64 `json:"duplicates"`
	Reordered  uint64 `json:"reordered"`
	// Gaps counts gap signals; GapMissed the events they stood for.
	Gaps      uint64 `json:"gaps"`
	GapMissed uint64 `json:"gap_missed"`
	// Malformed counts messages that were neither an event nor a gap.
	Malformed uint64 `json:"malformed"`
}

// Add sums two accounts.
func (d Delivery) Add(o Delivery) Delivery {
	return Delivery{
		Expected: d.Expected + o.Expected, Delivered: d.Delivered + o.Delivered,
		Lost: d.Lost + o.Lost, Duplicates: d.Duplicates + o.Duplicates, Reordered: d.Reordered + o.Reordered,
		Gaps: d.Gaps + o.Gaps, GapMissed: d.GapMissed + o.GapMissed, Malformed: d.Malformed + o.Malformed,
	}
}

// Exact reports whether every expected event arrived once and in order.
func (d Delivery) Exact() bool {
	return d.Lost == 0 && d.Duplicates == 0 && d.Reordered == 0 && d.Malformed == 0
}

// Latency summarises a distribution of durations in nanoseconds: delivery
// latency, request latency, or a fault's detect, reconnect and catch-up
// times over clients.
type Latency struct {
	P50  int64 `json:"p50"`
	P90  int64 `json:"p90"`
	P99  int64 `json:"p99"`
	P999 int64 `json:"p999"`
	Max  int64 `json:"max"`
	// Count is the number of values the percentiles were computed over.
	Count int64 `json:"count"`
}

// LatencyOf reads the standard percentiles off h.
func LatencyOf(h *hdrhistogram.Histogram) Latency {
	return Latency{
		P50:   h.ValueAtQuantile(50),
		P90:   h.ValueAtQuantile(90),
		P99:   h.ValueAtQuantile(99),
		P999:  h.ValueAtQuantile(99.9),
		Max:   h.Max(),
		Count: h.TotalCount(),
	}
}

// Connections counts the clients' connections, at the clients.
type Connections struct {
	Attempted      uint64 `json:"attempted"`
	Established    uint64 `json:"established"`
	Failed         uint64 `json:"failed"`
	PeakConcurrent int64  `json:"peak_concurrent"`
	// Reconnects is streams opened beyond each client's first.
	Reconnects   uint64 `json:"reconnects"`
	ConnectP50NS int64  `json:"connect_p50_ns"`
	ConnectP99NS int64  `json:"connect_p99_ns"`
	// ConnectRate is clients connected per second: clients over the time
	// from the first dial until every client had its stream.
	ConnectRate float64 `json:"connect_rate_per_s,omitempty"`
	// ConnectHistogram is the connect-time histogram, encoded as Histogram
	// is, so shards' connect times merge exactly.
	ConnectHistogram string `json:"connect_histogram,omitempty"`
}

// Wire counts bytes at the clients' sockets: HTTP headers, handshakes,
// framing and heartbeats included.
type Wire struct {
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// BytesPerEvent is (in + out) / events delivered.
	BytesPerEvent float64 `json:"bytes_per_event"`
}

// Polls describes a polling run's requests.
type Polls struct {
	Requests       uint64  `json:"requests"`
	Empty          uint64  `json:"empty"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	// EmptyShare is the fraction of polls that came back with no event.
	EmptyShare float64 `json:"empty_share"`
}

// Process is one process's resource use during a run.
type Process struct {
	// CPUSeconds is user+system CPU time spent during the run.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPer1kDeliveries is CPUSeconds per 1,000 events delivered.
	CPUPer1kDeliveries float64 `json:"cpu_s_per_1k_deliveries"`
	// RSSBytes and HeapBytes are resident set and Go heap in use at the
	// measurement's peak (connections open).
	RSSBytes  uint64 `json:"rss_bytes"`
	HeapBytes uint64 `json:"heap_bytes"`
	// BytesPerConn is (RSS - RSS before connections) / connections, and
	// HeapPerConn the same for the Go heap: what holding one idle
	// connection costs.
	BytesPerConn float64 `json:"bytes_per_conn"`
	HeapPerConn  float64 `json:"heap_bytes_per_conn"`
	Goroutines   int     `json:"goroutines"`
	OpenFiles    int     `json:"open_files"`
	// Cores is the CPU the process used over the measured window, in cores
	// (CPUSeconds over the window's wall time): a process near the number
	// of cores it was pinned to was the limit of the run.
	Cores float64 `json:"cores,omitempty"`
}

// DecodeHistogram decodes the run's latency histogram.
func (r *Run) DecodeHistogram() (*hdrhistogram.Histogram, error) {
	if r.Histogram == "" {
		return nil, fmt.Errorf("run %s/%s has no histogram", r.Scenario, r.Transport)
	}
	return hdrhistogram.Decode([]byte(r.Histogram))
}

// EncodeHistogram encodes h for Run.Histogram.
func EncodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	return string(b), err
}
