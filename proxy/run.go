package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pushbench/pushbench/bench"
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
	"github.com/pushbench/pushbench/servers"
)

// Defaults for Options.
const (
	DefaultClients  = 200
	DefaultRate     = 10.0
	DefaultPayload  = 64
	DefaultWarmup   = time.Second
	DefaultDuration = 3 * time.Second
	// DefaultDrain bounds the wait for clients to catch up after
	// publishing; a buffered stream may never catch up, and that is the
	// finding, not a reason to wait longer.
	DefaultDrain = 5 * time.Second
)

// StartServer starts a pushbench server whose generator waits for POST
// /control/start, serving every transport with o, and returns its HTTP base
// URL and how to stop it.
type StartServer func(ctx context.Context, o *servers.Options) (base string, stop func() error, err error)

// InProcess serves the transports from this process on a free loopback
// port. Tests use it; a benchmark prefers Process, so that the server's CPU
// is its own.
func InProcess(_ context.Context, o *servers.Options) (string, func() error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv, err := servers.New(servers.NewHub(nil), o)
	if err != nil {
		return "", nil, errors.Join(err, ln.Close())
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	stop := func() error {
		srv.Close() // ends the streams, so Shutdown waits only for polls
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := hs.Shutdown(ctx)
		if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// Process runs cmd (e.g. {"/usr/local/bin/pushbench", "serve"}) as a
// separate server process on a free loopback port, without the
// X-Accel-Buffering header when o.NoAccelHeader is set.
func Process(cmd ...string) StartServer {
	return func(ctx context.Context, o *servers.Options) (string, func() error, error) {
		spec := bench.ServerSpec{Command: cmd}
		if o != nil {
			spec.NoAccelHeader = o.NoAccelHeader
		}
		srv, err := bench.StartServer(ctx, spec)
		if err != nil {
			return "", nil, err
		}
		return srv.URL, func() error { return srv.Stop(10 * time.Second) }, nil
	}
}

// Options configures Run. A nil *Options, and any zero field, means the
// default.
type Options struct {
	// Server starts the servers measured. Defaults to InProcess.
	Server StartServer
	// Nginx is the nginx binary. Defaults to FindNginx's.
	Nginx string
	// Clients, Rate (events/s), Payload (bytes), Warmup and Duration are the
	// fan-out load every measurement runs. They default to DefaultClients,
	// DefaultRate, DefaultPayload, DefaultWarmup and DefaultDuration.
	Clients  int
	Rate     float64
	Payload  int
	Warmup   time.Duration
	Duration time.Duration
	// Drain bounds each run's wait for clients to catch up. Defaults to
	// DefaultDrain.
	Drain time.Duration
	// Logf, if set, is told what the scenario is doing.
	Logf func(format string, args ...any)
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.Server == nil {
		v.Server = InProcess
	}
	if v.Clients <= 0 {
		v.Clients = DefaultClients
	}
	if v.Rate <= 0 {
		v.Rate = DefaultRate
	}
	if v.Payload <= 0 {
		v.Payload = DefaultPayload
	}
	if v.Warmup <= 0 {
		v.Warmup = DefaultWarmup
	}
	if v.Duration <= 0 {
		v.Duration = DefaultDuration
	}
	if v.Drain <= 0 {
		v.Drain = DefaultDrain
	}
	if v.Logf == nil {
		v.Logf = func(string, ...any) {}
	}
	return v
}

// bufferingCases are the SSE set-ups the pitfall section measures, in
// report order.
var bufferingCases = []BufferingCase{
	{Name: "pitfall", Note: "nginx defaults for /sse, server header off", HTTP10: true, ProxyBuffering: true},
	{Name: "fix: header", Note: "nginx defaults, server sends X-Accel-Buffering: no", HTTP10: true, ProxyBuffering: true, AccelHeader: true},
	{Name: "fix: config", Note: "proxy_buffering off, server header off", HTTP10: true},
	{Name: "HTTP/1.1 upstream", Note: "proxy_http_version 1.1, buffering on, server header off", ProxyBuffering: true},
}

// Run measures the fan-out load directly and through nginx for every
// transport nginx proxies, then SSE through each set-up of bufferingCases.
// A run that fails is recorded in the Outcome and the others still run;
// Run's error is for nginx or a server that cannot start, or ctx ending.
func Run(ctx context.Context, o *Options) (_ *Outcome, err error) {
	opts := o.withDefaults()
	exe := opts.Nginx
	if exe == "" {
		if exe, err = FindNginx(); err != nil {
			return nil, err
		}
	}
	info, err := Inspect(exe)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	out := &Outcome{
		Nginx: info.Version, Started: start.UTC(),
		Clients: opts.Clients, Rate: opts.Rate, Payload: opts.Payload,
		WarmupS: opts.Warmup.Seconds(), MeasuredS: opts.Duration.Seconds(),
		TCPFloor: "not proxied: nginx's stream module is " + info.StreamNote,
	}
	if info.Stream {
		out.TCPFloor = "not proxied: this scenario proxies HTTP only (stream module: " + info.StreamNote + ")"
	}

	// Direct and through nginx, with the recommended configuration.
	base, stopSrv, err := opts.Server(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, stopSrv()) }()
	ng, err := Start(ctx, Config{Exec: exe, Upstream: host(base), Connections: opts.Clients})
	if err != nil {
		return nil, err
	}
	out.Config = ng.Conf
	for _, tr := range []contract.Transport{contract.Poll, contract.SSE, contract.WS} {
		ov := Overhead{Transport: tr}
		opts.Logf("proxy: %s direct", tr)
		ov.Direct = measure(ctx, opts, tr, base, base)
		opts.Logf("proxy: %s through nginx", tr)
		ov.Proxied = measure(ctx, opts, tr, ng.URL, base)
		out.Overhead = append(out.Overhead, ov)
		if ctx.Err() != nil {
			return out, errors.Join(ctx.Err(), ng.Stop(DefaultStopTimeout))
		}
	}
	if err := ng.Stop(DefaultStopTimeout); err != nil {
		return out, err
	}

	// SSE buffering: a server without the header for the cases that need it.
	baseNoHdr, stopNoHdr, err := opts.Server(ctx, &servers.Options{NoAccelHeader: true})
	if err != nil {
		return out, err
	}
	defer func() { err = errors.Join(err, stopNoHdr()) }()
	for _, c := range bufferingCases {
		upstream := baseNoHdr
		if c.AccelHeader {
			upstream = base
		}
		ng, err := Start(ctx, Config{Exec: exe, Upstream: host(upstream), Connections: opts.Clients, SSEBuffering: c.ProxyBuffering, SSEHTTP10: c.HTTP10})
		if err != nil {
			return out, err
		}
		opts.Logf("proxy: SSE %s (%s)", c.Name, c.Note)
		c.Figures = measureStream(ctx, opts, ng.URL, upstream)
		out.Buffering = append(out.Buffering, c)
		if err := ng.Stop(DefaultStopTimeout); err != nil {
			return out, err
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	out.DurationS = time.Since(start).Seconds()
	return out, ctx.Err()
}

// plan is the fan-out load every measurement runs, with clients of
// transport. Clients that get nothing must not reconnect within the run:
// they would hide a stalled stream behind fresh ones.
func (o Options) plan(transport contract.Transport) bench.Plan {
	return bench.Plan{
		Load: bench.Load{
			Transport: transport, Clients: o.Clients,
			Schedule: contract.Schedule{Rate: o.Rate, Burst: 1, Payload: o.Payload},
			Warmup:   o.Warmup, Duration: o.Duration,
			Client: loadgen.Options{ReadTimeout: time.Minute},
		},
		Drain: o.Drain,
	}
}

// measure runs the load once with clients of transport on target.
func measure(ctx context.Context, o Options, transport contract.Transport, target, control string) Figures {
	run, err := bench.Measure(ctx, bench.Target{Stream: target, Control: bench.Control{Base: control}}, o.plan(transport))
	f := figures(run)
	if err != nil {
		f.Error = err.Error()
	}
	return f
}

// measureStream runs the load once with SSE clients on target, waiting for
// the server to count every subscriber rather than for the clients to see
// their responses: through a buffering proxy a client sees nothing, headers
// included, until enough of the stream has piled up. It also records in
// which windows events arrived.
func measureStream(ctx context.Context, o Options, target, control string) Figures {
	var arr arrivals
	p := o.plan(contract.SSE)
	p.Await = bench.AwaitSubscribers
	p.Client.Observe = func([]byte) { arr.add(time.Now()) }
	run, err := bench.Measure(ctx, bench.Target{Stream: target, Control: bench.Control{Base: control}}, p)
	f := figures(run)
	f.Published, f.ArrivalWindows = run.EventsPublished, arr.windows()
	if err != nil {
		f.Error = err.Error()
	}
	return f
}

// arrivalWindow is the width of the windows arrivals counts: much shorter
// than the interval between events at the rates measured, much longer than
// the spread of one event's arrival over the clients.
const arrivalWindow = 50 * time.Millisecond

// arrivals records in which arrivalWindow-wide windows events arrived, at
// any client. A stream passed on as published arrives in about one window
// per event; a buffered one in a few bursts.
type arrivals struct {
	mu   sync.Mutex
	seen map[int64]struct{}
}

func (a *arrivals) add(t time.Time) {
	w := t.UnixNano() / int64(arrivalWindow)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil {
		a.seen = map[int64]struct{}{}
	}
	a.seen[w] = struct{}{}
}

func (a *arrivals) windows() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen)
}

func figures(r results.Run) Figures {
	return Figures{
		P50NS: r.LatencyNS.P50, P99NS: r.LatencyNS.P99, MaxNS: r.LatencyNS.Max, Samples: r.LatencyNS.Count,
		DeliveriesPerSec: r.DeliveriesPerSec,
		Expected:         r.Expected, Delivered: r.Delivered,
		Lost: r.Lost, Duplicates: r.Duplicates, Reordered: r.Reordered,
		Reconnects: r.Connections.Reconnects,
	}
}

// host returns base's host:port.
func host(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Host
}

// String names a case in test and log output.
func (c BufferingCase) String() string { return fmt.Sprintf("%s (%s)", c.Name, c.Note) }
