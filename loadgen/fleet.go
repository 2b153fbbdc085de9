package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// DefaultConnectRate is how many clients a fleet starts per second. Starting
// thousands at the same instant overflows the server's accept backlog and turns
// a benchmark of the transport into one of SYN retransmits.
const DefaultConnectRate = 2000

// paceTick is how often a fleet starts the clients that are due: a few at
// a time at DefaultConnectRate.
const paceTick = 2 * time.Millisecond

// FleetConfig describes a fleet of clients.
type FleetConfig struct {
	// Transport is what the clients speak.
	Transport contract.Transport
	// Target is the server's base URL, e.g. http://127.0.0.1:8080.
	Target string
	// Clients is how many concurrent clients to run.
	Clients int
	// After is the cursor every client starts from.
	After uint64
	// Options configures every client. Its Dial, if set, opens the
	// connections underneath the fleet's counting Dialer.
	Options Options
	// Sources are local addresses connections rotate over (see Dialer).
	Sources []net.IP
	// ConnectRate is clients started per second. Defaults to
	// DefaultConnectRate.
	ConnectRate int
	// MeasureFrom, if set, excludes events scheduled before it (Unix ns)
	// from the latency histogram: they are warm-up. They are still
	// accounted for delivery.
	MeasureFrom int64
}

// Fleet is many clients of one transport, started together and stopped
// together. The fleet owns their goroutines and waits for them in Stop.
type Fleet struct {
	cfg      FleetConfig
	dialer   *Dialer
	lat      *Latency
	trackers []*Tracker

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error // one per client that gave up
}

// StartFleet starts cfg.Clients clients at cfg.ConnectRate. It returns once
// every client has been started; use WaitConnected to wait for their streams.
func StartFleet(ctx context.Context, cfg FleetConfig) (*Fleet, error) {
	if cfg.Clients <= 0 {
		return nil, fmt.Errorf("loadgen: fleet needs at least one client, got %d", cfg.Clients)
	}
	if cfg.ConnectRate <= 0 {
		cfg.ConnectRate = DefaultConnectRate
	}
	f := &Fleet{cfg: cfg, dialer: NewDialer(cfg.Sources...), lat: NewLatency()}
	opts := cfg.Options
	f.dialer.Base = opts.Dial
	opts.Dial = f.dialer.DialContext
	clients := make([]Client, cfg.Clients)
	for i := range clients {
		t := NewTracker(cfg.After, f.lat, i)
		t.measureFrom.Store(cfg.MeasureFrom)
		c, err := New(cfg.Transport, cfg.Target, t, &opts)
		if err != nil {
			return nil, err
		}
		clients[i], f.trackers = c, append(f.trackers, t)
	}
	ctx, f.cancel = context.WithCancel(ctx)
	// Start every client that is due by now on each tick. A ticker at the
	// rate itself (500 µs at 2,000/s) drops ticks whenever this goroutine
	// is late, and the fleet would connect slower than asked.
	pace := time.NewTicker(paceTick)
	defer pace.Stop()
	begin := time.Now()
	for i := 0; i < len(clients); {
		due := min(len(clients), 1+int(time.Since(begin).Seconds()*float64(cfg.ConnectRate)))
		for ; i < due; i++ {
			c, n := clients[i], i
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				if err := c.Run(ctx); err != nil {
					f.mu.Lock()
					f.errs = append(f.errs, fmt.Errorf("client %d: %w", n, err))
					f.mu.Unlock()
				}
			}()
		}
		if i == len(clients) {
			break
		}
		select {
		case <-pace.C:
		case <-ctx.Done():
			f.Stop()
			return nil, ctx.Err()
		}
	}
	return f, nil
}

// ErrClientsGaveUp is returned by the wait methods when clients stopped for
// good (their errors are in Errors).
var ErrClientsGaveUp = errors.New("loadgen: clients gave up")

// poll calls done every few milliseconds until it is true, ctx ends or a
// client gives up.
func (f *Fleet) poll(ctx context.Context, done func() bool) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		if errs := f.Errors(); len(errs) > 0 {
			return fmt.Errorf("%w: %d, first: %w", ErrClientsGaveUp, len(errs), errs[0])
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// WaitConnected waits until every client has connected at least once.
func (f *Fleet) WaitConnected(ctx context.Context) error {
	return f.poll(ctx, func() bool {
		for _, t := range f.trackers {
			if t.connects.Load() == 0 {
				return false
			}
		}
		return true
	})
}

// WaitCaughtUp waits until every client's cursor has reached head.
func (f *Fleet) WaitCaughtUp(ctx context.Context, head uint64) error {
	return f.poll(ctx, func() bool { return f.Behind(head) == 0 })
}

// Behind is how many clients have not yet reached head.
func (f *Fleet) Behind(head uint64) int {
	n := 0
	for _, t := range f.trackers {
		if t.Cursor() < head {
			n++
		}
	}
	return n
}

// SetMeasureFrom excludes events scheduled before ns (Unix) from the latency
// histogram from now on; see FleetConfig.MeasureFrom.
func (f *Fleet) SetMeasureFrom(ns int64) {
	for _, t := range f.trackers {
		t.measureFrom.Store(ns)
	}
}

// Delivered is the number of distinct events delivered so far, all clients.
func (f *Fleet) Delivered() uint64 {
	var n uint64
	for _, t := range f.trackers {
		n += t.Delivered()
	}
	return n
}

// Stop stops every client and waits for them. It is safe to call twice.
func (f *Fleet) Stop() {
	f.cancel()
	f.wg.Wait()
}

// Errors returns the errors of clients that gave up.
func (f *Fleet) Errors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// Counts sums every client's account against head, the last event published.
// Call it after Stop.
func (f *Fleet) Counts(head uint64) Counts {
	var c Counts
	for _, t := range f.trackers {
		c = c.Add(t.Counts(head))
	}
	return c
}

// Failures sums the clients' failures by kind (Counts.Errors). Unlike
// Counts it may be called while the clients run.
func (f *Fleet) Failures() results.Errors {
	var e results.Errors
	for _, t := range f.trackers {
		e = e.Add(t.failed.errors())
	}
	return e
}

// Latency is the fleet's merged latency recorder.
func (f *Fleet) Latency() *Latency { return f.lat }

// Conns is the fleet's connection and byte counters.
func (f *Fleet) Conns() ConnStats { return f.dialer.Stats() }

// Await waits until ok holds for every client, ctx ends or a client gives
// up.
func (f *Fleet) Await(ctx context.Context, ok func(*Tracker) bool) error {
	return f.poll(ctx, func() bool {
		for _, t := range f.trackers {
			if !ok(t) {
				return false
			}
		}
		return true
	})
}

// Waiting is how many clients ok does not hold for yet.
func (f *Fleet) Waiting(ok func(*Tracker) bool) int {
	n := 0
	for _, t := range f.trackers {
		if !ok(t) {
			n++
		}
	}
	return n
}

// Timeline samples the fleet's clients every interval until ctx ends (see
// Timeline).
func (f *Fleet) Timeline(ctx context.Context, every time.Duration) []results.Sample {
	return Timeline(ctx, f.trackers, every)
}

// Recover summarises the clients' recovery from a fault (see Recover).
// Call it after Stop.
func (f *Fleet) Recover(fault, from, to time.Time) results.Recovery {
	return Recover(f.trackers, fault, from, to)
}
