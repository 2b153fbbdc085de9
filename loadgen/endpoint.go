package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// Errors NewEndpoint returns for a configuration it cannot follow.
var (
	// ErrEndpointTransport is an endpoint transport other than sse or ws.
	ErrEndpointTransport = errors.New("loadgen: an endpoint is followed over sse or ws only")
	// ErrEndpointHeader is a header the WebSocket handshake sets itself.
	ErrEndpointHeader = errors.New("loadgen: header is the WebSocket handshake's own")
)

// wsOwnHeaders are the handshake headers gorilla refuses to take from the
// caller: a handshake with one of them fails before it is sent, on every
// attempt.
var wsOwnHeaders = []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions"}

// EndpointConfig describes the clients of an endpoint that knows nothing of
// pushbench: any text/event-stream or WebSocket URL.
type EndpointConfig struct {
	// URL is requested as given by every client: http or https for SSE; ws,
	// wss, http or https for WebSocket.
	URL string
	// Transport is contract.SSE or contract.WS.
	Transport contract.Transport
	// Header is sent with every request or handshake (authorisation,
	// cookies); nil sends none.
	Header http.Header
	// StampField, if set, names a member at the top level of each
	// message's JSON object holding the time it was sent, as a number
	// since the Unix epoch in StampUnit. Latency is then arrival minus
	// that time.
	StampField string
	// StampUnit is StampField's unit; StampAuto (the zero value) detects
	// it from the first stamp's magnitude.
	StampUnit StampUnit
	// Options configures the clients as the load generator's own: SSERetry
	// until the stream sends retry:, the WebSocket backoff and its jitter,
	// ReadTimeout, ReadBuffer. Its Dial, if set, opens the connections
	// underneath the endpoint's counting Dialer.
	Options Options
	// TLSConfig is used for https and wss URLs; nil means the system's
	// roots.
	TLSConfig *tls.Config
}

// Endpoint is the shared account of many clients of one endpoint (see
// EndpointConfig). It does not account by sequence number, which such an
// endpoint need not have: per message, a client reads the clock once and
// records, into sharded HDR histograms, the time from the start of its
// connection attempt to the connection's first message, the time since the
// client's previous message (across reconnections: a page sees the outage
// as one long gap), and, with a stamp field, arrival minus the stamp.
// Connections, bytes and connect times are counted by a Dialer, failures by
// kind as every client counts them (Tracker.Fail).
type Endpoint struct {
	cfg    EndpointConfig
	opts   Options // cfg.Options with defaults and the counting Dialer
	dialer *Dialer

	first, inter, lat *Latency
	// unit is the StampUnit in use: cfg.StampUnit, or once detected the
	// first stamp's. A CAS makes the first detection the run's.
	unit     atomic.Int32
	missing  atomic.Uint64 // messages without a readable stamp
	negative atomic.Uint64 // stamps later than their arrival
	ahead    atomic.Int64  // the most any stamp was later than its arrival, ns

	mu      sync.Mutex
	clients []*endpointClient
}

// NewEndpoint checks cfg and returns an Endpoint with no clients yet.
func NewEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	switch cfg.Transport {
	case contract.SSE:
		if _, err := parseSSEURL(cfg.URL); err != nil {
			return nil, err
		}
	case contract.WS:
		if _, _, err := wsURL(cfg.URL); err != nil {
			return nil, err
		}
		for k := range cfg.Header {
			if slices.Contains(wsOwnHeaders, http.CanonicalHeaderKey(k)) {
				return nil, fmt.Errorf("%w: %s", ErrEndpointHeader, k)
			}
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrEndpointTransport, cfg.Transport)
	}
	if cfg.StampUnit < StampAuto || cfg.StampUnit > StampNS {
		return nil, fmt.Errorf("%w: %d", ErrStampUnit, cfg.StampUnit)
	}
	e := &Endpoint{cfg: cfg, dialer: NewDialer(), first: NewLatency(), inter: NewLatency()}
	e.opts = cfg.Options.WithDefaults()
	if e.opts.Jitter != contract.FullJitter && e.opts.Jitter != contract.NoJitter {
		return nil, fmt.Errorf("%w %q (want %s or %s)", ErrUnknownJitter, e.opts.Jitter, contract.FullJitter, contract.NoJitter)
	}
	e.dialer.Base = cfg.Options.Dial
	e.opts.Dial = e.dialer.DialContext
	if cfg.StampField != "" {
		e.lat = NewLatency()
		e.unit.Store(int32(cfg.StampUnit))
	}
	return e, nil
}

// NewClient adds a client of the endpoint. Its Run connects and reconnects
// until ctx ends, or gives up as its browser counterpart would: an SSE
// response that is not 200 text/event-stream, a refused WebSocket
// handshake, a message or line over the clients' limits.
func (e *Endpoint) NewClient() Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := &endpointClient{e: e, shard: len(e.clients), t: NewTracker(0, nil, len(e.clients))}
	e.clients = append(e.clients, c)
	// OnDisconnect is left unset: the Tracker would keep a Break per
	// reconnection, without bound against an endpoint that drops
	// connections in a loop, and only recovery figures read them.
	switch e.cfg.Transport {
	case contract.SSE:
		c.es = &EventSource{
			URL:       e.cfg.URL,
			Options:   &e.opts,
			TLSConfig: e.cfg.TLSConfig,
			Header:    e.cfg.Header,
			OnAttempt: c.attempt,
			OnConnect: c.t.Connected,
			OnRetry:   func(err error, _ time.Duration) { c.t.Fail(err) },
			OnEvent:   func(ev SSEEvent) error { c.message(ev.Data, time.Now()); return nil },
		}
	default:
		c.ws = &WebSocket{
			URL:         e.cfg.URL,
			Options:     &e.opts,
			IdleTimeout: e.opts.ReadTimeout,
			TLSConfig:   e.cfg.TLSConfig,
			Header:      e.cfg.Header,
			OnAttempt:   c.attempt,
			OnConnect:   c.t.Connected,
			OnMessage:   func(_ int, data []byte) error { c.message(data, c.ws.readAt); return nil },
		}
	}
	return c
}

// Received is the number of messages every client has received so far.
// Any goroutine may call it.
func (e *Endpoint) Received() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n uint64
	for _, c := range e.clients {
		n += c.received.Load()
	}
	return n
}

// Conns is the endpoint's connection and byte counters now.
func (e *Endpoint) Conns() ConnStats { return e.dialer.Stats() }

// EndpointStats is what an Endpoint's clients measured.
type EndpointStats struct {
	// Clients is how many clients there were; Received the messages they
	// received, and MinPerClient and MaxPerClient the fewest and most one
	// client received.
	Clients                    int
	Received                   uint64
	MinPerClient, MaxPerClient uint64
	// Attempts and Connects count connection attempts and the ones that
	// streamed (a 200 text/event-stream, a completed handshake);
	// Reconnects the streams beyond each client's first.
	Attempts, Connects, Reconnects uint64
	// Errors counts failed attempts and ended connections by kind.
	Errors results.Errors
	// FirstEvent is, per connection that delivered, the time from the
	// start of its attempt (dial, TLS, request or handshake included) to
	// its first message; InterArrival the time between consecutive
	// messages of one client. In ns.
	FirstEvent, InterArrival *hdrhistogram.Histogram
	// Latency is arrival minus stamp in ns, nil without a stamp field.
	Latency *hdrhistogram.Histogram
	// StampUnit is the unit stamps were read in, StampAuto if none was
	// read before it could be detected; StampDetected says it was
	// detected rather than given.
	StampUnit     StampUnit
	StampDetected bool
	// StampMissing counts messages without a readable stamp;
	// StampNegative those stamped later than they arrived, left out of
	// Latency, and StampAheadNS the most any was (the sender's clock is
	// at least that far ahead of this one).
	StampMissing, StampNegative uint64
	StampAheadNS                int64
	// Conns is the Dialer's account: connections, bytes, connect times.
	Conns ConnStats
}

// Stats sums the clients' accounts. Call it once they have stopped.
func (e *Endpoint) Stats() EndpointStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := EndpointStats{
		Clients:      len(e.clients),
		FirstEvent:   e.first.Snapshot(),
		InterArrival: e.inter.Snapshot(),
		Conns:        e.dialer.Stats(),
	}
	for i, c := range e.clients {
		n := c.received.Load()
		s.Received += n
		if i == 0 || n < s.MinPerClient {
			s.MinPerClient = n
		}
		s.MaxPerClient = max(s.MaxPerClient, n)
		cs := c.t.Counts(0)
		s.Attempts += cs.Attempts
		s.Connects += cs.Connects
		s.Reconnects += max(cs.Connects, 1) - 1
		s.Errors = s.Errors.Add(cs.Errors)
	}
	if e.lat != nil {
		s.Latency = e.lat.Snapshot()
		s.StampUnit = StampUnit(e.unit.Load())
		s.StampDetected = e.cfg.StampUnit == StampAuto && s.StampUnit != StampAuto
		s.StampMissing, s.StampNegative, s.StampAheadNS = e.missing.Load(), e.negative.Load(), e.ahead.Load()
	}
	return s
}

// stamp records the latency of a message that arrived at now, if it
// carries a stamp.
func (e *Endpoint) stamp(shard int, msg []byte, now int64) {
	v, ok := scanStamp(msg, e.cfg.StampField)
	if !ok {
		e.missing.Add(1)
		return
	}
	u := StampUnit(e.unit.Load())
	if u == StampAuto {
		e.unit.CompareAndSwap(int32(StampAuto), int32(DetectStampUnit(v.float())))
		u = StampUnit(e.unit.Load())
	}
	at, ok := v.ns(u)
	if !ok {
		e.missing.Add(1)
		return
	}
	d := now - at
	if d < 0 {
		// The histogram holds no negative values, and clamping them to
		// zero would pass a clock offset off as a fast delivery.
		e.negative.Add(1)
		for a := e.ahead.Load(); -d > a && !e.ahead.CompareAndSwap(a, -d); a = e.ahead.Load() {
		}
		return
	}
	e.lat.Record(shard, d)
}

// endpointClient is one client of an Endpoint: an EventSource, or a
// WebSocket in the reconnect loop of the load generator's own WebSocket
// client. Its Tracker keeps only the connection account (attempts,
// connects, failures by kind); with no sequence numbers there is no
// delivery account to keep.
type endpointClient struct {
	e        *Endpoint
	t        *Tracker
	shard    int
	es       *EventSource
	ws       *WebSocket
	received atomic.Uint64

	// Kept by the client's goroutine only.
	attemptAt int64 // start of the current connection attempt, Unix ns
	waiting   bool  // for the current connection's first message
	lastAt    int64 // arrival of the previous message, 0 before the first
}

// Run implements Client. A failure the client gives up on is counted too.
func (c *endpointClient) Run(ctx context.Context) error {
	if c.es != nil {
		err := c.es.Run(ctx)
		if err != nil {
			c.t.Fail(err)
		}
		return err
	}
	return reconnect(ctx, c.e.opts, c.t, c.ws.Session, func(err error) bool {
		return errors.Is(err, ErrWSURL) || errors.Is(err, ErrWSRejected) || errors.Is(err, ErrWSProtocol)
	})
}

// attempt starts a connection attempt: the first message after it is the
// connection's first.
func (c *endpointClient) attempt() {
	c.t.Attempt()
	c.attemptAt, c.waiting = time.Now().UnixNano(), true
}

// message records one message that arrived at.
func (c *endpointClient) message(data []byte, at time.Time) {
	now := at.UnixNano()
	c.received.Add(1)
	if c.waiting {
		c.waiting = false
		c.e.first.Record(c.shard, now-c.attemptAt)
	}
	if c.lastAt != 0 {
		c.e.inter.Record(c.shard, now-c.lastAt)
	}
	c.lastAt = now
	if c.e.lat != nil {
		c.e.stamp(c.shard, data, now)
	}
}
