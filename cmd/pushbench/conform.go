package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pushbench/pushbench/conform"
	"github.com/pushbench/pushbench/contract"
)

func init() {
	commands["conform"] = command{"check a server against the pushbench contract, one line per check", conformCmd}
}

// errNonConforming is conform's error when a check failed: the lines have
// said why, so main only exits 1.
var errNonConforming = errors.New("the server does not conform")

func conformCmd(ctx context.Context, args []string) error {
	return conformRun(ctx, args, os.Stdout)
}

// conformRun checks the server at the URL in args and writes one line per
// check to w as it is made (or, with --json, the whole report at the end).
// It returns errNonConforming if a check failed.
func conformRun(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("conform", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: pushbench conform [flags] URL\n\nChecks the server at URL (its HTTP base, e.g. http://127.0.0.1:8080) against\ndocs/contract.md on every transport it offers. It publishes events there\n(and stops any schedule running first). Exit status 1 if a check fails.\n\nflags:\n")
		fs.PrintDefaults()
	}
	var o conform.Options
	fs.StringVar(&o.Token, "control-token", "", "the token the server requires on /control/* (default: $"+contract.TokenEnv+")")
	fs.DurationVar(&o.Liveness, "liveness", conform.DefaultLiveness, "how long to wait for an SSE heartbeat, a WebSocket ping or a long poll's 204")
	fs.DurationVar(&o.Timeout, "timeout", conform.DefaultTimeout, "bound of each request that should be answered at once")
	fs.IntVar(&o.HistoryCap, "history-cap", conform.DefaultHistoryCap, "most events to publish to find where the server's history ends")
	transports := fs.String("transports", "", "check only these transports, comma-separated: "+contract.Names(conform.Transports)+" (default: every one offered)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object at the end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("want one URL, got %d arguments", fs.NArg())
	}
	o.URL = fs.Arg(0)
	if o.Token == "" {
		o.Token = os.Getenv(contract.TokenEnv)
	}
	if *transports != "" {
		for _, s := range strings.Split(*transports, ",") {
			o.Transports = append(o.Transports, contract.Transport(strings.TrimSpace(s)))
		}
	}
	var werr error
	if !*asJSON {
		o.OnResult = func(res conform.Result) {
			if werr == nil {
				_, werr = fmt.Fprintln(w, res)
			}
		}
	}
	rep, err := conform.Check(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		werr = rep.JSON(w)
	} else if werr == nil {
		_, werr = fmt.Fprintln(w, rep.Summary())
	}
	if werr != nil {
		return fmt.Errorf("write: %w", werr)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !rep.OK() {
		return errNonConforming
	}
	return nil
}
