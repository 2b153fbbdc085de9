package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pushbench/pushbench/event"
)

// Errors an EventSource gives up with. Like a browser's EventSource it "fails
// the connection" on these rather than reconnecting: retrying could not
// change the answer.
var (
	ErrSSEStatus      = errors.New("loadgen: sse: response status is not 200 OK")
	ErrSSEContentType = errors.New("loadgen: sse: response is not text/event-stream")
	ErrSSERedirects   = errors.New("loadgen: sse: too many redirects")
	ErrSSEURL         = errors.New("loadgen: sse: not an http or https URL")
	// ErrSSENoContent comes with ErrSSEStatus for a 204 No Content answer,
	// which the SSE standard singles out as the way a server tells an
	// EventSource to stop reconnecting.
	ErrSSENoContent = errors.New("204 No Content: the server asks the client to stop reconnecting")

	// errSSEIdle ends a connection that was silent for ReadTimeout; the
	// EventSource reconnects.
	errSSEIdle = errors.New("loadgen: sse: connection silent for longer than the read timeout")
)

// maxSSERedirects is fetch's limit on redirects per request.
const maxSSERedirects = 20

// EventSource connects to one URL and dispatches its events as a browser's
// EventSource does: on a network error or the end of the stream it waits the
// reconnection time (Options.SSERetry until the stream sends retry:) and
// requests the same URL again with a Last-Event-ID header, until ctx ends.
//
// Each connection is a raw connection from Options.Dial with one goroutine
// and two read buffers (the HTTP framing's and the parser's) that live as
// long as Run and are reused by every reconnection, so thousands of
// EventSources stay cheaper than the server they measure. http.Transport
// would add a goroutine and buffers per connection and pool connections a
// browser would not.
type EventSource struct {
	// URL is the http or https URL requested on every connection, unchanged,
	// as EventSource requests the URL it was constructed with.
	URL string
	// LastEventID, if set, is sent as Last-Event-ID from the first connection
	// on, as if an earlier stream had ended with it.
	LastEventID string
	// Options supplies SSERetry, ReadTimeout, ReadBuffer and Dial; nil means
	// defaults. A connection on which nothing at all (not even a heartbeat
	// comment) arrives for ReadTimeout is closed and reconnected.
	Options *Options
	// TLSConfig is used for https URLs; nil means the system's roots.
	TLSConfig *tls.Config
	// Header, if set, is sent with every request (an Authorization, a
	// cookie), as a polyfilled EventSource sends headers a browser's cannot.
	// Accept, Cache-Control and Last-Event-ID are the EventSource's own and
	// override it; a Host entry names the host asked for.
	Header http.Header
	// OnAttempt, if set, is called before every connection attempt, and
	// OnConnect for every response that starts a stream (200
	// text/event-stream). OnDisconnect is called when an attempt ends while
	// ctx has not, before the reconnection delay.
	OnAttempt, OnConnect, OnDisconnect func()
	// OnRetry, if set, is called when an attempt or a stream ends in a way
	// the EventSource retries (a network error, a header over
	// MaxResponseHeaderBytes, a stream silent for ReadTimeout, the end of
	// the stream), with what ended it and the delay before the next
	// attempt, after OnDisconnect.
	OnRetry func(err error, delay time.Duration)
	// OnEvent, if set, is called with every dispatched event; the event's
	// slices are valid only during the call. An error ends Run, which
	// returns it.
	OnEvent func(ev SSEEvent) error
}

// Run connects and dispatches until ctx ends, and then returns nil. It
// returns an error, without reconnecting, for a response that is not 200
// text/event-stream (ErrSSEStatus, with ErrSSENoContent for a 204), too
// many redirects, a line or event longer than DefaultSSEMaxSize, or an
// error from OnEvent. No goroutine it starts outlives it.
func (es *EventSource) Run(ctx context.Context) error {
	u, err := parseSSEURL(es.URL)
	if err != nil {
		return err
	}
	o := es.Options.WithDefaults()
	s := &sseStream{
		es: es,
		o:  o,
		p:  NewSSEParser(nil, o.ReadBuffer),
		br: bufio.NewReaderSize(nil, o.ReadBuffer),
	}
	s.p.SetLastEventID([]byte(es.LastEventID))
	for {
		if es.OnAttempt != nil {
			es.OnAttempt()
		}
		reconnect, err := s.connect(ctx, u)
		if ctx.Err() != nil {
			return nil
		}
		if es.OnDisconnect != nil {
			es.OnDisconnect()
		}
		if !reconnect {
			return err
		}
		delay := o.SSERetry
		if d, ok := s.p.Retry(); ok {
			delay = d
		}
		if es.OnRetry != nil {
			es.OnRetry(err, delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func parseSSEURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSSEURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q", ErrSSEURL, u.Redacted())
	}
	return u, nil
}

// sseStream is the state an EventSource keeps across connections.
type sseStream struct {
	es *EventSource
	o  Options
	p  *SSEParser
	br *bufio.Reader
	hc headerConn // bounds the response header; br reads through it
}

// connect makes one connection attempt, following redirects, and streams
// until the connection ends. reconnect says whether the EventSource should
// try again (a network error or the end of the stream) or fail.
func (s *sseStream) connect(ctx context.Context, u *url.URL) (reconnect bool, err error) {
	for hops := 0; ; hops++ {
		next, reconnect, err := s.request(ctx, u)
		if next == nil {
			return reconnect, err
		}
		if hops == maxSSERedirects {
			return false, fmt.Errorf("%w: more than %d from %s", ErrSSERedirects, maxSSERedirects, s.es.URL)
		}
		u = next
	}
}

// request makes one request on a new connection. It returns next for a
// redirect, which the caller follows.
func (s *sseStream) request(ctx context.Context, u *url.URL) (next *url.URL, reconnect bool, err error) {
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	raw, err := s.o.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, true, fmt.Errorf("dial %s: %w", addr, dialError{err})
	}
	// Closing the connection is how a read blocked on it learns that ctx
	// ended. AfterFunc runs the close on a goroutine of its own, so when
	// stop is too late to prevent it, wait for it to finish.
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		closeSSEConn(raw)
		close(closed)
	})
	defer func() {
		if stop() {
			closeSSEConn(raw)
		} else {
			<-closed
		}
	}()

	ic := &sseIdleConn{Conn: raw, timeout: s.o.ReadTimeout, last: time.Now()}
	if err := raw.SetReadDeadline(ic.last.Add(ic.timeout)); err != nil {
		return nil, true, err
	}
	var conn net.Conn = ic
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if s.es.TLSConfig != nil {
			cfg = s.es.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(ic, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, true, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		conn = tc
	}

	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrSSEURL, err)
	}
	for k, vs := range s.es.Header {
		if http.CanonicalHeaderKey(k) == "Host" && len(vs) > 0 {
			req.Host = vs[0] // req.Write sends req.Host, never a Host entry
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if id := s.p.LastEventID(); len(id) > 0 {
		// A browser sends the id it decoded, encoded again as UTF-8.
		req.Header.Set("Last-Event-ID", DecodeUTF8(id))
	}
	if err := req.Write(conn); err != nil {
		return nil, true, fmt.Errorf("write request to %s: %w", addr, err)
	}
	// The header is read through a limit, lifted once it has been read:
	// the stream is parsed in place, with limits of its own.
	s.hc = headerConn{Conn: conn, left: MaxResponseHeaderBytes}
	s.br.Reset(&s.hc)
	resp, err := http.ReadResponse(s.br, req)
	if err != nil {
		return nil, true, fmt.Errorf("read response from %s: %w", addr, s.hc.headerErr(err))
	}
	s.hc.lift()
	// The body is never closed: Close on a body from ReadResponse reads it
	// to the end, which for an event stream is never. Closing the connection
	// (deferred above) is what ends it.
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNoContent:
		return nil, false, fmt.Errorf("%w: %w (from %s)", ErrSSEStatus, ErrSSENoContent, u.Redacted())
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		loc, err := resp.Location()
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s with no usable Location from %s", ErrSSEStatus, resp.Status, u.Redacted())
		}
		if loc, err = parseSSEURL(loc.String()); err != nil {
			return nil, false, err
		}
		return loc, false, nil
	default:
		return nil, false, fmt.Errorf("%w: %s from %s", ErrSSEStatus, resp.Status, u.Redacted())
	}
	// Browsers compare the MIME type's essence: parameters, even malformed
	// ones, do not matter.
	ct := resp.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if (err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter)) || mt != "text/event-stream" {
		return nil, false, fmt.Errorf("%w: Content-Type %q from %s", ErrSSEContentType, ct, u.Redacted())
	}
	if s.es.OnConnect != nil {
		s.es.OnConnect()
	}
	s.p.Reset(resp.Body)
	for {
		ev, err := s.p.Next()
		if err != nil {
			return nil, !errors.Is(err, ErrSSETooLong), fmt.Errorf("read stream from %s: %w", addr, err)
		}
		if s.es.OnEvent != nil {
			if err := s.es.OnEvent(ev); err != nil {
				return nil, false, err
			}
		}
	}
}

// closeSSEConn closes a connection the client is done with. Its error is
// not interesting: the client only reads, so no data can be lost, and the
// second of two closes (one by ctx, one on return) always fails.
func closeSSEConn(c net.Conn) { _ = c.Close() }

// sseIdleConn fails a read once the connection has been silent for timeout.
//
// Refreshing a read deadline after every read would cost a timer update per
// read. Instead the deadline stays where it was set, and when it fires, a
// connection that delivered bytes since gets a new deadline counted from its
// last read and the read is retried: one timer update per timeout while data
// flows, and a dead connection is still detected exactly timeout after its
// last byte.
type sseIdleConn struct {
	net.Conn
	timeout time.Duration
	last    time.Time // of the last read that returned bytes
}

func (c *sseIdleConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if n > 0 {
			c.last = time.Now()
			return n, err
		}
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		deadline := c.last.Add(c.timeout)
		if !time.Now().Before(deadline) {
			return 0, fmt.Errorf("%w (%v)", errSSEIdle, c.timeout)
		}
		if err := c.Conn.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
	}
}

// sseClient is the load generator's SSE client: an EventSource on the
// server's /sse that accounts for every event in a Tracker.
type sseClient struct {
	es      EventSource
	t       *Tracker
	observe func(msg []byte)
}

func newSSEClient(base string, t *Tracker, o Options) (Client, error) {
	// The cursor goes into the URL once: like an EventSource, the client
	// resumes with Last-Event-ID, never by changing the URL.
	u := strings.TrimSuffix(base, "/") + "/sse?after=" + strconv.FormatUint(t.Cursor(), 10)
	if _, err := parseSSEURL(u); err != nil {
		return nil, err
	}
	c := &sseClient{t: t, observe: o.Observe}
	c.es = EventSource{
		URL:          u,
		Options:      &o,
		OnAttempt:    t.Attempt,
		OnConnect:    t.Connected,
		OnDisconnect: t.Disconnected,
		OnRetry:      func(err error, _ time.Duration) { t.Fail(err) },
		OnEvent:      c.dispatch,
	}
	return c, nil
}

// Run implements Client. Every attempt or stream that ends while ctx has
// not is counted as a failure of its kind: the ones the EventSource retries
// through OnRetry, the one it gives up on here.
func (c *sseClient) Run(ctx context.Context) error {
	err := c.es.Run(ctx)
	if err != nil {
		c.t.Fail(err)
	}
	return err
}

// dispatch accounts for one event. It never fails: a message that is neither
// an event nor a gap signal is counted as malformed, and the stream goes on.
func (c *sseClient) dispatch(ev SSEEvent) error {
	now := time.Now().UnixNano()
	if string(ev.Type) == event.GapType {
		if g, ok, err := event.DecodeGap(ev.Data); ok && err == nil {
			c.t.Gap(g)
		} else {
			c.t.Malformed()
		}
		return nil
	}
	if c.observe != nil {
		c.observe(ev.Data)
	}
	h, err := event.DecodeHeader(ev.Data)
	if err != nil {
		c.t.Malformed()
		return nil
	}
	c.t.Event(h, now)
	return nil
}
