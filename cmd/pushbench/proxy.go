package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pushbench/pushbench/bench"
	"github.com/pushbench/pushbench/proxy"
)

func init() {
	commands["proxy"] = command{"measure poll, SSE and WebSocket through nginx vs direct; write DIR/proxy.json", proxyCmd}
}

// proxyCmd runs the reverse-proxy scenario against `pushbench serve`
// processes of this executable, writes its outcome to DIR/proxy.json and
// prints the report section.
func proxyCmd(ctx context.Context, args []string) error {
	var o proxy.Options
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	out := fs.String("out", ".", "directory to write "+proxy.FileName+" into")
	fs.StringVar(&o.Nginx, "nginx", "", "nginx binary (default: nginx on PATH, else /usr/sbin/nginx)")
	fs.IntVar(&o.Clients, "clients", proxy.DefaultClients, "clients per run")
	fs.Float64Var(&o.Rate, "rate", proxy.DefaultRate, "events published per second")
	fs.IntVar(&o.Payload, "payload", proxy.DefaultPayload, "event data size in bytes")
	fs.DurationVar(&o.Warmup, "warmup", proxy.DefaultWarmup, "published but left out of latency")
	fs.DurationVar(&o.Duration, "duration", proxy.DefaultDuration, "measured publishing time per run")
	fs.DurationVar(&o.Drain, "drain", proxy.DefaultDrain, "longest wait for clients to catch up after publishing")
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
	if err := bench.CheckFit(2*o.Clients, 1); err != nil { // each client's connection has one from nginx
		return err
	}
	o.Server = proxy.Process(self, "serve")
	o.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	res, err := proxy.Run(ctx, &o)
	if res != nil {
		if serr := res.Save(*out); serr != nil {
			return serr
		}
		if werr := res.WriteMarkdown(os.Stdout); werr != nil {
			return werr
		}
		if _, perr := fmt.Printf("wrote %s\n", filepath.Join(*out, proxy.FileName)); perr != nil {
			return perr
		}
	}
	return err
}
