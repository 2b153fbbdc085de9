package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pushbench/pushbench/browser"
)

func init() {
	commands["browser"] = command{"check the stream in a real browser (chromium); write DIR/browser.json", browserCmd}
}

// browserCmd runs the browser scenario, writes its outcome to
// DIR/browser.json, prints the report section and fails if a check failed.
// The restart check runs this same executable's serve command.
func browserCmd(ctx context.Context, args []string) error {
	var o browser.Options
	fs := flag.NewFlagSet("browser", flag.ContinueOnError)
	out := fs.String("out", ".", "directory to write "+browser.FileName+" into")
	fs.StringVar(&o.ExecPath, "chromium", "", "browser to run (default: chromium on PATH)")
	fs.IntVar(&o.Events, "events", browser.DefaultEvents, "events the delivery check publishes")
	fs.Float64Var(&o.Rate, "rate", browser.DefaultRate, "delivery check rate, events/s")
	fs.IntVar(&o.Payload, "payload", browser.DefaultPayload, "event data size in bytes")
	fs.DurationVar(&o.PollInterval, "poll-interval", browser.DefaultPollInterval, "pause of the page's fetch loop after an answer with nothing more waiting")
	fs.IntVar(&o.Streams, "streams", browser.DefaultStreams, "EventSources the connection-limit check opens to one host")
	fs.DurationVar(&o.Window, "window", browser.DefaultWindow, "how long the connection-limit check gives them to stream")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.Serve = []string{self, "serve"}
	o.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

	res, err := browser.Run(ctx, &o)
	if err != nil {
		return err
	}
	if err := res.Save(*out); err != nil {
		return err
	}
	if err := res.WriteMarkdown(os.Stdout); err != nil {
		return err
	}
	if _, err := fmt.Printf("wrote %s\n", filepath.Join(*out, browser.FileName)); err != nil {
		return err
	}
	if f := res.Failures(); len(f) > 0 {
		return fmt.Errorf("%d checks failed:\n  %s", len(f), strings.Join(f, "\n  "))
	}
	return nil
}
