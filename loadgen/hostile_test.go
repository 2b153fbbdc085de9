package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// heapInUse is the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestClientsBoundResponseHeaders points every HTTP/1.1 client (SSE,
// polling, the WebSocket handshake) at a server whose response header
// never ends. The client must stop reading at MaxResponseHeaderBytes, hang
// up, count a header_too_large failure and go on (a retry, not giving up),
// with the heap it holds meanwhile far below what the server streams.
func TestClientsBoundResponseHeaders(t *testing.T) {
	const (
		heapLimit = 8 << 20       // growth allowed while the header streams
		total     = 8 * heapLimit // what the server streams on a connection
	)
	for _, transport := range []contract.Transport{contract.SSE, contract.Poll, contract.WS} {
		t.Run(string(transport), func(t *testing.T) {
			h := newHostile(t, "HTTP/1.1 200 OK\r\nX-Junk: ", total)
			tr := NewTracker(0, nil, 0)
			// Hour-long pauses: one connection shows it, and the client
			// must still be in its retry loop when stopped.
			o := Options{SSERetry: time.Hour, PollInterval: time.Hour, BackoffMin: time.Hour, BackoffMax: time.Hour}
			c, err := New(transport, "http://"+h.addr(), tr, &o)
			if err != nil {
				t.Fatal(err)
			}
			before := heapInUse()
			r := start(t, c)
			waitFor(t, "the server to stream all it has or the client to hang up", func() bool {
				return h.hungUp.Load()+h.finished.Load() > 0
			})
			if grew := heapInUse() - before; grew > heapLimit {
				t.Fatalf("heap grew %d MiB while the server streamed %d MiB of one header line; limit %d MiB",
					grew>>20, h.written.Load()>>20, heapLimit>>20)
			}
			if h.finished.Load() != 0 || h.hungUp.Load() != 1 {
				t.Fatalf("the client took all %d MiB of header (%d connections hung up on), want it to hang up", total>>20, h.hungUp.Load())
			}
			waitFor(t, "the failure to be counted", func() bool { return tr.failed[FailHeaderTooLarge].Load() == 1 })
			if err := r.stop(t); err != nil {
				t.Fatalf("Run = %v, want nil: a header too large is retried, as a network error is", err)
			}
			got := tr.Counts(0)
			want := Counts{Attempts: 1, Errors: results.Errors{HeaderTooLarge: 1}}
			if transport == contract.Poll {
				want.Connects = 1 // a poller counts its keep-alive connection
			}
			if got != want {
				t.Fatalf("counts %+v\nwant   %+v", got, want)
			}
		})
	}
}

// The followers bound the header as the clients do: a WebSocket, which does
// not reconnect, ends with ErrHeaderTooLarge, and a Poller retries, saying
// so through OnRetry.
func TestFollowersBoundResponseHeaders(t *testing.T) {
	const total = 64 << 20 // far more than the bound
	t.Run("ws", func(t *testing.T) {
		h := newHostile(t, "HTTP/1.1 101 Switching Protocols\r\nX-Junk: ", total)
		ws := &WebSocket{URL: "ws://" + h.addr() + "/ws"}
		if err := start(t, ws).wait(t); !errors.Is(err, ErrHeaderTooLarge) {
			t.Fatalf("Run = %v, want ErrHeaderTooLarge", err)
		}
		waitFor(t, "the server to see the client hang up", func() bool { return h.hungUp.Load() == 1 })
	})
	t.Run("poll", func(t *testing.T) {
		h := newHostile(t, "HTTP/1.1 200 OK\r\nX-Junk: ", total)
		var retries atomic.Int64
		po := &Poller{
			URL:     "http://" + h.addr() + "/poll",
			Options: &Options{PollInterval: time.Hour},
			OnRetry: func(error, time.Duration) { retries.Add(1) },
		}
		r := start(t, po)
		waitFor(t, "a retry", func() bool { return retries.Load() == 1 })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil: a header too large is retried", err)
		}
		waitFor(t, "the server to see the client hang up", func() bool { return h.hungUp.Load() == 1 })
		if n := h.accepted.Load(); n != 1 {
			t.Fatalf("%d connections, want 1: the retry waits an hour", n)
		}
	})
}

// A header just under the bound is read, and the limit lifted after it:
// the stream that follows is not bounded by it.
func TestHeaderBoundLiftsAfterTheHeader(t *testing.T) {
	pad := bytes.Repeat([]byte("p"), MaxResponseHeaderBytes-4096)
	stream := bytes.Repeat([]byte(": heartbeat comment\n"), 2*MaxResponseHeaderBytes/20)
	answer := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Pad: " + string(pad) + "\r\n\r\n" +
		string(stream) + sseFrame(1)
	h := newHostile(t, answer, int64(len(answer)))
	tr := NewTracker(0, nil, 0)
	c := newTestClient(t, contract.SSE, "http://"+h.addr(), tr, Options{SSERetry: time.Hour})
	r := start(t, c)
	waitFor(t, "event 1 after twice the bound of stream", func() bool { return tr.Delivered() == 1 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got, want := tr.Counts(1), (Counts{Delivery: results.Delivery{Expected: 1, Delivered: 1}, Attempts: 1, Connects: 1}); got != want {
		t.Fatalf("counts %+v\nwant   %+v", got, want)
	}
}

func TestClassifyFailures(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("read stream from x: %w", err) }
	for _, tc := range []struct {
		err  error
		want Failure
	}{
		{errHeaderLimit, FailHeaderTooLarge},
		{(&headerConn{left: 0}).headerErr(io.ErrUnexpectedEOF), FailHeaderTooLarge},
		{wrap(ErrSSETooLong), FailTooLong},
		{closeError(websocket.ErrReadLimit), FailTooLong},
		{wrap(dialError{io.EOF}), FailConnect},
		{&net.OpError{Op: "dial", Err: io.EOF}, FailConnect},
		{wrap(ErrSSEStatus), FailStatus},
		{wrap(errServerStatus), FailStatus},
		{wrap(errSSEIdle), FailTimeout},
		{wrap(io.EOF), FailClosed},
		{wrap(net.ErrClosed), FailClosed},
		{closeError(&websocket.CloseError{Code: websocket.CloseProtocolError}), FailProtocol},
		{&websocket.CloseError{Code: websocket.CloseGoingAway}, FailClosed},
		{wrap(io.ErrNoProgress), FailProtocol},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
