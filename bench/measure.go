package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/proc"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
	"github.com/pushbench/pushbench/servers"
)

// Defaults for a Plan.
const (
	// DefaultDrain bounds the wait for clients to catch up after
	// publishing stops.
	DefaultDrain = 30 * time.Second
	// DefaultConnect bounds the wait for every client to connect.
	DefaultConnect = 60 * time.Second
	// progressEvery is how often Plan.Progress hears from a run.
	progressEvery = 100 * time.Millisecond
)

// Target is a running server: where its clients connect and how it is
// controlled. The floor's clients connect to its tcp:// URL and the TLS
// variants' to its https:// one, while control always goes to HTTP.
type Target struct {
	Stream  string
	Control Control
}

// Load is what one run offers a server: a schedule, published for Warmup
// and then measured for Duration, to a fleet of clients of one transport.
type Load struct {
	Transport contract.Transport
	// Impl names the server implementation measured, for the record; the
	// server was started with it.
	Impl     string
	Clients  int
	Schedule contract.Schedule
	// Warmup is published and delivered but left out of latency.
	Warmup, Duration time.Duration
	// Client configures every client (polling interval, read buffer, …).
	Client loadgen.Options
	// Sources are local addresses the connections rotate over.
	Sources []net.IP
	// ConnectRate is clients started per second; 0 is the fleet's default.
	ConnectRate int
}

// Await is how a run knows its clients are connected.
type Await int

const (
	// AwaitClients waits until every client has its stream: the default.
	AwaitClients Await = iota
	// AwaitSubscribers waits until the server counts every client as a
	// subscriber. Behind a buffering proxy a client sees nothing, its
	// response headers included, until publishing fills the buffer.
	AwaitSubscribers
)

// Plan is one measured run: the load, and how it is measured. A zero field
// takes the default shown.
type Plan struct {
	Load
	// Idle, if set, holds the connections open and idle this long before
	// publishing and records the bytes that flow meanwhile.
	Idle time.Duration
	// Drain bounds the wait for clients to catch up after publishing
	// stops; DefaultDrain.
	Drain time.Duration
	// Await says when the clients are connected; AwaitClients.
	Await Await
	// Hold, if set, replaces publishing for Warmup+Duration: a fault run
	// holds the stream while it breaks and heals it. It is called once the
	// schedule has started and must decide, with Fleet.SetMeasureFrom,
	// which events count for latency.
	Hold func(ctx context.Context, f *loadgen.Fleet) error
	// Sample, if set, records the clients' and the server's timelines at
	// this interval from the moment the clients start.
	Sample time.Duration
	// Shard, if set, makes this run one shard's share of a run spread over
	// several load generators.
	Shard *Shard
	// EstimateClock estimates the server's clock offset after the run:
	// set it when the server may be on another host.
	EstimateClock bool
	// Progress, if set, is told about every 100 ms while publishing how long
	// it has published and how many events were delivered.
	Progress func(elapsed time.Duration, delivered uint64)
}

// Measure makes one run: it connects the fleet, records the server's and
// its own resources, holds the connections idle if asked, starts the
// server's schedule, publishes for Warmup+Duration (or what Hold does),
// stops, waits for every client to catch up (or Drain to pass), and returns
// the figures. Delivery is accounted over every event; latency only over
// events scheduled after the warm-up. A failure after the clients connected
// comes back with the figures measured so far.
func Measure(ctx context.Context, t Target, p Plan) (results.Run, error) {
	m, err := measure(ctx, t, p)
	return m.Run, err
}

// measured is what measure found: the run's figures, and for fault runs the
// fleet (stopped) and the timelines.
type measured struct {
	results.Run
	fleet    *loadgen.Fleet
	start    time.Time // the timelines' origin
	timeline []results.Sample
	server   []results.ServerSample
}

func measure(ctx context.Context, t Target, p Plan) (m measured, err error) {
	if p.Drain <= 0 {
		p.Drain = DefaultDrain
	}
	p.Schedule.Burst = max(p.Schedule.Burst, 1)
	ctl := t.Control
	m.Run = results.Run{
		Transport: p.Transport,
		Impl:      p.Impl,
		Clients:   p.Clients,
		Rate:      p.Schedule.Rate,
		Burst:     p.Schedule.Burst,
		Payload:   p.Schedule.Payload,
		DurationS: p.Duration.Seconds(),
	}
	run := &m.Run
	if p.Transport.Polls() {
		run.PollIntervalS = p.Client.WithDefaults().PollInterval.Seconds()
	}
	if sh := p.Shard; sh != nil {
		if err := sh.validate(); err != nil {
			return m, err
		}
		if until := time.Until(sh.StartAt); until < ShardMargin {
			return m, fmt.Errorf("%w: %v before it, need at least %v to connect", ErrStartPassed, until.Round(time.Millisecond), ShardMargin)
		}
	}

	before, err := ctl.Stats(ctx)
	if err != nil {
		return m, fmt.Errorf("server stats: %w", err)
	}
	run.Library = before.Library[p.Transport.Base()]
	if run.Impl == "" {
		run.Impl = before.Implementation[p.Transport.Base()]
	}
	if i, err := servers.LookupImpl(p.Transport, run.Impl); err == nil && run.Impl != "" {
		run.ImplNotes = i.Notes
	}
	// Memory per connection is growth from here: hand back what earlier runs
	// in this process freed, so the growth is this run's and not a reuse of
	// their leftovers.
	debug.FreeOSMemory()
	selfBefore := proc.Self()
	dialStart := time.Now()
	fleet, err := loadgen.StartFleet(ctx, loadgen.FleetConfig{
		Transport: p.Transport, Target: t.Stream, Clients: p.Clients, After: before.Hub.Head,
		Options: p.Client, Sources: p.Sources, ConnectRate: p.ConnectRate,
		MeasureFrom: 1<<63 - 1, // nothing flows before the schedule starts
	})
	if err != nil {
		return m, err
	}
	m.fleet = fleet
	defer fleet.Stop()
	if p.Sample > 0 {
		stop := m.sample(ctx, ctl, p.Sample)
		defer stop()
	}

	connectBy := time.Now().Add(DefaultConnect)
	if p.Shard != nil {
		connectBy = p.Shard.StartAt.Add(-ShardMargin)
	}
	cctx, cancel := context.WithDeadline(ctx, connectBy)
	if p.Await == AwaitSubscribers {
		err = awaitSubscribers(cctx, ctl, before.Hub.Subscribers+p.Clients)
	} else {
		err = fleet.WaitConnected(cctx)
	}
	cancel()
	connectTook := time.Since(dialStart)
	if err != nil {
		if p.Shard != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (shard %d/%d connected too late: start later)", ErrStartPassed, p.Shard.Index, p.Shard.Count)
		}
		// What the clients met meanwhile is the likeliest reason.
		run.Errors = fleet.Failures()
		return m, fmt.Errorf("connecting %d %s clients (failures meanwhile: %v): %w", p.Clients, p.Transport, run.Errors, err)
	}
	connected, err := ctl.Stats(ctx)
	if err != nil {
		return m, fmt.Errorf("server stats: %w", err)
	}
	runtime.GC() // the figure is what the connections hold, not garbage from dialing
	selfConnected := proc.Self()
	connectedAt := time.Now()
	run.Connections.ConnectRate = float64(p.Clients) / connectTook.Seconds()

	if p.Idle > 0 {
		a, t0 := fleet.Conns(), time.Now()
		if err := sleepCtx(ctx, p.Idle); err != nil {
			return m, err
		}
		b, took := fleet.Conns(), time.Since(t0).Seconds()
		run.Idle = &results.Idle{Seconds: took, BytesIn: b.BytesRead - a.BytesRead, BytesOut: b.BytesWritten - a.BytesWritten}
		run.Idle.BytesPerSecPerConn = float64(run.Idle.BytesIn+run.Idle.BytesOut) / took / float64(p.Clients)
	}

	// Publish. The schedule starts when the server gets the request; the
	// warm-up is measured from just before it, so it can only be longer
	// than asked. A shard knows the last event in advance: its schedule
	// has a count.
	var startAt time.Time
	var head uint64
	if sh := p.Shard; sh != nil {
		count := ScheduleCount(p.Schedule.Rate, p.Schedule.Burst, p.Warmup+p.Duration)
		head = before.Hub.Head + count
		if err := sh.start(ctx, ctl, fleet, run, before, count, p); err != nil {
			return m, err
		}
		startAt = sh.StartAt
	} else {
		startAt = time.Now()
		if p.Hold == nil {
			fleet.SetMeasureFrom(startAt.Add(p.Warmup).UnixNano())
		}
		if _, err := ctl.Start(ctx, p.Schedule); err != nil {
			return m, err
		}
	}
	hold := p.Hold
	if hold == nil {
		hold = func(ctx context.Context, f *loadgen.Fleet) error {
			return publishFor(ctx, f, startAt, p.Warmup+p.Duration, p.Progress)
		}
	}
	holdErr := hold(ctx, fleet)
	if p.Shard == nil {
		// The stop request must go out even when ctx was cancelled.
		if head, err = ctl.Stop(context.WithoutCancel(ctx)); err != nil {
			return m, errors.Join(holdErr, err)
		}
	} else if err := p.Shard.finish(ctx, ctl, head, p.Drain); err != nil {
		return m, errors.Join(holdErr, err)
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.Drain)
	caughtUpErr := fleet.WaitCaughtUp(dctx, head)
	cancel()
	behind := fleet.Behind(head)
	caughtUp := time.Now()
	after, err := ctl.Stats(context.WithoutCancel(ctx))
	if err != nil {
		return m, errors.Join(holdErr, fmt.Errorf("server stats: %w", err))
	}
	selfAfter := proc.Self()
	fleet.Stop()

	c := fleet.Counts(head)
	run.EventsPublished = head - before.Hub.Head
	run.Delivery = c.Delivery
	run.Errors = c.Errors
	// The transports' counts, not the hub's: a stream a write deadline
	// ended is as slow as one the hub cut off, and only they see it.
	if a, b := after.SlowDisconnects(), before.SlowDisconnects(); a > b {
		run.SlowDisconnects = a - b
	}
	hist := fleet.Latency().Snapshot()
	run.LatencyNS = results.LatencyOf(hist)
	if run.Histogram, err = results.EncodeHistogram(hist); err != nil {
		return m, err
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
			return m, err
		}
	}
	if c.Connects > uint64(p.Clients) && !p.Transport.Requests() {
		// A poller's connects are keep-alive connections, not streams.
		run.Connections.Reconnects = c.Connects - uint64(p.Clients)
	}
	if p.Transport.Requests() {
		run.Polls = &results.Polls{Requests: c.Polls, Empty: c.EmptyPolls, RequestsPerSec: float64(c.Polls) / elapsed}
		if c.Polls > 0 {
			run.Polls.EmptyShare = float64(c.EmptyPolls) / float64(c.Polls)
		}
	}
	run.Wire = results.Wire{BytesIn: conns.BytesRead, BytesOut: conns.BytesWritten}
	if c.Delivered > 0 {
		run.Wire.BytesPerEvent = float64(conns.BytesRead+conns.BytesWritten) / float64(c.Delivered)
	}
	window := time.Since(connectedAt)
	run.Server = usage(before.Process, connected.Process, after.Process, c.Delivered, p.Clients, window)
	run.Loadgen = usage(selfBefore, selfConnected, selfAfter, c.Delivered, p.Clients, window)
	if p.Shard != nil {
		// Other shards connected to the same server meanwhile: its growth
		// per connection is only known once merged (results.MergeRuns).
		run.Server.BytesPerConn, run.Server.HeapPerConn = 0, 0
	}
	if p.EstimateClock {
		c, err := EstimateClock(context.WithoutCancel(ctx), ctl.Base, nil)
		if err != nil {
			c = results.Clock{Method: "not estimated: " + err.Error()}
		}
		run.Clock = &c
	}
	if caughtUpErr != nil {
		late := &lateError{fmt.Sprintf("%d of %d clients did not catch up with event %d within %v: %v", behind, p.Clients, head, p.Drain, caughtUpErr)}
		if holdErr == nil {
			return m, late
		}
		return m, errors.Join(holdErr, late)
	}
	return m, holdErr
}

// lateError is clients that did not catch up within the drain: a failed
// run, except where not catching up is the finding (a fault, a buffering
// proxy).
type lateError struct{ msg string }

func (e *lateError) Error() string { return e.msg }

// swapHost is base with its host:port replaced by addr: the same server
// reached through a proxy listening at addr.
func swapHost(base, addr string) string {
	scheme, _, ok := strings.Cut(base, "://")
	if !ok {
		return addr
	}
	return scheme + "://" + addr
}

// hostPort is base's host:port.
func hostPort(base string) string {
	_, rest, ok := strings.Cut(base, "://")
	if !ok {
		rest = base
	}
	host, _, _ := strings.Cut(rest, "/")
	return host
}

// publishFor waits while the schedule publishes for d from start, telling
// progress how it goes. An ended ctx ends it early without an error: the
// run stops publishing and reports what it measured.
func publishFor(ctx context.Context, f *loadgen.Fleet, start time.Time, d time.Duration, progress func(time.Duration, uint64)) error {
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	end := time.NewTimer(time.Until(start.Add(d)))
	defer end.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-end.C:
			return nil
		case <-tick.C:
			if progress != nil {
				progress(time.Since(start), f.Delivered())
			}
		}
	}
}

// sample records the clients' and the server's timelines every interval
// until the returned stop is called, which waits for the samplers.
func (m *measured) sample(ctx context.Context, ctl Control, every time.Duration) (stop func()) {
	m.start = time.Now()
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { m.timeline = m.fleet.Timeline(sctx, every) })
	wg.Go(func() { m.server = sampleServer(sctx, ctl, m.start, every) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// sampleServer reads /stats every interval until ctx ends; a sample the
// server did not answer says it was down.
func sampleServer(ctx context.Context, ctl Control, start time.Time, every time.Duration) []results.ServerSample {
	var out []results.ServerSample
	tick := time.NewTicker(every)
	defer tick.Stop()
	ctl.Timeout = 5 * every
	for {
		st, err := ctl.Stats(ctx)
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

// awaitSubscribers waits until the server has n subscribers.
func awaitSubscribers(ctx context.Context, ctl Control, n int) error {
	for {
		st, err := ctl.Stats(ctx)
		if err != nil {
			return fmt.Errorf("server stats: %w", err)
		}
		if st.Hub.Subscribers >= n {
			return nil
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for %d subscribers, have %d: %w", n, st.Hub.Subscribers, err)
		}
	}
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
// idle, after the run, window apart) into the run's figures. Memory per
// connection is measured while the connections are idle, before any event
// flows.
func usage(before, connected, after proc.Stats, delivered uint64, clients int, window time.Duration) results.Process {
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
	if window > 0 {
		p.Cores = p.CPUSeconds / window.Seconds()
	}
	if clients > 0 && connected.RSSBytes > before.RSSBytes {
		p.BytesPerConn = float64(connected.RSSBytes-before.RSSBytes) / float64(clients)
	}
	if clients > 0 && connected.HeapBytes > before.HeapBytes {
		p.HeapPerConn = float64(connected.HeapBytes-before.HeapBytes) / float64(clients)
	}
	return p
}
