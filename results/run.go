// Package results holds what a benchmark run measured, as plain values that
// serialise to results.json, and the renderers that turn them into tables,
// reports and plots.
package results

import (
	"fmt"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Run is everything one measured run of one transport recorded. Field names
// are the results.json schema; units are in the names.
type Run struct {
	// Scenario names the scenario the run belongs to ("" for a single run).
	Scenario string `json:"scenario,omitempty"`
	// Transport is poll, sse, ws or tcp (the floor).
	Transport string `json:"transport"`
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
	// EventsExpected is the sum over clients of the events each should get.
	EventsExpected uint64 `json:"events_expected"`
	// EventsDelivered is the sum over clients of distinct events received.
	EventsDelivered uint64 `json:"events_delivered"`
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
	// SlowDisconnects is how many subscribers the server cut off for lagging.
	SlowDisconnects uint64 `json:"slow_disconnects"`

	// LatencyNS is delivery latency, scheduled publish time to arrival,
	// over every delivery of every client.
	LatencyNS Percentiles `json:"latency_ns"`
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

// Percentiles of a latency distribution, in nanoseconds.
type Percentiles struct {
	P50  int64 `json:"p50"`
	P90  int64 `json:"p90"`
	P99  int64 `json:"p99"`
	P999 int64 `json:"p999"`
	Max  int64 `json:"max"`
	// Count is the number of values the percentiles were computed over.
	Count int64 `json:"count"`
}

// PercentilesOf reads the standard percentiles off h.
func PercentilesOf(h *hdrhistogram.Histogram) Percentiles {
	return Percentiles{
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
}

// Latency decodes the run's histogram.
func (r *Run) Latency() (*hdrhistogram.Histogram, error) {
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
