package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/faults"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
)

// Pacing of a fault run: the timelines' resolution, and how fast clients
// connect before the fault.
const (
	SampleEvery = 100 * time.Millisecond
	// RampRate is clients connected per second before the fault: the
	// storm is the fault, not the start.
	RampRate = 500
	// recoverWithin bounds the wait for every client to recover, and then
	// to catch up; a client still waiting is a note, not a failure.
	recoverWithin = 60 * time.Second
)

// FaultPlan is one fault run: a load streamed through a fault proxy to a
// server that keeps its history in a write-ahead log, and one fault.
type FaultPlan struct {
	Scenario string
	Load
	Fault  contract.Fault
	Jitter contract.Jitter
	// Settings are the fault's timings and the clients' policies; the
	// clients' options are taken from them, and RetryJitter from Jitter.
	Settings results.FaultSettings
	// Server is the server to start; Fault runs set its address, data
	// directory, heartbeat, ping interval and retry.
	Server ServerSpec
}

// RunFault runs one fault against one transport on a fresh server process
// that keeps its history in a write-ahead log (`serve --data`), so that a
// restart resumes history and schedule: the clients connect through a fault
// proxy in this process, stream for Before, weather the fault and must then
// all catch up. A failure becomes the run's Error, and the figures gathered
// until then stay.
func RunFault(ctx context.Context, fp FaultPlan) results.FaultRun {
	fp.Settings.RetryJitter = fp.Jitter != contract.NoJitter
	fr := results.FaultRun{
		Scenario: fp.Scenario, Transport: fp.Transport, Impl: fp.Impl, Fault: fp.Fault, Jitter: fp.Jitter,
		Clients: fp.Clients, Rate: fp.Schedule.Rate, Payload: fp.Schedule.Payload, Settings: fp.Settings,
	}
	if fr.Jitter == "" {
		fr.Jitter = contract.FullJitter
	}
	if err := runFault(ctx, fp, &fr); err != nil {
		fr.Error = err.Error()
	}
	return fr
}

func runFault(ctx context.Context, fp FaultPlan, fr *results.FaultRun) (err error) {
	if !slices.Contains(contract.Faults, fp.Fault) {
		return fmt.Errorf("unknown fault %q (want one of %s)", fp.Fault, contract.Names(contract.Faults))
	}
	set := fr.Settings
	// The server listens on the same ports across a restart, and resumes
	// its history and schedule from its data directory, as a restarted
	// production server would.
	spec := fp.Server
	if spec.Addr, err = FreeLoopback(); err != nil {
		return err
	}
	if spec.TCPAddr, err = FreeLoopback(); err != nil {
		return err
	}
	if spec.Data, err = os.MkdirTemp("", "pushbench-faults-"); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(spec.Data)) }()
	spec.Heartbeat, spec.PingInterval, spec.Retry, spec.RetryJitter = set.Heartbeat, set.Heartbeat, set.Retry, set.RetryJitter
	spec.Payload = fp.Schedule.Payload

	var mu sync.Mutex // guards srv: the fault replaces it
	srv, err := StartServer(ctx, spec)
	if err != nil {
		return err
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if srv != nil {
			if serr := srv.Stop(15 * time.Second); serr != nil {
				err = errors.Join(err, fmt.Errorf("stop server: %w", serr))
			}
		}
	}()
	upstream := srv.URL
	if fp.Transport == contract.TCP {
		upstream = srv.TCP
	}
	px, err := faults.Listen(hostPort(upstream))
	if err != nil {
		return err
	}
	defer px.Close()

	p := Plan{
		Load:   fp.Load,
		Sample: SampleEvery,
		Drain:  recoverWithin,
	}
	p.ConnectRate = RampRate
	p.Client.PollInterval, p.Client.SSERetry = set.PollInterval, set.SSERetry
	p.Client.BackoffMin, p.Client.BackoffMax = set.BackoffMin, set.BackoffMax
	p.Client.ReadTimeout, p.Client.Jitter = set.ReadTimeout, fp.Jitter
	var faultAt time.Time
	f := faulter{fp: fp, fr: fr, px: px, restart: func(kill bool) error {
		mu.Lock()
		old := srv
		srv = nil
		mu.Unlock()
		if kill {
			old.Kill()
		} else if serr := old.Stop(10 * time.Second); serr != nil {
			fr.Notes = append(fr.Notes, "graceful stop: "+serr.Error())
		}
		if err := sleepCtx(ctx, set.Downtime); err != nil {
			return err
		}
		next, err := old.Restart(ctx)
		if err != nil {
			return fmt.Errorf("restart: %w", err)
		}
		mu.Lock()
		srv = next
		mu.Unlock()
		// The server resumes its schedule from its data; should it not,
		// the schedule is started again.
		if _, err := next.Control().Start(ctx, fp.Schedule); err != nil && !errors.Is(err, contract.ErrRunning) {
			return fmt.Errorf("restart schedule: %w", err)
		}
		return nil
	}}
	p.Hold = func(ctx context.Context, fleet *loadgen.Fleet) error {
		at, err := f.hold(ctx, fleet)
		faultAt = at
		return err
	}
	m, err := measure(ctx, Target{Stream: swapHost(upstream, px.Addr()), Control: srv.Control()}, p)
	fr.Delivery, fr.LatencyNS, fr.Library = m.Delivery, m.LatencyNS, m.Library
	if fr.Impl == "" {
		fr.Impl = m.Impl
	}
	fr.Timeline, fr.Server = m.timeline, m.server
	if !faultAt.IsZero() {
		fr.FaultAt = faultAt.Sub(m.start).Milliseconds()
		fr.Recovery = m.fleet.Recover(faultAt, faultAt, time.Now())
	}
	if errs := m.fleet.Errors(); len(errs) > 0 {
		fr.Notes = append(fr.Notes, fmt.Sprintf("%d clients gave up, first: %v", len(errs), errs[0]))
	}
	// Clients that did not catch up are a finding of the run, not a
	// failure of it.
	var late *lateError
	if errors.As(err, &late) {
		fr.Notes = append(fr.Notes, late.Error())
		if err == error(late) {
			err = nil
		}
	}
	return err
}

// faulter is the fault half of a fault run: it holds the stream while it
// breaks it and lets it heal.
type faulter struct {
	fp      FaultPlan
	fr      *results.FaultRun
	px      *faults.Proxy
	restart func(kill bool) error
}

// hold waits for every client to stream, measures latency from then on,
// streams for Before, strikes, waits for every client to recover and streams
// for After. It returns when the fault struck.
func (f *faulter) hold(ctx context.Context, fleet *loadgen.Fleet) (time.Time, error) {
	set := f.fr.Settings
	ramp := time.Duration(float64(f.fp.Clients) / RampRate * float64(time.Second))
	sctx, cancel := context.WithTimeout(ctx, ramp+30*time.Second)
	err := fleet.Await(sctx, func(t *loadgen.Tracker) bool { return t.Up() && t.Delivered() > 0 })
	cancel()
	if err != nil {
		return time.Time{}, fmt.Errorf("clients did not start streaming: %w", err)
	}
	// Latency counts from here: the ramp's replay from the first event is
	// not a figure.
	fleet.SetMeasureFrom(time.Now().UnixNano())
	if err := sleepCtx(ctx, set.Before); err != nil {
		return time.Time{}, err
	}
	at := time.Now()
	if err := f.strike(ctx); err != nil {
		return at, err
	}
	if f.fp.Fault.Breaks() {
		rctx, cancel := context.WithTimeout(ctx, recoverWithin)
		err := fleet.Await(rctx, func(t *loadgen.Tracker) bool { return t.Recovered() > 0 })
		cancel()
		if err != nil && ctx.Err() == nil {
			f.fr.Notes = append(f.fr.Notes, fmt.Sprintf("not every client recovered within %v", recoverWithin))
		}
	}
	return at, sleepCtx(ctx, set.After)
}

// strike does the fault and, for one that lasts, waits it out and heals it.
func (f *faulter) strike(ctx context.Context) error {
	set := f.fr.Settings
	switch f.fp.Fault {
	case contract.Crash:
		return f.restart(true)
	case contract.Graceful:
		return f.restart(false)
	case contract.SlowClose:
		heal, err := f.px.SlowClose(set.SlowClose)
		if err != nil {
			return err
		}
		return errors.Join(f.restart(false), heal())
	case contract.Reset:
		return f.px.ResetAll(ctx, set.Downtime)
	case contract.Storm:
		return f.px.ResetAll(ctx, 0) // every client back at once: the storm
	case contract.Partition, contract.Degrade:
		var heal faults.Heal
		var err error
		if f.fp.Fault == contract.Partition {
			heal, err = f.px.Partition()
		} else {
			heal, err = f.px.Degrade(set.Latency, set.LatencyJitter, set.BandwidthKBs)
		}
		if err != nil {
			return err
		}
		return errors.Join(sleepCtx(ctx, set.Length), heal())
	}
	return nil
}
