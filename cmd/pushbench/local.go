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

// pinArgs pins this process, the load generator, to CPUs 1… and returns
// the serve flags that pin the server to CPU 0; with pinning off, neither.
func (l *localFlags) pinArgs() ([]string, error) {
	if !l.pin {
		return nil, nil
	}
	cpus := make([]int, 0, runtime.NumCPU()-1)
	for c := 1; c < runtime.NumCPU(); c++ {
		cpus = append(cpus, c)
	}
	if err := proc.Pin(cpus...); err != nil {
		return nil, err
	}
	return []string{"--cpus", "0"}, nil
}

// localServer is a server process started for a run.
type localServer struct {
	p    *loadgen.ServerProcess
	http string // base URL of the HTTP transports and control
	tcp  string // base URL of the tcp floor
	tls  string // https base URL of the HTTP/2 (TLS) variants
}

// start runs 'pushbench serve' as a separate process on a free loopback port,
// waiting for the run to start its generator.
func (l *localFlags) start(ctx context.Context) (*localServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	argv := []string{self, "serve", "--addr", "127.0.0.1:0", "--tcp-addr", "127.0.0.1:0", "--tls-addr", "127.0.0.1:0", "--wait-start"}
	if l.history > 0 {
		argv = append(argv, "--history", strconv.Itoa(l.history))
	}
	if l.maxLag > 0 {
		argv = append(argv, "--max-lag", strconv.Itoa(l.maxLag))
	}
	if l.heartbeat > 0 {
		argv = append(argv, "--heartbeat", l.heartbeat.String())
	}
	pin, err := l.pinArgs()
	if err != nil {
		return nil, err
	}
	p, err := loadgen.StartServer(ctx, append(argv, pin...)...)
	if err != nil {
		return nil, err
	}
	s := &localServer{p: p, http: p.URL}
	if tcp, ok := p.Listening("tcp"); ok {
		s.tcp = tcp
	}
	if tls, ok := p.Listening("https"); ok {
		s.tls = tls
	}
	return s, nil
}

// target is the URL clients of transport connect to.
func (s *localServer) target(transport string) string {
	switch transport {
	case loadgen.TCP:
		return s.tcp
	case loadgen.SSEH2, loadgen.PollH2:
		return s.tls
	}
	return s.http
}

func (s *localServer) stop() {
	if err := s.p.Stop(10 * time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "pushbench: stopping server: %v\n", err)
	}
}

// fileReserve is the open files a load generator needs besides its clients:
// stdio, the control client, /proc reads, the server's pipes.
const fileReserve = 64

// checkFit refuses a client count this process cannot hold, before anything
// starts, saying why and what the limit is: each client is a socket (an open
// file), and the hard limit cannot be raised from here; each source address
// has one ephemeral port range towards the server.
func checkFit(clients, nsources int) error {
	limit, err := proc.RaiseFileLimit()
	if err != nil {
		return fmt.Errorf("open-file limit: %w", err)
	}
	if uint64(clients)+fileReserve > limit {
		return fmt.Errorf("%d clients need %d open files (a socket each, plus %d for the process) but this process may hold %d (RLIMIT_NOFILE hard limit; see ulimit -Hn); run at most %d clients per process, or spread them over processes or hosts with --shard I/N",
			clients, clients+fileReserve, fileReserve, limit, int(limit)-fileReserve)
	}
	lo, hi, err := portRange()
	if err != nil {
		return nil // no range to check against; connecting will tell
	}
	ports := hi - lo + 1
	per := (clients + max(nsources, 1) - 1) / max(nsources, 1)
	if per > ports-portReserve {
		return fmt.Errorf("%d clients over %d source address(es) need %d ephemeral ports each towards the server, but the range %d-%d has %d (less %d kept free); give more source addresses with --sources, or shard the run",
			clients, max(nsources, 1), per, lo, hi, ports, portReserve)
	}
	return nil
}

// portReserve is ephemeral ports left for everything else on the host.
const portReserve = 1000

// portRange reads the kernel's ephemeral port range.
func portRange() (lo, hi int, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, err
	}
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 0, 0, fmt.Errorf("ip_local_port_range %q: %w", b, err)
	}
	return lo, hi, nil
}

// perSource is how many clients share one 127.0.0.x source address: well
// under the ~28k ephemeral ports one address has, with room for the
// TIME_WAIT sockets earlier runs leave behind.
const perSource = 5000

// sources spreads large client counts to a loopback server over 127.0.0.x
// source addresses (Linux answers on all of 127.0.0.0/8), so ephemeral ports
// never run out; small counts, and servers on other hosts, use the system's
// choice. explicit, if given, wins.
func sources(target string, clients int, explicit []net.IP) []net.IP {
	if len(explicit) > 0 {
		return explicit
	}
	if !loopback(target) {
		return nil
	}
	n := (clients + perSource - 1) / perSource
	if n <= 1 {
		return nil
	}
	ips := make([]net.IP, n)
	for i := range ips {
		ips[i] = net.IPv4(127, 0, 0, byte(1+i))
	}
	return ips
}

// loopback reports whether the base URL's host is on this machine's
// loopback: one kernel, one clock, and 127.0.0.0/8 to spread sources over.
func loopback(base string) bool {
	host, _, err := net.SplitHostPort(hostOf(base))
	if err != nil {
		host = hostOf(base)
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseSources reads --sources: comma-separated IP addresses.
func parseSources(s string) ([]net.IP, error) {
	if s == "" {
		return nil, nil
	}
	var out []net.IP
	for f := range strings.SplitSeq(s, ",") {
		ip := net.ParseIP(strings.TrimSpace(f))
		if ip == nil {
			return nil, fmt.Errorf("bad --sources %q: want IP addresses, comma-separated", s)
		}
		out = append(out, ip)
	}
	return out, nil
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
