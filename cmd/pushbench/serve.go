package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pushbench/pushbench/browser"
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/proc"
	"github.com/pushbench/pushbench/servers"
)

func init() {
	commands["serve"] = command{"serve the event stream over polling, long polling, SSE and WebSocket (and the TCP floor)", serveCmd}
}

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
		cs, err := proc.ParseCPUs(*cpus)
		if err != nil {
			return fmt.Errorf("--cpus: %w", err)
		}
		if err := proc.Pin(cs...); err != nil {
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
		if err := reportLeftOut(srv, transports); err != nil {
			return errors.Join(err, closeLog())
		}
	}
	if lg != nil {
		srv.SetLog(lg)
	}
	ls, err := srv.Listen(servers.Addrs{HTTP: *addr, TCP: *tcpAddr, TLS: *tlsAddr, H2C: *h2c})
	if err != nil {
		return errors.Join(err, closeLog())
	}
	// ready starts the schedule and then says where the server listens: a
	// parent process reads these lines to learn the ports, and the http
	// line, last, means the server is ready.
	ready := func() error {
		// A schedule saved in --data was running when the last server
		// ended: it goes on, whatever --wait-start and the schedule flags
		// say.
		rs, resumed, err := srv.Resume()
		if err != nil {
			return err
		}
		if lg != nil {
			if err := reportRestored(lg, rs, resumed); err != nil {
				return err
			}
		}
		if !*waitStart && !resumed {
			if _, err := srv.Start(sch); err != nil {
				return err
			}
		}
		httpURL, tcpURL, httpsURL := ls.URLs()
		for _, u := range []string{tcpURL, httpsURL, httpURL} {
			if u == "" {
				continue
			}
			if _, err := fmt.Printf("pushbench: listening on %s\n", u); err != nil {
				return err
			}
		}
		return nil
	}
	// The server plus the browser scenario's page at /browser/. The log is
	// closed after the server: no generator writes to it then.
	return errors.Join(ls.Serve(ctx, browser.Handler(srv), ready), closeLog())
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
