package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
)

// Errors MeasureEndpoint ends a run with. Either comes with the figures
// measured until then.
var (
	// ErrAllGaveUp is a run whose every client stopped for good, as a
	// browser's would: nothing was left to measure, so it ended early.
	ErrAllGaveUp = errors.New("every client gave up")
	// ErrNothingReceived is a run in which no client received a single
	// message and connections failed: the endpoint is not serving.
	ErrNothingReceived = errors.New("no message received")
)

// EndpointPlan is a run against an endpoint that knows nothing of
// pushbench: clients started evenly over Ramp, then held for Duration. The
// endpoint has no /stats and no /control, so nothing about the server is
// measured and nothing tells it to start or stop: the clients take what it
// sends.
type EndpointPlan struct {
	loadgen.EndpointConfig
	// Clients is how many clients to run; at least one.
	Clients int
	// Ramp is the time the clients are started over, client i at
	// Ramp·i/Clients. Zero starts them at loadgen.DefaultConnectRate, as a
	// fleet is started.
	Ramp time.Duration
	// Duration is how long every client is held once the last started.
	Duration time.Duration
	// Count, if set, ends the run early once the clients have received
	// that many messages in all (checked with Progress, every 100 ms).
	Count uint64
	// Progress, if set, is told about every 100 ms how long the run has
	// gone (ramp included) and how many messages the clients received.
	Progress func(elapsed time.Duration, received uint64)
}

// MeasureEndpoint makes one run of p: it starts the clients over the ramp,
// holds them for the duration (or until they have received Count
// messages), stops them, and returns what they measured
// (see results.LoadRun). A run whose every client gives up ends at once
// with ErrAllGaveUp; one that received nothing while connections failed
// ends with ErrNothingReceived. An ended ctx ends it early without an
// error: the figures so far are returned. Clients that give up while
// others run are counted in the result.
func MeasureEndpoint(ctx context.Context, p EndpointPlan) (results.LoadRun, error) {
	if p.Clients <= 0 {
		return results.LoadRun{}, fmt.Errorf("load needs at least one client, got %d", p.Clients)
	}
	if p.Duration < 0 || p.Ramp < 0 {
		return results.LoadRun{}, fmt.Errorf("bad ramp %v or duration %v: want >= 0", p.Ramp, p.Duration)
	}
	ep, err := loadgen.NewEndpoint(p.EndpointConfig)
	if err != nil {
		return results.LoadRun{}, err
	}
	ramp := p.Ramp
	if ramp == 0 {
		ramp = time.Duration(p.Clients) * time.Second / loadgen.DefaultConnectRate
	}
	clients := make([]loadgen.Client, p.Clients)
	for i := range clients {
		clients[i] = ep.NewClient()
	}

	l := &loadRun{all: p.Clients, done: make(chan struct{})}
	cctx, stop := context.WithCancel(ctx)
	defer func() {
		stop()
		l.wg.Wait()
	}()
	begin := time.Now()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	// progress reports, and says whether the run has received its count.
	progress := func() bool {
		received := ep.Received()
		if p.Progress != nil {
			p.Progress(time.Since(begin), received)
		}
		return p.Count > 0 && received >= p.Count
	}

	// Start the clients that are due on each pace tick, and report
	// progress on each progress tick.
	pace := time.NewTicker(paceTick)
	started := 0
	for started < len(clients) && cctx.Err() == nil {
		due := len(clients)
		if ramp > 0 {
			// Client i is due at Ramp·i/Clients.
			due = min(len(clients), 1+int(time.Since(begin)*time.Duration(len(clients))/ramp))
		}
		for ; started < due; started++ {
			l.start(cctx, clients[started])
		}
		if started == len(clients) {
			break
		}
		select {
		case <-cctx.Done():
		case <-pace.C:
		case <-tick.C:
			if progress() {
				stop()
			}
		}
	}
	pace.Stop()

	holdFrom, receivedAtHold := time.Now(), ep.Received()
	end := time.NewTimer(p.Duration)
	defer end.Stop()
hold:
	for cctx.Err() == nil {
		select {
		case <-cctx.Done():
		case <-l.done:
			break hold
		case <-end.C:
			break hold
		case <-tick.C:
			if progress() {
				break hold
			}
		}
	}
	held := time.Since(holdFrom)
	progress()
	stop()
	l.wg.Wait()

	s := ep.Stats()
	run, err := loadResult(p, ramp, held, s)
	if err != nil {
		return run, err
	}
	if held > 0 {
		run.EventsPerSec = float64(s.Received-receivedAtHold) / held.Seconds()
	}
	l.mu.Lock()
	run.GaveUp = l.gaveUp
	if l.first != nil {
		run.GaveUpError = l.first.Error()
	}
	l.mu.Unlock()
	switch {
	case run.GaveUp == p.Clients:
		return run, fmt.Errorf("%w (%d of %d; errors: %v): first: %w", ErrAllGaveUp, run.GaveUp, p.Clients, run.Errors, l.first)
	case s.Received == 0 && run.Errors.Total() > 0:
		return run, fmt.Errorf("%w in %v from %d clients; errors: %v", ErrNothingReceived, time.Since(begin).Round(time.Millisecond), p.Clients, run.Errors)
	}
	return run, nil
}

// paceTick is how often a ramp starts the clients that are due.
const paceTick = 2 * time.Millisecond

// loadRun is the clients' goroutines and the ones that gave up.
type loadRun struct {
	wg     sync.WaitGroup
	all    int
	done   chan struct{}
	mu     sync.Mutex
	gaveUp int
	first  error
}

// start runs c on a goroutine of its own; whoever started the run waits
// for it. done closes when every client has given up.
func (l *loadRun) start(ctx context.Context, c loadgen.Client) {
	l.wg.Go(func() {
		err := c.Run(ctx)
		if err == nil {
			return
		}
		l.mu.Lock()
		l.gaveUp++
		if l.first == nil {
			l.first = err
		}
		all := l.gaveUp == l.all
		l.mu.Unlock()
		if all {
			close(l.done)
		}
	})
}

// loadResult turns what the clients measured into the run's figures.
func loadResult(p EndpointPlan, ramp, held time.Duration, s loadgen.EndpointStats) (results.LoadRun, error) {
	run := results.LoadRun{
		URL:             RedactURL(p.URL),
		Transport:       p.Transport,
		Clients:         p.Clients,
		RampS:           ramp.Seconds(),
		DurationS:       held.Seconds(),
		EventsReceived:  s.Received,
		EventsPerClient: results.MinMax{Min: s.MinPerClient, Max: s.MaxPerClient},
		FirstEventNS:    results.LatencyOf(s.FirstEvent),
		InterArrivalNS:  results.LatencyOf(s.InterArrival),
		Bytes:           results.LoadBytes{In: s.Conns.BytesRead, Out: s.Conns.BytesWritten},
		Connections: results.LoadConnections{
			Attempted: s.Conns.Attempted, Established: s.Conns.Established,
			Failed: s.Conns.Failed, PeakConcurrent: s.Conns.Peak,
		},
		Reconnects: s.Reconnects,
		Errors:     s.Errors,
	}
	if s.Conns.Connect != nil {
		run.ConnectNS = results.LatencyOf(s.Conns.Connect)
	}
	if s.Latency != nil {
		sl := &results.StampLatency{
			Latency:    results.LatencyOf(s.Latency),
			Field:      p.StampField,
			Missing:    s.StampMissing,
			Negative:   s.StampNegative,
			AheadMaxNS: s.StampAheadNS,
			Clock:      results.ClockNote,
		}
		if s.StampUnit != loadgen.StampAuto {
			sl.Unit, sl.UnitFrom = s.StampUnit.String(), "given"
			if s.StampDetected {
				sl.UnitFrom = "detected"
			}
		}
		if s.StampNegative > 0 {
			sl.Clock += results.ClockNoteNegative
		}
		run.LatencyNS = sl
	}
	for _, h := range []struct {
		dst *string
		h   *hdrhistogram.Histogram
	}{
		{&run.Histograms.Connect, s.Conns.Connect}, {&run.Histograms.FirstEvent, s.FirstEvent},
		{&run.Histograms.InterArrival, s.InterArrival}, {&run.Histograms.Latency, s.Latency},
	} {
		if h.h == nil || h.h.TotalCount() == 0 {
			continue
		}
		enc, err := results.EncodeHistogram(h.h)
		if err != nil {
			return run, err
		}
		*h.dst = enc
	}
	return run, nil
}

// RedactURL is u with any password replaced, as results.json and a
// progress line may be shared.
func RedactURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	return pu.Redacted()
}

// NewEndpointPlan starts a plan for rawURL: it checks the URL, takes the
// transport from its scheme when transport is empty (ws for ws:// and
// wss://, else sse), and reads the timestamp unit (loadgen.ParseStampUnit),
// which needs a stampField. The caller sets the rest.
func NewEndpointPlan(rawURL, transport, stampField, stampUnit string) (EndpointPlan, error) {
	var p EndpointPlan
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return p, fmt.Errorf("bad URL %q: want http(s):// or ws(s)://", rawURL)
	}
	t := contract.Transport(transport)
	if t == "" {
		t = contract.SSE
		if u.Scheme == "ws" || u.Scheme == "wss" {
			t = contract.WS
		}
	}
	if t != contract.SSE && t != contract.WS {
		return p, fmt.Errorf("%w %q (want sse or ws)", loadgen.ErrUnknownTransport, transport)
	}
	unit, err := loadgen.ParseStampUnit(stampUnit)
	if err != nil {
		return p, err
	}
	if stampField == "" && unit != loadgen.StampAuto {
		return p, errors.New("a timestamp unit without a timestamp field: name the field that holds the send time")
	}
	p.URL, p.Transport, p.StampField, p.StampUnit = rawURL, t, stampField, unit
	return p, nil
}

// LoadReport is the report of run, measured by p: the machine, the
// clients' settings (the names of the headers sent, never their values)
// and runErr, if any, as a note.
func LoadReport(run results.LoadRun, p EndpointPlan, runErr error) *results.Report {
	o := p.Options.WithDefaults()
	rep := &results.Report{
		Env: results.CurrentEnv(),
		Settings: results.Settings{
			SSERetry:  o.SSERetry.String() + " until the stream sends retry:",
			WSBackoff: fmt.Sprintf("%v–%v exponential, %s", o.BackoffMin, o.BackoffMax, o.Jitter),
			Extra:     map[string]string{"read timeout": o.ReadTimeout.String()},
		},
		Loads: []results.LoadRun{run},
	}
	rep.Env.Pinning = "not pinned (load: the endpoint runs on its own)"
	if len(p.Header) > 0 {
		rep.Settings.Extra["headers sent"] = strings.Join(slices.Sorted(maps.Keys(p.Header)), ", ")
	}
	if runErr != nil {
		rep.Notes = append(rep.Notes, runErr.Error())
	}
	return rep
}
