package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/loadgen"
)

// hangGuard bounds every wait in these tests. It is a hang guard, not a
// measurement: nothing here asserts how long anything took.
const hangGuard = 10 * time.Second

// runTail runs tail with args and returns what it printed. It must stop by
// itself (--count, or the stream's end).
func runTail(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := runTailDiag(t, args...)
	return out
}

// runTailDiag is runTail that also returns what tail said on its
// diagnostic stream.
func runTailDiag(t *testing.T, args ...string) (out, diag string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	var o, d bytes.Buffer
	if err := tail(ctx, args, &o, &d); err != nil {
		t.Fatalf("tail %q: %v\noutput so far:\n%s\ndiagnostics:\n%s", args, err, o.String(), d.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("tail %q ran for %v instead of stopping by itself: hung\noutput:\n%s", args, hangGuard, o.String())
	}
	return o.String(), d.String()
}

// streamSend writes parts to an event stream and flushes, reporting whether
// the client is still there.
func streamSend(w http.ResponseWriter, parts ...string) bool {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, p := range parts {
		if _, err := io.WriteString(w, p); err != nil {
			return false
		}
	}
	return http.NewResponseController(w).Flush() == nil
}

func TestTailSSE(t *testing.T) {
	type request struct{ path, query, lastID string }
	var (
		mu    sync.Mutex
		reqs  []request
		conns atomic.Int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, request{r.URL.Path, r.URL.RawQuery, r.Header.Get("Last-Event-ID")})
		mu.Unlock()
		if conns.Add(1) == 1 {
			// Not our server's stream: a BOM, CRLF, comments, a custom
			// event type, multi-line data with a kept space, retry on an
			// event that dispatches nothing, then an event cut off by the
			// end of the connection, whose id must not be resumed from.
			streamSend(w,
				"\uFEFF: welcome\r\nretry: 10\r\n\r\n",
				"id: 1\r\nevent: greet\r\ndata: hello\r\ndata:  world\r\n\r\n",
				": hb\r\ndata: {\"x\":\"<&>\"}\r\n\r\n",
				"id: 2\ndata\n\n",
				"id: 3\rdata: cut off",
			)
			return
		}
		if streamSend(w, "data: after\rdata: reconnect\r\r") {
			<-r.Context().Done()
		}
	}))
	defer srv.Close()

	got := runTail(t, "--count", "4", srv.URL+"/stream?token=a%20b")
	want := `{"type":"greet","id":"1","data":"hello\n world","retry":10}
{"type":"message","id":"1","data":"{\"x\":\"<&>\"}"}
{"type":"message","id":"2","data":""}
{"type":"message","id":"2","data":"after\nreconnect"}
`
	if got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	wantReqs := []request{{"/stream", "token=a%20b", ""}, {"/stream", "token=a%20b", "2"}}
	if fmt.Sprint(reqs) != fmt.Sprint(wantReqs) {
		t.Fatalf("requests %+v, want %+v", reqs, wantReqs)
	}
}

func TestTailSSEResumeFlags(t *testing.T) {
	var query, lastID atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query.Store(r.URL.RawQuery)
		lastID.Store(r.Header.Get("Last-Event-ID"))
		if streamSend(w, "id: 8\ndata: x\n\n") {
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	got := runTail(t, "--after", "7", "--last-event-id", "7", "--count", "1", srv.URL+"/sse?token=1")
	if want := `{"type":"message","id":"8","data":"x"}` + "\n"; got != want {
		t.Fatalf("printed %q, want %q", got, want)
	}
	if q, id := query.Load(), lastID.Load(); q != "token=1&after=7" || id != "7" {
		t.Fatalf("request query %q, Last-Event-ID %q; want token=1&after=7 and 7", q, id)
	}
}

func TestTailSSEFailsConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	var out bytes.Buffer
	if err := tail(ctx, []string{srv.URL}, &out, io.Discard); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("tail = %v, want an error naming the 403", err)
	}
}

func TestTailPoll(t *testing.T) {
	ev := func(seq uint64) string {
		return string(event.Event{Seq: seq, At: (1000 + int64(seq)) * 1000, Type: "tick", Data: "<p>"}.AppendJSON(nil))
	}
	var (
		mu      sync.Mutex
		queries []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		n := len(queries)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		var err error
		switch n {
		case 1: // resuming from 0 after history moved on: a gap, then more
			_, err = fmt.Fprintf(w, `{"events":[%s],"next":4,"more":true,"gap":{"from":1,"to":3}}`, ev(4))
		case 2:
			_, err = fmt.Fprintf(w, `{"events":[%s,%s],"next":6,"more":false}`, ev(5), ev(6))
		case 3:
			w.WriteHeader(http.StatusNoContent)
		default:
			_, err = fmt.Fprintf(w, `{"events":[%s],"next":7,"more":false}`, ev(7))
		}
		if err != nil {
			t.Errorf("write answer %d: %v", n, err)
		}
	}))
	defer srv.Close()
	got := runTail(t, "--transport", "poll", "--poll-interval", "1ms", "--count", "5", srv.URL+"/poll")
	want := `{"type":"gap","id":"3","data":"{\"gap\":{\"from\":1,\"to\":3}}"}
{"type":"tick","id":"4","data":"{\"seq\":4,\"at_us\":1004,\"type\":\"tick\",\"data\":\"\\u003cp\\u003e\"}"}
{"type":"tick","id":"5","data":"{\"seq\":5,\"at_us\":1005,\"type\":\"tick\",\"data\":\"\\u003cp\\u003e\"}"}
{"type":"tick","id":"6","data":"{\"seq\":6,\"at_us\":1006,\"type\":\"tick\",\"data\":\"\\u003cp\\u003e\"}"}
{"type":"tick","id":"7","data":"{\"seq\":7,\"at_us\":1007,\"type\":\"tick\",\"data\":\"\\u003cp\\u003e\"}"}
`
	if got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "after=0 after=4 after=6 after=6"; strings.Join(queries, " ") != want {
		t.Fatalf("queries %q, want %q", queries, want)
	}
}

func TestTailWS(t *testing.T) {
	var query atomic.Value
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query.Store(r.URL.RawQuery)
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer c.Close()
		for _, m := range []string{`{"seq":3}`, `{"gap":{"from":4,"to":5}}`} {
			if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye")
		if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
			t.Errorf("close: %v", err)
		}
	}))
	defer srv.Close()
	// No --count: the server going away ends the tail without an error.
	got := runTail(t, "--transport", "ws", "--after", "2", srv.URL+"/ws")
	want := `{"type":"message","data":"{\"seq\":3}"}
{"type":"message","data":"{\"gap\":{\"from\":4,\"to\":5}}"}
`
	if got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}
	if q := query.Load(); q != "after=2" {
		t.Fatalf("query %q, want after=2", q)
	}
}

func TestTailFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"a", "b"},
		{"--transport", "carrier-pigeon", "http://x"},
		{"--transport", "ws", "--last-event-id", "1", "http://x"},
		{"--poll-interval", "0s", "http://x"},
		{"--read-timeout", "0s", "http://x"},
	} {
		var out bytes.Buffer
		if err := tail(context.Background(), args, &out, io.Discard); err == nil {
			t.Errorf("tail %q succeeded, want an error", args)
		}
	}
}

// tail prints what a browser's EventSource dispatches: the stream decoded
// by the Encoding Standard's UTF-8 decoder, one U+FFFD per maximal subpart
// of an invalid sequence (Go's conversions would make one per byte).
func TestTailSSEDecodesUTF8AsABrowserDoes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if streamSend(w, "event: t\xF0\x9F\x98\nid: \xE0\x80\ndata: [\xF0\x9F\x98]\ndata: \xED\xA0\x80 ok \xC3\xA9\n\n") {
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	got := runTail(t, "--count", "1", srv.URL)
	want := "{\"type\":\"t\uFFFD\",\"id\":\"\uFFFD\uFFFD\",\"data\":\"[\uFFFD]\\n\uFFFD\uFFFD\uFFFD ok é\"}\n"
	if got != want {
		t.Fatalf("printed %q\nwant    %q", got, want)
	}
}

// A 204 is how a server tells an EventSource to stop reconnecting: tail
// says so and ends without an error.
func TestTailSSE204EndsTheTail(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	out, diag := runTailDiag(t, srv.URL)
	if out != "" || conns.Load() != 1 {
		t.Fatalf("printed %q over %d connections, want nothing over 1", out, conns.Load())
	}
	for _, want := range []string{"204 No Content", `"stop reconnecting"`} {
		if !strings.Contains(diag, want) {
			t.Errorf("diagnostics %q do not say %q", diag, want)
		}
	}
}

// While it retries, tail says on its diagnostic stream what failed and
// when it tries again: a stream that ended, a stream gone silent.
func TestTailSSESaysWhenItRetries(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch conns.Add(1) {
		case 1:
			streamSend(w, "retry: 5\n\n") // and the stream ends
		case 2:
			if streamSend(w) { // silent past the read timeout
				<-r.Context().Done()
			}
		default:
			if streamSend(w, "data: x\n\n") {
				<-r.Context().Done()
			}
		}
	}))
	defer srv.Close()
	out, diag := runTailDiag(t, "--count", "1", "--read-timeout", "50ms", srv.URL)
	// The retry field came on the first stream, before any event.
	if out != `{"type":"message","id":"","data":"x","retry":5}`+"\n" {
		t.Fatalf("printed %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(diag, "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "EOF") || !strings.Contains(lines[1], "silent") {
		t.Fatalf("diagnostics %q, want one line for the stream's end, one for its silence", diag)
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, "; reconnecting in 5ms") {
			t.Errorf("diagnostic %q does not say when tail reconnects", l)
		}
	}
}

func TestTailPollSaysWhenItRetries(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = c.Close() // no answer at all
			}
			return
		}
		_, _ = fmt.Fprintf(w, `{"events":[%s],"next":1,"more":false}`, event.Event{Seq: 1, Type: "tick"}.AppendJSON(nil))
	}))
	defer srv.Close()
	_, diag := runTailDiag(t, "--transport", "poll", "--poll-interval", "1ms", "--count", "1", srv.URL+"/poll")
	if !strings.Contains(diag, "EOF") || !strings.HasSuffix(diag, "; retrying in 1ms\n") || strings.Count(diag, "\n") != 1 {
		t.Fatalf("diagnostics %q, want one line saying the poll failed and when it is retried", diag)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// hostileStream writes prefix and then a header line or frame that never
// ends (no CR, no LF) to c, up to total bytes or until the client hangs up,
// counting into written. It reports whether the client hung up.
func hostileStream(c net.Conn, prefix []byte, total int64, written *atomic.Int64) (hungUp bool) {
	junk := bytes.Repeat([]byte("a"), 64<<10)
	n, err := c.Write(prefix)
	written.Add(int64(n))
	for left := total - int64(n); err == nil && left > 0; left -= int64(n) {
		n, err = c.Write(junk[:min(int64(len(junk)), left)])
		written.Add(int64(n))
	}
	return err != nil
}

// heapInUse is the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestTailBoundsHostileServers points tail at servers that never end a
// response header or a WebSocket frame. tail must keep its heap far below
// what the server streams, and either retry, saying so (SSE, poll), or end
// with a clear error (ws, which does not reconnect).
func TestTailBoundsHostileServers(t *testing.T) {
	const (
		heapLimit = 8 << 20       // growth allowed while the server streams
		total     = 8 * heapLimit // what the server streams on a connection
	)
	const endlessHeader = "HTTP/1.1 200 OK\r\nX-Junk: "
	// A text frame announcing 2^40 bytes (RFC 6455: 127, then a 64-bit
	// length), server to client, so unmasked.
	endlessFrame := []byte{0x81, 127, 0, 0, 1 << 0, 0, 0, 0, 0, 0}
	for _, tc := range []struct {
		name      string
		transport contract.Transport
		frame     bool   // upgrade first, then stream the frame
		wantErr   error  // nil: tail retries until stopped
		wantDiag  string // in the retry message
	}{
		{"sse header", contract.SSE, false, nil, "header too large"},
		{"poll header", contract.Poll, false, nil, "exceeded 65536 bytes"},
		{"ws header", contract.WS, false, loadgen.ErrHeaderTooLarge, ""},
		{"ws frame", contract.WS, true, websocket.ErrReadLimit, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				conns, hungUp, finished, written atomic.Int64
				wg                               sync.WaitGroup
			)
			stop := make(chan struct{})
			serve := func(c net.Conn, prefix []byte) {
				conns.Add(1)
				if hostileStream(c, prefix, total, &written) {
					hungUp.Add(1)
				} else {
					finished.Add(1)
					<-stop // the client decides when it ends
				}
				_ = c.Close() // done either way
			}
			var addr string
			if tc.frame {
				up := websocket.Upgrader{}
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					c, err := up.Upgrade(w, r, nil)
					if err != nil {
						return
					}
					serve(c.NetConn(), endlessFrame)
				}))
				defer srv.Close()
				addr = srv.Listener.Addr().String()
			} else {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer wg.Wait()
				defer l.Close()
				wg.Go(func() {
					for {
						c, err := l.Accept()
						if err != nil {
							return
						}
						wg.Go(func() {
							// Answer once asked, as a server does:
							// net/http takes bytes that come before
							// its request for a broken connection.
							br := bufio.NewReader(c)
							if _, err := http.ReadRequest(br); err != nil {
								_ = c.Close() // no request: nothing to answer
								return
							}
							go func() { _, _ = io.Copy(io.Discard, br) }() // the rest; ends with c
							serve(c, []byte(endlessHeader))
						})
					}
				})
				addr = l.Addr().String()
			}
			defer close(stop)

			scheme := "http://"
			if tc.transport == contract.WS {
				scheme = "ws://"
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var diag syncBuffer
			done := make(chan error, 1)
			before := heapInUse()
			go func() {
				done <- tail(ctx, []string{"--transport", string(tc.transport), "--poll-interval", "1h", scheme + addr + "/x"}, io.Discard, &diag)
			}()
			deadline := time.Now().Add(hangGuard)
			for hungUp.Load()+finished.Load() == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the server neither streamed all it had nor saw tail hang up within %v: hung", hangGuard)
				}
				time.Sleep(2 * time.Millisecond)
			}
			if grew := heapInUse() - before; grew > heapLimit {
				t.Fatalf("heap grew %d MiB while the server streamed %d MiB; limit %d MiB", grew>>20, written.Load()>>20, heapLimit>>20)
			}
			if finished.Load() != 0 {
				t.Fatalf("tail took all %d MiB, want it to hang up", total>>20)
			}
			if tc.wantErr == nil {
				for !strings.Contains(diag.String(), tc.wantDiag) {
					if time.Now().After(deadline) {
						t.Fatalf("diagnostics %q never said %q: hung", diag.String(), tc.wantDiag)
					}
					time.Sleep(2 * time.Millisecond)
				}
				cancel()
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(hangGuard):
				t.Fatalf("tail did not return within %v: hung", hangGuard)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("tail = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && !strings.Contains(diag.String(), " in 1h0m0s\n") && !strings.Contains(diag.String(), " in 3s\n") {
				t.Fatalf("diagnostics %q do not say when tail retries", diag.String())
			}
		})
	}
}
