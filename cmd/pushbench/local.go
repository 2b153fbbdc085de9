package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pushbench/pushbench/internal/proc"
	"github.com/pushbench/pushbench/loadgen"
)

// localFlags configure the server process a run starts for itself.
type localFlags struct {
	history   int
	maxLag    int
	heartbeat time.Duration
	pin       bool
}

func (l *localFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&l.history, "history", 0, "server history in events (0: server default)")
	fs.IntVar(&l.maxLag, "max-lag", 0, "events a subscriber may lag before it is cut off (0: server default)")
	fs.DurationVar(&l.heartbeat, "heartbeat", 0, "SSE heartbeat interval (0: server default)")
	fs.BoolVar(&l.pin, "pin", runtime.NumCPU() >= 2, "pin the server to CPU 0 and the load generator to the other CPUs")
}

// pinning describes where the processes run, for reports.
func (l *localFlags) pinning() string {
	if !l.pin {
		return "not pinned: server and load generator share all CPUs"
	}
	return fmt.Sprintf("server pinned to CPU 0, load generator to CPUs 1-%d", runtime.NumCPU()-1)
}

// localServer is a server process started for a run.
type localServer struct {
	p    *loadgen.ServerProcess
	http string // base URL of the HTTP transports and control
	tcp  string // base URL of the tcp floor
}

// start runs 'pushbench serve' as a separate process on a free loopback port,
// waiting for the run to start its generator.
func (l *localFlags) start(ctx context.Context) (*localServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	argv := []string{self, "serve", "--addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0", "--wait-start"}
	if l.history > 0 {
		argv = append(argv, "--history", strconv.Itoa(l.history))
	}
	if l.maxLag > 0 {
		argv = append(argv, "--max-lag", strconv.Itoa(l.maxLag))
	}
	if l.heartbeat > 0 {
		argv = append(argv, "--heartbeat", l.heartbeat.String())
	}
	if l.pin {
		argv = append(argv, "--cpus", "0")
		cpus := make([]int, 0, runtime.NumCPU()-1)
		for c := 1; c < runtime.NumCPU(); c++ {
			cpus = append(cpus, c)
		}
		if err := proc.Pin(cpus...); err != nil {
			return nil, err
		}
	}
	p, err := loadgen.StartServer(ctx, argv...)
	if err != nil {
		return nil, err
	}
	s := &localServer{p: p, http: p.URL}
	if tcp, ok := p.Listening("tcp"); ok {
		s.tcp = tcp
	}
	return s, nil
}

// target is the URL clients of transport connect to.
func (s *localServer) target(transport string) string {
	if transport == loadgen.TCP {
		return s.tcp
	}
	return s.http
}

func (s *localServer) stop() {
	if err := s.p.Stop(10 * time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "pushbench: stopping server: %v\n", err)
	}
}

// checkFit refuses a client count this process cannot hold: each client is an
// open file, and the hard limit cannot be raised from here.
func checkFit(clients int) error {
	limit, err := proc.RaiseFileLimit()
	if err != nil {
		return fmt.Errorf("open-file limit: %w", err)
	}
	const reserve = 64 // stdio, listeners, /proc reads, the control client
	if uint64(clients)+reserve > limit {
		return fmt.Errorf("%d clients need %d open files but this process may hold %d (hard limit, RLIMIT_NOFILE); run at most %d clients per process, or shard the run",
			clients, clients+reserve, limit, int(limit)-reserve)
	}
	return nil
}

// maxPerSource keeps each source address well under the ~28k ephemeral ports
// one address has towards one server port.
const maxPerSource = 20000

// sources spreads large client counts over 127.0.0.x source addresses so
// ephemeral ports never run out; small counts use the system's choice.
func sources(clients int) []net.IP {
	n := (clients + maxPerSource - 1) / maxPerSource
	if n <= 1 {
		return nil
	}
	ips := make([]net.IP, n)
	for i := range ips {
		ips[i] = net.IPv4(127, 0, 0, byte(1+i))
	}
	return ips
}

// hostOf returns host:port of a base URL.
func hostOf(base string) string {
	_, rest, ok := strings.Cut(base, "://")
	if !ok {
		return base
	}
	host, _, _ := strings.Cut(rest, "/")
	return host
}
