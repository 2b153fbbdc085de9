package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/servers"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// needNginx skips the test on a machine without nginx (make deps installs
// it).
func needNginx(t testing.TB) string {
	t.Helper()
	exe, err := FindNginx()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	return exe
}

// stack is an in-process server on a real loopback listener with nginx in
// front of it.
type stack struct {
	srv *servers.Server
	hub *servers.Hub
	ng  *Nginx
}

func startStack(t testing.TB, o *servers.Options, cfg Config) *stack {
	t.Helper()
	cfg.Exec = needNginx(t)
	hub := servers.NewHub(nil)
	srv, err := servers.New(hub, o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close() // ends the streams, so Close waits only for polls
		hs.Close()
	})
	cfg.Upstream = strings.TrimPrefix(hs.URL, "http://")
	ng, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ng.Stop(DefaultStopTimeout); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(ng.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("nginx prefix %s left behind: %v", ng.Dir, err)
		}
	})
	return &stack{srv: srv, hub: hub, ng: ng}
}

// publish publishes count events at rate and returns the last one's seq.
func (s *stack) publish(t testing.TB, rate float64, count uint64) uint64 {
	t.Helper()
	first, err := s.srv.Start(servers.Schedule{Rate: rate, Payload: 32, Count: count})
	if err != nil {
		t.Fatal(err)
	}
	return first + count - 1
}

func TestEveryTransportThroughNginxDeliversEveryEventOnceInOrder(t *testing.T) {
	for _, tr := range []contract.Transport{contract.Poll, contract.SSE, contract.WS} {
		t.Run(string(tr), func(t *testing.T) {
			st := startStack(t, nil, Config{Connections: 16})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			const clients, events = 4, 40
			f, err := loadgen.StartFleet(ctx, loadgen.FleetConfig{
				Transport: tr, Target: st.ng.URL, Clients: clients, After: st.hub.Head(),
				Options: loadgen.Options{PollInterval: 20 * time.Millisecond},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Stop()
			if err := f.WaitConnected(ctx); err != nil {
				t.Fatalf("connecting through nginx: %v", err)
			}
			head := st.publish(t, 200, events)
			if err := f.WaitCaughtUp(ctx, head); err != nil {
				t.Fatalf("catching up with %d: %v (%d clients behind)", head, err, f.Behind(head))
			}
			f.Stop()
			c := f.Counts(head)
			if c.Expected != clients*events || c.Delivered != c.Expected || c.Lost+c.Duplicates+c.Reordered+c.Gaps+c.Malformed != 0 {
				t.Errorf("through nginx: %+v, want %d events each to %d clients exactly once in order", c, events, clients)
			}
			if c.Connects != clients && tr != contract.Poll {
				t.Errorf("%d stream connections for %d clients: streams were cut", c.Connects, clients)
			}
		})
	}
}

func TestWebSocketUpgradesThroughNginx(t *testing.T) {
	st := startStack(t, nil, Config{})
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(st.ng.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	req := "GET /ws HTTP/1.1\r\nHost: pushbench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	accept := base64.StdEncoding.EncodeToString(sum[:])
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		!strings.EqualFold(resp.Header.Get("Connection"), "upgrade") || resp.Header.Get("Sec-WebSocket-Accept") != accept {
		t.Fatalf("through nginx: %s %v, want 101 with Upgrade: websocket and Sec-WebSocket-Accept: %s", resp.Status, resp.Header, accept)
	}
	// The tunnel carries the server's frames: one event is one unmasked
	// text frame (FIN, opcode 1).
	st.publish(t, 100, 1)
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		t.Fatalf("reading the first frame through the tunnel: %v", err)
	}
	if hdr[0] != 0x81 || hdr[1]&0x80 != 0 {
		t.Fatalf("first frame header % x, want 81 and an unmasked length", hdr)
	}
}

// sseEvents opens /sse through st's nginx, publishes 20 small events and
// counts the events that arrive on the wire. With window > 0 it counts what
// arrives within window of the publication: a buffering nginx passes on
// nothing at all, however slow the machine. With window 0 it reads until the
// first event arrives, which a stream passed on as published must deliver
// (the minute is a hang guard, not a measurement).
func sseEvents(t *testing.T, st *stack, window time.Duration) (int, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(st.ng.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /sse HTTP/1.1\r\nHost: pushbench\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// The request must reach the server before events are published, or
	// the stream starts after them: wait for the subscription.
	deadline := time.Now().Add(time.Minute)
	for st.srv.Stats().Hub.Subscribers == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the SSE request did not reach the server through nginx (hang guard)")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st.publish(t, 20, 30)
	wait := window
	if wait == 0 {
		wait = time.Minute
	}
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		b := got.Bytes()
		events := bytes.Count(b, []byte("\nid: ")) + bytes.Count(b[:min(len(b), 4)], []byte("id: "))
		if window == 0 && events > 0 {
			return events, b
		}
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("reading the stream: %v", err)
			}
			return events, b
		}
	}
}

func TestSSEBufferingPitfallAndItsFixes(t *testing.T) {
	const window = time.Second
	cases := []struct {
		name     string
		o        *servers.Options
		cfg      Config
		buffered bool
	}{
		// A location with nothing but proxy_pass (HTTP/1.0 upstream,
		// proxy_buffering on) and a server without the header: nginx holds
		// the response, headers included, until its buffer fills.
		{"pitfall", &servers.Options{NoAccelHeader: true}, Config{SSEHTTP10: true, SSEBuffering: true}, true},
		{"fix: X-Accel-Buffering header", nil, Config{SSEHTTP10: true, SSEBuffering: true}, false},
		{"fix: proxy_buffering off", &servers.Options{NoAccelHeader: true}, Config{SSEHTTP10: true}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := startStack(t, c.o, c.cfg)
			if c.buffered {
				if events, got := sseEvents(t, st, window); events > 0 {
					t.Fatalf("%d events arrived within %v through a buffering nginx; want none:\n%s", events, window, got)
				}
				return
			}
			if events, got := sseEvents(t, st, 0); events == 0 {
				t.Fatalf("no event arrived while the stream was open; got %q", got)
			}
		})
	}
}

func TestStartRefusesWithoutUpstreamAndStopLeavesNothing(t *testing.T) {
	exe := needNginx(t)
	if _, err := Start(context.Background(), Config{Exec: exe}); err == nil {
		t.Fatal("Start without Upstream succeeded")
	}
	ng, err := Start(context.Background(), Config{Exec: exe, Upstream: "127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ng.Conf, "listen 127.0.0.1:") || strings.Contains(ng.Conf, "/etc/nginx") || strings.Contains(ng.Conf, "/var/") {
		t.Errorf("configuration not confined to loopback and its prefix:\n%s", ng.Conf)
	}
	pid := ng.Pid()
	if err := ng.Stop(DefaultStopTimeout); err != nil {
		t.Fatal(err)
	}
	if err := ng.Stop(DefaultStopTimeout); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("nginx %d still exists after Stop", pid)
	}
}

func TestRunMeasuresOverheadAndBuffering(t *testing.T) {
	exe := needNginx(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := Run(ctx, &Options{
		Nginx: exe, Clients: 4, Rate: 50, Payload: 32,
		Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond,
		// A hang guard for the clients that must catch up; the pitfall's
		// clients never do and wait it out.
		Drain: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Overhead) != 3 || len(out.Buffering) != len(bufferingCases) {
		t.Fatalf("%d overhead and %d buffering figures, want 3 and %d", len(out.Overhead), len(out.Buffering), len(bufferingCases))
	}
	for _, ov := range out.Overhead {
		if !ov.Direct.OK() || !ov.Proxied.OK() {
			t.Errorf("%s: direct %+v, through nginx %+v: want every event once, in order", ov.Transport, ov.Direct, ov.Proxied)
		}
	}
	for _, c := range out.Buffering {
		if c.Name != "pitfall" && !c.Figures.OK() {
			t.Errorf("%v: %+v: want every event once, in order", c, c.Figures)
		}
	}
	var md bytes.Buffer
	if err := out.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(md.String(), "## Reverse proxy\n") || !strings.Contains(md.String(), "proxy_buffering off;") {
		t.Errorf("markdown section:\n%s", md.String())
	}
	dir := t.TempDir()
	if err := out.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil || back.Clients != 4 || len(back.Buffering) != len(out.Buffering) {
		t.Fatalf("Load: %+v, %v", back, err)
	}
}
