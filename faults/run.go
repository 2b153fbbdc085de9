package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
)

// The faults Run injects. They match package scenarios' names.
const (
	Crash     = "crash"     // SIGKILL the server, restart it after Downtime
	Graceful  = "graceful"  // SIGTERM (drain), restart after Downtime
	SlowClose = "slowclose" // a graceful restart behind a slow_close toxic
	Reset     = "reset"     // every connection reset, new ones refused for Downtime
	Partition = "partition" // no byte either way for Length, nothing closed
	Degrade   = "degrade"   // latency ± jitter and a bandwidth limit for Length
	Storm     = "storm"     // every connection reset at once and let back at once
)

// All is every fault, in the order a full matrix runs them.
var All = []string{Crash, Graceful, SlowClose, Reset, Partition, Degrade, Storm}

// ErrUnknownFault is returned (as a run's Error) for a fault Run does not
// know.
var ErrUnknownFault = errors.New("faults: unknown fault")

// Pacing of a run: the timeline's resolution, and how fast clients connect
// before the fault.
const (
	SampleEvery = 100 * time.Millisecond
	// RampRate is clients connected per second before the fault: the
	// storm is the fault, not the start.
	RampRate = 500.0
)

// Config is one fault run. Every field is used as given: the scenario that
// builds it states every value (see scenarios.FaultSpec for defaults).
type Config struct {
	// Bin is the pushbench binary: the server runs as `Bin serve …`, a
	// separate process, with ServerArgs added (CPU pinning, say).
	Bin        string
	ServerArgs []string
	Scenario   string
	Transport  string
	Fault      string
	// Jitter is the clients' reconnect policy: loadgen.FullJitter (WebSocket
	// and TCP back off with full jitter, the server gives each SSE stream
	// its own retry:) or loadgen.NoJitter (every client waits exactly as
	// long).
	Jitter  loadgen.Jitter
	Clients int
	Rate    float64
	Payload int
	// Settings are the fault's timings and the clients' policies; their
	// RetryJitter is set from Jitter.
	Settings results.FaultSettings
}

// Run runs one fault against one transport on a fresh server process that
// keeps its history in a write-ahead log (`serve --data`), so a restart
// resumes history and schedule: clients connect through a Proxy, stream for
// Before, weather the fault and must then all catch up. It returns what it
// measured; a failure becomes the run's Error, and the figures gathered
// until then stay.
//
// The clients run in the calling process, beside the proxy; the caller
// pins it where it wants the load generator.
func Run(ctx context.Context, cfg Config) results.FaultRun {
	cfg.Settings.RetryJitter = cfg.Jitter != loadgen.NoJitter
	run := results.FaultRun{
		Scenario: cfg.Scenario, Transport: cfg.Transport, Fault: cfg.Fault, Jitter: string(cfg.Jitter),
		Clients: cfg.Clients, Rate: cfg.Rate, Payload: cfg.Payload, Settings: cfg.Settings,
	}
	if run.Jitter == "" {
		run.Jitter = string(loadgen.FullJitter)
	}
	if err := run1(ctx, cfg, &run); err != nil {
		run.Error = err.Error()
	}
	return run
}

func run1(ctx context.Context, cfg Config, run *results.FaultRun) (err error) {
	known := false
	for _, f := range All {
		known = known || f == cfg.Fault
	}
	if !known {
		return fmt.Errorf("%w %q (want one of %s)", ErrUnknownFault, cfg.Fault, strings.Join(All, ", "))
	}
	set := cfg.Settings
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
	argv := []string{cfg.Bin, "serve", "--addr", httpAddr, "--tcp-addr", tcpAddr, "--data", data, "--wait-start",
		"--heartbeat", set.Heartbeat.String(), "--ping-interval", set.Heartbeat.String(),
		"--retry", set.Retry.String(), "--payload", fmt.Sprint(cfg.Payload)}
	if set.RetryJitter {
		argv = append(argv, "--retry-jitter")
	}
	argv = append(argv, cfg.ServerArgs...)
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
	if cfg.Transport == loadgen.TCP {
		upstream, scheme = tcpAddr, "tcp://"
	}
	px, err := Listen(upstream)
	if err != nil {
		return err
	}
	defer px.Close()

	o := loadgen.Options{
		PollInterval: set.PollInterval,
		SSERetry:     set.SSERetry,
		BackoffMin:   set.BackoffMin,
		BackoffMax:   set.BackoffMax,
		ReadTimeout:  set.ReadTimeout,
		Jitter:       cfg.Jitter,
	}
	lat := loadgen.NewLatency()
	trackers := make([]*loadgen.Tracker, cfg.Clients)
	clients := make([]loadgen.Client, cfg.Clients)
	for i := range trackers {
		trackers[i] = loadgen.NewTracker(0, lat, i)
		if clients[i], err = loadgen.New(cfg.Transport, scheme+px.Addr(), trackers[i], &o); err != nil {
			return err
		}
	}
	cctx, stopClients := context.WithCancel(ctx)
	var cwg sync.WaitGroup
	var errMu sync.Mutex
	var clientErrs []error
	for i, c := range clients {
		delay := time.Duration(float64(i) / RampRate * float64(time.Second))
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
	swg.Go(func() { run.Timeline = loadgen.Timeline(sctx, trackers, SampleEvery) })
	swg.Go(func() { run.Server = sampleServer(sctx, ctl, start) })
	defer func() { stopSamplers(); swg.Wait() }()

	if err := ctl.Start(ctx, cfg.Rate, 1, cfg.Payload, 0); err != nil {
		return err
	}
	ramp := time.Duration(float64(len(clients)) / RampRate * float64(time.Second))
	if err := await(ctx, ramp+30*time.Second, trackers, func(t *loadgen.Tracker) bool { return t.Up() && t.Delivered() > 0 }); err != nil {
		return fmt.Errorf("clients did not start streaming: %w", err)
	}
	// Latency counts from here: the ramp's replay from the first event is
	// not a figure.
	for _, t := range trackers {
		t.SetMeasureFrom(time.Now().UnixNano())
	}
	if !sleepCtx(ctx, set.Before) {
		return ctx.Err()
	}

	faultAt := time.Now()
	run.FaultAt = faultAt.Sub(start).Milliseconds()
	breaks := true
	switch cfg.Fault {
	case Crash, Graceful, SlowClose:
		if cfg.Fault == SlowClose {
			heal, herr := px.SlowClose(set.SlowClose)
			if herr != nil {
				return herr
			}
			defer func() { err = errors.Join(err, heal()) }() // the run's err
		}
		srvMu.Lock()
		if cfg.Fault == Crash {
			srv.Kill()
		} else if serr := srv.Stop(10 * time.Second); serr != nil && !isSignalled(serr) {
			run.Notes = append(run.Notes, "graceful stop: "+serr.Error())
		}
		srv = nil
		srvMu.Unlock()
		if !sleepCtx(ctx, set.Downtime) {
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
	case Reset, Storm:
		down := set.Downtime
		if cfg.Fault == Storm {
			down = 0 // every client back at once: the storm
		}
		if err := px.ResetAll(ctx, down); err != nil {
			return err
		}
	case Partition, Degrade:
		var heal Heal
		var err error
		if cfg.Fault == Partition {
			heal, err = px.Partition()
		} else {
			breaks = false // a slow link, not a broken one
			heal, err = px.Degrade(set.Latency, set.LatencyJitter, set.BandwidthKBs)
		}
		if err != nil {
			return err
		}
		if !sleepCtx(ctx, set.Length) {
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
	if !sleepCtx(ctx, set.After) {
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
	var c loadgen.Counts
	for _, t := range trackers {
		c = c.Add(t.Counts(head))
	}
	run.Delivery = results.Delivery{Expected: c.Expected, Delivered: c.Delivered, Lost: c.Lost, Duplicates: c.Duplicates,
		Reordered: c.Reordered, Gaps: c.Gaps, GapMissed: c.GapMissed, Malformed: c.Malformed}
	run.Recovery = loadgen.Recover(trackers, faultAt, faultAt, time.Now())
	h := lat.Snapshot()
	run.Latency = results.Quantiles{N: h.TotalCount(), P50: float64(h.ValueAtQuantile(50)) / 1e6,
		P99: float64(h.ValueAtQuantile(99)) / 1e6, Max: float64(h.Max()) / 1e6}
	if len(clientErrs) > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d clients gave up, first: %v", len(clientErrs), clientErrs[0]))
	}
	return nil
}

// sampleServer reads /stats every SampleEvery until ctx ends.
func sampleServer(ctx context.Context, ctl loadgen.Control, start time.Time) []results.ServerSample {
	var out []results.ServerSample
	tick := time.NewTicker(SampleEvery)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*SampleEvery)
		st, err := ctl.Stats(rctx)
		cancel()
		s := results.ServerSample{At: time.Since(start).Milliseconds(), Up: err == nil}
		if err == nil {
			s.CPUSeconds, s.Accepted = st.Process.CPUSeconds, st.Accepted()
		}
		out = append(out, s)
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
	}
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
