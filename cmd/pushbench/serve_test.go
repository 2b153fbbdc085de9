package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pushbench/pushbench/bench"
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/testbin"
	"github.com/pushbench/pushbench/servers"
)

// serveHangGuard bounds every wait on a server process, so that a server
// that stops answering fails the test instead of hanging it.
const serveHangGuard = 10 * time.Second

// The command refuses before it serves anything (servers.Listen has the
// rule).
func TestControlBeyondLoopbackNeedsAToken(t *testing.T) {
	t.Setenv(contract.TokenEnv, "")
	err := serveCmd(context.Background(), []string{"--addr", "0.0.0.0:0", "--wait-start"})
	if err == nil || !strings.Contains(err.Error(), "beyond loopback") {
		t.Fatalf("serve --addr 0.0.0.0:0 without a token: %v, want a refusal", err)
	}
}

// A server at its open-file limit keeps answering: with 256 files it holds
// 128 connections (the limit less servers.FDMargin), answers every stream
// beyond them 503 rather than failing accept with EMFILE, and /healthz and
// /stats still answer. Without the margin the 2×256 streams below would
// exhaust its files and the server would stop answering anything. So does
// one on nbio's engine, which takes each connection over from net's.
func TestServeAnswersAtItsOpenFileLimit(t *testing.T) {
	t.Run("std", func(t *testing.T) { serveAtOpenFileLimit(t) })
	t.Run("nbio", func(t *testing.T) { serveAtOpenFileLimit(t, "--impl", "sse=nbio") })
}

// serveAtOpenFileLimit serves with args beyond serve at 256 open files and
// opens 512 SSE streams.
func serveAtOpenFileLimit(t *testing.T, args ...string) {
	const files = 256
	bin := testbin.Pushbench(t)
	ctx, cancel := context.WithTimeout(context.Background(), serveHangGuard)
	defer cancel()
	// The shell lowers both limits before it becomes the server, which can
	// then raise its soft limit no further than 256.
	p, err := bench.StartServer(ctx, bench.ServerSpec{Command: append([]string{"sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, files), bin, "serve"}, args...)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(serveHangGuard); err != nil {
			t.Errorf("stopping the server: %v", err)
		}
	}()
	base := p.URL
	addr := strings.TrimPrefix(base, "http://")

	open := func() (net.Conn, string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetDeadline(time.Now().Add(serveHangGuard)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /sse HTTP/1.1\r\nHost: pushbench\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("hang guard: a stream got no answer within %v", serveHangGuard)
		}
		if err != nil {
			t.Fatalf("reading a stream's status: %v", err)
		}
		return c, line
	}
	held, refused := 0, 0
	for range 2 * files {
		c, line := open()
		switch {
		case strings.HasPrefix(line, "HTTP/1.1 200 "):
			held++
			defer c.Close()
		case strings.HasPrefix(line, "HTTP/1.1 503 "):
			refused++
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("a stream answered %q", line)
		}
	}
	if want := files - servers.FDMargin; held != want || refused != 2*files-want {
		t.Fatalf("%d streams held and %d refused, want %d held (%d files less %d) and the rest refused", held, refused, want, files, servers.FDMargin)
	}

	client := &http.Client{Timeout: serveHangGuard}
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("/healthz at the limit: %v", err)
	}
	if err := resp.Body.Close(); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz at the limit: %s %v", resp.Status, err)
	}
	resp, err = client.Get(base + "/stats")
	if err != nil {
		t.Fatalf("/stats at the limit: %v", err)
	}
	var st contract.Stats
	err = json.NewDecoder(resp.Body).Decode(&st)
	if cerr := resp.Body.Close(); err != nil || cerr != nil {
		t.Fatalf("/stats at the limit: %v %v", err, cerr)
	}
	if st.Conns.Limit != int64(held) || st.Transports.Refused != uint64(refused) || st.Transports.SSE.Active != int64(held) {
		t.Fatalf("/stats: conns %+v, refused %d, sse %+v; want a limit of %d, %d refused, %d streams", st.Conns, st.Transports.Refused, st.Transports.SSE, held, refused, held)
	}
}
