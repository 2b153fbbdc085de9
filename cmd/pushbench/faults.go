package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/pushbench/pushbench/faults"
	"github.com/pushbench/pushbench/internal/proc"
	"github.com/pushbench/pushbench/loadgen"
)

func init() {
	commands["faults"] = command{"inject server and network faults per transport and measure recovery", faultsCmd}
}

// Faults the command knows, in the order it runs them.
var allFaults = []string{"crash", "graceful", "slowclose", "reset", "partition", "degrade", "storm"}

// Pacing of a run: the timeline's resolution, and how fast clients connect
// before the fault.
const (
	sampleEvery = 100 * time.Millisecond
	rampRate    = 500.0 // clients per second
)

// faultsCmd runs every chosen fault against every chosen transport, each on a
// fresh server process (with --data, so a restart resumes history and
// schedule) behind an in-process fault proxy (package faults), and writes
// DIR/faults.json: the settings and client policies, and per run the
// recovery figures (detect, reconnect and catch-up p50/p99/max over clients;
// replayed events, attempts, failed attempts), the exact account (lost,
// duplicated, gaps), delivery latency, a timeline of connected clients and
// deliveries per 100 ms, and the server's CPU and accept counts per 100 ms.
func faultsCmd(ctx context.Context, args []string) error {
	var cfg faults.Config
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	out := fs.String("out", "faults-out", "write DIR/faults.json here")
	transport := fs.String("transport", strings.Join(loadgen.Transports, ","), "transports, comma-separated")
	which := fs.String("faults", strings.Join(allFaults, ","), "faults, comma-separated: "+strings.Join(allFaults, ", "))
	fs.IntVar(&cfg.Clients, "clients", 50, "clients per run")
	fs.IntVar(&cfg.StormClients, "storm-clients", 5000, "clients dropped at once by the storm")
	fs.Float64Var(&cfg.Rate, "rate", 100, "events per second")
	fs.Float64Var(&cfg.StormRate, "storm-rate", 2, "events per second during the storm: the storm measures reconnection, and every byte crosses the in-process proxy")
	fs.IntVar(&cfg.Payload, "payload", 64, "event data size in bytes")
	fs.DurationVar(&cfg.Before, "before", 2*time.Second, "steady streaming before the fault")
	fs.DurationVar(&cfg.After, "after", 2*time.Second, "streaming after every client recovered")
	fs.DurationVar(&cfg.Downtime, "downtime", time.Second, "crash, graceful and reset: how long the server (or the network) stays down")
	fs.DurationVar(&cfg.Partition, "partition", 8*time.Second, "partition and degrade: how long the fault lasts")
	fs.DurationVar(&cfg.Latency, "latency", 200*time.Millisecond, "degrade: added latency")
	fs.DurationVar(&cfg.Jitter, "jitter", 100*time.Millisecond, "degrade: latency jitter (±)")
	fs.Int64Var(&cfg.BandwidthKBs, "bandwidth", 64, "degrade: bandwidth in KB/s (0: unlimited)")
	fs.DurationVar(&cfg.SlowClose, "slow-close", 2*time.Second, "slowclose: how long the network takes to pass on the server's close during a graceful restart")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", time.Second, "server's SSE heartbeat")
	fs.DurationVar(&cfg.Retry, "retry", time.Second, "server's SSE retry:")
	fs.DurationVar(&cfg.Policies.PollInterval, "poll-interval", loadgen.DefaultPollInterval, "polling client's interval")
	fs.DurationVar(&cfg.Policies.SSERetry, "sse-retry", loadgen.DefaultSSERetry, "SSE client's retry until the server sends retry:")
	fs.DurationVar(&cfg.Policies.BackoffMin, "backoff-min", loadgen.DefaultBackoffMin, "WebSocket and TCP clients' backoff minimum")
	fs.DurationVar(&cfg.Policies.BackoffMax, "backoff-max", loadgen.DefaultBackoffMax, "WebSocket and TCP clients' backoff maximum")
	fs.DurationVar(&cfg.Policies.ReadTimeout, "read-timeout", 5*time.Second, "clients' read timeout (polling: request timeout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.Policies.Jitter = "sse: none (fixed retry, as EventSource); ws, tcp: full jitter; poll: none (fixed interval)"
	transports, err := splitChoice(*transport, loadgen.Transports)
	if err != nil {
		return fmt.Errorf("bad --transport: %w", err)
	}
	chosen, err := splitChoice(*which, allFaults)
	if err != nil {
		return fmt.Errorf("bad --faults: %w", err)
	}
	// Toxiproxy's toxics log through zerolog's global logger, at trace
	// level: this command's output is its report.
	zerolog.SetGlobalLevel(zerolog.Disabled)
	if _, err := proc.RaiseFileLimit(); err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	report := faults.Outcome{Config: cfg}
	for _, f := range chosen {
		for _, tr := range transports {
			if ctx.Err() != nil {
				break
			}
			fmt.Fprintf(os.Stderr, "pushbench faults: %s / %s\n", f, tr)
			run := runFault(ctx, bin, cfg, tr, f)
			if run.Error != "" {
				fmt.Fprintf(os.Stderr, "pushbench faults: %s / %s: %s\n", f, tr, run.Error)
			}
			if r := run.Recovery; f == "degrade" {
				fmt.Fprintf(os.Stderr, "  latency p50 %.0f ms, p99 %.0f ms, max %.0f ms; %d breaks; lost %d, dup %d\n",
					run.Latency.P50, run.Latency.P99, run.Latency.Max, r.Broken, run.Counts.Lost, run.Counts.Duplicates)
			} else {
				fmt.Fprintf(os.Stderr, "  %d/%d recovered; detect p99 %.0f ms, reconnect p99 %.0f ms, catch-up p99 %.0f ms; lost %d, dup %d\n",
					r.CaughtUp, run.Clients, r.Detect.P99, r.Reconnect.P99, r.CatchUp.P99, run.Counts.Lost, run.Counts.Duplicates)
			}
			report.Runs = append(report.Runs, run)
		}
	}
	return report.Save(*out)
}

// splitChoice splits a comma-separated list and checks every item is known.
func splitChoice(s string, known []string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		ok := false
		for _, k := range known {
			ok = ok || k == v
		}
		if !ok {
			return nil, fmt.Errorf("unknown %q (want %s)", v, strings.Join(known, ", "))
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

// runFault runs one fault against one transport on a fresh server: clients
// connect through a fault proxy, stream for cfg.Before, weather the fault,
// and must then all catch up. A failure becomes the run's Error.
func runFault(ctx context.Context, bin string, cfg faults.Config, transport, fault string) (run faults.Run) {
	run = faults.Run{Transport: transport, Fault: fault, Clients: cfg.Clients}
	if fault == "storm" {
		run.Clients, cfg.Rate = cfg.StormClients, cfg.StormRate
	}
	if err := faultRun1(ctx, bin, cfg, &run); err != nil {
		run.Error = err.Error()
	}
	return run
}

func faultRun1(ctx context.Context, bin string, cfg faults.Config, run *faults.Run) (err error) {
	httpAddr, err := freeLoopback()
	if err != nil {
		return err
	}
	tcpAddr, err := freeLoopback()
	if err != nil {
		return err
	}
	data, err := os.MkdirTemp("", "pushbench-faults-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(data)) }()
	// The server listens on the same ports across a restart, and resumes
	// its history and schedule from data, as a restarted production server.
	argv := []string{bin, "serve", "--addr", httpAddr, "--tcp-addr", tcpAddr, "--data", data, "--wait-start",
		"--heartbeat", cfg.Heartbeat.String(), "--retry", cfg.Retry.String(), "--payload", fmt.Sprint(cfg.Payload)}
	var srvMu sync.Mutex
	srv, err := loadgen.StartServer(ctx, argv...)
	if err != nil {
		return err
	}
	defer func() {
		srvMu.Lock()
		defer srvMu.Unlock()
		if srv != nil {
			if serr := srv.Stop(15 * time.Second); serr != nil && !isSignalled(serr) {
				err = errors.Join(err, fmt.Errorf("stop server: %w", serr))
			}
		}
	}()
	ctl := loadgen.Control{Base: "http://" + httpAddr}

	upstream, scheme := httpAddr, "http://"
	if run.Transport == loadgen.TCP {
		upstream, scheme = tcpAddr, "tcp://"
	}
	px, err := faults.Listen(upstream)
	if err != nil {
		return err
	}
	defer px.Close()

	// Clients.
	o := loadgen.Options{
		PollInterval: cfg.Policies.PollInterval,
		SSERetry:     cfg.Policies.SSERetry,
		BackoffMin:   cfg.Policies.BackoffMin,
		BackoffMax:   cfg.Policies.BackoffMax,
		ReadTimeout:  cfg.Policies.ReadTimeout,
	}
	lat := loadgen.NewLatency()
	trackers := make([]*loadgen.Tracker, run.Clients)
	clients := make([]loadgen.Client, run.Clients)
	for i := range trackers {
		trackers[i] = loadgen.NewTracker(0, lat, i)
		if clients[i], err = loadgen.New(run.Transport, scheme+px.Addr(), trackers[i], &o); err != nil {
			return err
		}
	}
	cctx, stopClients := context.WithCancel(ctx)
	var cwg sync.WaitGroup
	var errMu sync.Mutex
	var clientErrs []error
	// Clients connect at rampRate, not all at once: the storm is the fault,
	// not the start.
	for i, c := range clients {
		delay := time.Duration(float64(i) / rampRate * float64(time.Second))
		cwg.Go(func() {
			if !sleepCtx(cctx, delay) {
				return
			}
			if err := c.Run(cctx); err != nil {
				errMu.Lock()
				clientErrs = append(clientErrs, err)
				errMu.Unlock()
			}
		})
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopClients()
			cwg.Wait()
		}
	}
	defer stop()

	// Samplers, on one clock.
	start := time.Now()
	sctx, stopSamplers := context.WithCancel(ctx)
	var swg sync.WaitGroup
	swg.Go(func() { run.Timeline = loadgen.Timeline(sctx, trackers, sampleEvery) })
	swg.Go(func() { run.Server = sampleServer(sctx, ctl, start) })
	defer func() { stopSamplers(); swg.Wait() }()

	if err := ctl.Start(ctx, cfg.Rate, 1, cfg.Payload, 0); err != nil {
		return err
	}
	ramp := time.Duration(float64(len(clients)) / rampRate * float64(time.Second))
	if err := await(ctx, ramp+30*time.Second, trackers, func(t *loadgen.Tracker) bool { return t.Up() && t.Delivered() > 0 }); err != nil {
		return fmt.Errorf("clients did not start streaming: %w", err)
	}
	// Latency counts from here: the ramp's replay from the first event is
	// not a figure.
	for _, t := range trackers {
		t.SetMeasureFrom(time.Now().UnixNano())
	}
	if !sleepCtx(ctx, cfg.Before) {
		return ctx.Err()
	}

	faultAt := time.Now()
	run.FaultAt = faultAt.Sub(start).Milliseconds()
	breaks := true
	switch run.Fault {
	case "crash", "graceful", "slowclose":
		if run.Fault == "slowclose" {
			heal, herr := px.SlowClose(cfg.SlowClose)
			if herr != nil {
				return herr
			}
			defer func() { err = errors.Join(err, heal()) }() // the run's err
		}
		srvMu.Lock()
		if run.Fault == "crash" {
			srv.Kill()
		} else if serr := srv.Stop(10 * time.Second); serr != nil && !isSignalled(serr) {
			run.Notes = append(run.Notes, "graceful stop: "+serr.Error())
		}
		srv = nil
		srvMu.Unlock()
		if !sleepCtx(ctx, cfg.Downtime) {
			return ctx.Err()
		}
		next, err := loadgen.StartServer(ctx, argv...)
		if err != nil {
			return fmt.Errorf("restart: %w", err)
		}
		srvMu.Lock()
		srv = next
		srvMu.Unlock()
		// The server resumes its schedule from data; should it not, the
		// schedule is started again.
		if err := ctl.Start(ctx, cfg.Rate, 1, cfg.Payload, 0); err != nil && !strings.Contains(err.Error(), "already running") {
			return fmt.Errorf("restart schedule: %w", err)
		}
	case "reset", "storm":
		down := cfg.Downtime
		if run.Fault == "storm" {
			down = 0 // every client back at once: the storm
		}
		if err := px.ResetAll(ctx, down); err != nil {
			return err
		}
	case "partition":
		heal, err := px.Partition()
		if err != nil {
			return err
		}
		if !sleepCtx(ctx, cfg.Partition) {
			return errors.Join(ctx.Err(), heal())
		}
		if err := heal(); err != nil {
			return err
		}
	case "degrade":
		breaks = false
		heal, err := px.Degrade(cfg.Latency, cfg.Jitter, cfg.BandwidthKBs)
		if err != nil {
			return err
		}
		if !sleepCtx(ctx, cfg.Partition) {
			return errors.Join(ctx.Err(), heal())
		}
		if err := heal(); err != nil {
			return err
		}
	}
	if breaks {
		if err := await(ctx, 60*time.Second, trackers, func(t *loadgen.Tracker) bool { return t.Recovered() > 0 }); err != nil {
			run.Notes = append(run.Notes, "not every client recovered within 60s")
		}
	}
	if !sleepCtx(ctx, cfg.After) {
		return ctx.Err()
	}
	head, err := ctl.Stop(ctx)
	if err != nil {
		return err
	}
	if err := await(ctx, 60*time.Second, trackers, func(t *loadgen.Tracker) bool { return t.Cursor() >= head }); err != nil {
		run.Notes = append(run.Notes, fmt.Sprintf("not every client reached event %d within 60s", head))
	}
	stop()
	for _, t := range trackers {
		run.Counts = run.Counts.Add(t.Counts(head))
	}
	run.Recovery = loadgen.Recover(trackers, faultAt, faultAt, time.Now())
	h := lat.Snapshot()
	run.Latency = loadgen.Quantiles{N: h.TotalCount(), P50: float64(h.ValueAtQuantile(50)) / 1e6,
		P99: float64(h.ValueAtQuantile(99)) / 1e6, Max: float64(h.Max()) / 1e6}
	if len(clientErrs) > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d clients gave up, first: %v", len(clientErrs), clientErrs[0]))
	}
	return nil
}

// sampleServer reads /stats every sampleEvery until ctx ends.
func sampleServer(ctx context.Context, ctl loadgen.Control, start time.Time) []faults.ServerSample {
	var out []faults.ServerSample
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*sampleEvery)
		var st struct {
			Transports struct {
				SSE, WS struct {
					Total uint64 `json:"total"`
				}
				Poll struct {
					Requests uint64 `json:"requests"`
				}
			} `json:"transports"`
			Process proc.Stats `json:"process"`
		}
		err := getJSON(rctx, ctl.Base+"/stats", &st)
		cancel()
		s := faults.ServerSample{At: time.Since(start).Milliseconds(), Up: err == nil}
		if err == nil {
			s.CPUSeconds = st.Process.CPUSeconds
			s.Accepted = st.Transports.SSE.Total + st.Transports.WS.Total + st.Transports.Poll.Requests
		}
		out = append(out, s)
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
	}
}

// getJSON decodes the JSON answer to a GET of u into v.
func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// await polls until ok holds for every tracker, ctx ends or d passes.
func await(ctx context.Context, d time.Duration, trackers []*loadgen.Tracker, ok func(*loadgen.Tracker) bool) error {
	deadline := time.Now().Add(d)
	for {
		n := 0
		for _, t := range trackers {
			if !ok(t) {
				n++
			}
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d clients still waiting after %v", n, len(trackers), d)
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// freeLoopback returns a loopback address no one listens on now.
func freeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// isSignalled reports whether a server's exit error is only the signal that
// stopped it.
func isSignalled(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "signal: killed") || strings.Contains(err.Error(), "signal: terminated"))
}
