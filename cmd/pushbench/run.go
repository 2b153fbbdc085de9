package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pushbench/pushbench/bench"
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/report"
	"github.com/pushbench/pushbench/results"
)

func init() {
	commands["run"] = command{"drive N clients of one transport and report (or one shard of them: --shard I/N)", runCmd}
}

// runFlags are the flags shared by run and bench: what the server and the
// clients are told.
type runFlags struct {
	transport    string
	impl         string
	clients      int
	rate         float64
	burst        int
	payload      int
	duration     time.Duration
	warmup       time.Duration
	pollInterval time.Duration
	idle         time.Duration
	readBuffer   int
	target       string
	control      string
	controlToken string
	sources      string
	jsonFile     string
	out          string
	scenario     string
	shard        string
	startAt      string
	server       bench.ServerSpec
	pin          bool
}

// Environment variables a shard reads when its flags are not given, so one
// container spec serves every shard of a Kubernetes Indexed Job.
const (
	envShard    = "PUSHBENCH_SHARD"      // "I/N", as --shard
	envShards   = "PUSHBENCH_SHARDS"     // N, with JOB_COMPLETION_INDEX as I
	envStartAt  = "PUSHBENCH_START_AT"   // as --start-at
	envJobIndex = "JOB_COMPLETION_INDEX" // set by Kubernetes on each pod of an Indexed Job
	envOut      = "PUSHBENCH_OUT"        // as --out
	envTarget   = "PUSHBENCH_TARGET"     // as --target
)

func runCmd(ctx context.Context, args []string) error { return runTo(ctx, args, os.Stdout) }

// runTo is run with its table written to w.
func runTo(ctx context.Context, args []string, w io.Writer) error {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&f.transport, "transport", string(contract.SSE), "transport: poll, longpoll, sse, ws, tcp (the plain-TCP floor), or over HTTP/2: sse-h2, poll-h2 (TLS), sse-h2c, poll-h2c (cleartext)")
	fs.StringVar(&f.impl, "impl", "", "the server implementation of the transport (default: its default); one of:\n"+implUsage())
	fs.IntVar(&f.clients, "clients", 100, "concurrent clients (with --shard: of all shards together)")
	fs.Float64Var(&f.rate, "rate", 10, "events published per second")
	fs.IntVar(&f.burst, "burst", 1, "events sharing each scheduled instant")
	fs.IntVar(&f.payload, "payload", 64, "event data size in bytes")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured publishing time")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "publishing time before measuring (delivery is still checked)")
	fs.DurationVar(&f.pollInterval, "poll-interval", loadgen.DefaultPollInterval, "polling clients' pause between polls")
	fs.DurationVar(&f.idle, "idle", 0, "hold the connections idle this long before publishing and record their idle traffic")
	fs.IntVar(&f.readBuffer, "read-buffer", 0, "each client's read buffer in bytes (0: 4 KiB); longer messages still arrive whole")
	fs.StringVar(&f.target, "target", os.Getenv(envTarget), "base URL of a running 'pushbench serve --wait-start' (default: start one as a separate process; env "+envTarget+")")
	fs.StringVar(&f.control, "control", "", "the server's HTTP base URL for /stats and /control, when --target is its tcp:// floor (default: --target)")
	fs.StringVar(&f.controlToken, "control-token", os.Getenv(contract.TokenEnv), "sent as 'Authorization: Bearer TOKEN' with every control request, which a server listening beyond loopback requires (env "+contract.TokenEnv+")")
	fs.StringVar(&f.sources, "sources", "", "local addresses to spread connections over, comma-separated (default: 127.0.0.x for large counts to a loopback server, else the system's choice)")
	fs.StringVar(&f.jsonFile, "json", "", "write the run's figures to this JSON file")
	fs.StringVar(&f.out, "out", os.Getenv(envOut), "write DIR/results.json, for 'pushbench report' or 'report --merge' (env "+envOut+")")
	fs.StringVar(&f.scenario, "scenario", "", "scenario name to record the run under")
	fs.StringVar(&f.shard, "shard", "", "run the I-th of N shares of the clients, 0-based, as I/N (env "+envShard+", or "+envJobIndex+" with "+envShards+"); needs --target, --start-at and --out")
	fs.StringVar(&f.startAt, "start-at", os.Getenv(envStartAt), "with --shard: the agreed wall-clock start, RFC 3339 or Unix seconds; shard 0 starts the server's schedule then (env "+envStartAt+")")
	serverFlags(fs, &f.server, &f.pin)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	run, err := runOnce(ctx, f)
	if run.Transport != "" {
		run.Scenario = f.scenario
		// A run that failed before publishing has no figures: an empty
		// table would only hide the error, which main prints.
		if err == nil || run.EventsPublished > 0 {
			if werr := report.WriteTable(w, []results.Run{run}); werr != nil && err == nil {
				err = werr
			}
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
		if f.out != "" && run.EventsPublished > 0 {
			if werr := bench.RunReport(run, f.setup(), err).Save(f.out); werr != nil && err == nil {
				err = werr
			} else if werr == nil {
				fmt.Fprintf(os.Stderr, "pushbench run: wrote %s\n", filepath.Join(f.out, results.FileName))
			}
		}
	}
	return err
}

// parseShard reads --shard, or the environment when the flag is empty. ok
// is false when no shard is asked for.
func parseShard(flagValue string) (index, count int, ok bool, err error) {
	s := flagValue
	if s == "" {
		s = os.Getenv(envShard)
	}
	if s == "" {
		idx, n := os.Getenv(envJobIndex), os.Getenv(envShards)
		if idx == "" || n == "" {
			return 0, 0, false, nil
		}
		s = idx + "/" + n
	}
	is, ns, found := strings.Cut(s, "/")
	index, err1 := strconv.Atoi(is)
	count, err2 := strconv.Atoi(ns)
	if !found || err1 != nil || err2 != nil || count < 1 || index < 0 || index >= count {
		return 0, 0, false, fmt.Errorf("bad shard %q: want I/N with 0 <= I < N", s)
	}
	return index, count, true, nil
}

// parseStartAt reads --start-at: RFC 3339 (fractions allowed) or Unix
// seconds.
func parseStartAt(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("--shard needs --start-at (or " + envStartAt + "): the wall-clock instant every shard starts at")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if sec, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(sec*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("bad --start-at %q: want RFC 3339 (2026-01-02T15:04:05Z) or Unix seconds", s)
}

// runOnce makes one measured run, starting a local server process unless
// f.target names one.
func runOnce(ctx context.Context, f runFlags) (results.Run, error) {
	transport, err := contract.ParseTransport(f.transport)
	if err != nil {
		return results.Run{}, err
	}
	sources, err := bench.ParseSources(f.sources)
	if err != nil {
		return results.Run{}, err
	}
	p := bench.Plan{
		Load: bench.Load{
			Transport: transport, Impl: f.impl, Clients: f.clients,
			Schedule: contract.Schedule{Rate: f.rate, Burst: f.burst, Payload: f.payload},
			Warmup:   f.warmup, Duration: f.duration,
			Client:  loadgen.Options{PollInterval: f.pollInterval, ReadBuffer: f.readBuffer},
			Sources: sources,
		},
		Idle: f.idle,
	}
	index, count, sharded, err := parseShard(f.shard)
	if err != nil {
		return results.Run{}, err
	}
	if sharded {
		if f.target == "" {
			return results.Run{}, errors.New("--shard needs --target: every shard drives one server, started on its own with 'pushbench serve --wait-start'")
		}
		if f.out == "" {
			return results.Run{}, errors.New("--shard needs --out DIR: each shard writes its own results.json for 'pushbench report --merge'")
		}
		at, err := parseStartAt(f.startAt)
		if err != nil {
			return results.Run{}, err
		}
		p.Shard = &bench.Shard{Index: index, Count: count, StartAt: at, Starter: index == 0}
		if p.Clients = bench.ShareOf(f.clients, index, count); p.Clients == 0 {
			return results.Run{}, fmt.Errorf("shard %d/%d has no clients: %d clients over %d shards", index, count, f.clients, count)
		}
	}
	return bench.Run(ctx, f.setup(), p)
}

// setup is where f's server comes from.
func (f runFlags) setup() bench.Setup {
	return bench.Setup{Target: f.target, Control: f.control, Token: f.controlToken, Server: f.server, Pin: f.pin}
}
