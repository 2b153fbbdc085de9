package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// hostile is a server written for one misbehaviour: on every connection it
// reads the request's head, writes prefix and then junk until it has
// written total bytes or the client hangs up, and then holds the connection
// open until the client closes it. It reads and discards whatever else the
// client sends.
type hostile struct {
	l        net.Listener
	prefix   []byte
	total    int64
	wg       sync.WaitGroup
	done     chan struct{}
	conns    atomic.Int64
	written  atomic.Int64 // bytes written over every connection
	hungUp   atomic.Int64 // connections the client closed before total
	finished atomic.Int64 // connections that took all total bytes
}

// junk is what a hostile server streams: no CR or LF, so a header line
// never ends.
var junk = bytes.Repeat([]byte("a"), 64<<10)

// newHostile starts a hostile server on loopback; it stops with the test.
func newHostile(t *testing.T, prefix string, total int64) *hostile {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostile{l: l, prefix: []byte(prefix), total: total, done: make(chan struct{})}
	h.wg.Go(h.accept)
	t.Cleanup(func() {
		close(h.done)
		_ = l.Close() // ends accept; its error says nothing
		h.wg.Wait()
	})
	return h
}

func (h *hostile) addr() string { return h.l.Addr().String() }

func (h *hostile) accept() {
	for {
		c, err := h.l.Accept()
		if err != nil {
			return // the listener is closed
		}
		h.conns.Add(1)
		h.wg.Go(func() { h.serve(c) })
	}
}

func (h *hostile) serve(c net.Conn) {
	// Answer only once asked, as a server does: an HTTP client may take
	// bytes that come before its request for a broken connection.
	br := bufio.NewReader(c)
	if _, err := http.ReadRequest(br); err != nil {
		_ = c.Close() // no request: nothing to answer
		return
	}
	read := make(chan struct{})
	h.wg.Go(func() {
		defer close(read)
		_, _ = io.Copy(io.Discard, br) // until the client closes, or serve does
	})
	defer func() {
		_ = c.Close() // done with it either way
		<-read
	}()
	if !h.write(c) {
		h.hungUp.Add(1)
		return
	}
	h.finished.Add(1)
	select { // the client decides when the connection ends
	case <-read:
	case <-h.done:
	}
}

// write writes the prefix and junk up to total, reporting whether all of it
// went out.
func (h *hostile) write(c net.Conn) bool {
	n, err := c.Write(h.prefix)
	h.written.Add(int64(n))
	left := h.total - int64(n)
	for err == nil && left > 0 {
		n, err = c.Write(junk[:min(int64(len(junk)), left)])
		h.written.Add(int64(n))
		left -= int64(n)
	}
	return err == nil
}

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
			checkLeaks(t)
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

// A header just under the bound is read, and the limit lifted after it:
// the stream that follows is not bounded by it.
func TestHeaderBoundLiftsAfterTheHeader(t *testing.T) {
	checkLeaks(t)
	pad := bytes.Repeat([]byte("p"), MaxResponseHeaderBytes-4096)
	stream := bytes.Repeat([]byte(": heartbeat comment\n"), 2*MaxResponseHeaderBytes/20)
	answer := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Pad: " + string(pad) + "\r\n\r\n" +
		string(stream) + string(sseTestFrame(1))
	h := newHostile(t, answer, int64(len(answer)))
	tr := NewTracker(0, nil, 0)
	c := newTestSSEClient(t, "http://"+h.addr(), tr, &Options{SSERetry: time.Hour})
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
