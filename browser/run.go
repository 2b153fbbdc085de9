package browser

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/internal/tlscert"
	"github.com/pushbench/pushbench/servers"
)

// Defaults for Options.
const (
	DefaultEvents       = 200
	DefaultRate         = 50.0
	DefaultPayload      = 64
	DefaultPollInterval = 50 * time.Millisecond
	DefaultStreams      = 8
	DefaultWindow       = 3 * time.Second
)

// Sentinel errors.
var (
	// ErrNoBrowser is returned when no chromium is on PATH.
	ErrNoBrowser = errors.New("chromium not found on PATH (Debian: apt-get install chromium)")
	// errNoData is the restart check's reason to skip: without persistent
	// history a restarted server starts from event 1 and refuses the
	// browser's Last-Event-ID as beyond its newest event, which is all the
	// check would show.
	errNoData = errors.New("`pushbench serve` has no --data flag: the restart check needs history that survives the process")
)

// Options configures Run. A nil *Options, and any zero field, means the
// default.
type Options struct {
	// ExecPath is the browser to run. Defaults to FindChromium's.
	ExecPath string
	// Serve is the command that runs `pushbench serve`, without the flags the
	// restart check adds (--addr, --data, --rate, --retry), for example
	// {"/usr/local/bin/pushbench", "serve"}. The check kills and restarts
	// that process. Nil skips the check.
	Serve []string
	// Events is how many events the delivery check publishes. Defaults to
	// DefaultEvents.
	Events int
	// Rate is the delivery check's rate in events/s. Defaults to
	// DefaultRate.
	Rate float64
	// Payload is each event's data size in bytes. Defaults to
	// DefaultPayload.
	Payload int
	// PollInterval is the pause of the page's fetch loop after an answer
	// with nothing more waiting. Defaults to DefaultPollInterval.
	PollInterval time.Duration
	// Streams is how many EventSources the connection-limit check opens to
	// one host. Defaults to DefaultStreams, more than Chromium's 6
	// connections per host.
	Streams int
	// Window is how long the connection-limit check gives them to stream.
	// Defaults to DefaultWindow.
	Window time.Duration
	// Logf, if set, is told what the scenario is doing.
	Logf func(format string, args ...any)
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.Events <= 0 {
		v.Events = DefaultEvents
	}
	if v.Rate <= 0 {
		v.Rate = DefaultRate
	}
	if v.Payload <= 0 {
		v.Payload = DefaultPayload
	}
	if v.PollInterval <= 0 {
		v.PollInterval = DefaultPollInterval
	}
	if v.Streams <= 0 {
		v.Streams = DefaultStreams
	}
	if v.Window <= 0 {
		v.Window = DefaultWindow
	}
	if v.Logf == nil {
		v.Logf = func(string, ...any) {}
	}
	return v
}

// Run runs the browser scenario: it starts the browser and a pushbench
// server in this process, over HTTP/1.1 and over TLS with HTTP/2, runs the
// delivery and connection-limit checks against it and the restart check
// against a `pushbench serve` process, and returns what each check found. A
// check that fails is recorded in the Outcome and the others still run;
// Run's error is for a browser or server that cannot start, or ctx ending.
func Run(ctx context.Context, o *Options) (_ *Outcome, err error) {
	opts := o.withDefaults()
	start := time.Now()
	exe := opts.ExecPath
	if exe == "" {
		if exe, err = FindChromium(); err != nil {
			return nil, err
		}
	}
	cert, spki, err := tlscert.SelfSigned(start)
	if err != nil {
		return nil, err
	}
	st, err := startStack(cert)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, st.close()) }()
	flags := browserFlags(spki)
	bctx, product, stop, err := startChrome(ctx, exe, flags)
	if err != nil {
		return nil, err
	}
	defer stop() // before st.close: the page's connections go first
	opts.Logf("browser: %s (%s)", product, exe)

	out := &Outcome{Browser: product, Started: start.UTC()}
	for _, f := range flags {
		out.Flags = append(out.Flags, f.String())
	}
	out.Delivery = checkDelivery(bctx, st, opts)
	out.Limit = checkLimit(bctx, st, opts)
	out.Resume = checkResume(bctx, opts)
	out.DurationS = time.Since(start).Seconds()
	return out, ctx.Err()
}

// eventTypes are what the page's EventSources listen for: a named SSE
// event never reaches onmessage.
func eventTypes() []string { return event.Types }

// stack is a pushbench server in this process, behind Handler, on two
// loopback listeners: plain HTTP/1.1 and TLS offering h2.
type stack struct {
	hub   *servers.Hub
	srv   *servers.Server
	hs    [2]*http.Server // plain, TLS
	http  string          // http://127.0.0.1:port
	https string          // https://127.0.0.1:port
	done  chan error
	// conns and tlsConns follow each listener's connections.
	conns, tlsConns connCounter
}

// stackOptions: a short retry, as the serve process of the restart check
// gets.
var stackOptions = servers.Options{Retry: resumeRetry}

func startStack(cert tls.Certificate) (*stack, error) {
	st := &stack{hub: servers.NewHub(nil), done: make(chan error, 2)}
	srv, err := servers.New(st.hub, &stackOptions)
	if err != nil {
		return nil, err
	}
	st.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(err, ln.Close())
	}
	h := Handler(st.srv)
	// Two http.Servers: one that runs both Serve and ServeTLS answers h2
	// requests by closing the connection (Go 1.26).
	for i, counter := range []*connCounter{&st.conns, &st.tlsConns} {
		st.hs[i] = &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ConnState:         counter.track,
			// No WriteTimeout: it would cut every stream; each handler puts
			// a deadline on its own writes.
		}
	}
	st.hs[1].TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	st.http = "http://" + ln.Addr().String()
	st.https = "https://" + tln.Addr().String()
	go func() { st.done <- ignoreClosed(st.hs[0].Serve(ln)) }()
	// ServeTLS configures HTTP/2 and offers h2 by ALPN.
	go func() { st.done <- ignoreClosed(st.hs[1].ServeTLS(tln, "", "")) }()
	return st, nil
}

// close ends the streams, then the listeners, and waits for both.
func (st *stack) close() error {
	st.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(st.hs[0].Shutdown(ctx), st.hs[1].Shutdown(ctx), <-st.done, <-st.done)
}

// connCounter follows one listener's connections through
// http.Server.ConnState, counting those accepted since the last reset, so
// that a connection a previous check left closing does not count.
type connCounter struct {
	mu             sync.Mutex
	counted        map[net.Conn]bool // accepted since reset and still open
	accepted, peak int
}

func (c *connCounter) track(conn net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		if c.counted == nil {
			c.counted = map[net.Conn]bool{}
		}
		c.counted[conn] = true
		c.accepted++
		c.peak = max(c.peak, len(c.counted))
	case http.StateHijacked, http.StateClosed:
		delete(c.counted, conn)
	}
}

// reset starts a measurement.
func (c *connCounter) reset() {
	c.mu.Lock()
	clear(c.counted)
	c.accepted, c.peak = 0, 0
	c.mu.Unlock()
}

// read returns the connections accepted since reset and the most of them
// open at once.
func (c *connCounter) read() (accepted, peak int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accepted, c.peak
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
