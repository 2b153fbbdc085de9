package contract

import "github.com/pushbench/pushbench/internal/proc"

// Stats is the /stats answer. Only Hub.Head is required of a server;
// everything else is optional, and a run reports what is missing as not
// measured.
type Stats struct {
	// Contract is the contract version the server speaks.
	Contract int `json:"contract,omitempty"`
	// Implementation names the server implementation of each transport it
	// serves ("sse": "gosse"), and Library what it is built on, with its
	// version ("sse": "github.com/tmaxmax/go-sse v0.12.0").
	Implementation map[Transport]string `json:"implementation,omitempty"`
	Library        map[Transport]string `json:"library,omitempty"`
	Hub            HubStats             `json:"hub"`
	Transports     TransportStats       `json:"transports"`
	Process        ProcessStats         `json:"process"`
	// Log describes the event log of a durable server, its fsync policy
	// included; absent when the history lives in memory only.
	Log *LogStats `json:"log,omitempty"`
	// Conns counts the server's connections and what it did about hostile
	// ones.
	Conns ConnStats `json:"conns"`
}

// ConnStats counts connections.
type ConnStats struct {
	// Open is the connections open now over the server's listeners, and
	// Limit the most it holds before refusing with 503.
	Open  int64 `json:"open"`
	Limit int64 `json:"limit"`
	// H2EarlyResets counts HTTP/2 streams their client reset before the
	// server answered them, and H2ResetFloods the connections closed for
	// resetting too many.
	H2EarlyResets uint64 `json:"h2_early_resets"`
	H2ResetFloods uint64 `json:"h2_reset_floods"`
}

// HubStats is the stream's side of Stats.
type HubStats struct {
	// Head is the newest event published, 0 before any.
	Head uint64 `json:"head"`
	// Subscribers is the streams open now.
	Subscribers int `json:"subscribers"`
	// SlowDropped counts subscribers the hub cut off for lagging.
	SlowDropped uint64 `json:"slow_dropped"`
}

// TransportStats counts each transport's traffic. A transport the server
// does not serve reports zeros.
type TransportStats struct {
	SSE      StreamStats `json:"sse"`
	WS       StreamStats `json:"ws"`
	Poll     PollStats   `json:"poll"`
	LongPoll PollStats   `json:"longpoll"`
	// TCP is the floor's, when the server serves one.
	TCP StreamStats `json:"tcp"`
	// Refused counts connections refused because the server was at its
	// connection limit: answered 503, or the floor's error line, or closed
	// unanswered far beyond the limit.
	Refused uint64 `json:"refused"`
}

// StreamStats counts a streaming transport's connections.
type StreamStats struct {
	// Active is the streams open now; Total those ever opened.
	Active int64  `json:"active"`
	Total  uint64 `json:"total"`
	// SlowDisconnects counts streams ended for a slow client: cut off by the
	// hub for lagging, or a write that missed its deadline.
	SlowDisconnects uint64 `json:"slow_disconnects"`
}

// PollStats counts poll requests.
type PollStats struct {
	// Requests counts GET and HEAD requests, refused ones included.
	Requests uint64 `json:"requests"`
	// Empty counts 204 answers: nothing new.
	Empty uint64 `json:"empty"`
}

// ProcessStats is the server process's resource use, read the way the load
// generator reads its own (package internal/proc), so that a report can set
// one beside the other.
type ProcessStats = proc.Stats

// LogStats describes a durable server's event log.
type LogStats struct {
	// Dir is the log's directory.
	Dir string `json:"dir"`
	// Fsync is the policy: none (survives a crash of the process) or batch
	// (fsync before each publish: survives a power loss).
	Fsync string `json:"fsync"`
	// First and Last are the seqs of the oldest and newest events in the
	// file, and Events how many it holds; 0 when it is empty.
	First  uint64 `json:"first"`
	Last   uint64 `json:"last"`
	Events int    `json:"events"`
	// Bytes is the file's size.
	Bytes int64 `json:"bytes"`
	// Syncs counts fsyncs of the events (fsync batch only).
	Syncs uint64 `json:"syncs"`
	// Compactions counts rewrites of the file to its newest events.
	Compactions uint64 `json:"compactions"`
	// TornBytes is the size of the torn final record the log truncated on
	// opening: a write a crash cut short.
	TornBytes int64 `json:"torn_bytes"`
}

// Accepted is every stream the server opened plus every poll it answered:
// its difference between two samples is the accept rate of a reconnect
// storm.
func (s Stats) Accepted() uint64 {
	t := s.Transports
	return t.SSE.Total + t.WS.Total + t.TCP.Total + t.Poll.Requests + t.LongPoll.Requests
}

// SlowDisconnects is every stream any transport ended for a slow client.
func (s Stats) SlowDisconnects() uint64 {
	t := s.Transports
	return t.SSE.SlowDisconnects + t.WS.SlowDisconnects + t.TCP.SlowDisconnects
}
