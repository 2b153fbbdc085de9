package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushbench/pushbench/browser"
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/proc"
	"github.com/pushbench/pushbench/internal/tlscert"
	"github.com/pushbench/pushbench/servers"
)

func init() {
	commands["serve"] = command{"serve the event stream over poll, SSE and WebSocket", serveCmd}
}

// shutdownTimeout bounds a graceful stop; streams have already been ended by
// then, so only in-flight polls remain.
const shutdownTimeout = 5 * time.Second

func serveCmd(ctx context.Context, args []string) error {
	var (
		hubOpts servers.HubOptions
		opts    servers.Options
		sch     servers.Schedule
	)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (port 0: any free port, printed on stdout)")
	transport := fs.String("transport", "all", "transports to serve: all, or a comma-separated list of "+contract.Names(servers.HTTPTransports))
	fs.Func("impl", "TRANSPORT=NAME: serve TRANSPORT by implementation NAME (repeatable); one of:\n"+implUsage(), func(v string) error {
		t, name, ok := strings.Cut(v, "=")
		if !ok {
			return fmt.Errorf("want TRANSPORT=NAME, got %q", v)
		}
		tr, err := contract.ParseTransport(t)
		if err != nil {
			return err
		}
		if _, err := servers.LookupImpl(tr, name); err != nil {
			return err
		}
		if opts.Impl == nil {
			opts.Impl = map[contract.Transport]string{}
		}
		opts.Impl[tr] = name
		return nil
	})
	fs.IntVar(&hubOpts.History, "history", servers.DefaultHistory, "events kept for resuming clients")
	fs.IntVar(&hubOpts.MaxLag, "max-lag", servers.DefaultMaxLag, "events a subscriber may lag before it is cut off")
	fs.DurationVar(&opts.Heartbeat, "heartbeat", servers.DefaultHeartbeat, "SSE heartbeat interval")
	fs.DurationVar(&opts.Retry, "retry", servers.DefaultRetry, "SSE reconnection delay sent as retry:")
	fs.BoolVar(&opts.RetryJitter, "retry-jitter", false, "send each SSE stream its own retry: drawn from [0, 2*retry], spreading a reconnect storm")
	fs.DurationVar(&opts.PingInterval, "ping-interval", servers.DefaultPingInterval, "WebSocket ping interval")
	fs.IntVar(&opts.PollBatch, "poll-batch", servers.DefaultPollBatch, "most events in one poll answer")
	fs.DurationVar(&opts.LongPollWait, "longpoll-wait", servers.DefaultLongPollWait, "how long a long poll waits for an event before it is answered 204")
	fs.DurationVar(&opts.IdleTimeout, "idle-timeout", servers.DefaultIdleTimeout, "close an HTTP connection that waits this long for its next request (nginx: keepalive_timeout)")
	fs.DurationVar(&opts.ReadTimeout, "read-timeout", servers.DefaultReadTimeout, "close an HTTP connection whose request takes longer to arrive, headers at most 10s of it (nginx: client_header_timeout)")
	fs.IntVar(&opts.MaxConns, "max-conns", 0, fmt.Sprintf("most connections held at once over every listener; beyond, answer 503 (default: the open-file limit less %d)", servers.FDMargin))
	fs.StringVar(&opts.ControlToken, "control-token", "", "require 'Authorization: Bearer TOKEN' on /control/*; required when listening beyond loopback (default: $"+contract.TokenEnv+")")
	accel := fs.Bool("x-accel-buffering", true, "send 'X-Accel-Buffering: no' on SSE responses, so nginx does not buffer them (false: show that pitfall)")
	fs.Float64Var(&sch.Rate, "rate", servers.DefaultRate, "events published per second")
	fs.IntVar(&sch.Burst, "burst", 1, "events sharing each scheduled instant")
	payload := fs.Int("payload", servers.DefaultPayload, "event data size in bytes")
	fs.Uint64Var(&sch.Count, "count", 0, "stop publishing after this many events (0: never)")
	waitStart := fs.Bool("wait-start", false, "publish nothing until POST /control/start")
	cpus := fs.String("cpus", "", "pin the server to these CPUs, comma-separated (default: any)")
	tcpAddr := fs.String("tcp-addr", "", "also serve the plain-TCP floor on this address (default: off)")
	tlsAddr := fs.String("tls-addr", "", "also serve HTTPS on this address, HTTP/2 negotiated by ALPN, with a self-signed certificate made at start (default: off)")
	h2c := fs.Bool("h2c", true, "also take HTTP/2 with prior knowledge (h2c) on --addr; HTTP/1.1 there is unchanged")
	data := fs.String("data", "", "keep the event log and running schedule in this directory; a restart resumes both (default: in memory)")
	fsync := fs.String("fsync", string(servers.FsyncNone), "with --data, when to fsync the event log: none (survives a server crash) or batch (each publish: a power loss)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	transports, err := parseTransports(*transport)
	if err != nil {
		return err
	}
	if *payload < 0 {
		return fmt.Errorf("bad --payload %d: want bytes >= 0", *payload)
	}
	sch.Payload = *payload
	if *payload == 0 {
		sch.Payload = -1 // Schedule reads 0 as "default" and below 0 as empty
	}
	opts.NoAccelHeader = !*accel
	if opts.ControlToken == "" {
		// Not the flag's default, which --help would print.
		opts.ControlToken = os.Getenv(contract.TokenEnv)
	}
	policy, err := servers.ParseFsync(*fsync)
	if err != nil {
		return fmt.Errorf("bad --fsync: %w", err)
	}
	// Each connection is an open file: take the whole hard limit.
	if _, err := proc.RaiseFileLimit(); err != nil {
		return fmt.Errorf("open-file limit: %w", err)
	}
	if *cpus != "" {
		if err := pin(*cpus); err != nil {
			return err
		}
	}

	hub := servers.NewHub(&hubOpts)
	var lg *servers.Log
	if *data != "" {
		if lg, err = servers.OpenLog(*data, &servers.LogOptions{Fsync: policy}); err != nil {
			return err
		}
		if hub, err = lg.Restore(&hubOpts); err != nil {
			return errors.Join(err, lg.Close())
		}
	}
	closeLog := func() error {
		if lg == nil {
			return nil
		}
		return lg.Close()
	}
	srv, err := servers.New(hub, &opts, transports...)
	if err != nil {
		return errors.Join(err, closeLog())
	}
	if srv.Engine() != servers.NetHTTP {
		if *tlsAddr != "" {
			return errors.Join(fmt.Errorf("--tls-addr: %s's engine serves cleartext HTTP/1.1 only", srv.Engine()), closeLog())
		}
		if err := reportLeftOut(srv, transports); err != nil {
			return errors.Join(err, closeLog())
		}
	}
	if lg != nil {
		srv.SetLog(lg)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return errors.Join(err, closeLog())
	}
	var tcpLn net.Listener
	if *tcpAddr != "" {
		if tcpLn, err = net.Listen("tcp", *tcpAddr); err != nil {
			return errors.Join(err, ln.Close(), closeLog())
		}
	}
	var tlsLn net.Listener
	if *tlsAddr != "" {
		if tlsLn, err = net.Listen("tcp", *tlsAddr); err != nil {
			return errors.Join(err, ln.Close(), closeListener(tcpLn), closeLog())
		}
	}
	if err := checkControlExposed(opts.ControlToken, ln, tlsLn); err != nil {
		return errors.Join(err, ln.Close(), closeListener(tcpLn), closeListener(tlsLn), closeLog())
	}
	// Every connection counts against --max-conns, the TLS ones under TLS.
	ln = srv.Listener(ln)
	if tlsLn != nil {
		if tlsLn, err = listenTLS(srv.Listener(tlsLn)); err != nil {
			return errors.Join(err, ln.Close(), closeListener(tcpLn), closeLog())
		}
	}

	page := browser.Handler(srv) // the server plus the browser scenario's page at /browser/
	// net/http's server, or nbio's event loop for an implementation on it.
	hs := srv.Serving(page, *h2c)
	httpDone := make(chan error, 1)
	go func() { httpDone <- ignoreClosed(hs.Serve(ln)) }()
	// TLS gets a server of its own: one http.Server running both Serve and
	// ServeTLS drops HTTP/2 requests (Go 1.26).
	var tlsSrv *http.Server
	var tlsDone chan error // stays nil, never ready, without --tls-addr
	if tlsLn != nil {
		tlsSrv = srv.HTTPServer(page, false)
		tlsDone = make(chan error, 1)
		go func() { tlsDone <- ignoreClosed(tlsSrv.Serve(tlsLn)) }()
	}
	tcpCtx, stopTCP := context.WithCancel(context.Background())
	defer stopTCP()
	var tcpDone chan error // stays nil, never ready, without --tcp-addr
	if tcpLn != nil {
		tcpDone = make(chan error, 1)
		floor := servers.NewTCP(hub, &opts)
		srv.SetTCP(floor)
		tcpLn = srv.Listener(tcpLn)
		go func() { tcpDone <- floor.Serve(tcpCtx, tcpLn) }()
	}
	// stop ends everything started above and waits for it. The streams go
	// first: Shutdown waits for SSE responses, which only the closed hub
	// ends, and never for hijacked WebSocket connections.
	stop := func() error {
		srv.Close()
		stopTCP()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err := errors.Join(hs.Shutdown(sctx), <-httpDone)
		if tlsSrv != nil {
			err = errors.Join(err, tlsSrv.Shutdown(sctx), <-tlsDone)
		}
		if tcpDone != nil {
			err = errors.Join(err, <-tcpDone)
		}
		return errors.Join(err, closeLog()) // after srv.Close: no generator writes to it
	}

	// A schedule saved in --data was running when the last server ended:
	// it goes on, whatever --wait-start and the schedule flags say.
	rs, resumed, err := srv.Resume()
	if err != nil {
		return errors.Join(err, stop())
	}
	if lg != nil {
		if err := reportRestored(lg, rs, resumed); err != nil {
			return errors.Join(err, stop())
		}
	}
	if !*waitStart && !resumed {
		if _, err := srv.Start(sch); err != nil {
			return errors.Join(err, stop())
		}
	}
	// A parent process reads these lines to learn the ports; the http line
	// comes last and means the server is ready.
	if tcpLn != nil {
		if _, err := fmt.Printf("pushbench: listening on tcp://%s\n", tcpLn.Addr()); err != nil {
			return errors.Join(err, stop())
		}
	}
	if tlsLn != nil {
		if _, err := fmt.Printf("pushbench: listening on https://%s\n", tlsLn.Addr()); err != nil {
			return errors.Join(err, stop())
		}
	}
	if _, err := fmt.Printf("pushbench: listening on http://%s\n", ln.Addr()); err != nil {
		return errors.Join(err, stop())
	}

	select {
	case err := <-httpDone:
		httpDone <- err // stop receives it again
	case err := <-tcpDone:
		tcpDone <- err
	case err := <-tlsDone:
		tlsDone <- err
	case <-ctx.Done():
	}
	return stop()
}

// reportLeftOut says on stderr which transports a server on an engine other
// than net/http's leaves out when none were named: their implementations
// run on net/http only (servers.New).
func reportLeftOut(srv *servers.Server, named []contract.Transport) error {
	if len(named) > 0 {
		return nil // New refused any that cannot run
	}
	served := srv.Stats().Implementation
	for _, t := range servers.HTTPTransports {
		if _, ok := served[t]; !ok {
			if _, err := fmt.Fprintf(os.Stderr, "pushbench: %s not served: its implementation runs on net/http, this server on %s's engine\n", t, srv.Engine()); err != nil {
				return err
			}
		}
	}
	return nil
}

// reportRestored says on stdout what a server started with --data found.
func reportRestored(lg *servers.Log, rs servers.RunningSchedule, resumed bool) error {
	st := lg.Stats()
	msg := fmt.Sprintf("pushbench: event log %s (fsync %s): %d events", st.Dir, st.Fsync, st.Events)
	if st.Events > 0 {
		msg += fmt.Sprintf(", %d to %d", st.First, st.Last)
	}
	if st.TornBytes > 0 {
		msg += fmt.Sprintf(", torn final record of %d bytes truncated", st.TornBytes)
	}
	if resumed {
		msg += fmt.Sprintf("; resuming the schedule started %s (%g events/s) after event %d",
			rs.Start.Format(time.RFC3339Nano), rs.Rate, st.Last)
	}
	_, err := fmt.Println(msg)
	return err
}

// listenTLS serves TLS on ln with a certificate made now for the loopback
// names (internal/tlscert), offering h2 and then http/1.1 by ALPN. It closes
// ln if it fails.
func listenTLS(ln net.Listener) (net.Listener, error) {
	cert, _, err := tlscert.SelfSigned(time.Now())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("--tls-addr: %w", err), ln.Close())
	}
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}), nil
}

// checkControlExposed refuses to serve /control beyond loopback without a
// token: anyone on the network could start and stop the generator. The
// HTTP listeners carry /control; the TCP floor does not.
func checkControlExposed(token string, lns ...net.Listener) error {
	if token != "" {
		return nil
	}
	for _, l := range lns {
		if l != nil && !servers.Loopback(l.Addr()) {
			return fmt.Errorf("listening on %s, beyond loopback, anyone who can reach it could start and stop the generator: "+
				"set a token with --control-token or %s (see docs/sharding.md), or listen on 127.0.0.1", l.Addr(), contract.TokenEnv)
		}
	}
	return nil
}

// closeListener closes ln, if any, on an error path.
func closeListener(ln net.Listener) error {
	if ln == nil {
		return nil
	}
	return ln.Close()
}

// ignoreClosed drops the error Serve returns after a Shutdown or Close.
func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// parseTransports reads --transport.
func parseTransports(s string) ([]contract.Transport, error) {
	if s == "all" {
		return nil, nil // New mounts every transport
	}
	var out []contract.Transport
	for t := range strings.SplitSeq(s, ",") {
		if !slices.Contains(servers.HTTPTransports, contract.Transport(t)) {
			return nil, fmt.Errorf("bad --transport %q: want all, or a comma-separated list of %s", s, contract.Names(servers.HTTPTransports))
		}
		out = append(out, contract.Transport(t))
	}
	return out, nil
}

// pin reads --cpus and pins the process to them.
func pin(s string) error {
	var cpus []int
	for f := range strings.SplitSeq(s, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 0 {
			return fmt.Errorf("bad --cpus %q: want CPU numbers, comma-separated", s)
		}
		cpus = append(cpus, c)
	}
	return proc.Pin(cpus...)
}
