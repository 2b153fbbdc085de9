package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/pushbench/pushbench/bench"
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/servers"
)

// serverFlags registers the flags that shape the server a run starts for
// itself, and whether to pin it.
func serverFlags(fs *flag.FlagSet, s *bench.ServerSpec, pin *bool) {
	fs.IntVar(&s.History, "history", 0, "server history in events (0: server default)")
	fs.IntVar(&s.MaxLag, "max-lag", 0, "events a subscriber may lag before it is cut off (0: server default)")
	fs.DurationVar(&s.Heartbeat, "heartbeat", 0, "SSE heartbeat interval (0: server default)")
	fs.BoolVar(pin, "pin", bench.PinByDefault, "pin the server to CPU 0 and the load generator to the other CPUs")
}

// implUsage lists every server implementation, for flag help.
func implUsage() string {
	var b strings.Builder
	for _, t := range contract.Transports {
		var names []string
		for _, i := range servers.Impls(t) {
			n := i.Name
			if i.Default {
				n += " (default)"
			}
			names = append(names, n)
		}
		if len(names) > 0 {
			fmt.Fprintf(&b, "    %s: %s\n", t, strings.Join(names, ", "))
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
