package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HTTP/2 variants of the SSE and polling transports: the same endpoints and
// the same accounting, over HTTP/2 with TLS (h2, negotiated by ALPN, as
// browsers speak it) or over cleartext with prior knowledge (h2c, which no
// browser speaks but which shows HTTP/2's framing without TLS's cost).
const (
	SSEH2   = "sse-h2"
	SSEH2C  = "sse-h2c"
	PollH2  = "poll-h2"
	PollH2C = "poll-h2c"
)

// HTTP2Transports lists the HTTP/2 variants in report order. Each is its
// base transport (BaseTransport) on another protocol, so a report can set
// them beside Transports.
var HTTP2Transports = []string{SSEH2, SSEH2C, PollH2, PollH2C}

// ErrH2NotNegotiated is a response that did not come over HTTP/2. An HTTP/2
// variant gives up rather than measure HTTP/1.1 under the variant's name.
var ErrH2NotNegotiated = errors.New("loadgen: http2: response not over HTTP/2")

// h2Client is an http.Transport and the set of connections it dialled. By
// default each HTTP/2 client has one of its own, so each client is one
// browser tab on its own connection and the Dialer's connection count means
// what it does for HTTP/1.1; with Options.H2Share, clients share one.
//
// An http.Transport costs a read-loop goroutine and HTTP/2 framing buffers
// per connection, more than the hand-written HTTP/1.1 clients: the
// generator's own CPU and memory figures for these variants are not
// comparable with theirs. The server's figures are what these variants
// measure.
type h2Client struct {
	tr    *http.Transport
	conns h2Conns

	shared  bool          // requests wait at gate (see await)
	gmu     sync.Mutex    // guards gate and dialing
	gate    chan struct{} // non-nil while requests that dial are unanswered
	dialing int           // how many
}

// A turn is one request's passage through await, so that the dial it causes
// can be told from others: the Transport dials on a goroutine of its own,
// and may go on dialling after the request was served by another connection.
type h2Turn struct{ state atomic.Int32 } // turnPending, then turnDialed or turnDone

type h2TurnKey struct{}

const (
	turnPending = iota
	turnDialed  // the request caused a dial, and holds the gate open
	turnDone    // the request was answered without a dial of its own
)

// await is called before each request. On a shared client, while a request
// that caused a dial is unanswered, it holds the others, so that they find
// its connection rather than each dialling their own: the Transport cannot
// know that a TLS connection will speak HTTP/2, and so carry other requests,
// until its handshake ends, and dials once per request queued before that,
// both for the first connection and for each one opened when the server's
// stream limit is reached. The caller sends its request with ctx and calls
// done when it is answered or failed.
func (c *h2Client) await(ctx context.Context) (_ context.Context, done func(), err error) {
	if !c.shared {
		return ctx, func() {}, nil
	}
	// With no connection open, the first request opens the gate itself,
	// before the Transport even starts its dial: otherwise requests that
	// arrive before that dial's goroutine reaches dialed would each dial.
	c.gmu.Lock()
	g := c.gate
	pioneer := g == nil && c.conns.open() == 0
	if pioneer {
		c.gate = make(chan struct{})
		c.dialing++
	}
	c.gmu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return ctx, func() {}, ctx.Err()
		}
	}
	tn := &h2Turn{}
	if pioneer {
		tn.state.Store(turnDialed) // its done closes the gate
	}
	return context.WithValue(ctx, h2TurnKey{}, tn), func() {
		if tn.state.CompareAndSwap(turnPending, turnDone) {
			return
		}
		c.gmu.Lock()
		defer c.gmu.Unlock()
		if c.dialing--; c.dialing == 0 {
			close(c.gate)
			c.gate = nil
		}
	}, nil
}

// dialed holds the gate open for the request whose dial this is, unless that
// request was answered already.
func (c *h2Client) dialed(ctx context.Context) {
	tn, ok := ctx.Value(h2TurnKey{}).(*h2Turn)
	if !ok || !tn.state.CompareAndSwap(turnPending, turnDialed) {
		return
	}
	c.gmu.Lock()
	defer c.gmu.Unlock()
	if c.gate == nil {
		c.gate = make(chan struct{})
	}
	c.dialing++
}

// checkH2Base checks that base suits the variant: https for h2 over TLS,
// http for h2c.
func checkH2Base(base string, tlsOn bool) error {
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("loadgen: http2 client: base %q: %w", base, err)
	}
	want := "http"
	if tlsOn {
		want = "https"
	}
	if u.Scheme != want || u.Host == "" {
		return fmt.Errorf("loadgen: http2 client: base %q: want %s://host:port", base, want)
	}
	return nil
}

// newH2Client returns an h2Client speaking h2 over TLS (tlsOn) or h2c with
// prior knowledge. idle, if set, fails a connection silent for
// o.ReadTimeout, as the EventSource does. shared makes requests wait their
// turn (see await). onDial, if set, is called for every connection.
func newH2Client(tlsOn bool, o Options, idle, shared bool, onDial func()) *h2Client {
	c := &h2Client{shared: shared}
	var p http.Protocols
	if tlsOn {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	cfg := o.TLSConfig
	if cfg == nil {
		// pushbench's servers present a certificate generated at start
		// (internal/tlscert) that nothing could verify, on loopback: the
		// run measures TLS's cost, not its trust.
		cfg = &tls.Config{InsecureSkipVerify: true}
	}
	c.tr = &http.Transport{
		Protocols:       &p,
		TLSClientConfig: cfg.Clone(),
		// The Transport does the TLS handshake over what DialContext
		// returns, so the counting Dialer sees every byte of it.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if c.shared {
				c.dialed(ctx)
			}
			conn, err := o.Dial(ctx, network, addr)
			if err != nil {
				return nil, dialError{err}
			}
			if idle {
				ic := &sseIdleConn{Conn: conn, timeout: o.ReadTimeout, last: time.Now()}
				if err := conn.SetReadDeadline(ic.last.Add(ic.timeout)); err != nil {
					closeSSEConn(conn)
					return nil, err
				}
				conn = ic
			}
			conn, err = c.conns.add(conn)
			if err == nil && onDial != nil {
				onDial()
			}
			return conn, err
		},
		DisableCompression: true, // the servers do not compress; nor do the other clients ask
		// Sets HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE too: a response
		// whose header list is longer fails the request, not the client.
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		MaxIdleConnsPerHost:    1,
		IdleConnTimeout:        0,
	}
	return c
}

// close ends every connection c's Transport holds. Run calls it on exit, so
// no read loop outlives Run.
func (c *h2Client) close() {
	c.tr.CloseIdleConnections()
	c.conns.close()
}

// H2Share makes the HTTP/2 clients whose Options carry it share connections,
// as a browser's EventSources and fetches to one origin share one HTTP/2
// connection: each client is then one stream, and the server's
// SETTINGS_MAX_CONCURRENT_STREAMS (250 for Go's server) decides how many
// streams a connection carries before the next one is opened. The
// connections live while any sharing client runs; the first client's
// Options.Dial and ReadTimeout serve them all, and ReadTimeout then applies
// to the connection, not to each stream.
type H2Share struct {
	mu    sync.Mutex
	users int
	h     [2]*h2Client // by protocol: [0] h2c, [1] h2 over TLS
}

// NewH2Share returns a share with no connections yet.
func NewH2Share() *H2Share { return &H2Share{} }

// acquire returns the shared h2Client for the protocol and a release that
// closes every connection once the last user has released.
func (s *H2Share) acquire(tlsOn bool, o Options) (*h2Client, func()) {
	i := 0
	if tlsOn {
		i = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h[i] == nil {
		s.h[i] = newH2Client(tlsOn, o, true, true, nil)
	}
	s.users++
	h := s.h[i]
	return h, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.users--; s.users == 0 {
			for j, c := range s.h {
				if c != nil {
					c.close()
					s.h[j] = nil
				}
			}
		}
	}
}

// h2Link is how a client reaches an h2Client: one of its own for each Run,
// or a share's.
type h2Link struct {
	share  *H2Share // nil: one of its own
	tlsOn  bool
	o      Options
	idle   bool   // see newH2Client
	onDial func() // for an h2Client of its own
}

// acquire returns the h2Client for one Run and what ends its use.
func (l *h2Link) acquire() (*h2Client, func()) {
	if l.share != nil {
		return l.share.acquire(l.tlsOn, l.o)
	}
	c := newH2Client(l.tlsOn, l.o, l.idle, false, l.onDial)
	return c, c.close
}

// errH2Closed refuses a dial that finishes after Run returned.
var errH2Closed = errors.New("loadgen: http2 client stopped")

// h2Conns is the connections one client's Transport has open.
// CloseIdleConnections alone is not enough on exit: it spares a connection
// whose cancelled stream is still being torn down, and that connection's read
// loop would outlive Run.
type h2Conns struct {
	mu     sync.Mutex
	m      map[*h2Conn]struct{}
	closed bool
}

// add tracks conn, or closes it if the set is closed already (a dial that
// finished after Run returned).
func (s *h2Conns) add(conn net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		closeSSEConn(conn)
		return nil, errH2Closed
	}
	if s.m == nil {
		s.m = make(map[*h2Conn]struct{})
	}
	c := &h2Conn{Conn: conn, s: s}
	s.m[c] = struct{}{}
	return c, nil
}

// open is how many connections are open.
func (s *h2Conns) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// drop closes every connection now, and lets new ones be dialled.
func (s *h2Conns) drop() {
	s.mu.Lock()
	conns := make([]*h2Conn, 0, len(s.m))
	for c := range s.m {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		closeSSEConn(c) // discarded whatever its state; the error tells nothing
	}
}

// close closes every connection and refuses new ones.
func (s *h2Conns) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.drop()
}

// h2Conn leaves its set when closed.
type h2Conn struct {
	net.Conn
	s *h2Conns
}

func (c *h2Conn) Close() error {
	c.s.mu.Lock()
	delete(c.s.m, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// h2SSEClient is an EventSource on /sse over HTTP/2: one stream, on a
// connection of its own or a shared one (Options.H2Share), reconnecting as
// EventSource does (SSERetry until the server sends retry:, Last-Event-ID on
// every reconnection), accounted like the HTTP/1.1 client.
type h2SSEClient struct {
	link h2Link
	url  string
	o    Options
	acct sseClient // dispatch accounts events exactly as over HTTP/1.1
	p    *SSEParser
}

func newH2SSEClient(base string, tlsOn bool, t *Tracker, o Options) (Client, error) {
	c := &h2SSEClient{
		url:  strings.TrimSuffix(base, "/") + "/sse?after=" + strconv.FormatUint(t.Cursor(), 10),
		o:    o,
		acct: sseClient{t: t, observe: o.Observe},
		p:    NewSSEParser(nil, o.ReadBuffer),
	}
	if err := checkH2Base(base, tlsOn); err != nil {
		return nil, err
	}
	c.link = h2Link{share: o.H2Share, tlsOn: tlsOn, o: o, idle: true}
	return c, nil
}

// Run implements Client: it streams and reconnects until ctx ends, and gives
// up on what would make an EventSource fail (see EventSource.Run), or on a
// response not over HTTP/2.
func (c *h2SSEClient) Run(ctx context.Context) error {
	h, release := c.link.acquire()
	defer release()
	client := &http.Client{
		Transport: h.tr,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) > maxSSERedirects {
				return fmt.Errorf("%w: more than %d from %s", ErrSSERedirects, maxSSERedirects, c.url)
			}
			return nil
		},
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		c.acct.t.Attempt()
		reconnect, err := c.stream(ctx, h, client)
		if ctx.Err() != nil {
			return nil
		}
		c.acct.t.Fail(err)
		c.acct.t.Disconnected() // recovery figures time the break from here
		if !reconnect {
			return err
		}
		delay := c.o.SSERetry
		if d, ok := c.p.Retry(); ok {
			delay = d
		}
		if !pauseCtx(ctx, timer, delay) {
			return nil
		}
	}
}

// stream makes one request and dispatches its stream until it ends.
// reconnect says whether to try again.
func (c *h2SSEClient) stream(ctx context.Context, h *h2Client, client *http.Client) (reconnect bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrSSEURL, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if id := c.p.LastEventID(); len(id) > 0 {
		req.Header.Set("Last-Event-ID", string(id))
	}
	rctx, done, err := h.await(ctx)
	if err != nil {
		return true, err
	}
	resp, err := client.Do(req.WithContext(rctx))
	done()
	if err != nil {
		return !errors.Is(err, ErrSSERedirects), err
	}
	// Closing the body of an unfinished stream resets it (RST_STREAM); the
	// connection stays for the next request.
	defer func() { _ = resp.Body.Close() }() // nothing to learn from a stream we leave
	if resp.ProtoMajor != 2 {
		return false, fmt.Errorf("%w: %s from %s", ErrH2NotNegotiated, resp.Proto, c.url)
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%w: %s from %s", ErrSSEStatus, resp.Status, c.url)
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if (err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter)) || mt != "text/event-stream" {
		return false, fmt.Errorf("%w: Content-Type %q from %s", ErrSSEContentType, ct, c.url)
	}
	c.acct.t.Connected()
	c.p.Reset(resp.Body)
	for {
		ev, err := c.p.Next()
		if err != nil {
			return !errors.Is(err, ErrSSETooLong), fmt.Errorf("read stream from %s: %w", c.url, err)
		}
		if err := c.acct.dispatch(ev); err != nil {
			return false, err
		}
	}
}

// h2PollClient is the polling page's fetch loop (see pollClient) over
// HTTP/2: one request stream per poll on one kept connection, its own or a
// shared one (Options.H2Share).
type h2PollClient struct {
	link h2Link
	t    *Tracker
	o    Options
	url  string // up to the cursor: ".../poll?after="
	body []byte // reused across polls
	ans  pollAnswer
}

func newH2PollClient(base string, tlsOn bool, t *Tracker, o Options) (Client, error) {
	if err := checkH2Base(base, tlsOn); err != nil {
		return nil, err
	}
	c := &h2PollClient{t: t, o: o, url: strings.TrimSuffix(base, "/") + "/poll?after="}
	// Connects count connections, as pollClient's do; see Run for a
	// shared connection.
	c.link = h2Link{share: o.H2Share, tlsOn: tlsOn, o: o, onDial: t.Connected}
	return c, nil
}

// Run implements Client, as pollClient.Run does.
func (c *h2PollClient) Run(ctx context.Context) error {
	h, release := c.link.acquire()
	defer release()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	connected := c.link.share == nil // own connections count themselves
	for {
		more, err := c.poll(ctx, h)
		if err == nil && !connected {
			// A shared connection is no client's: a sharing client
			// counts one connect, at its first answer.
			c.t.Connected()
			connected = true
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.t.Fail(err)
		}
		if errors.Is(err, ErrPollRejected) || errors.Is(err, ErrPollTooLong) || errors.Is(err, ErrH2NotNegotiated) {
			return err
		}
		if err != nil {
			c.t.Disconnected() // as a failed poll over HTTP/1.1
		}
		if err != nil && c.link.share == nil {
			// As over HTTP/1.1, the next poll starts on a fresh
			// connection, whatever state this one is in. A shared
			// connection carries other clients' polls: it stays.
			h.conns.drop()
		}
		if more && err == nil {
			continue
		}
		if !pauseCtx(ctx, timer, c.o.PollInterval) {
			return nil
		}
	}
}

// poll makes one request, under ReadTimeout, and accounts for its answer.
func (c *h2PollClient) poll(ctx context.Context, h *h2Client) (more bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, c.o.ReadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, c.url+strconv.FormatUint(c.t.Cursor(), 10), nil)
	if err != nil {
		return false, err
	}
	c.t.Attempt()
	// RoundTrip, not a Client: the polling page follows no redirects.
	tctx, done, err := h.await(rctx)
	if err != nil {
		return false, err
	}
	resp, err := h.tr.RoundTrip(req.WithContext(tctx))
	done()
	if err != nil {
		return false, err
	}
	if c.body, err = readPollBody(c.body, resp); err != nil {
		return false, err
	}
	now := time.Now().UnixNano()
	defer c.release()
	if resp.ProtoMajor != 2 {
		return false, fmt.Errorf("%w: %s from %s", ErrH2NotNegotiated, resp.Proto, c.url)
	}
	return accountPoll(c.t, &c.o, &c.ans, resp, c.body, now)
}

// release drops the answer's references into the body, as pollClient's does.
func (c *h2PollClient) release() {
	clear(c.ans.events)
	if cap(c.body) > retainBuf {
		c.body = nil
	}
}

// accountPoll accounts for one poll answer exactly as pollClient.poll does,
// parsing body into ans. more reports the answer's "more" flag.
func accountPoll(t *Tracker, o *Options, ans *pollAnswer, resp *http.Response, body []byte, now int64) (more bool, err error) {
	switch code := resp.StatusCode; {
	case code == http.StatusNoContent:
		t.Poll(true)
		return false, nil
	case code == http.StatusOK:
		if err := ans.parse(body); err != nil {
			t.Malformed()
			return false, nil
		}
		t.Poll(len(ans.events) == 0)
		if ans.hasGap {
			t.Gap(ans.gap)
		}
		for _, e := range ans.events {
			accountEvent(t, o, e, now)
		}
		// See pollClient.poll: a "next" that disagrees with the cursor
		// is a protocol error.
		if ans.next != t.Cursor() {
			t.Malformed()
		}
		return ans.more, nil
	case code >= 500:
		return false, fmt.Errorf("loadgen: poll: %w: %s", errServerStatus, resp.Status)
	default:
		return false, fmt.Errorf("%w: %s: %q", ErrPollRejected, resp.Status, bytes.TrimSpace(body[:min(len(body), 512)]))
	}
}
