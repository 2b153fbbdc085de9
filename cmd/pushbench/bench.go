package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/pushbench/pushbench/faults"
	"github.com/pushbench/pushbench/internal/proc"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
	"github.com/pushbench/pushbench/scenarios"
	"github.com/pushbench/pushbench/servers"
)

func init() {
	commands["bench"] = command{"run a scenario matrix and write results.json, report.md and plots", benchCmd}
}

func benchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	matrix := fs.String("matrix", "default", "scenario matrix: default, quick, scale or faults (see scenarios/matrix.go)")
	only := fs.String("scenarios", "", "comma-separated scenario names to run (default: all in the matrix)")
	out := fs.String("out", "", "output directory (default: results/<UTC time>)")
	pin := fs.Bool("pin", runtime.NumCPU() >= 2, "pin the server to CPU 0 and the load generator to the other CPUs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := scenarios.Lookup(*matrix)
	if err != nil {
		return err
	}
	if *only != "" {
		if m, err = m.Select(strings.Split(*only, ",")); err != nil {
			return err
		}
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("results", time.Now().UTC().Format("20060102-150405"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	rep := &results.Report{Env: results.CurrentEnv(), Matrix: *matrix, Settings: settings(*pin)}
	rep.Env.Pinning = (&localFlags{pin: *pin}).pinning()
	for _, s := range m {
		rep.Scenarios = append(rep.Scenarios, results.ScenarioInfo{
			Name: s.Name, Kind: s.Kind, Description: s.Description, P99BoundS: s.P99Bound.Seconds(),
		})
	}
	cases := m.Cases()
	prog := newProgress(os.Stderr, len(cases))
	runErr := runCases(ctx, cases, *pin, rep, prog)
	prog.close()

	// Whatever ran is saved and rendered, even after an interruption.
	if len(rep.Runs) == 0 && len(rep.Capacity) == 0 && len(rep.Faults) == 0 {
		return errors.Join(runErr, errors.New("no run completed"))
	}
	if err := rep.Save(dir); err != nil {
		return errors.Join(runErr, err)
	}
	secs, err := sections(dir)
	if err != nil {
		return errors.Join(runErr, err)
	}
	if err := results.WriteDir(dir, rep, secs...); err != nil {
		return errors.Join(runErr, err)
	}
	if err := results.NewTextReport(rep)(os.Stdout); err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Printf("\nwrote %s and %s\n", filepath.Join(dir, results.FileName), filepath.Join(dir, results.ReportName))
	return runErr
}

// settings records what shaped every run, for the report's header.
func settings(pin bool) results.Settings {
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

// runCases runs every case in order into rep. A saturation ladder stops
// climbing at the first rate that breaks its bound or loses an event; the
// report states the highest rate that held.
func runCases(ctx context.Context, cases []scenarios.Case, pin bool, rep *results.Report, prog progress) error {
	broken := map[string]string{} // ladder step → why it broke
	for i, c := range cases {
		if err := ctx.Err(); err != nil {
			return err
		}
		sc := c.Scenario
		span := sc.Warmup + sc.Duration
		if sc.Kind == scenarios.Fault {
			span = sc.Fault.Span(c.Fault)
		}
		prog.start(i+1, len(cases), c.String(), span)
		if why, ok := broken[c.Step()]; ok {
			prog.done("skipped: a lower rate already " + why)
			continue
		}
		if sc.Kind == scenarios.PollCapacity {
			caps, err := capacityCase(ctx, c, pin)
			rep.Capacity = append(rep.Capacity, caps...)
			if err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %v", c, err))
				prog.done("failed: " + err.Error())
				continue
			}
			prog.done(fmt.Sprintf("%d attacks", len(caps)))
			continue
		}
		if sc.Kind == scenarios.Fault {
			fr := faultCase(ctx, c, pin)
			rep.Faults = append(rep.Faults, fr)
			outcome := fmt.Sprintf("%d of %d recovered, lost %d, duplicated %d",
				fr.Recovery.CaughtUp, fr.Recovery.Broken, fr.Delivery.Lost, fr.Delivery.Duplicates)
			if fr.Fault == scenarios.Degrade {
				outcome = fmt.Sprintf("p99 %s, %d breaks, lost %d", results.FormatNS(fr.Latency.P99*1e6), fr.Recovery.Broken, fr.Delivery.Lost)
			}
			if fr.Error != "" {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %s", c, fr.Error))
				outcome = "failed: " + fr.Error
			}
			prog.done(outcome)
			continue
		}
		f := runFlags{
			transport:    c.Transport,
			clients:      c.Clients,
			rate:         c.Rate,
			burst:        sc.Burst,
			payload:      c.Payload,
			duration:     sc.Duration,
			warmup:       sc.Warmup,
			pollInterval: c.PollInterval,
			idle:         sc.Idle,
			readBuffer:   sc.ReadBuffer,
			local:        localFlags{pin: pin, heartbeat: sc.Heartbeat},
			progress:     prog.tick,
		}
		run, err := runOnce(ctx, f)
		run.Scenario = sc.Name
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %v", c, err))
		}
		if run.Transport != "" && run.EventsPublished > 0 {
			rep.Runs = append(rep.Runs, run)
		}
		if sc.Kind == scenarios.Saturation {
			switch {
			case err != nil:
				broken[c.Step()] = "failed"
			case run.Lost > 0 || run.GapMissed > 0:
				broken[c.Step()] = "lost events"
			case time.Duration(run.LatencyNS.P99) > sc.P99Bound:
				broken[c.Step()] = fmt.Sprintf("broke the %v p99 bound", sc.P99Bound)
			}
		}
		outcome := fmt.Sprintf("p50 %s p99 %s, %s/%s delivered, lost %d",
			results.FormatNS(float64(run.LatencyNS.P50)), results.FormatNS(float64(run.LatencyNS.P99)),
			results.FormatCount(run.EventsDelivered), results.FormatCount(run.EventsExpected), run.Lost)
		if err != nil {
			outcome = "failed: " + err.Error()
		}
		prog.done(outcome)
	}
	return nil
}

// faultCase runs one fault of a Fault scenario against one transport, the
// server a separate process (pinned to CPU 0 when pin is set) and the
// clients and fault proxy in this one.
func faultCase(ctx context.Context, c scenarios.Case, pin bool) results.FaultRun {
	sc, f := c.Scenario, c.Scenario.Fault
	cfg := faults.Config{
		Scenario: sc.Name, Transport: c.Transport, Fault: c.Fault, Jitter: loadgen.Jitter(c.Jitter),
		Clients: c.Clients, Rate: c.Rate, Payload: c.Payload,
		Settings: results.FaultSettings{
			Before: f.Before, After: f.After, Downtime: f.Downtime, Length: f.Length,
			Latency: f.Latency, LatencyJitter: f.LatencyJitter, BandwidthKBs: f.BandwidthKBs, SlowClose: f.SlowClose,
			Heartbeat: sc.Heartbeat, Retry: f.Retry,
			PollInterval: c.PollInterval, SSERetry: loadgen.DefaultSSERetry,
			BackoffMin: loadgen.DefaultBackoffMin, BackoffMax: loadgen.DefaultBackoffMax, ReadTimeout: f.ReadTimeout,
		},
	}
	if cfg.Settings.PollInterval <= 0 {
		cfg.Settings.PollInterval = loadgen.DefaultPollInterval
	}
	fail := func(err error) results.FaultRun {
		return results.FaultRun{Scenario: sc.Name, Transport: c.Transport, Fault: c.Fault, Jitter: c.Jitter,
			Clients: c.Clients, Rate: c.Rate, Payload: c.Payload, Settings: cfg.Settings, Error: err.Error()}
	}
	// Each client holds three sockets here: its own and the proxy's two.
	limit, err := proc.RaiseFileLimit()
	if err != nil {
		return fail(fmt.Errorf("open-file limit: %w", err))
	}
	if need := 3*uint64(c.Clients) + fileReserve; need > limit {
		return fail(fmt.Errorf("%d clients behind the in-process fault proxy need %d open files (3 sockets each) but this process may hold %d (RLIMIT_NOFILE hard limit)",
			c.Clients, need, limit))
	}
	if cfg.Bin, err = os.Executable(); err != nil {
		return fail(err)
	}
	l := localFlags{pin: pin}
	if cfg.ServerArgs, err = l.pinArgs(); err != nil {
		return fail(err)
	}
	// Toxiproxy's toxics log through zerolog's global logger, at trace
	// level: this command's output is its report.
	zerolog.SetGlobalLevel(zerolog.Disabled)
	return faults.Run(ctx, cfg)
}

// capacityEvents is how many events the capacity case publishes before the
// attacks, so a batch poll has something to answer with.
const capacityEvents = 100

// capacityCase measures the polling server's raw capacity with vegeta at
// c.Rate requests/s: once on the empty (204) path, once for a batch of ten
// events.
func capacityCase(ctx context.Context, c scenarios.Case, pin bool) ([]results.Capacity, error) {
	l := localFlags{pin: pin}
	srv, err := l.start(ctx)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	ctl := loadgen.Control{Base: srv.http}
	if err := ctl.Start(ctx, 1e6, 1, c.Payload, capacityEvents); err != nil {
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
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := ctl.Stop(ctx); err != nil {
		return nil, err
	}
	var out []results.Capacity
	for _, batch := range []uint64{0, 10} {
		cp, err := loadgen.Capacity(ctx, loadgen.CapacityConfig{
			Control: srv.http, Batch: batch, Rate: c.Rate, Duration: c.Scenario.Duration,
		})
		cp.Scenario, cp.Payload = c.Scenario.Name, c.Payload
		if err != nil {
			return out, err
		}
		out = append(out, cp)
	}
	return out, nil
}
