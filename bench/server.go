package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/proc"
)

// ServerSpec is a server process for a run: pushbench's own `serve`, or an
// implementation in another language that speaks the contract and takes the
// same flags. Argv spells its command line, the only place it is spelled.
// A zero field takes the server's own default.
type ServerSpec struct {
	// Command runs the server without its flags. Defaults to this
	// executable's `serve` (see Self).
	Command []string
	// External marks a server in another language (an implementation
	// registered with a Command, see servers.Impl): it takes only the flags
	// docs/contract.md names for a server process, and is pinned from here.
	External bool
	// Impl chooses the implementation of each transport ("ws": "gws");
	// a transport left out gets its default.
	Impl map[contract.Transport]string
	// Addr is the HTTP listen address; default 127.0.0.1:0, any free port.
	// A fault run that restarts the server names a fixed one.
	Addr string
	// TCPAddr and TLSAddr, if set, also serve the TCP floor and HTTPS
	// (HTTP/2 by ALPN); "127.0.0.1:0" takes any free port.
	TCPAddr, TLSAddr string
	// History and MaxLag size the hub.
	History, MaxLag int
	// Heartbeat is SSE's heartbeat, PingInterval WebSocket's, Retry the
	// retry: SSE clients are sent (RetryJitter: each stream its own).
	Heartbeat, PingInterval, Retry time.Duration
	RetryJitter                    bool
	// NoAccelHeader leaves out SSE's X-Accel-Buffering header (the nginx
	// pitfall).
	NoAccelHeader bool
	// Data keeps the event log and the running schedule in this directory,
	// so a restarted server resumes them.
	Data string
	// Payload is the event size the server's own schedule would use; runs
	// set theirs with /control/start, and a restarted server resumes its
	// saved one, so only the browser's self-started servers need it.
	Payload int
	// Rate, if set, makes the server publish at once at this rate instead
	// of waiting for /control/start.
	Rate float64
	// CPUs pins the server (e.g. "0"); empty: not pinned.
	CPUs string
	// Token is the control token the server requires on /control/*.
	Token string
}

// Self is the command that runs this executable's serve subcommand. Tests,
// whose executable is the test binary, name a built pushbench instead (see
// internal/testbin).
func Self() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return []string{exe, "serve"}, nil
}

// Argv is the server's whole command line.
func (s ServerSpec) Argv() ([]string, error) {
	if s.External {
		if s.TCPAddr != "" || s.TLSAddr != "" || s.Data != "" || s.NoAccelHeader {
			return nil, fmt.Errorf("%s serves neither the TCP floor, HTTPS, an event log nor the nginx pitfall", strings.Join(s.Command, " "))
		}
		s.Impl, s.CPUs = nil, "" // it is one implementation; Start pins it
	}
	argv := s.Command
	if len(argv) == 0 {
		self, err := Self()
		if err != nil {
			return nil, err
		}
		argv = self
	}
	argv = append(argv[:len(argv):len(argv)], "--addr", cmpOr(s.Addr, "127.0.0.1:0"))
	add := func(flag, value string) { argv = append(argv, "--"+flag, value) }
	if s.Rate <= 0 {
		argv = append(argv, "--wait-start")
	} else {
		add("rate", strconv.FormatFloat(s.Rate, 'g', -1, 64))
	}
	for _, t := range contract.All {
		if impl, ok := s.Impl[t]; ok && impl != "" {
			add("impl", string(t)+"="+impl)
		}
	}
	if s.TCPAddr != "" {
		add("tcp-addr", s.TCPAddr)
	}
	if s.TLSAddr != "" {
		add("tls-addr", s.TLSAddr)
	}
	if s.History > 0 {
		add("history", strconv.Itoa(s.History))
	}
	if s.MaxLag > 0 {
		add("max-lag", strconv.Itoa(s.MaxLag))
	}
	if s.Heartbeat > 0 {
		add("heartbeat", s.Heartbeat.String())
	}
	if s.PingInterval > 0 {
		add("ping-interval", s.PingInterval.String())
	}
	if s.Retry > 0 {
		add("retry", s.Retry.String())
	}
	if s.RetryJitter {
		argv = append(argv, "--retry-jitter")
	}
	if s.NoAccelHeader {
		argv = append(argv, "--x-accel-buffering=false")
	}
	if s.Data != "" {
		add("data", s.Data)
	}
	if s.Payload > 0 {
		add("payload", strconv.Itoa(s.Payload))
	}
	if s.CPUs != "" {
		add("cpus", s.CPUs)
	}
	if s.Token != "" {
		add("control-token", s.Token)
	}
	return argv, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Server is a server process a run started, kept apart from the load
// generator so that neither one's CPU and memory mix with the other's.
type Server struct {
	// URL is the HTTP base URL; TCP and TLS those of the floor and of HTTPS,
	// when served.
	URL, TCP, TLS string
	spec          ServerSpec
	argv          []string
	cmd           *exec.Cmd
	done          chan error // receives Wait's result once; put back by readers
}

// serverStartTimeout bounds the wait for a server to print where it listens.
const serverStartTimeout = 20 * time.Second

// StartServer runs the server spec describes and waits until it prints
// where it listens. Its stderr goes to ours; it is killed if ctx ends before
// it is ready.
func StartServer(ctx context.Context, spec ServerSpec) (*Server, error) {
	argv, err := spec.Argv()
	if err != nil {
		return nil, err
	}
	return startArgv(ctx, spec, argv)
}

func startArgv(ctx context.Context, spec ServerSpec, argv []string) (*Server, error) {
	srv, err := startProcess(ctx, spec, argv)
	if err != nil || !spec.External || spec.CPUs == "" {
		return srv, err
	}
	cpus, err := proc.ParseCPUs(spec.CPUs)
	if err == nil {
		err = proc.PinProcess(srv.Pid(), cpus...)
	}
	if err != nil {
		srv.Kill()
		return nil, fmt.Errorf("pinning %s: %w", argv[0], err)
	}
	return srv, nil
}

func startProcess(ctx context.Context, spec ServerSpec, argv []string) (*Server, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server %q: %w", argv, err)
	}
	s := &Server{spec: spec, argv: argv, cmd: cmd, done: make(chan error, 1)}
	ready := make(chan map[string]string, 1)
	go func() {
		urls := map[string]string{}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			u, ok := strings.CutPrefix(sc.Text(), contract.ListenPrefix)
			if !ok {
				continue
			}
			scheme, _, _ := strings.Cut(u, "://")
			urls[scheme] = u
			if scheme == "http" {
				ready <- urls
				break
			}
		}
		// Drain to EOF so the child never blocks on a full pipe, then reap.
		_, _ = io.Copy(io.Discard, out)
		s.done <- cmd.Wait()
	}()
	timeout := time.NewTimer(serverStartTimeout)
	defer timeout.Stop()
	select {
	case urls := <-ready:
		s.URL, s.TCP, s.TLS = urls["http"], urls["tcp"], urls["https"]
		return s, nil
	case err := <-s.done:
		s.done <- err
		return nil, fmt.Errorf("server %q exited before listening: %v", argv, err)
	case <-ctx.Done():
		s.Kill()
		return nil, ctx.Err()
	case <-timeout.C:
		s.Kill()
		return nil, fmt.Errorf("server %q did not report its address within %v", argv, serverStartTimeout)
	}
}

// Restart starts the same command line again: the same addresses (name
// fixed ones in the spec) and the same data directory. The old process
// must have exited.
func (s *Server) Restart(ctx context.Context) (*Server, error) {
	return startArgv(ctx, s.spec, s.argv)
}

// Target is the server as clients of transport t see it: the base URL they
// connect to, and its control.
func (s *Server) Target(t contract.Transport) Target {
	stream := s.URL
	switch {
	case t == contract.TCP:
		stream = s.TCP
	case t.TLS():
		stream = s.TLS
	}
	return Target{Stream: stream, Control: s.Control()}
}

// Control talks to the server's control endpoints.
func (s *Server) Control() Control {
	return Control{Base: s.URL, Token: s.spec.Token}
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop asks the server to shut down gracefully (SIGTERM) and waits for it,
// killing it if it has not exited within timeout. An exit by the signal is
// a clean stop.
func (s *Server) Stop(timeout time.Duration) error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-s.done:
		s.done <- err
		if signalled(err) {
			return nil
		}
		return err
	case <-t.C:
		s.Kill()
		return fmt.Errorf("server did not stop within %v; killed", timeout)
	}
}

// Kill ends the server at once (SIGKILL) and waits for it.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill() // already gone is fine
	err := <-s.done
	s.done <- err
}

// signalled reports whether a server's exit error is only the signal that
// stopped it.
func signalled(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && !ee.Exited()
}

// FreeLoopback returns a loopback address no one listens on now: a server
// that restarts names it, so its clients find the restarted one where the
// first one was.
func FreeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
