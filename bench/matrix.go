package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
	"github.com/pushbench/pushbench/scenarios"
	"github.com/pushbench/pushbench/servers"
)

// Progress hears how a matrix goes, case by case; the command line draws
// it.
type Progress interface {
	// Start announces case i of n, which publishes for about d.
	Start(i, n int, name string, d time.Duration)
	// Tick reports the time elapsed in the current case.
	Tick(elapsed time.Duration)
	// Done ends the current case with a one-line outcome.
	Done(outcome string)
}

// Options configures RunMatrix.
type Options struct {
	// Pin puts every server on CPU 0 and the load generator on the others.
	Pin bool
	// Server is what every case's server starts from (its Command, say);
	// each case adds its own settings.
	Server ServerSpec
	// Progress, if set, hears about every case.
	Progress Progress
}

// RunMatrix runs every case of m in order into one report. A saturation
// ladder stops climbing at the first rate that breaks its bound or loses an
// event; the report states the highest rate that held. A case that fails
// becomes a note and the matrix goes on; an ended ctx stops it, and what
// ran is returned with ctx's error.
func RunMatrix(ctx context.Context, name string, m scenarios.Matrix, o Options) (*results.Report, error) {
	rep := &results.Report{Env: results.CurrentEnv(), Matrix: name, Settings: Settings(o.Pin)}
	rep.Env.Pinning = Pinning(o.Pin)
	for _, s := range m {
		rep.Scenarios = append(rep.Scenarios, results.ScenarioInfo{
			Name: s.Name, Kind: s.Kind, Description: s.Description, P99BoundS: s.P99Bound.Seconds(),
		})
	}
	prog := o.Progress
	if prog == nil {
		prog = silent{}
	}
	cases := m.Cases()
	broken := map[string]string{} // ladder step → why it broke
	for i, c := range cases {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		sc := c.Scenario
		span := sc.Warmup + sc.Duration
		if sc.Kind == scenarios.Fault {
			span = sc.Fault.Span(c.Fault)
		}
		prog.Start(i+1, len(cases), c.String(), span)
		if why, ok := broken[c.Step()]; ok {
			prog.Done("skipped: a lower rate already " + why)
			continue
		}
		switch sc.Kind {
		case scenarios.PollCapacity:
			caps, err := capacityCase(ctx, c, o)
			rep.Capacity = append(rep.Capacity, caps...)
			if err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %v", c, err))
				prog.Done("failed: " + err.Error())
				continue
			}
			prog.Done(fmt.Sprintf("%d attacks", len(caps)))
		case scenarios.Fault:
			fr := faultCase(ctx, c, o)
			rep.Faults = append(rep.Faults, fr)
			outcome := fmt.Sprintf("%d of %d recovered, lost %d, duplicated %d",
				fr.Recovery.CaughtUp, fr.Recovery.Broken, fr.Delivery.Lost, fr.Delivery.Duplicates)
			if fr.Fault == scenarios.Degrade {
				outcome = fmt.Sprintf("p99 %v, %d breaks, lost %d", time.Duration(fr.LatencyNS.P99), fr.Recovery.Broken, fr.Delivery.Lost)
			}
			if fr.Error != "" {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %s", c, fr.Error))
				outcome = "failed: " + fr.Error
			}
			prog.Done(outcome)
		default:
			run, err := Run(ctx, Setup{Server: caseServer(c, o), Pin: o.Pin}, casePlan(c, prog))
			run.Scenario = sc.Name
			if err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %v", c, err))
			}
			if run.Transport != "" && run.EventsPublished > 0 {
				rep.Runs = append(rep.Runs, run)
			}
			if why := breaks(sc, run, err); why != "" && sc.Kind == scenarios.Saturation {
				broken[c.Step()] = why
			}
			outcome := fmt.Sprintf("p50 %v p99 %v, %d/%d delivered, lost %d",
				time.Duration(run.LatencyNS.P50), time.Duration(run.LatencyNS.P99), run.Delivered, run.Expected, run.Lost)
			if err != nil {
				outcome = "failed: " + err.Error()
			}
			prog.Done(outcome)
		}
	}
	return rep, nil
}

// breaks says why a run broke its scenario's bound, or "" when it held:
// it failed, lost events, or its p99 passed the bound.
func breaks(sc *scenarios.Scenario, run results.Run, err error) string {
	switch {
	case err != nil:
		return "failed"
	case run.Lost > 0 || run.GapMissed > 0:
		return "lost events"
	case sc.P99Bound > 0 && time.Duration(run.LatencyNS.P99) > sc.P99Bound:
		return fmt.Sprintf("broke the %v p99 bound", sc.P99Bound)
	}
	return ""
}

// caseServer is the server a case runs against.
func caseServer(c scenarios.Case, o Options) ServerSpec {
	spec := o.Server
	spec.Heartbeat = c.Scenario.Heartbeat
	return spec
}

// casePlan is the run a case describes.
func casePlan(c scenarios.Case, prog Progress) Plan {
	sc := c.Scenario
	return Plan{
		Load: Load{
			Transport: c.Transport, Impl: c.Impl, Clients: c.Clients,
			Schedule: contract.Schedule{Rate: c.Rate, Burst: sc.Burst, Payload: c.Payload},
			Warmup:   sc.Warmup, Duration: sc.Duration,
			Client: loadgen.Options{PollInterval: c.PollInterval, ReadBuffer: sc.ReadBuffer},
		},
		Idle:     sc.Idle,
		Progress: func(elapsed time.Duration, _ uint64) { prog.Tick(elapsed) },
	}
}

// faultCase runs one fault of a Fault scenario against one transport.
func faultCase(ctx context.Context, c scenarios.Case, o Options) results.FaultRun {
	sc, f := c.Scenario, c.Scenario.Fault
	fp := FaultPlan{
		Scenario: sc.Name, Fault: c.Fault, Jitter: c.Jitter,
		Load: Load{Transport: c.Transport, Impl: c.Impl, Clients: c.Clients,
			Schedule: contract.Schedule{Rate: c.Rate, Burst: 1, Payload: c.Payload}},
		Settings: results.FaultSettings{
			Before: f.Before, After: f.After, Downtime: f.Downtime, Length: f.Length,
			Latency: f.Latency, LatencyJitter: f.LatencyJitter, BandwidthKBs: f.BandwidthKBs, SlowClose: f.SlowClose,
			Heartbeat: sc.Heartbeat, Retry: f.Retry,
			PollInterval: c.PollInterval, SSERetry: loadgen.DefaultSSERetry,
			BackoffMin: loadgen.DefaultBackoffMin, BackoffMax: loadgen.DefaultBackoffMax, ReadTimeout: f.ReadTimeout,
		},
		Server: o.Server,
	}
	if fp.Settings.PollInterval <= 0 {
		fp.Settings.PollInterval = loadgen.DefaultPollInterval
	}
	fail := func(err error) results.FaultRun {
		return results.FaultRun{Scenario: sc.Name, Transport: c.Transport, Impl: c.Impl, Fault: c.Fault, Jitter: c.Jitter,
			Clients: c.Clients, Rate: c.Rate, Payload: c.Payload, Settings: fp.Settings, Error: err.Error()}
	}
	var err error
	if fp.Server, err = WithImpl(fp.Server, c.Transport, c.Impl); err != nil {
		return fail(err)
	}
	// Each client holds three sockets here: its own and the fault proxy's
	// two.
	if err := checkFiles(c.Clients, 3, "clients behind the in-process fault proxy"); err != nil {
		return fail(err)
	}
	cpus, err := pinSelf(o.Pin)
	if err != nil {
		return fail(err)
	}
	fp.Server.CPUs = cpus
	return RunFault(ctx, fp)
}

// capacityEvents is how many events the capacity case publishes before the
// attacks, so that a batch poll has something to answer with.
const capacityEvents = 100

// capacityCase measures the polling server's raw capacity with vegeta at
// c.Rate requests/s: once on the empty (204) path, once for a batch of ten
// events.
func capacityCase(ctx context.Context, c scenarios.Case, o Options) ([]results.Capacity, error) {
	spec := o.Server
	cpus, err := pinSelf(o.Pin)
	if err != nil {
		return nil, err
	}
	spec.CPUs = cpus
	srv, err := StartServer(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Stop(serverStopTimeout) }() // the figures are taken
	ctl := srv.Control()
	if _, err := ctl.Start(ctx, contract.Schedule{Rate: 1e6, Burst: 1, Payload: c.Payload, Count: capacityEvents}); err != nil {
		return nil, err
	}
	for {
		st, err := ctl.Stats(ctx)
		if err != nil {
			return nil, err
		}
		if st.Hub.Head >= capacityEvents {
			break
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return nil, err
		}
	}
	if _, err := ctl.Stop(ctx); err != nil {
		return nil, err
	}
	var out []results.Capacity
	for _, batch := range []uint64{0, 10} {
		cp, err := Capacity(ctx, CapacityConfig{Control: ctl, Batch: batch, Rate: c.Rate, Duration: c.Scenario.Duration})
		cp.Scenario, cp.Payload = c.Scenario.Name, c.Payload
		if err != nil {
			return out, err
		}
		out = append(out, cp)
	}
	return out, nil
}

// Settings records what shaped every run of a session, for the report's
// header.
func Settings(pin bool) results.Settings {
	s := results.Settings{
		HeartbeatS:   servers.DefaultHeartbeat.Seconds(),
		MaxLag:       servers.DefaultMaxLag,
		History:      servers.DefaultHistory,
		SSERetry:     fmt.Sprintf("server's retry: hint, %v", servers.DefaultRetry),
		WSBackoff:    fmt.Sprintf("%v doubling to %v, full jitter", loadgen.DefaultBackoffMin, loadgen.DefaultBackoffMax),
		PollInterval: "per run; the next poll follows the answer after the interval, at once when more is waiting",
		Extra: map[string]string{
			"latency":        "scheduled publish time to arrival at the client, HDR histogram, 3 significant digits",
			"processes":      "server and load generator are separate processes on one machine, one clock",
			"connect rate":   fmt.Sprintf("%d clients/s", loadgen.DefaultConnectRate),
			"client timeout": loadgen.DefaultReadTimeout.String(),
		},
	}
	if pin {
		s.ServerCPUs = "0"
		s.LoadgenCPUs = fmt.Sprintf("1-%d", runtime.NumCPU()-1)
	}
	return s
}

// silent is the Progress of a matrix nobody watches.
type silent struct{}

func (silent) Start(int, int, string, time.Duration) {}
func (silent) Tick(time.Duration)                    {}
func (silent) Done(string)                           {}
