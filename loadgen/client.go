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
	"time"

	"github.com/pushbench/pushbench/contract"
)

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
	Jitter contract.Jitter
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

// WithDefaults returns a copy of o with every zero field set to its default;
// o may be nil.
func (o *Options) WithDefaults() Options {
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
		v.Jitter = contract.FullJitter
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

// newClient makes a client of one transport for the server at base,
// accounting into t.
type newClient func(base string, t *Tracker, o Options) (Client, error)

// clients is the one place that names every transport the load generator
// speaks: adding a client transport is one line here.
var clients = map[contract.Transport]newClient{
	contract.Poll:     newPollClient,
	contract.LongPoll: newLongPollClient,
	contract.SSE:      newSSEClient,
	contract.WS:       newWSClient,
	contract.TCP:      newTCPClient,
	contract.SSEH2:    func(b string, t *Tracker, o Options) (Client, error) { return newH2SSEClient(b, true, t, o) },
	contract.SSEH2C:   func(b string, t *Tracker, o Options) (Client, error) { return newH2SSEClient(b, false, t, o) },
	contract.PollH2:   func(b string, t *Tracker, o Options) (Client, error) { return newH2PollClient(b, true, t, o) },
	contract.PollH2C:  func(b string, t *Tracker, o Options) (Client, error) { return newH2PollClient(b, false, t, o) },
}

// Speaks reports whether the load generator has clients of transport t.
func Speaks(t contract.Transport) bool { _, ok := clients[t]; return ok }

// New returns a client of transport for the server at base (for example
// "http://127.0.0.1:8080"; the client adds the transport's path), accounting
// into t. The TLS HTTP/2 variants (sse-h2, poll-h2) want an https base; h2c
// ones an http base, and the floor a tcp:// one.
func New(transport contract.Transport, base string, t *Tracker, o *Options) (Client, error) {
	opts := o.WithDefaults()
	if opts.Jitter != contract.FullJitter && opts.Jitter != contract.NoJitter {
		return nil, fmt.Errorf("%w %q (want %s or %s)", ErrUnknownJitter, opts.Jitter, contract.FullJitter, contract.NoJitter)
	}
	nc, ok := clients[transport]
	if !ok {
		return nil, fmt.Errorf("%w %q (want %s)", ErrUnknownTransport, transport, contract.Names(contract.All))
	}
	return nc(base, t, opts)
}
