package servers

import "time"

// Defaults for Options.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultRetry        = time.Second
	DefaultPollBatch    = 1000
	DefaultWriteTimeout = 10 * time.Second
	DefaultPingInterval = 15 * time.Second
	DefaultPongWait     = 10 * time.Second
	DefaultReadLimit    = 4096
)

// Options configures the transports. A nil *Options, and any zero field,
// means the default.
type Options struct {
	// Heartbeat is how long an SSE stream may stay silent before the server
	// sends a comment line, so proxies and clients can tell an idle stream
	// from a dead one. Defaults to DefaultHeartbeat.
	Heartbeat time.Duration
	// Retry is the reconnection delay an SSE stream asks its client for in
	// its first line. Defaults to DefaultRetry.
	Retry time.Duration
	// RetryJitter makes each SSE stream ask for its own delay, drawn
	// uniformly from [0, 2·Retry] (mean Retry), instead of Retry itself.
	// An EventSource waits exactly what retry: says, so without this every
	// browser dropped by one restart comes back in the same instant; the
	// server is the only place a storm of them can be spread. Defaults to
	// false: every stream is sent Retry.
	RetryJitter bool
	// PollBatch is the most events one poll answer carries; a client that is
	// further behind sees "more":true and asks again at once. Defaults to
	// DefaultPollBatch.
	PollBatch int
	// WriteTimeout bounds each write and flush to one client, so a client
	// that vanished or stopped reading cannot pin a handler forever.
	// Defaults to DefaultWriteTimeout.
	WriteTimeout time.Duration
	// PingInterval is how often a WebSocket connection is pinged.
	// Defaults to DefaultPingInterval.
	PingInterval time.Duration
	// PongWait is how long after a ping a WebSocket client may take to
	// answer before the server gives up on it. Defaults to DefaultPongWait.
	PongWait time.Duration
	// ReadLimit is the largest message, in bytes, a WebSocket client may
	// send; a larger one closes the connection with 1009 (message too big).
	// Clients have nothing to say, so it is small. Defaults to
	// DefaultReadLimit.
	ReadLimit int64
	// NoAccelHeader leaves out the "X-Accel-Buffering: no" header SSE
	// responses carry by default. Without it nginx, with its default
	// proxy_buffering on, holds the stream in its buffers: it exists to
	// show that pitfall (package proxy). Defaults to false: the header is
	// sent.
	NoAccelHeader bool
}

// withDefaults returns a copy of o with every zero field set to its default;
// o may be nil.
func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.Heartbeat <= 0 {
		v.Heartbeat = DefaultHeartbeat
	}
	if v.Retry <= 0 {
		v.Retry = DefaultRetry
	}
	if v.PollBatch <= 0 {
		v.PollBatch = DefaultPollBatch
	}
	if v.WriteTimeout <= 0 {
		v.WriteTimeout = DefaultWriteTimeout
	}
	if v.PingInterval <= 0 {
		v.PingInterval = DefaultPingInterval
	}
	if v.PongWait <= 0 {
		v.PongWait = DefaultPongWait
	}
	if v.ReadLimit <= 0 {
		v.ReadLimit = DefaultReadLimit
	}
	return v
}
