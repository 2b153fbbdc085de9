package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pushbench/pushbench/bench"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/report"
	"github.com/pushbench/pushbench/results"
)

func init() {
	commands["load"] = command{"drive N clients of any SSE or WebSocket URL (no pushbench server needed) and report", loadCmd}
}

func loadCmd(ctx context.Context, args []string) error {
	return loadTo(ctx, args, os.Stdout, os.Stderr)
}

// headerFlags is --header, repeatable: "Name: value" each.
type headerFlags http.Header

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("want 'Name: value', got %q", s)
	}
	http.Header(h).Add(name, value)
	return nil
}

// loadTo is load with its table written to w and its progress to diag.
//
// It parses the flags (before or after the URL), runs bench.MeasureEndpoint
// with the progress bar other commands show, prints the run's table, and
// writes --json and --out. A run that ends with an error (every client gave
// up, nothing received) still prints and writes what it measured, then
// returns the error.
func loadTo(ctx context.Context, args []string, w, diag io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(diag)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: pushbench load [flags] URL\n\n"+
			"Drives --clients clients of any text/event-stream or WebSocket URL for --duration, started evenly over\n"+
			"--ramp, reconnecting as a browser does (SSE with Last-Event-ID, WebSocket with backoff and full jitter),\n"+
			"and reports messages received, connect, first-event and inter-arrival times, bytes, reconnects and\n"+
			"errors by kind; with --timestamp, latency from a send time the messages carry.\n\nflags:\n")
		fs.PrintDefaults()
	}
	transport := fs.String("transport", "", "sse or ws (default: ws for a ws:// or wss:// URL, else sse)")
	clients := fs.Int("clients", 10, "concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "how long to hold every client once the last has started")
	ramp := fs.Duration("ramp", 0, fmt.Sprintf("start the clients evenly over this long (0: at %d a second)", loadgen.DefaultConnectRate))
	count := fs.Uint64("count", 0, "end the run early once this many messages have arrived, all clients (0: run for --duration)")
	stampField := fs.String("timestamp", "", "a top-level JSON member of each message holding its send time since the Unix epoch: measure latency from it")
	stampUnit := fs.String("timestamp-unit", "auto", "the unit of --timestamp: ns, us, ms, s, or auto to detect it from the first stamp's magnitude (the output says which)")
	readTimeout := fs.Duration("read-timeout", loadgen.DefaultReadTimeout, "reconnect after a connection has been silent this long; also bounds the dial and handshake")
	insecure := fs.Bool("insecure", false, "do not verify https and wss certificates")
	headers := headerFlags{}
	fs.Var(headers, "header", "'Name: value' to send with every request or handshake (authorization, cookies); repeatable")
	jsonFile := fs.String("json", "", "write the run's figures to this JSON file")
	out := fs.String("out", "", "write DIR/results.json, DIR/report.md and DIR/plots, as 'pushbench report' renders them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("want a URL")
	}
	rawURL := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil { // flags after the URL
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("want one URL, also got %q", fs.Args())
	}

	plan, err := bench.NewEndpointPlan(rawURL, *transport, *stampField, *stampUnit)
	if err != nil {
		return err
	}
	if *readTimeout <= 0 {
		return fmt.Errorf("bad --read-timeout %v: want > 0", *readTimeout)
	}
	plan.Clients, plan.Duration, plan.Ramp, plan.Count = *clients, *duration, *ramp, *count
	plan.Header = http.Header(headers)
	plan.Options = loadgen.Options{ReadTimeout: *readTimeout}
	if *insecure {
		plan.TLSConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for with --insecure
	}

	total := *ramp + *duration
	if *ramp == 0 {
		total += time.Duration(*clients) * time.Second / loadgen.DefaultConnectRate
	}
	// The bar on a terminal, a line at each end elsewhere, as bench shows.
	var prog progress = &lines{w: diag}
	if f, ok := diag.(*os.File); ok {
		prog = newProgress(f, 1)
	}
	prog.Start(1, 1, fmt.Sprintf("load %s %s", plan.Transport, bench.RedactURL(rawURL)), total)
	plan.Progress = func(elapsed time.Duration, _ uint64) { prog.Tick(elapsed) }
	run, err := bench.MeasureEndpoint(ctx, plan)
	outcome := fmt.Sprintf("%d events, %d reconnects, errors: %v", run.EventsReceived, run.Reconnects, run.Errors)
	if err != nil {
		outcome = err.Error()
	}
	prog.Done(outcome)
	prog.close()
	if run.Clients == 0 { // refused before any client ran: nothing to show
		return err
	}

	if werr := report.NewLoadReport([]results.LoadRun{run})(w); werr != nil {
		return errors.Join(err, werr)
	}
	if *jsonFile != "" {
		b, jerr := json.MarshalIndent(run, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(*jsonFile, append(b, '\n'), 0o644)
		}
		if jerr != nil {
			return errors.Join(err, jerr)
		}
	}
	if *out != "" {
		rep := bench.LoadReport(run, plan, err)
		if werr := rep.Save(*out); werr != nil {
			return errors.Join(err, werr)
		}
		if werr := report.WriteDir(*out, rep); werr != nil {
			return errors.Join(err, werr)
		}
		fmt.Fprintf(diag, "pushbench load: wrote %s and %s\n", filepath.Join(*out, results.FileName), filepath.Join(*out, report.ReportName))
	}
	return err
}
