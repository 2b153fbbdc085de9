package contract

import (
	"fmt"
	"slices"
	"strings"
)

// Transport names a way of carrying the stream: a protocol, and for the
// HTTP/2 variants the HTTP version it runs over.
type Transport string

// The transports, as flags, scenarios, results and reports spell them.
const (
	// Poll is short polling: GET /poll?after=SEQ on a keep-alive connection.
	Poll Transport = "poll"
	// LongPoll is long polling: GET /longpoll?after=SEQ, held until an
	// event is newer than the cursor or the server's hold passes.
	LongPoll Transport = "longpoll"
	// SSE is Server-Sent Events: GET /sse, text/event-stream.
	SSE Transport = "sse"
	// WS is WebSocket: GET /ws, one text message per event.
	WS Transport = "ws"
	// TCP is the floor: the events as lines over plain TCP, the least
	// framing that carries the stream, what the machine can do at all.
	TCP Transport = "tcp"

	// HTTP/2 variants of polling and SSE: TLS with ALPN as browsers speak
	// it, and cleartext h2c with prior knowledge, which shows HTTP/2's
	// framing without TLS's cost.
	PollH2  Transport = "poll-h2"
	PollH2C Transport = "poll-h2c"
	SSEH2   Transport = "sse-h2"
	SSEH2C  Transport = "sse-h2c"
)

// Floor is the transport every other is set beside.
const Floor = TCP

// Transports lists every base transport in report order: from the most HTTP
// machinery to the least, the floor last.
var Transports = []Transport{Poll, LongPoll, SSE, WS, TCP}

// HTTP2 lists the HTTP/2 variants in report order.
var HTTP2 = []Transport{PollH2, PollH2C, SSEH2, SSEH2C}

// All is every transport a client can speak, in report order.
var All = []Transport{Poll, PollH2, PollH2C, LongPoll, SSE, SSEH2, SSEH2C, WS, TCP}

// Base is the transport t is a variant of: poll for poll-h2, sse for
// sse-h2c, and t itself otherwise.
func (t Transport) Base() Transport {
	switch t {
	case PollH2, PollH2C:
		return Poll
	case SSEH2, SSEH2C:
		return SSE
	}
	return t
}

// Polls reports whether t is short polling over any HTTP version: its
// clients have an interval.
func (t Transport) Polls() bool { return t.Base() == Poll }

// Requests reports whether t carries the stream request by request (short
// or long polling) rather than as one stream per connection: its
// connections are keep-alive ones, not streams, and its figures include
// requests.
func (t Transport) Requests() bool { return t.Polls() || t == LongPoll }

// TLS reports whether t runs over TLS (the https listener).
func (t Transport) TLS() bool { return t == PollH2 || t == SSEH2 }

// Path is where the transport is served on an HTTP server; the floor has
// none.
func (t Transport) Path() string {
	if t.Base() == TCP {
		return ""
	}
	return "/" + string(t.Base())
}

// Order compares transports in report order; unknown ones sort last, by
// name.
func Order(a, b Transport) int {
	ra, rb := slices.Index(All, a), slices.Index(All, b)
	if ra < 0 {
		ra = len(All)
	}
	if rb < 0 {
		rb = len(All)
	}
	if ra != rb {
		return ra - rb
	}
	return strings.Compare(string(a), string(b))
}

// ParseTransport reads a transport name a user typed.
func ParseTransport(s string) (Transport, error) {
	t := Transport(s)
	if !slices.Contains(All, t) {
		return "", fmt.Errorf("unknown transport %q (want %s)", s, Names(All))
	}
	return t, nil
}

// Names joins transports for messages: "poll, sse, ws".
func Names[T ~string](ts []T) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// DisplayName is how prose names the transport: "SSE", "WebSocket".
func (t Transport) DisplayName() string {
	switch t {
	case Poll:
		return "polling"
	case LongPoll:
		return "long polling"
	case SSE:
		return "SSE"
	case WS:
		return "WebSocket"
	case TCP:
		return "TCP floor"
	}
	return string(t)
}
