package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/proc"
	"github.com/pushbench/pushbench/results"
)

// Setup is where a run's server comes from: one already running (Target),
// or a server process this run starts from Server and stops after it.
type Setup struct {
	// Target is the base URL of a running server; empty: start Server.
	Target string
	// Control is that server's HTTP base URL when Target is its tcp://
	// floor; it defaults to Target.
	Control string
	// Token is the control token the running server requires.
	Token string
	// Server is the server to start when Target is empty.
	Server ServerSpec
	// Pin puts the started server on CPU 0 and this process, the load
	// generator, on the others, so that neither takes the other's core.
	Pin bool
}

// Pinning says where the processes of a run with pinning pin run, for
// reports.
func Pinning(pin bool) string {
	if !pin {
		return "not pinned: server and load generator share all CPUs"
	}
	return fmt.Sprintf("server pinned to CPU 0, load generator to CPUs 1-%d", runtime.NumCPU()-1)
}

// PinByDefault is whether runs pin by default: on a machine with a core
// to spare for the load generator.
var PinByDefault = runtime.NumCPU() >= 2

// pinSelf pins this process, the load generator, to CPUs 1… and returns the
// CPU list the server is pinned to; with pinning off, neither.
func pinSelf(pin bool) (serverCPUs string, err error) {
	if !pin {
		return "", nil
	}
	cpus := make([]int, 0, runtime.NumCPU()-1)
	for c := 1; c < runtime.NumCPU(); c++ {
		cpus = append(cpus, c)
	}
	if err := proc.Pin(cpus...); err != nil {
		return "", err
	}
	return "0", nil
}

// RunReport is the report of one run made with s: the machine, the
// settings and pinning behind it, and runErr, if any, as a note.
func RunReport(run results.Run, s Setup, runErr error) *results.Report {
	rep := &results.Report{Env: results.CurrentEnv(), Settings: Settings(s.Pin), Runs: []results.Run{run}}
	rep.Env.Pinning = Pinning(s.Pin)
	if s.Target != "" {
		rep.Env.Pinning = "server on its own (--target); this load generator not pinned"
		rep.Settings.ServerCPUs, rep.Settings.LoadgenCPUs = "", ""
		rep.Settings.Extra["processes"] = "server started separately (--target " + s.Target + "), possibly on another host: see the clock offset"
	}
	if run.Scenario != "" {
		rep.Scenarios = []results.ScenarioInfo{{Name: run.Scenario, Description: "a run of " + string(run.Transport) + " clients"}}
	}
	if runErr != nil {
		rep.Notes = append(rep.Notes, runErr.Error())
	}
	return rep
}

// serverStopTimeout bounds a started server's graceful stop.
const serverStopTimeout = 10 * time.Second

// Run measures p against the server s names: it checks that this process
// can hold the clients, starts the server unless one runs already, and
// measures. A server on another host gets its clock offset estimated.
func Run(ctx context.Context, s Setup, p Plan) (results.Run, error) {
	base := s.Target
	if base == "" {
		base = "http://127.0.0.1:0"
	}
	if p.Sources == nil {
		p.Sources = Sources(base, p.Clients)
	}
	if err := CheckFit(p.Clients, len(p.Sources)); err != nil {
		return results.Run{}, err
	}
	if s.Target != "" {
		control := s.Control
		if control == "" {
			control = s.Target
		}
		// A server on another host has another clock: say how far off.
		p.EstimateClock = !Loopback(control)
		return Measure(ctx, Target{Stream: s.Target, Control: Control{Base: control, Token: s.Token}}, p)
	}
	spec := s.Server
	cpus, err := pinSelf(s.Pin)
	if err != nil {
		return results.Run{}, err
	}
	spec.CPUs = cpus
	if p.Transport == contract.TCP && spec.TCPAddr == "" {
		spec.TCPAddr = "127.0.0.1:0"
	}
	if p.Transport.TLS() && spec.TLSAddr == "" {
		spec.TLSAddr = "127.0.0.1:0"
	}
	if spec, err = WithImpl(spec, p.Transport, p.Impl); err != nil {
		return results.Run{}, err
	}
	srv, err := StartServer(ctx, spec)
	if err != nil {
		return results.Run{}, err
	}
	run, err := Measure(ctx, srv.Target(p.Transport), p)
	if serr := srv.Stop(serverStopTimeout); serr != nil {
		err = errors.Join(err, fmt.Errorf("stopping the server: %w", serr))
	}
	return run, err
}

// FileReserve is the open files a load generator needs besides its
// clients: stdio, the control client, /proc reads, the server's pipes.
const FileReserve = 64

// CheckFit refuses a client count this process cannot hold, before anything
// starts, saying why and what the limit is: each client is a socket (an
// open file), and the hard limit cannot be raised from here; each source
// address has one ephemeral port range towards the server.
func CheckFit(clients, nsources int) error {
	if err := checkFiles(clients, 1, "clients"); err != nil {
		return err
	}
	return checkPorts(clients, nsources)
}

// checkFiles refuses clients that need perClient open files each beyond
// what this process may hold.
func checkFiles(clients, perClient int, what string) error {
	limit, err := proc.RaiseFileLimit()
	if err != nil {
		return fmt.Errorf("open-file limit: %w", err)
	}
	need := uint64(clients*perClient) + FileReserve
	if need > limit {
		return fmt.Errorf("%d %s need %d open files (%d each, plus %d for the process) but this process may hold %d (RLIMIT_NOFILE hard limit; see ulimit -Hn); run at most %d per process, or spread them over processes or hosts with --shard I/N",
			clients, what, need, perClient, FileReserve, limit, (int(limit)-FileReserve)/perClient)
	}
	return nil
}

// portReserve is ephemeral ports left for everything else on the host.
const portReserve = 1000

// checkPorts refuses more clients per source address than the kernel's
// ephemeral port range holds towards one server address.
func checkPorts(clients, nsources int) error {
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

// Sources spreads large client counts to a loopback server over 127.0.0.x
// source addresses (Linux answers on all of 127.0.0.0/8), so ephemeral ports
// never run out; small counts, and servers on other hosts, use the system's
// choice (nil).
func Sources(target string, clients int) []net.IP {
	if !Loopback(target) {
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

// Loopback reports whether the base URL's host is on this machine's
// loopback: one kernel, one clock, and 127.0.0.0/8 to spread sources over.
func Loopback(base string) bool {
	hp := hostPort(base)
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		host = hp
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseSources reads a comma-separated list of IP addresses.
func ParseSources(s string) ([]net.IP, error) {
	if s == "" {
		return nil, nil
	}
	var out []net.IP
	for f := range strings.SplitSeq(s, ",") {
		ip := net.ParseIP(strings.TrimSpace(f))
		if ip == nil {
			return nil, fmt.Errorf("bad sources %q: want IP addresses, comma-separated", s)
		}
		out = append(out, ip)
	}
	return out, nil
}
