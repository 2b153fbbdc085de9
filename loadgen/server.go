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
		// SlowDropped counts only the hub's cut-offs; see SlowDisconnects.
		SlowDropped uint64 `json:"slow_dropped"`
	} `json:"hub"`
	// Transports counts what each transport accepted: streams opened, polls
	// answered. A fault run reads the accept rate of a storm from them.
	Transports struct {
		SSE, WS, TCP struct {
			Total uint64 `json:"total"`
			// SlowDisconnects counts streams ended for a slow client:
			// cut off by the hub for lagging, or a write that missed
			// its deadline.
			SlowDisconnects uint64 `json:"slow_disconnects"`
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

// SlowDisconnects is every stream the server ended for a slow client, over
// its transports. It includes the hub's cut-offs (Hub.SlowDropped) and also
// the streams a write deadline ended, which the hub never sees.
func (s ServerStats) SlowDisconnects() uint64 {
	t := s.Transports
	return t.SSE.SlowDisconnects + t.WS.SlowDisconnects + t.TCP.SlowDisconnects
}

// DefaultControlTimeout bounds each request Control makes when its Timeout
// is not set: a server that accepts the connection and never answers ends
// the run with an error instead of holding it for ever.
const DefaultControlTimeout = 10 * time.Second

// ErrControlToken is a control request the server refused for want of the
// right token (401 Unauthorized or 403 Forbidden).
var ErrControlToken = errors.New("loadgen: control: the server refused the control token")

// controlClient is Control's default client: net/http's default Transport
// with the response header bounded as the clients' are.
var controlClient = func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = MaxResponseHeaderBytes
	return &http.Client{Transport: tr}
}()

// Control talks to a pushbench server's /stats and control endpoints.
type Control struct {
	// Base is the server's HTTP base URL, e.g. http://127.0.0.1:8080.
	Base string
	// Client makes the requests; nil means net/http's default Transport
	// with the response header bounded by MaxResponseHeaderBytes.
	Client *http.Client
	// Token, if set, is sent as "Authorization: Bearer TOKEN" with every
	// request: a server listening beyond loopback requires it on
	// /control/*.
	Token string
	// Timeout bounds each request, on top of ctx. Defaults to
	// DefaultControlTimeout.
	Timeout time.Duration
}

func (c Control) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	return controlClient
}

func (c Control) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultControlTimeout
}

func (c Control) do(ctx context.Context, method, path string, q url.Values, into any) error {
	u := c.Base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, u, nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s %s: no answer within %v: %w", method, u, c.timeout(), err)
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		hint := "no token was sent"
		if c.Token != "" {
			hint = "the token sent is not the server's"
		}
		return fmt.Errorf("%w: %s %s: %s (%s): %s", ErrControlToken, method, path, resp.Status, hint, strings.TrimSpace(string(body)))
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
