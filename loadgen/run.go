package loadgen

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/pushbench/pushbench/internal/proc"
	"github.com/pushbench/pushbench/results"
)

// Defaults for RunConfig.
const (
	DefaultDrain   = 30 * time.Second
	DefaultConnect = 60 * time.Second
)

// RunConfig is one measured run of one transport against a running pushbench
// server whose generator is stopped.
type RunConfig struct {
	Fleet FleetConfig
	// Control is the server's HTTP base URL for /stats and /control; it
	// defaults to Fleet.Target (they differ for the tcp floor).
	Control string
	// ControlToken, if set, is sent with every control request (see
	// Control.Token).
	ControlToken string
	// Rate, Burst and Payload are the schedule the server publishes.
	Rate    float64
	Burst   int
	Payload int
	// Warmup is published and delivered but left out of the latency
	// histogram; Duration is measured.
	Warmup, Duration time.Duration
	// Drain bounds the wait for clients to catch up after publishing stops.
	// Defaults to DefaultDrain.
	Drain time.Duration
	// Progress, if set, is called about every 100 ms while publishing with
	// the time elapsed and events delivered so far.
	Progress func(elapsed time.Duration, delivered uint64)
	// Idle, if set, holds the connections open and idle this long before
	// publishing and records the bytes that flow meanwhile (results.Idle).
	Idle time.Duration
	// Shard, if set, makes this run one shard's share of a run spread over
	// several load generators.
	Shard *ShardConfig
	// EstimateClock estimates the server's clock offset after the run
	// (results.Run.Clock): set it when the server may be on another host.
	EstimateClock bool
}

// Measure makes one run: it connects the fleet, records the server's and its
// own resources, holds the connections idle for Idle if asked, starts the
// server's generator, publishes for Warmup+Duration, stops it, waits for
// every client to catch up (or Drain to pass), and returns the figures.
// Delivery is accounted over every event; latency only over events scheduled
// after the warm-up. With Shard set it runs one shard's share instead (see
// ShardConfig).
func Measure(ctx context.Context, cfg RunConfig) (results.Run, error) {
	if cfg.Drain <= 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.Control == "" {
		cfg.Control = cfg.Fleet.Target
	}
	ctl := Control{Base: cfg.Control, Token: cfg.ControlToken}
	run := results.Run{
		Transport: cfg.Fleet.Transport,
		Clients:   cfg.Fleet.Clients,
		Rate:      cfg.Rate,
		Burst:     max(cfg.Burst, 1),
		Payload:   cfg.Payload,
		DurationS: cfg.Duration.Seconds(),
	}
	if BaseTransport(cfg.Fleet.Transport) == Poll {
		run.PollIntervalS = cfg.Fleet.Options.withDefaults().PollInterval.Seconds()
	}
	sh := cfg.Shard
	if sh != nil {
		if err := sh.validate(); err != nil {
			return run, err
		}
		if until := time.Until(sh.StartAt); until < ShardMargin {
			return run, fmt.Errorf("%w: %v before it, need at least %v to connect", ErrStartPassed, until.Round(time.Millisecond), ShardMargin)
		}
	}

	before, err := ctl.Stats(ctx)
	if err != nil {
		return run, fmt.Errorf("server stats: %w", err)
	}
	// Memory per connection is growth from here: hand back what earlier runs
	// in this process freed, so the growth is this run's and not a reuse of
	// their leftovers.
	debug.FreeOSMemory()
	selfBefore := proc.Self()
	cfg.Fleet.After = before.Hub.Head
	cfg.Fleet.MeasureFrom = 1<<63 - 1 // nothing flows before the schedule starts
	dialStart := time.Now()
	fleet, err := StartFleet(ctx, cfg.Fleet)
	if err != nil {
		return run, err
	}
	defer fleet.Stop()
	connectBy := time.Now().Add(DefaultConnect)
	if sh != nil {
		connectBy = sh.StartAt.Add(-ShardMargin)
	}
	cctx, cancel := context.WithDeadline(ctx, connectBy)
	err = fleet.WaitConnected(cctx)
	cancel()
	connectTook := time.Since(dialStart)
	if err != nil {
		if sh != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (shard %d/%d connected too late: start later)", ErrStartPassed, sh.Index, sh.Count)
		}
		// What the clients met meanwhile is the likeliest reason.
		run.Errors = fleet.Failures()
		return run, fmt.Errorf("connecting %d %s clients (failures meanwhile: %v): %w", cfg.Fleet.Clients, cfg.Fleet.Transport, run.Errors, err)
	}
	connected, err := ctl.Stats(ctx)
	if err != nil {
		return run, fmt.Errorf("server stats: %w", err)
	}
	runtime.GC() // the figure is what the connections hold, not garbage from dialing
	selfConnected := proc.Self()
	run.Connections.ConnectRate = float64(cfg.Fleet.Clients) / connectTook.Seconds()

	if cfg.Idle > 0 {
		a, t0 := fleet.Conns(), time.Now()
		if err := sleepCtx(ctx, cfg.Idle); err != nil {
			return run, err
		}
		b, took := fleet.Conns(), time.Since(t0).Seconds()
		run.Idle = &results.Idle{Seconds: took, BytesIn: b.BytesRead - a.BytesRead, BytesOut: b.BytesWritten - a.BytesWritten}
		run.Idle.BytesPerSecPerConn = float64(run.Idle.BytesIn+run.Idle.BytesOut) / took / float64(cfg.Fleet.Clients)
	}

	publishFor := cfg.Warmup + cfg.Duration
	var startAt time.Time
	var head uint64 // with a shard, known in advance: the schedule has a count
	if sh == nil {
		// The schedule starts when the server gets the request; warm-up is
		// measured from just before it, so it can only be longer than asked.
		startAt = time.Now()
		fleet.SetMeasureFrom(startAt.Add(cfg.Warmup).UnixNano())
		if err := ctl.Start(ctx, cfg.Rate, run.Burst, cfg.Payload, 0); err != nil {
			return run, err
		}
	} else {
		count := ScheduleCount(cfg.Rate, run.Burst, publishFor)
		head = before.Hub.Head + count
		if err := sh.start(ctx, ctl, fleet, &run, before, count, cfg); err != nil {
			return run, err
		}
		startAt = sh.StartAt
	}
	tick := time.NewTicker(100 * time.Millisecond)
	end := time.NewTimer(time.Until(startAt.Add(publishFor)))
wait:
	for {
		select {
		case <-ctx.Done():
			break wait // stop publishing and report what was measured
		case <-end.C:
			break wait
		case <-tick.C:
			if cfg.Progress != nil {
				cfg.Progress(time.Since(startAt), fleet.Delivered())
			}
		}
	}
	tick.Stop()
	end.Stop()
	if sh == nil {
		// The stop request must go out even when ctx was cancelled.
		if head, err = ctl.Stop(context.WithoutCancel(ctx)); err != nil {
			return run, err
		}
	} else if err := sh.finish(ctx, ctl, head, cfg.Drain); err != nil {
		return run, err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Drain)
	caughtUpErr := fleet.WaitCaughtUp(dctx, head)
	cancel()
	caughtUp := time.Now()
	after, err := ctl.Stats(context.WithoutCancel(ctx))
	if err != nil {
		return run, fmt.Errorf("server stats: %w", err)
	}
	selfAfter := proc.Self()
	fleet.Stop()

	c := fleet.Counts(head)
	run.EventsPublished = head - before.Hub.Head
	run.EventsExpected = c.Expected
	run.EventsDelivered = c.Delivered
	run.Lost, run.Duplicates, run.Reordered = c.Lost, c.Duplicates, c.Reordered
	run.Gaps, run.GapMissed, run.Malformed = c.Gaps, c.GapMissed, c.Malformed
	run.Errors = c.Errors
	// The transports' counts, not the hub's: a stream a write deadline
	// ended is as slow as one the hub cut off, and only they see it.
	if a, b := after.SlowDisconnects(), before.SlowDisconnects(); a > b {
		run.SlowDisconnects = a - b
	}
	hist := fleet.Latency().Snapshot()
	run.LatencyNS = results.PercentilesOf(hist)
	if run.Histogram, err = results.EncodeHistogram(hist); err != nil {
		return run, err
	}
	elapsed := caughtUp.Sub(startAt).Seconds()
	run.DeliveriesPerSec = float64(c.Delivered) / elapsed

	conns := fleet.Conns()
	run.Connections.Attempted = conns.Attempted
	run.Connections.Established = conns.Established
	run.Connections.Failed = conns.Failed
	run.Connections.PeakConcurrent = conns.Peak
	run.Connections.ConnectP50NS = conns.ConnectP50NS
	run.Connections.ConnectP99NS = conns.ConnectP99NS
	if conns.Connect != nil {
		if run.Connections.ConnectHistogram, err = results.EncodeHistogram(conns.Connect); err != nil {
			return run, err
		}
	}
	if c.Connects > uint64(cfg.Fleet.Clients) {
		run.Connections.Reconnects = c.Connects - uint64(cfg.Fleet.Clients)
	}
	if BaseTransport(cfg.Fleet.Transport) == Poll {
		// A poller's connects are keep-alive connections, not streams.
		run.Connections.Reconnects = 0
		run.Polls = &results.Polls{Requests: c.Polls, Empty: c.EmptyPolls, RequestsPerSec: float64(c.Polls) / elapsed}
		if c.Polls > 0 {
			run.Polls.EmptyShare = float64(c.EmptyPolls) / float64(c.Polls)
		}
	}
	run.Wire = results.Wire{BytesIn: conns.BytesRead, BytesOut: conns.BytesWritten}
	if c.Delivered > 0 {
		run.Wire.BytesPerEvent = float64(conns.BytesRead+conns.BytesWritten) / float64(c.Delivered)
	}
	run.Server = usage(before.Process, connected.Process, after.Process, c.Delivered, cfg.Fleet.Clients)
	run.Loadgen = usage(selfBefore, selfConnected, selfAfter, c.Delivered, cfg.Fleet.Clients)
	if sh != nil {
		// Other shards connected to the same server meanwhile: its growth
		// per connection is only known once merged (results.MergeRuns).
		run.Server.BytesPerConn, run.Server.HeapPerConn = 0, 0
	}
	if cfg.EstimateClock {
		c, err := EstimateClock(context.WithoutCancel(ctx), cfg.Control, nil)
		if err != nil {
			c = results.Clock{Method: "not estimated: " + err.Error()}
		}
		run.Clock = &c
	}
	if caughtUpErr != nil {
		return run, fmt.Errorf("clients did not catch up with event %d within %v: %w", head, cfg.Drain, caughtUpErr)
	}
	return run, nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// usage turns three snapshots of a process (before connecting, connected and
// idle, after the run) into the run's figures. Memory per connection is
// measured while the connections are idle, before any event flows.
func usage(before, connected, after proc.Stats, delivered uint64, clients int) results.Process {
	p := results.Process{
		CPUSeconds: after.CPUSeconds - connected.CPUSeconds,
		RSSBytes:   max(connected.RSSBytes, after.RSSBytes),
		HeapBytes:  max(connected.HeapBytes, after.HeapBytes),
		Goroutines: connected.Goroutines,
		OpenFiles:  connected.OpenFiles,
	}
	if delivered > 0 {
		p.CPUPer1kDeliveries = p.CPUSeconds / float64(delivered) * 1000
	}
	if clients > 0 && connected.RSSBytes > before.RSSBytes {
		p.BytesPerConn = float64(connected.RSSBytes-before.RSSBytes) / float64(clients)
	}
	if clients > 0 && connected.HeapBytes > before.HeapBytes {
		p.HeapPerConn = float64(connected.HeapBytes-before.HeapBytes) / float64(clients)
	}
	return p
}
