package servers

import (
	"time"

	"github.com/pushbench/pushbench/contract"
)

// Defaults for Options.
const (
	DefaultHeartbeat = 15 * time.Second
	DefaultRetry     = time.Second
	DefaultPollBatch = 1000
	// DefaultLongPollWait is under the 30 s that proxies and load
	// balancers commonly allow an idle request.
	DefaultLongPollWait = 25 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultPingInterval = 15 * time.Second
	DefaultPongWait     = 10 * time.Second
	DefaultReadLimit    = 4096
	// DefaultIdleTimeout is nginx's keepalive_timeout. An idle keep-alive
	// connection holds a file descriptor and a goroutine; a client that
	// went silent must not hold them for ever.
	DefaultIdleTimeout = 75 * time.Second
	// DefaultReadTimeout is nginx's client_header_timeout and
	// client_body_timeout. No endpoint takes a body (one is refused at
	// once), so it bounds a request whose headers trickle in.
	DefaultReadTimeout = 60 * time.Second
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
	// LongPollWait is how long a long poll waits for an event newer than
	// its cursor before it is answered 204. Defaults to
	// DefaultLongPollWait.
	LongPollWait time.Duration
	// Impl chooses each transport's implementation by name (see Impls); a
	// transport left out gets its default.
	Impl map[contract.Transport]string
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
	// IdleTimeout is how long an HTTP connection (HTTP/1.1 keep-alive, or
	// HTTP/2 with no stream open) may wait for its next request before the
	// server closes it. It applies to servers made by HTTPServer. Defaults
	// to DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ReadTimeout bounds reading a request, headers and body, on servers
	// made by HTTPServer: a client that stops sending half-way through its
	// request loses its connection. The headers alone get at most
	// DefaultHeaderTimeout. It does not cut streams: net/http lifts the
	// deadline once the request is read (Go 1.26 starts its background
	// read with none), HTTP/2 applies it to request bodies only, and a
	// WebSocket sets its own. Defaults to DefaultReadTimeout.
	ReadTimeout time.Duration
	// MaxConns is the most connections the server holds open at once over
	// every listener made by Listener, the TCP floor's included. Beyond it
	// a connection is still accepted, so that accept never fails for want
	// of file descriptors: streams and polls on it are answered 503 (the
	// floor's with an error line) and it is closed; /healthz, /stats and
	// /control still answer. Defaults to the open-file limit less FDMargin.
	MaxConns int
	// ControlToken, when set, is required on POST /control/start and
	// /control/stop as "Authorization: Bearer TOKEN"; a request without it
	// is answered 401. /healthz and /stats stay open. Defaults to none:
	// anyone who can reach the server may start and stop its generator,
	// which is safe only on loopback.
	ControlToken string
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
	if v.LongPollWait <= 0 {
		v.LongPollWait = DefaultLongPollWait
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
	if v.IdleTimeout <= 0 {
		v.IdleTimeout = DefaultIdleTimeout
	}
	if v.ReadTimeout <= 0 {
		v.ReadTimeout = DefaultReadTimeout
	}
	if v.MaxConns <= 0 {
		v.MaxConns = defaultMaxConns()
	}
	return v
}
