package servers

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultHeaderTimeout bounds reading a request's headers, within
// Options.ReadTimeout: a client takes a round trip or two to send them.
const DefaultHeaderTimeout = 10 * time.Second

// maxHeaderBytes bounds a request's headers: a cursor, a Last-Event-ID and a
// WebSocket handshake need far less.
const maxHeaderBytes = 16 << 10

// HTTP/2 limits.
const (
	// h2MaxStreams is the most streams one HTTP/2 connection may have open
	// at once: RFC 9113's recommended minimum (Go's own default is 250).
	// Go's server also runs at most this many handlers per connection and
	// queues at most four times as many before it answers
	// ENHANCE_YOUR_CALM.
	h2MaxStreams = 100
	// h2EarlyResets is how many of its streams an HTTP/2 client may reset
	// before the server answered them, in a burst; h2EarlyResetRate is how
	// many a second it may go on resetting so. Past that rate the server
	// closes the connection. Go's own rapid-reset mitigation bounds only
	// the handlers waiting to run; handlers that end fast, as one for a
	// stream already reset does, never queue, so a client could make the
	// server run one for every HEADERS frame it sends. A browser resets a
	// stream when it closes an EventSource, after the answer: that does
	// not count.
	h2EarlyResets    = 100
	h2EarlyResetRate = 10
)

// Serving serves a Server's handler on listeners until Shutdown: net/http's
// server, or nbio's event loop when an implementation needs it (Engine).
// *http.Server is one.
type Serving interface {
	Serve(l net.Listener) error
	Shutdown(ctx context.Context) error
}

// Serving returns what serves h (s itself, or a handler wrapping it) under
// the engine s's implementations run on: HTTPServer's http.Server for
// net/http. Serve it on listeners made by s.Listener, so that
// Options.MaxConns applies.
func (s *Server) Serving(h http.Handler, h2c bool) Serving {
	if s.engine == NBIO {
		return s.nbioServing(h)
	}
	return s.HTTPServer(h, h2c)
}

// Engine is the HTTP server s's implementations run on.
func (s *Server) Engine() Engine { return s.engine }

// String names e: "net/http" or "nbio".
func (e Engine) String() string {
	if e == NetHTTP {
		return "net/http"
	}
	return string(e)
}

// runsOn says whether i can be served by engine e: its own, or any for a
// polling transport, whose handler answers a request and returns as every
// engine expects. A stream's implementation holds its request or takes its
// connection over in its engine's own way.
func (i Impl) runsOn(e Engine) bool { return i.Engine == e || i.Transport.Requests() }

// HTTPServer returns the http.Server the serve command runs, serving h: s
// itself, or a handler that wraps it (serve adds the browser page). It
// speaks HTTP/1.1, and HTTP/2 by ALPN over TLS; with h2c also HTTP/2 with
// prior knowledge in cleartext. Serve it on listeners made by s.Listener,
// so that Options.MaxConns applies.
//
// Beyond what h does, it bounds what a client can hold: a request must be
// read within Options.ReadTimeout (its headers within
// DefaultHeaderTimeout), an idle connection is closed after
// Options.IdleTimeout, a request with a body is refused at once (no
// endpoint takes one), an HTTP/2 connection has at most 100 streams open,
// and one whose client keeps resetting streams before they are answered is
// closed. It sets no write timeout, which would cut every stream: each
// handler bounds its own writes (Options.WriteTimeout).
func (s *Server) HTTPServer(h http.Handler, h2c bool) *http.Server {
	hs := &http.Server{
		Handler:           s.guard(h),
		ReadHeaderTimeout: min(DefaultHeaderTimeout, s.o.ReadTimeout),
		ReadTimeout:       s.o.ReadTimeout,
		IdleTimeout:       s.o.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: h2MaxStreams},
		ConnContext:       withConnInfo,
	}
	if h2c {
		// The server peeks at each new connection for the HTTP/2 preface
		// and serves HTTP/1.1 as before when it is not there.
		hs.Protocols = new(http.Protocols)
		hs.Protocols.SetHTTP1(true)
		hs.Protocols.SetUnencryptedHTTP2(true)
	}
	return hs
}

// connInfo is what HTTPServer's handlers know of a request's connection.
type connInfo struct {
	raw   net.Conn   // as accepted, under any TLS; closing it ends the connection
	gated *gatedConn // raw, when it came from Listener beyond the limit; else nil

	mu      sync.Mutex // guards the rest: HTTP/2 early resets, which are rare
	resets  float64    // early resets the client may still make now; h2EarlyResets at first
	resetAt time.Time  // when resets was last brought up to date; zero before
	flooded bool       // closed for resetting too many streams
}

type connInfoKey struct{}

// withConnInfo is HTTPServer's ConnContext.
func withConnInfo(ctx context.Context, c net.Conn) context.Context {
	raw := c
	if tc, ok := c.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	return context.WithValue(ctx, connInfoKey{}, &connInfo{raw: raw, gated: overLimit(raw)})
}

var hdrClose = []string{"close"}

// guard is HTTPServer's handler: what every request passes before h.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			refuseBody(w, r)
			return
		}
		ci, _ := r.Context().Value(connInfoKey{}).(*connInfo)
		if ci == nil {
			h.ServeHTTP(w, r)
			return
		}
		if ci.gated != nil {
			// Whatever it asks, the connection goes after this answer; over
			// HTTP/2 the header makes Go's server send GOAWAY.
			w.Header()["Connection"] = hdrClose
			if !answeredAtLimit(r.URL.Path) {
				ci.gated.refuse()
				http.Error(w, ErrConnLimit.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		if r.ProtoMajor == 2 {
			s.serveH2(ci, h, w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// answeredAtLimit says whether path is answered on a connection beyond the
// limit: the short answers that tell an operator what is going on and let a
// run start and stop, never a stream or a poll.
func answeredAtLimit(path string) bool {
	switch path {
	case "/healthz", "/stats", "/control/start", "/control/stop":
		return true
	}
	return false
}

// refuseBody answers a request that carries a body, which no endpoint takes,
// with 413. Over HTTP/1.1 net/http would otherwise read and discard the
// body, up to 256 KiB, before it sends the answer, and again after the
// handler, to reuse the connection: a client that declares a body and never
// sends it would hold the connection until the read timeout. So the answer
// closes the connection, and the read deadline is moved to now, which
// makes net/http's last attempt at the body fail at once.
func refuseBody(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header()["Connection"] = hdrClose
		// It fails only when the connection is gone already.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	http.Error(w, "request body not accepted: no endpoint takes one", http.StatusRequestEntityTooLarge)
}

// serveH2 runs h for one HTTP/2 stream and counts the stream as reset early
// when its client reset it before the server answered: either before h
// started, in which case h does not run, or before h flushed anything.
// Closing a connection is the only answer a handler can give to a client
// that floods it with such streams.
func (s *Server) serveH2(ci *connInfo, h http.Handler, w http.ResponseWriter, r *http.Request) {
	if r.Context().Err() != nil { // reset before its handler started
		s.earlyReset(ci)
		return
	}
	aw := &answerWriter{ResponseWriter: w}
	defer func() {
		// Runs on http.ErrAbortHandler too. A context that ended while h ran
		// means the client reset the stream or the connection went.
		if !aw.answered && r.Context().Err() != nil {
			s.earlyReset(ci)
		}
	}()
	h.ServeHTTP(aw, r)
}

// earlyReset counts a stream reset before it was answered, and closes the
// connection once its client has made more such resets than h2EarlyResets
// and h2EarlyResetRate allow: a token bucket of h2EarlyResets, refilled at
// h2EarlyResetRate a second.
func (s *Server) earlyReset(ci *connInfo) {
	s.h2.early.Add(1)
	now := time.Now()
	ci.mu.Lock()
	if ci.resetAt.IsZero() {
		ci.resets = h2EarlyResets
	} else {
		ci.resets = min(h2EarlyResets, ci.resets+now.Sub(ci.resetAt).Seconds()*h2EarlyResetRate)
	}
	ci.resetAt = now
	ci.resets--
	flood := ci.resets < 0 && !ci.flooded
	ci.flooded = ci.flooded || flood
	ci.mu.Unlock()
	if flood {
		s.h2.floods.Add(1)
		_ = ci.raw.Close() // every stream of it ends; nothing to report
	}
}

// h2Counters counts what serveH2 saw, over every connection.
type h2Counters struct {
	early, floods atomic.Uint64
}

// answerWriter notes whether a flush of the response succeeded: over HTTP/2
// a Write may only fill a buffer, but a flush reaches the connection or
// fails because the stream is gone. It passes everything else through
// Unwrap, so http.ResponseController works on it as on w.
type answerWriter struct {
	http.ResponseWriter
	answered bool
}

func (w *answerWriter) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if err == nil {
		w.answered = true
	}
	return err
}

func (w *answerWriter) Flush() { _ = w.FlushError() } // http.Flusher has no error to return

func (w *answerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Loopback says whether a, a listener's address, can be reached from this
// host only. An unspecified address (0.0.0.0, ::) listens on every
// interface and cannot.
func Loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
