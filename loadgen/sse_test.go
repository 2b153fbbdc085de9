package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/results"
)

// sseNoLeaks fails the test if it leaves goroutines behind. Call it first:
// cleanups run last-in first-out, so the check runs after every server the
// test starts has been closed.
func sseNoLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// sseTestEvent is the canonical JSON of event seq, with a fixed time so tests
// can compare bytes.
func sseTestEvent(seq uint64) []byte {
	return event.Event{Seq: seq, At: 1_700_000_000_000_000_000 + int64(seq), Type: "tick", Data: "payload"}.AppendJSON(nil)
}

// sseTestFrame is event seq as the SSE server frames it.
func sseTestFrame(seq uint64) string {
	return fmt.Sprintf("id: %d\nevent: tick\ndata: %s\n\n", seq, sseTestEvent(seq))
}

// sseServer serves handle on /sse, numbering connections from 1.
func sseServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, conn int)) (srv *httptest.Server, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	mux := http.NewServeMux()
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		handle(w, r, int(conns.Add(1)))
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, conns
}

// sseSend starts a 200 text/event-stream response if none is started yet,
// writes parts and flushes. It reports whether the client is still there.
func sseSend(w http.ResponseWriter, parts ...string) bool {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/event-stream")
	}
	for _, p := range parts {
		if _, err := io.WriteString(w, p); err != nil {
			return false
		}
	}
	return http.NewResponseController(w).Flush() == nil
}

// runSSE runs c until the returned stop is called; stop cancels, waits for
// Run and returns its error, failing the test if Run hangs.
func runSSE(t *testing.T, c Client) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(hangGuard):
				t.Fatalf("Run did not return within %v of the cancel: hung", hangGuard)
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() }) // a test that failed early still stops it
	return stop
}

func sseWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %v: hung", what, hangGuard)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newTestSSEClient(t *testing.T, base string, tr *Tracker, o *Options) Client {
	t.Helper()
	c, err := New(contract.SSE, base, tr, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSSEClientDelivers(t *testing.T) {
	sseNoLeaks(t)
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) {
		for h, want := range map[string]string{"Accept": "text/event-stream", "Cache-Control": "no-cache", "Last-Event-ID": ""} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s: %q, want %q", h, got, want)
			}
		}
		if r.URL.RawQuery != "after=0" {
			t.Errorf("query %q, want after=0", r.URL.RawQuery)
		}
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		if !sseSend(w, "retry: 1000\n\n: hb\n\n", sseTestFrame(1), sseTestFrame(2), strings.ReplaceAll(sseTestFrame(3), "\n", "\r\n")) {
			return
		}
		<-r.Context().Done()
	})
	var mu sync.Mutex
	var seen []string
	tr := NewTracker(0, NewLatency(), 0)
	stop := runSSE(t, newTestSSEClient(t, srv.URL, tr, &Options{Observe: func(msg []byte) {
		mu.Lock()
		seen = append(seen, string(msg))
		mu.Unlock()
	}}))
	sseWaitFor(t, "3 events", func() bool { return tr.Delivered() == 3 })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	if got, want := tr.Counts(3), (Counts{Delivery: results.Delivery{Expected: 3, Delivered: 3}, Attempts: 1, Connects: 1}); got != want {
		t.Fatalf("counts %+v\nwant %+v", got, want)
	}
	want := []string{string(sseTestEvent(1)), string(sseTestEvent(2)), string(sseTestEvent(3))}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("observed\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

func TestSSEClientReconnectsWithLastEventID(t *testing.T) {
	sseNoLeaks(t)
	var closedAt atomic.Int64
	srv, conns := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) {
		// The URL never changes: the cursor from construction, not the
		// one the client has reached.
		if r.URL.RawQuery != "after=10" {
			t.Errorf("connection %d: query %q, want after=10", conn, r.URL.RawQuery)
		}
		switch conn {
		case 1:
			if id := r.Header.Get("Last-Event-ID"); id != "" {
				t.Errorf("first connection sent Last-Event-ID %q", id)
			}
			// Event 13 is cut off before its blank line: its id must not
			// count, or the client would never get it.
			sseSend(w, "retry: 50\n\n", sseTestFrame(11), sseTestFrame(12), strings.TrimSuffix(sseTestFrame(13), "\n"))
			closedAt.Store(time.Now().UnixNano())
		case 2:
			if id := r.Header.Get("Last-Event-ID"); id != "12" {
				t.Errorf("second connection sent Last-Event-ID %q, want 12", id)
			}
			if wait := time.Duration(time.Now().UnixNano() - closedAt.Load()); wait < 50*time.Millisecond {
				t.Errorf("reconnected after %v, want at least the 50ms of retry:", wait)
			}
			if sseSend(w, sseTestFrame(13), sseTestFrame(14)) {
				<-r.Context().Done()
			}
		default:
			t.Errorf("unexpected connection %d", conn)
		}
	})
	tr := NewTracker(10, nil, 0)
	// Without retry: the client would wait an hour.
	stop := runSSE(t, newTestSSEClient(t, srv.URL, tr, &Options{SSERetry: time.Hour}))
	sseWaitFor(t, "4 events", func() bool { return tr.Delivered() == 4 })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	// The first stream's end is the one failure: closed by the server.
	want := Counts{Delivery: results.Delivery{Expected: 4, Delivered: 4}, Attempts: 2, Connects: 2, Errors: results.Errors{Closed: 1}}
	if got := tr.Counts(14); got != want {
		t.Fatalf("counts %+v\nwant %+v", got, want)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestSSEClientFailsConnection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		handle func(w http.ResponseWriter)
		want   error
	}{
		{"204", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }, ErrSSEStatus},
		{"500", func(w http.ResponseWriter) { http.Error(w, "boom", http.StatusInternalServerError) }, ErrSSEStatus},
		{"400", func(w http.ResponseWriter) { http.Error(w, "cursor ahead", http.StatusBadRequest) }, ErrSSEStatus},
		{"text/plain", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			sseSend(w, "data: x\n\n")
		}, ErrSSEContentType},
		{"no content type", func(w http.ResponseWriter) {
			w.Header()["Content-Type"] = nil // no sniffing either
			w.WriteHeader(http.StatusOK)
		}, ErrSSEContentType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sseNoLeaks(t)
			srv, conns := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) { tc.handle(w) })
			tr := NewTracker(0, nil, 0)
			c := newTestSSEClient(t, srv.URL, tr, &Options{SSERetry: time.Millisecond})
			// A client that reconnected instead of failing would run until
			// this hang guard and return nil.
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			err := c.Run(ctx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Run = %v, want %v", err, tc.want)
			}
			if got, want := tr.Counts(0), (Counts{Attempts: 1, Errors: results.Errors{Status: 1}}); got != want || conns.Load() != 1 {
				t.Fatalf("counts %+v over %d connections, want %+v over 1", got, conns.Load(), want)
			}
		})
	}
}

func TestSSEClientGapAndMalformed(t *testing.T) {
	sseNoLeaks(t)
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) {
		if sseSend(w,
			"id: 5\nevent: gap\ndata: {\"gap\":{\"from\":1,\"to\":5}}\n\n",
			"event: tick\ndata: nonsense\n\n",
			"event: gap\ndata: {\"gap\":{\"from\":0,\"to\":3}}\n\n",
			"event: gap\ndata: {\"seq\":6}\n\n",
			sseTestFrame(6),
		) {
			<-r.Context().Done()
		}
	})
	tr := NewTracker(0, nil, 0)
	stop := runSSE(t, newTestSSEClient(t, srv.URL, tr, nil))
	sseWaitFor(t, "event 6", func() bool { return tr.Delivered() == 1 })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	want := Counts{Delivery: results.Delivery{Expected: 6, Delivered: 1, Gaps: 1, GapMissed: 5, Malformed: 3}, Attempts: 1, Connects: 1}
	if got := tr.Counts(6); got != want {
		t.Fatalf("counts %+v\nwant %+v", got, want)
	}
}

func TestSSEClientReadTimeout(t *testing.T) {
	const timeout = 150 * time.Millisecond
	t.Run("silent server is reconnected", func(t *testing.T) {
		sseNoLeaks(t)
		var mu sync.Mutex
		var starts []time.Time
		srv, conns := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			if sseSend(w) { // headers only, then silence
				<-r.Context().Done()
			}
		})
		tr := NewTracker(0, nil, 0)
		stop := runSSE(t, newTestSSEClient(t, srv.URL, tr, &Options{ReadTimeout: timeout, SSERetry: time.Millisecond}))
		sseWaitFor(t, "3 connections", func() bool { return conns.Load() >= 3 })
		if err := stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for i := 1; i < len(starts); i++ {
			if gap := starts[i].Sub(starts[i-1]); gap < timeout {
				t.Errorf("connection %d came %v after the previous one, before the %v timeout", i+1, gap, timeout)
			}
		}
	})
	t.Run("heartbeats keep it alive", func(t *testing.T) {
		// A longer timeout than above, ten heartbeats to it: only a stall
		// of most of a second could make the client give up, which the
		// race detector on a busy core does not cause.
		const timeout = time.Second
		sseNoLeaks(t)
		srv, conns := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) {
			tick := time.NewTicker(timeout / 10)
			defer tick.Stop()
			for sseSend(w, ": hb\n") {
				select {
				case <-r.Context().Done():
					return
				case <-tick.C:
				}
			}
		})
		tr := NewTracker(0, nil, 0)
		stop := runSSE(t, newTestSSEClient(t, srv.URL, tr, &Options{ReadTimeout: timeout, SSERetry: time.Millisecond}))
		time.Sleep(3 * timeout)
		if err := stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("%d connections over %v of heartbeats every %v, want 1", n, 3*timeout, timeout/10)
		}
	})
}

func TestSSEClientCancel(t *testing.T) {
	t.Run("while reading", func(t *testing.T) {
		sseNoLeaks(t)
		srv, conns := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) {
			if sseSend(w, sseTestFrame(1)) {
				<-r.Context().Done()
			}
		})
		tr := NewTracker(0, nil, 0)
		stop := runSSE(t, newTestSSEClient(t, srv.URL, tr, nil))
		sseWaitFor(t, "event 1", func() bool { return tr.Delivered() == 1 })
		if err := stop(); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("%d connections, want 1", n)
		}
	})
	t.Run("while waiting to reconnect", func(t *testing.T) {
		sseNoLeaks(t)
		srv, conns := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) {
			sseSend(w, "retry: 3600000\n")
		})
		tr := NewTracker(0, nil, 0)
		stop := runSSE(t, newTestSSEClient(t, srv.URL, tr, nil))
		sseWaitFor(t, "a connection", func() bool { return conns.Load() == 1 })
		time.Sleep(20 * time.Millisecond) // let it see the end of the stream
		if err := stop(); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
	t.Run("while connecting", func(t *testing.T) {
		sseNoLeaks(t)
		dialing := make(chan struct{})
		tr := NewTracker(0, nil, 0)
		stop := runSSE(t, newTestSSEClient(t, "http://pushbench.invalid", tr, &Options{
			Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				close(dialing)
				<-ctx.Done()
				return nil, ctx.Err()
			},
		}))
		<-dialing
		if err := stop(); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
}

func TestSSEClientFollowsRedirects(t *testing.T) {
	sseNoLeaks(t)
	var hops atomic.Int64
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) {
		if r.URL.Query().Get("hop") == "" {
			hops.Add(1)
			http.Redirect(w, r, "/sse?hop=1", http.StatusTemporaryRedirect)
			return
		}
		if conn == 2 {
			sseSend(w, "retry: 1\n", sseTestFrame(1)) // ends: the client reconnects
			return
		}
		if id := r.Header.Get("Last-Event-ID"); id != "1" {
			t.Errorf("after the redirect Last-Event-ID is %q, want 1", id)
		}
		if sseSend(w, sseTestFrame(2)) {
			<-r.Context().Done()
		}
	})
	tr := NewTracker(0, nil, 0)
	stop := runSSE(t, newTestSSEClient(t, srv.URL, tr, nil))
	sseWaitFor(t, "2 events", func() bool { return tr.Delivered() == 2 })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	// Each reconnection starts again from the original URL.
	if n := hops.Load(); n != 2 {
		t.Fatalf("original URL requested %d times, want 2", n)
	}
	if got, want := tr.Counts(2), (Counts{Delivery: results.Delivery{Expected: 2, Delivered: 2}, Attempts: 2, Connects: 2, Errors: results.Errors{Closed: 1}}); got != want {
		t.Fatalf("counts %+v\nwant %+v", got, want)
	}
}

func TestEventSourceTLSAndStop(t *testing.T) {
	sseNoLeaks(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sseSend(w, "data: a\n\ndata: b\n\ndata: c\n\n") {
			<-r.Context().Done()
		}
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	errEnough := errors.New("enough")
	var got []string
	es := &EventSource{
		URL:       srv.URL + "/anything?x=1",
		TLSConfig: &tls.Config{RootCAs: roots},
		OnEvent: func(ev SSEEvent) error {
			got = append(got, string(ev.Data))
			if len(got) == 2 {
				return errEnough
			}
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := es.Run(ctx); !errors.Is(err, errEnough) {
		t.Fatalf("Run = %v, want the error OnEvent returned", err)
	}
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("events %q, want a,b", got)
	}
}

func TestEventSourceRejectsURL(t *testing.T) {
	for _, u := range []string{"ws://host/sse", "/sse", "http://", ":"} {
		es := &EventSource{URL: u}
		if err := es.Run(context.Background()); !errors.Is(err, ErrSSEURL) {
			t.Errorf("%q: Run = %v, want %v", u, err, ErrSSEURL)
		}
	}
}

// A 204 is the standard's "stop reconnecting": Run gives up at once with
// ErrSSENoContent, still an ErrSSEStatus.
func TestEventSourceStopsOn204(t *testing.T) {
	sseNoLeaks(t)
	srv, conns := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) {
		w.WriteHeader(http.StatusNoContent)
	})
	retried := 0
	es := &EventSource{URL: srv.URL + "/sse", Options: &Options{SSERetry: time.Millisecond},
		OnRetry: func(error, time.Duration) { retried++ }}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	err := es.Run(ctx)
	if !errors.Is(err, ErrSSENoContent) || !errors.Is(err, ErrSSEStatus) {
		t.Fatalf("Run = %v, want ErrSSENoContent and ErrSSEStatus", err)
	}
	if conns.Load() != 1 || retried != 0 {
		t.Fatalf("%d connections, %d retries; want 1 and none", conns.Load(), retried)
	}
}

// OnRetry hears of every attempt the EventSource retries, with what ended
// it and the delay the stream asked for.
func TestEventSourceOnRetry(t *testing.T) {
	sseNoLeaks(t)
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) {
		switch conn {
		case 1:
			sseSend(w, "retry: 7\n\n") // and the stream ends
		case 2:
			sseSend(w) // then silence, past the read timeout
			<-r.Context().Done()
		default:
			if sseSend(w, "data: x\n\n") {
				<-r.Context().Done()
			}
		}
	})
	type retry struct {
		err   error
		delay time.Duration
	}
	var retries []retry
	errEnough := errors.New("enough")
	es := &EventSource{
		URL:     srv.URL + "/sse",
		Options: &Options{ReadTimeout: 50 * time.Millisecond},
		OnRetry: func(err error, d time.Duration) { retries = append(retries, retry{err, d}) },
		OnEvent: func(SSEEvent) error { return errEnough },
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := es.Run(ctx); !errors.Is(err, errEnough) {
		t.Fatalf("Run = %v", err)
	}
	if len(retries) != 2 || classify(retries[0].err) != FailClosed || classify(retries[1].err) != FailTimeout ||
		retries[0].delay != 7*time.Millisecond || retries[1].delay != 7*time.Millisecond {
		t.Fatalf("retries %+v, want the stream's end and then its silence, each followed by 7ms", retries)
	}
}

// The Last-Event-ID an EventSource sends is the id as a browser decoded it,
// encoded again as UTF-8: an invalid sequence is one U+FFFD per maximal
// subpart.
func TestEventSourceSendsTheDecodedLastEventID(t *testing.T) {
	sseNoLeaks(t)
	ids := make(chan string, 2)
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, conn int) {
		ids <- r.Header.Get("Last-Event-ID")
		if conn == 1 {
			sseSend(w, "retry: 1\nid: [\xF0\x9F\x98]\xE0\x80\ndata: x\n\n")
			return
		}
		<-r.Context().Done()
	})
	tr := NewTracker(0, nil, 0)
	stop := runSSE(t, newTestSSEClient(t, srv.URL, tr, nil))
	first, second := <-ids, <-ids
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if want := "[\uFFFD]\uFFFD\uFFFD"; first != "" || second != want {
		t.Fatalf("Last-Event-ID %q then %q, want none then %q", first, second, want)
	}
}
