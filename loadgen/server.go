package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pushbench/pushbench/internal/proc"
)

// ServerProcess is a pushbench server running as a separate process, so that
// the load generator's own CPU and memory never mix with the figures of the
// server it measures.
type ServerProcess struct {
	// URL is the server's HTTP base URL, read from its output.
	URL  string
	urls map[string]string // every listening URL by scheme
	cmd  *exec.Cmd
	done chan error // receives Wait's result once
}

// listenPrefix starts the lines a server prints for each address it listens
// on; the http one comes last and means the server is ready.
const listenPrefix = "pushbench: listening on "

// StartServer runs argv (for example: /path/pushbench serve --addr
// 127.0.0.1:0 --wait-start) and waits until it prints where it listens. Its
// stderr goes to ours; the process is killed if ctx ends.
func StartServer(ctx context.Context, argv ...string) (*ServerProcess, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server %q: %w", argv, err)
	}
	p := &ServerProcess{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan map[string]string, 1)
	go func() {
		urls := map[string]string{}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			u, ok := strings.CutPrefix(sc.Text(), listenPrefix)
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
		p.done <- cmd.Wait()
	}()
	select {
	case p.urls = <-ready:
		p.URL = p.urls["http"]
		return p, nil
	case err := <-p.done:
		p.done <- err
		return nil, fmt.Errorf("server %q exited before listening: %v", argv, err)
	case <-ctx.Done():
		p.Kill()
		return nil, ctx.Err()
	case <-time.After(20 * time.Second):
		p.Kill()
		return nil, fmt.Errorf("server %q did not report its address within 20s", argv)
	}
}

// Listening returns the URL the server printed for scheme (http, tcp).
func (p *ServerProcess) Listening(scheme string) (string, bool) {
	u, ok := p.urls[scheme]
	return u, ok
}

// Pid is the server's process id.
func (p *ServerProcess) Pid() int { return p.cmd.Process.Pid }

// Stop asks the server to shut down gracefully (SIGTERM) and waits for it,
// killing it if it has not exited within timeout.
func (p *ServerProcess) Stop(timeout time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("server did not stop within %v; killed", timeout)
	}
}

// Kill ends the server at once (SIGKILL) and waits for it.
func (p *ServerProcess) Kill() {
	_ = p.cmd.Process.Kill() // already gone is fine
	err := <-p.done
	p.done <- err
}

// ServerStats is the part of a server's /stats answer a run reads.
type ServerStats struct {
	Hub struct {
		Head        uint64 `json:"head"`
		Subscribers int    `json:"subscribers"`
		SlowDropped uint64 `json:"slow_dropped"`
	} `json:"hub"`
	// Transports counts what each transport accepted: streams opened, polls
	// answered. A fault run reads the accept rate of a storm from them.
	Transports struct {
		SSE, WS, TCP struct {
			Total uint64 `json:"total"`
		}
		Poll struct {
			Requests uint64 `json:"requests"`
		}
	} `json:"transports"`
	Process proc.Stats `json:"process"`
}

// Accepted is every stream the server opened plus every poll it answered.
func (s ServerStats) Accepted() uint64 {
	t := s.Transports
	return t.SSE.Total + t.WS.Total + t.TCP.Total + t.Poll.Requests
}

// Control talks to a pushbench server's control endpoints.
type Control struct {
	Base   string
	Client *http.Client
}

func (c Control) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	return http.DefaultClient
}

func (c Control) do(ctx context.Context, method, path string, q url.Values, into any) error {
	u := c.Base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if into == nil {
		return nil
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// Stats reads the server's /stats.
func (c Control) Stats(ctx context.Context) (ServerStats, error) {
	var s ServerStats
	err := c.do(ctx, http.MethodGet, "/stats", nil, &s)
	return s, err
}

// Start starts the server's generator: rate events/s in bursts of burst,
// payload bytes each, until stopped or, when count > 0, count events.
func (c Control) Start(ctx context.Context, rate float64, burst, payload int, count uint64) error {
	q := url.Values{
		"rate":    {strconv.FormatFloat(rate, 'g', -1, 64)},
		"burst":   {strconv.Itoa(burst)},
		"payload": {strconv.Itoa(payload)},
	}
	if count > 0 {
		q.Set("count", strconv.FormatUint(count, 10))
	}
	return c.do(ctx, http.MethodPost, "/control/start", q, nil)
}

// Stop stops the server's generator and returns the last seq published.
func (c Control) Stop(ctx context.Context) (uint64, error) {
	var v struct {
		Head uint64 `json:"head"`
	}
	err := c.do(ctx, http.MethodPost, "/control/stop", nil, &v)
	return v.Head, err
}
