package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
)

func init() {
	commands["run"] = command{"drive N clients of one transport and report", runCmd}
}

// runFlags are the flags shared by run and bench: what the server and the
// clients are told.
type runFlags struct {
	transport    string
	clients      int
	rate         float64
	burst        int
	payload      int
	duration     time.Duration
	warmup       time.Duration
	pollInterval time.Duration
	target       string
	jsonFile     string
	local        localFlags
	// progress, if set, is told the time elapsed while publishing.
	progress func(elapsed time.Duration)
}

func runCmd(ctx context.Context, args []string) error {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&f.transport, "transport", loadgen.SSE, "transport: poll, sse, ws or tcp (the plain-TCP floor)")
	fs.IntVar(&f.clients, "clients", 100, "concurrent clients")
	fs.Float64Var(&f.rate, "rate", 10, "events published per second")
	fs.IntVar(&f.burst, "burst", 1, "events sharing each scheduled instant")
	fs.IntVar(&f.payload, "payload", 64, "event data size in bytes")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured publishing time")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "publishing time before measuring (delivery is still checked)")
	fs.DurationVar(&f.pollInterval, "poll-interval", loadgen.DefaultPollInterval, "polling clients' pause between polls")
	fs.StringVar(&f.target, "target", "", "base URL of a running 'pushbench serve --wait-start' (default: start one as a separate process)")
	fs.StringVar(&f.jsonFile, "json", "", "write the run's figures to this JSON file")
	f.local.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	run, err := runOnce(ctx, f)
	if run.Transport != "" {
		if werr := results.WriteTable(os.Stdout, []results.Run{run}); werr != nil && err == nil {
			err = werr
		}
		if f.jsonFile != "" {
			b, jerr := json.MarshalIndent(run, "", "  ")
			if jerr == nil {
				jerr = os.WriteFile(f.jsonFile, append(b, '\n'), 0o644)
			}
			if jerr != nil && err == nil {
				err = jerr
			}
		}
	}
	return err
}

// runOnce makes one measured run, starting a local server process unless
// f.target names one.
func runOnce(ctx context.Context, f runFlags) (results.Run, error) {
	if err := checkFit(f.clients); err != nil {
		return results.Run{}, err
	}
	target, control := f.target, f.target
	if target == "" {
		srv, err := f.local.start(ctx)
		if err != nil {
			return results.Run{}, err
		}
		defer srv.stop()
		target, control = srv.target(f.transport), srv.http
	}
	return loadgen.Measure(ctx, loadgen.RunConfig{
		Fleet: loadgen.FleetConfig{
			Transport: f.transport,
			Target:    target,
			Clients:   f.clients,
			Options:   loadgen.Options{PollInterval: f.pollInterval},
			Sources:   sources(f.clients),
		},
		Control:  control,
		Rate:     f.rate,
		Burst:    f.burst,
		Payload:  f.payload,
		Warmup:   f.warmup,
		Duration: f.duration,
		Progress: func(elapsed time.Duration, _ uint64) {
			if f.progress != nil {
				f.progress(elapsed)
			}
		},
	})
}
