// Package loadgen drives many concurrent clients of one transport and proves,
// per client, that every event arrived exactly once and in order.
//
// Each client behaves like its browser counterpart: the SSE client like an
// EventSource (honours retry:, resends Last-Event-ID), the WebSocket client
// like a page that reconnects with exponential backoff and jitter, and the
// polling client like a fetch loop on one keep-alive connection. Each keeps one
// goroutine and one read buffer per connection, so the generator stays cheaper
// than the servers it measures.
package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Transports the load generator speaks.
const (
	Poll = "poll"
	SSE  = "sse"
	WS   = "ws"
)

// Transports lists every base transport in report order; TCP is the floor
// (see tcp.go) the others are measured against. HTTP2Transports (h2.go)
// lists the HTTP/2 variants of poll and SSE, which New also takes.
var Transports = []string{Poll, SSE, WS, TCP}

// BaseTransport is the transport a variant is a version of: poll for
// poll-h2 and poll-h2c, sse for sse-h2 and sse-h2c, and transport itself
// otherwise. Code that treats polling apart (poll counters, poll interval)
// compares BaseTransport(name) with Poll.
func BaseTransport(transport string) string {
	switch transport {
	case PollH2, PollH2C:
		return Poll
	case SSEH2, SSEH2C:
		return SSE
	}
	return transport
}

// Defaults for Options.
const (
	DefaultPollInterval = time.Second
	DefaultSSERetry     = 3 * time.Second // what browsers use before a server sends retry:
	DefaultBackoffMin   = 100 * time.Millisecond
	DefaultBackoffMax   = 5 * time.Second
	DefaultReadTimeout  = 45 * time.Second
	DefaultReadBuffer   = 4096
)

// Errors New returns for options it cannot honour.
var (
	ErrUnknownTransport = errors.New("loadgen: unknown transport")
	ErrUnknownJitter    = errors.New("loadgen: unknown jitter policy")
)

// Jitter is how the WebSocket and TCP clients spread their reconnects.
type Jitter string

// Jitter policies. The zero value is FullJitter.
const (
	// FullJitter draws each pause uniformly from [0, ceiling]: what a
	// careful page does, and what spreads a reconnect storm.
	FullJitter Jitter = "full"
	// NoJitter pauses exactly the ceiling, so clients that lost their
	// connections together come back together: the naive page, kept to
	// show what jitter buys.
	NoJitter Jitter = "none"
)

// Client is one simulated user of a transport.
type Client interface {
	// Run connects, receives and reconnects until ctx ends, accounting for
	// every event in the client's Tracker. It returns nil when ctx ends, or
	// an error when the client gives up as its browser counterpart would
	// (an SSE response that is not 200 text/event-stream, for example).
	Run(ctx context.Context) error
}

// Options configures clients. The zero value means defaults.
type Options struct {
	// PollInterval is the polling client's pause between polls. Defaults to
	// DefaultPollInterval. A poll answered with "more" is followed at once.
	PollInterval time.Duration
	// SSERetry is the SSE client's reconnection delay until the server sends
	// retry:. Defaults to DefaultSSERetry.
	SSERetry time.Duration
	// BackoffMin and BackoffMax bound the WebSocket and TCP clients'
	// exponential backoff. Default to DefaultBackoffMin and
	// DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// Jitter is how those clients spread their pauses. Defaults to
	// FullJitter. SSE clients follow the server's retry: and polling
	// clients their tick, so it does not apply to them.
	Jitter Jitter
	// ReadTimeout is how long a connection may be silent (no event, heartbeat
	// or ping) before the client calls it dead and reconnects; also the
	// polling client's request timeout. Defaults to DefaultReadTimeout.
	ReadTimeout time.Duration
	// ReadBuffer is each connection's read buffer in bytes. Defaults to
	// DefaultReadBuffer.
	ReadBuffer int
	// Dial opens connections. Defaults to a net.Dialer; runs pass a Dialer
	// that counts connections and bytes.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is what the https variants (sse-h2, poll-h2) verify the
	// server with. nil means no verification: pushbench's servers present a
	// self-signed certificate generated at start.
	TLSConfig *tls.Config
	// H2Share, if set, makes the HTTP/2 variants' clients that carry it
	// share connections, many streams to one, as a browser's tabs on one
	// origin do (see H2Share). nil: each client has a connection of its
	// own, one tab each.
	H2Share *H2Share
	// Observe, if set, is called with the raw canonical JSON of every event a
	// client receives, before it is accounted. Tests use it to compare
	// payloads across transports; the slice is valid only during the call.
	Observe func(msg []byte)
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.PollInterval <= 0 {
		v.PollInterval = DefaultPollInterval
	}
	if v.SSERetry <= 0 {
		v.SSERetry = DefaultSSERetry
	}
	if v.BackoffMin <= 0 {
		v.BackoffMin = DefaultBackoffMin
	}
	if v.BackoffMax <= 0 {
		v.BackoffMax = DefaultBackoffMax
	}
	if v.Jitter == "" {
		v.Jitter = FullJitter
	}
	if v.ReadTimeout <= 0 {
		v.ReadTimeout = DefaultReadTimeout
	}
	if v.ReadBuffer <= 0 {
		v.ReadBuffer = DefaultReadBuffer
	}
	if v.Dial == nil {
		v.Dial = (&net.Dialer{}).DialContext
	}
	return v
}

// New returns a client of transport for the server at base (for example
// "http://127.0.0.1:8080"; the client adds the transport's path), accounting
// into t. The TLS HTTP/2 variants (sse-h2, poll-h2) want an https base; h2c
// ones an http base.
func New(transport, base string, t *Tracker, o *Options) (Client, error) {
	opts := o.withDefaults()
	if opts.Jitter != FullJitter && opts.Jitter != NoJitter {
		return nil, fmt.Errorf("%w %q (want %s or %s)", ErrUnknownJitter, opts.Jitter, FullJitter, NoJitter)
	}
	switch transport {
	case Poll:
		return newPollClient(base, t, opts)
	case SSE:
		return newSSEClient(base, t, opts)
	case WS:
		return newWSClient(base, t, opts)
	case TCP:
		return newTCPClient(base, t, opts)
	case SSEH2, SSEH2C:
		return newH2SSEClient(base, transport == SSEH2, t, opts)
	case PollH2, PollH2C:
		return newH2PollClient(base, transport == PollH2, t, opts)
	}
	return nil, fmt.Errorf("%w %q (want poll, sse, ws, tcp, %s)", ErrUnknownTransport, transport, strings.Join(HTTP2Transports, ", "))
}
