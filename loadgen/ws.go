package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// Errors that end a WebSocket session for good: the WebSocket client gives up
// on them. Anything else (a refused or dropped connection, a 5xx handshake, a
// close for going away, overload or restart) is transient: the client
// reconnects with Backoff.
var (
	// ErrWSRejected is a handshake the server answered with a status other
	// than 101 Switching Protocols and 5xx: a 4xx says the request itself is
	// wrong (a bad cursor, a wrong path), so repeating it cannot help.
	ErrWSRejected = errors.New("loadgen: websocket handshake rejected")
	// ErrWSProtocol is a connection that broke the protocol in a way a
	// reconnect would only repeat: a close with 1002 (protocol error), 1003
	// (unsupported data), 1007 (invalid payload), 1009 (message too big) or
	// 1010 (missing extension), or a message longer than WSReadLimit.
	ErrWSProtocol = errors.New("loadgen: websocket protocol error")
	// ErrWSURL is a WebSocket URL that is not ws, wss, http or https.
	ErrWSURL = errors.New("loadgen: websocket: not a ws, wss, http or https URL")

	// errTooLong is readInto's refusal of a message longer than its limit.
	errTooLong = errors.New("loadgen: message too long")
)

// WSReadLimit is the longest message the WebSocket client accepts, in bytes.
// Events are at most ~17 KiB; the limit only stops a broken server from
// making a client buffer without bound.
const WSReadLimit = 1 << 20

// Tuning that is not worth an option.
const (
	// closeGrace bounds the goodbye close frame sent when ctx ends: it is a
	// courtesy to the server, and Run must return promptly even when the
	// server has stopped reading.
	closeGrace = 100 * time.Millisecond
	// retainBuf is the largest message buffer a client keeps between
	// messages. An event always fits, so the WebSocket client reads without
	// allocating; a poll answer with a big batch may not, and is then read
	// into a fresh buffer rather than pinning its size to an idle client.
	retainBuf = 32 << 10
)

// wsWritePool is shared by every WebSocket connection. The client only sends
// control frames, which gorilla writes without the write buffer, so with a
// pool no connection ever holds a write buffer of its own.
var wsWritePool = &sync.Pool{}

// Backoff is the WebSocket client's reconnection policy, written the way a
// careful browser page writes it: exponential backoff with full jitter. The
// n-th consecutive failed connection (n = 0, 1, …) is followed by a pause
// drawn uniformly from [0, min(Max, Min·2ⁿ)]. Full jitter spreads clients
// that lost their connections at the same instant (a server restart) over
// the whole window instead of sending them back in synchronised waves.
// Reset starts over at Min; the client calls it after a connection that
// delivered at least one message, so a healthy connection that drops is
// retried quickly while a server that keeps refusing is asked less and less
// often. With Jitter set to NoJitter every pause is exactly its ceiling,
// so a storm's clients return in the waves full jitter avoids.
//
// The zero value is not useful; set Min and Max (0 < Min ≤ Max).
type Backoff struct {
	Min, Max time.Duration
	Jitter   contract.Jitter // "" means FullJitter
	ceiling  time.Duration   // bound of the next pause; 0 means Min
}

// Ceiling is the upper bound of the next pause.
func (b *Backoff) Ceiling() time.Duration {
	if b.ceiling <= 0 {
		return min(b.Min, b.Max)
	}
	return b.ceiling
}

// Next returns the pause before the next attempt and doubles the bound for
// the one after, up to Max. int64n(n) must return a uniform value in [0, n),
// as rand.Int64N does; tests pass a seeded source's method.
func (b *Backoff) Next(int64n func(n int64) int64) time.Duration {
	c := b.Ceiling()
	if c > b.Max/2 { // doubling would pass Max, or overflow
		b.ceiling = b.Max
	} else {
		b.ceiling = 2 * c
	}
	if c <= 0 {
		return 0
	}
	if b.Jitter == contract.NoJitter {
		return c
	}
	return time.Duration(int64n(int64(min(c, math.MaxInt64-1)) + 1))
}

// Reset makes the next pause bounded by Min again.
func (b *Backoff) Reset() { b.ceiling = 0 }

// WebSocket is one WebSocket connection, opened as a page opens one with
// new WebSocket(url) and read until it ends. Run is that connection alone: like
// a browser's WebSocket it does not reconnect. Session is the same connection
// for a loop that does: the load generator's WebSocket client is such a loop,
// Backoff between sessions and the URL moved to its cursor before each.
//
// The handshake's answer is read through a bound of MaxResponseHeaderBytes
// (ErrHeaderTooLarge past it) and every message through one of WSReadLimit.
// The message buffer is kept across messages and sessions, so reading does
// not allocate per message. A WebSocket runs one Run or Session at a time.
type WebSocket struct {
	// URL is the ws or wss URL to open; an http or https one is taken as ws
	// or wss. Each Session reads it afresh, so a loop may change it between
	// sessions.
	URL string
	// Options supplies ReadTimeout, ReadBuffer and Dial; nil means defaults.
	// The dial and the handshake must finish within ReadTimeout.
	Options *Options
	// IdleTimeout, if positive, ends a session that has been silent (no
	// message, no ping) for that long, with an error a reconnect loop
	// retries. Zero means no limit, as in a browser.
	IdleTimeout time.Duration
	// TLSConfig is used for wss URLs; nil means the system's roots.
	TLSConfig *tls.Config
	// Header, if set, is sent with every handshake (an Authorization, a
	// cookie, an Origin). The handshake's own headers may not be in it.
	Header http.Header
	// OnAttempt, if set, is called at the start of every session, and
	// OnConnect once its handshake has succeeded. OnDisconnect is called
	// when a connection OnConnect announced ends while ctx has not.
	OnAttempt, OnConnect, OnDisconnect func()
	// OnMessage, if set, is called with every message: its type
	// (websocket.TextMessage or websocket.BinaryMessage) and its data, valid
	// only during the call. An error ends the session, which returns it.
	OnMessage func(typ int, data []byte) error

	// o is Options with defaults, for the session running.
	o Options
	// buf is the one message buffer, reused across messages and sessions.
	buf []byte
	// readAt is when the message OnMessage is given was read; the load
	// generator's client measures latency to it.
	readAt time.Time
	// setAt is when the read deadline was last pushed forward; see touch.
	setAt time.Time
}

// Run opens the connection and reads it until it ends. It returns nil when ctx
// ends or the server closes the connection normally (1000) or goes away
// (1001), and otherwise what ended it: the handshake (ErrWSURL, ErrWSRejected
// for a 4xx answer, ErrHeaderTooLarge), a close with another code or a
// message over WSReadLimit (ErrWSProtocol for those a reconnect would only
// repeat), a silence past IdleTimeout, a network error, or OnMessage's error.
// No goroutine it starts outlives it.
func (w *WebSocket) Run(ctx context.Context) error {
	_, err := w.Session(ctx)
	var ce *websocket.CloseError
	if errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway) {
		return nil
	}
	return err
}

// Session opens the connection and reads it until it ends, for a loop that
// reconnects. delivered reports whether at least one message arrived, after
// which such a loop resets its Backoff. err is nil if ctx ended, and otherwise
// says why the session ended: ErrWSURL, ErrWSRejected and ErrWSProtocol are
// final, since another session would meet them again; anything else (a
// refused or dropped connection, a 5xx handshake, any other close, a silence
// past IdleTimeout) is a reason to reconnect.
func (w *WebSocket) Session(ctx context.Context) (delivered bool, err error) {
	w.o = w.Options.WithDefaults()
	if w.OnAttempt != nil {
		w.OnAttempt()
	}
	delivered, err = w.session(ctx)
	if ctx.Err() != nil {
		return delivered, nil
	}
	return delivered, err
}

func (w *WebSocket) session(ctx context.Context) (delivered bool, err error) {
	u, addr, err := wsURL(w.URL)
	if err != nil {
		return false, err
	}
	conn, stop, err := w.connect(ctx, u.String(), addr)
	if stop != nil {
		defer stop()
	}
	if err != nil {
		return false, fmt.Errorf("websocket %s: %w", u.Redacted(), err)
	}
	defer func() {
		// Whether or not the guard already closed it, the connection is
		// finished; a close error cannot change the session's outcome.
		_ = conn.Close()
	}()
	if w.OnConnect != nil {
		w.OnConnect()
	}
	// Detection time for recovery figures: when this connection ended,
	// unless it ended because ctx did.
	defer func() {
		if ctx.Err() == nil && w.OnDisconnect != nil {
			w.OnDisconnect()
		}
	}()
	return w.read(ctx, conn, u.Redacted())
}

// wsURL parses a WebSocket URL, taking http and https as ws and wss, and
// returns the host:port to dial.
func wsURL(rawURL string) (u *url.URL, addr string, err error) {
	u, err = url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrWSURL, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	if (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, "", fmt.Errorf("%w: %q", ErrWSURL, u.Redacted())
	}
	addr = u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "wss" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	return u, addr, nil
}

// connect dials and completes the handshake on a short-lived goroutine of
// its own, and waits for it.
//
// That is for memory, not concurrency. The handshake's call chain is deep
// (gorilla's DialContext alone has a 1 KiB frame) and grows the stack of
// whichever goroutine runs it to 8 KiB; the runtime shrinks a stack only when
// less than a quarter of it is in use, which the blocked read (~1.8 KiB of
// frames plus the runtime's reserve) never is. The goroutine that waits in
// that read for the whole life of an idle connection thus keeps a 4 KiB stack
// instead of 8.
func (w *WebSocket) connect(ctx context.Context, target, addr string) (conn *websocket.Conn, stop func() bool, err error) {
	type result struct {
		conn *websocket.Conn
		stop func() bool
		err  error
	}
	done := make(chan result, 1)
	go func() {
		conn, stop, err := w.handshake(ctx, target, addr)
		done <- result{conn, stop, err}
	}()
	// No select on ctx: the guard ends the handshake promptly when ctx
	// ends, and the goroutine is to be waited for either way.
	r := <-done
	return r.conn, r.stop, r.err
}

// handshake dials and completes the handshake. stop, if not nil, disarms the
// connection's guard, which ends the connection when ctx ends so that no
// handshake or read blocks the session. The guard is armed as soon as the TCP
// connection exists, because gorilla's handshake watches only its deadline,
// not ctx; once the handshake is done it sends a close frame before closing,
// as a page being closed does.
//
// gorilla reads the handshake's answer with http.ReadResponse, which has no
// bound of its own: it reads through a headerConn, whose limit is lifted
// once the handshake is done. The connection keeps the wrapper, one
// predictable branch per read.
func (w *WebSocket) handshake(ctx context.Context, target, addr string) (conn *websocket.Conn, stop func() bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, w.o.ReadTimeout)
	defer cancel()
	nc, err := w.o.Dial(dctx, "tcp", addr)
	if err != nil {
		return nil, nil, dialError{err}
	}
	var ws atomic.Pointer[websocket.Conn]
	stop = watchCtx(ctx, func() {
		if c := ws.Load(); c != nil {
			// Best effort by design: the TCP close below ends the
			// connection whether or not the server hears goodbye.
			_ = c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
				time.Now().Add(closeGrace))
		}
		_ = nc.Close() // unblocks the reader; a second close is harmless
	})
	hc := newHeaderConn(nc)
	d := websocket.Dialer{
		NetDialContext:  func(context.Context, string, string) (net.Conn, error) { return hc, nil },
		ReadBufferSize:  w.o.ReadBuffer,
		WriteBufferSize: 256,
		WriteBufferPool: wsWritePool,
		// The handshake is the server's first answer; it gets as long as
		// any other silence.
		HandshakeTimeout: w.o.ReadTimeout,
		TLSClientConfig:  w.TLSConfig,
		// Proxy is nil: the connection is dialled above, as EventSource
		// dials its own.
	}
	conn, resp, err := d.DialContext(ctx, target, w.Header)
	if err != nil {
		return nil, stop, handshakeError(hc.headerErr(err), resp)
	}
	hc.lift()
	ws.Store(conn)
	return conn, stop, nil
}

// read reads conn's messages until it fails, or OnMessage does. delivered
// reports whether there was at least one. The connection's errors name it as
// where says; OnMessage's are returned as they are.
func (w *WebSocket) read(ctx context.Context, conn *websocket.Conn, where string) (delivered bool, err error) {
	conn.SetReadLimit(WSReadLimit)
	w.setAt = time.Time{}
	if err := w.touch(ctx, conn, time.Now()); err != nil {
		return false, err
	}
	// A server ping is proof of life too: refresh the deadline, then answer
	// with the default handler's pong.
	pong := conn.PingHandler()
	conn.SetPingHandler(func(data string) error {
		if err := w.touch(ctx, conn, time.Now()); err != nil {
			return err
		}
		return pong(data)
	})

	for {
		typ, r, err := conn.NextReader()
		if err == nil {
			w.buf, err = readInto(w.buf, r, WSReadLimit)
		}
		if err != nil {
			return delivered, fmt.Errorf("websocket %s: %w", where, closeError(err))
		}
		w.readAt = time.Now()
		delivered = true
		if w.OnMessage != nil {
			if err := w.OnMessage(typ, w.buf); err != nil {
				return delivered, err
			}
		}
		if cap(w.buf) > retainBuf {
			w.buf = nil
		}
		if err := w.touch(ctx, conn, w.readAt); err != nil {
			return delivered, err
		}
	}
}

// touch pushes the read deadline forward after activity at now, if there is
// an IdleTimeout. Moving a deadline costs a timer update, too much for every
// event at high rates, so it moves only once an eighth of IdleTimeout has
// passed since the last move, and by IdleTimeout plus that eighth: a
// connection is called dead after between IdleTimeout and 9/8 IdleTimeout of
// silence, never sooner.
//
// After moving it, touch checks ctx: the guard that stops the reader on
// cancellation may have run just before, and the new deadline would otherwise
// leave the read blocked.
func (w *WebSocket) touch(ctx context.Context, conn *websocket.Conn, now time.Time) error {
	if w.IdleTimeout <= 0 {
		return nil
	}
	slack := w.IdleTimeout / 8
	if now.Sub(w.setAt) < slack {
		return nil
	}
	w.setAt = now
	if err := conn.SetReadDeadline(now.Add(w.IdleTimeout + slack)); err != nil {
		return err
	}
	return ctx.Err()
}

// wsClient is a page that keeps one WebSocket open to /ws and reopens it
// from its cursor whenever it drops: a reconnect loop around a WebSocket.
type wsClient struct {
	t      *Tracker
	o      Options
	prefix string // ws://host:port/ws?after=
	ws     WebSocket
}

// newWSClient returns a WebSocket client of the server at base
// (http://host:port or https://…), which it reaches at /ws.
func newWSClient(base string, t *Tracker, o Options) (Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("loadgen: ws client: base %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("loadgen: ws client: base %q: scheme must be http or https", base)
	}
	if _, _, err := wsURL(base); err != nil {
		return nil, fmt.Errorf("loadgen: ws client: base %q: %w", base, err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	c := &wsClient{t: t, o: o, prefix: u.String() + "?after="}
	c.ws = WebSocket{
		Options:      &c.o,
		IdleTimeout:  o.ReadTimeout, // as long as the handshake may take
		OnAttempt:    t.Attempt,
		OnConnect:    t.Connected,
		OnDisconnect: t.Disconnected,
		OnMessage:    c.account,
	}
	return c, nil
}

// Run keeps a connection open until ctx ends, pausing between connections
// as Backoff says. It returns nil when ctx ends, or an ErrWSRejected or
// ErrWSProtocol error when the server leaves nothing to retry.
func (c *wsClient) Run(ctx context.Context) error {
	return reconnect(ctx, c.o, c.t, c.session, func(err error) bool {
		return errors.Is(err, ErrWSURL) || errors.Is(err, ErrWSRejected) || errors.Is(err, ErrWSProtocol)
	})
}

// session is one connection, asking for the events after the cursor.
func (c *wsClient) session(ctx context.Context) (delivered bool, err error) {
	c.ws.URL = c.prefix + strconv.FormatUint(c.t.Cursor(), 10)
	return c.ws.Session(ctx)
}

// account accounts for one message. It never fails: a message that is neither
// an event nor a gap signal is counted as malformed, and the stream goes on.
func (c *wsClient) account(typ int, msg []byte) error {
	if typ != websocket.TextMessage {
		c.t.Malformed() // the protocol sends events as text only
		return nil
	}
	accountMsg(c.t, &c.o, msg, c.ws.readAt.UnixNano())
	return nil
}

// reconnect runs session until ctx ends or it fails permanently, pausing
// between sessions with exponential backoff and o.Jitter. The backoff
// resets after a session that delivered something, so a client that was
// streaming reconnects quickly while one facing a dead server backs off.
// Every session that ends while ctx has not is counted in t as a failure of
// its kind.
func reconnect(ctx context.Context, o Options, t *Tracker, session func(context.Context) (bool, error), permanent func(error) bool) error {
	b := Backoff{Min: o.BackoffMin, Max: o.BackoffMax, Jitter: o.Jitter}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		delivered, err := session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			t.Fail(err)
		}
		if permanent(err) {
			return err
		}
		if delivered {
			b.Reset()
		}
		if !pauseCtx(ctx, timer, b.Next(rand.Int64N)) {
			return nil
		}
	}
}

// handshakeError classifies a failed dial or handshake.
func handshakeError(err error, resp *http.Response) error {
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
		return err // network trouble: retry
	}
	// gorilla keeps up to 1 KiB of the body for exactly this.
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 512))
	if rerr != nil {
		body = []byte("(body unreadable: " + rerr.Error() + ")")
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("loadgen: websocket handshake: %w: %s: %q", errServerStatus, resp.Status, bytes.TrimSpace(body))
	}
	return fmt.Errorf("%w: %s: %q", ErrWSRejected, resp.Status, bytes.TrimSpace(body))
}

// closeError marks the read errors that end the client.
func closeError(err error) error {
	if errors.Is(err, websocket.ErrReadLimit) {
		return fmt.Errorf("%w: message longer than %d bytes (%w)", ErrWSProtocol, WSReadLimit, err)
	}
	if websocket.IsCloseError(err,
		websocket.CloseProtocolError,
		websocket.CloseUnsupportedData,
		websocket.CloseInvalidFramePayloadData,
		websocket.CloseMessageTooBig,
		websocket.CloseMandatoryExtension) {
		return fmt.Errorf("%w: %w", ErrWSProtocol, err)
	}
	return err
}

// Helpers shared with the polling client.

// accountMsg accounts for one message that is either an event or a gap
// signal, as WebSocket and SSE carry them.
func accountMsg(t *Tracker, o *Options, msg []byte, now int64) {
	g, ok, err := event.DecodeGap(msg)
	switch {
	case !ok:
		accountEvent(t, o, msg, now)
	case err != nil:
		t.Malformed()
	default:
		t.Gap(g)
	}
}

// accountEvent accounts for one message that should be an event.
func accountEvent(t *Tracker, o *Options, msg []byte, now int64) {
	if o.Observe != nil {
		o.Observe(msg)
	}
	h, err := event.DecodeHeader(msg)
	if err != nil {
		t.Malformed()
		return
	}
	t.Event(h, now)
}

// readInto reads r to EOF into buf's storage, growing it as needed, and
// returns the filled slice. Reusing one buffer is what lets a client read
// event after event without allocating.
func readInto(buf []byte, r io.Reader, limit int) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			// Double, but to no more than one byte past the limit: that
			// byte tells a message of exactly limit bytes from a longer one.
			buf = slices.Grow(buf, min(max(512, len(buf)), limit+1-len(buf)))
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit+1)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return buf, errTooLong
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// watchCtx runs f in its own goroutine when ctx ends, typically to close a
// connection so that a blocked read returns. stop cancels it and reports
// whether f was prevented from running; if f had started, stop first waits
// for it to finish, so no goroutine outlives the caller.
func watchCtx(ctx context.Context, f func()) (stop func() bool) {
	done := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		defer close(done)
		f()
	})
	return func() bool {
		if cancel() {
			return true
		}
		<-done
		return false
	}
}

// pauseCtx waits for d on timer (stopped, and left stopped) unless ctx ends
// first. It reports whether the full pause elapsed.
func pauseCtx(ctx context.Context, timer *time.Timer, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer.Reset(d)
	select {
	case <-ctx.Done():
		timer.Stop()
		return false
	case <-timer.C:
		return true
	}
}
