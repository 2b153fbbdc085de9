package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// newSSEPeer serves handle at /sse.
func newSSEPeer(t *testing.T, handle peerHandler) *peer {
	t.Helper()
	return newPeer(t, contract.SSE.Path(), handle)
}

func TestSSEClientDelivers(t *testing.T) {
	p := newSSEPeer(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
		for h, want := range map[string]string{"Accept": "text/event-stream", "Cache-Control": "no-cache", "Last-Event-ID": ""} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s: %q, want %q", h, got, want)
			}
		}
		if r.URL.RawQuery != "after=0" {
			t.Errorf("query %q, want after=0", r.URL.RawQuery)
		}
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		if !sseSend(w, "retry: 1000\n\n: hb\n\n", sseFrame(1), sseFrame(2), strings.ReplaceAll(sseFrame(3), "\n", "\r\n")) {
			return
		}
		<-r.Context().Done()
	})
	tr := NewTracker(0, NewLatency(), 0)
	observe, observed := collect()
	r := start(t, newTestClient(t, contract.SSE, p.base, tr, Options{Observe: observe}))
	waitFor(t, "3 events", func() bool { return tr.Delivered() == 3 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	if got, want := tr.Counts(3), (Counts{Delivery: results.Delivery{Expected: 3, Delivered: 3}, Attempts: 1, Connects: 1}); got != want {
		t.Fatalf("counts %+v\nwant %+v", got, want)
	}
	checkObserved(t, observed(), 1, 3)
}

func TestSSEClientReconnectsWithLastEventID(t *testing.T) {
	var closedAt atomic.Int64
	p := newSSEPeer(t, func(n int, _ uint64, w http.ResponseWriter, r *http.Request) {
		// The URL never changes: the cursor from construction, not the
		// one the client has reached.
		if r.URL.RawQuery != "after=10" {
			t.Errorf("request %d: query %q, want after=10", n, r.URL.RawQuery)
		}
		switch n {
		case 0:
			if id := r.Header.Get("Last-Event-ID"); id != "" {
				t.Errorf("first connection sent Last-Event-ID %q", id)
			}
			// Event 13 is cut off before its blank line: its id must not
			// count, or the client would never get it.
			sseSend(w, "retry: 50\n\n", sseFrame(11), sseFrame(12), strings.TrimSuffix(sseFrame(13), "\n"))
			closedAt.Store(time.Now().UnixNano())
		case 1:
			if id := r.Header.Get("Last-Event-ID"); id != "12" {
				t.Errorf("second connection sent Last-Event-ID %q, want 12", id)
			}
			if wait := time.Duration(time.Now().UnixNano() - closedAt.Load()); wait < 50*time.Millisecond {
				t.Errorf("reconnected after %v, want at least the 50ms of retry:", wait)
			}
			if sseSend(w, sseFrame(13), sseFrame(14)) {
				<-r.Context().Done()
			}
		default:
			t.Errorf("unexpected request %d", n)
		}
	})
	tr := NewTracker(10, nil, 0)
	// Without retry: the client would wait an hour.
	r := start(t, newTestClient(t, contract.SSE, p.base, tr, Options{SSERetry: time.Hour}))
	waitFor(t, "4 events", func() bool { return tr.Delivered() == 4 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	// The first stream's end is the one failure: closed by the server.
	want := Counts{Delivery: results.Delivery{Expected: 4, Delivered: 4}, Attempts: 2, Connects: 2, Errors: results.Errors{Closed: 1}}
	if got := tr.Counts(14); got != want {
		t.Fatalf("counts %+v\nwant %+v", got, want)
	}
	if n := len(p.requests()); n != 2 {
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
			p := newSSEPeer(t, func(_ int, _ uint64, w http.ResponseWriter, _ *http.Request) { tc.handle(w) })
			tr := NewTracker(0, nil, 0)
			// A client that reconnected instead of failing would run until
			// the hang guard and return nil.
			err := start(t, newTestClient(t, contract.SSE, p.base, tr, Options{SSERetry: time.Millisecond})).wait(t)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Run = %v, want %v", err, tc.want)
			}
			n := len(p.requests())
			if got, want := tr.Counts(0), (Counts{Attempts: 1, Errors: results.Errors{Status: 1}}); got != want || n != 1 {
				t.Fatalf("counts %+v over %d connections, want %+v over 1", got, n, want)
			}
		})
	}
}

func TestSSEClientGapAndMalformed(t *testing.T) {
	p := newSSEPeer(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
		if sseSend(w,
			"id: 5\nevent: gap\ndata: {\"gap\":{\"from\":1,\"to\":5}}\n\n",
			"event: tick\ndata: nonsense\n\n",
			"event: gap\ndata: {\"gap\":{\"from\":0,\"to\":3}}\n\n",
			"event: gap\ndata: {\"seq\":6}\n\n",
			sseFrame(6),
		) {
			<-r.Context().Done()
		}
	})
	tr := NewTracker(0, nil, 0)
	r := start(t, newTestClient(t, contract.SSE, p.base, tr, Options{}))
	waitFor(t, "event 6", func() bool { return tr.Delivered() == 1 })
	if err := r.stop(t); err != nil {
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
		p := newSSEPeer(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
			if sseSend(w) { // headers only, then silence
				<-r.Context().Done()
			}
		})
		tr := NewTracker(0, nil, 0)
		r := start(t, newTestClient(t, contract.SSE, p.base, tr, Options{ReadTimeout: timeout, SSERetry: time.Millisecond}))
		waitFor(t, "3 connections", func() bool { return len(p.requests()) >= 3 })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
		starts := p.arrivals()
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
		p := newSSEPeer(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
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
		r := start(t, newTestClient(t, contract.SSE, p.base, tr, Options{ReadTimeout: timeout, SSERetry: time.Millisecond}))
		time.Sleep(3 * timeout)
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if n := len(p.requests()); n != 1 {
			t.Fatalf("%d connections over %v of heartbeats every %v, want 1", n, 3*timeout, timeout/10)
		}
	})
}

func TestSSEClientCancel(t *testing.T) {
	t.Run("while reading", func(t *testing.T) {
		p := newSSEPeer(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
			if sseSend(w, sseFrame(1)) {
				<-r.Context().Done()
			}
		})
		tr := NewTracker(0, nil, 0)
		r := start(t, newTestClient(t, contract.SSE, p.base, tr, Options{}))
		waitFor(t, "event 1", func() bool { return tr.Delivered() == 1 })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if n := len(p.requests()); n != 1 {
			t.Fatalf("%d connections, want 1", n)
		}
	})
	t.Run("while waiting to reconnect", func(t *testing.T) {
		p := newSSEPeer(t, func(_ int, _ uint64, w http.ResponseWriter, _ *http.Request) {
			sseSend(w, "retry: 3600000\n")
		})
		r := start(t, newTestClient(t, contract.SSE, p.base, NewTracker(0, nil, 0), Options{}))
		waitFor(t, "a connection", func() bool { return len(p.requests()) == 1 })
		time.Sleep(20 * time.Millisecond) // let it see the end of the stream
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
	t.Run("while connecting", func(t *testing.T) {
		dialing := make(chan struct{})
		r := start(t, newTestClient(t, contract.SSE, "http://pushbench.invalid", NewTracker(0, nil, 0), Options{
			Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				close(dialing)
				<-ctx.Done()
				return nil, ctx.Err()
			},
		}))
		<-dialing
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
}

func TestSSEClientFollowsRedirects(t *testing.T) {
	var hops atomic.Int64
	p := newSSEPeer(t, func(n int, _ uint64, w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hop") == "" {
			hops.Add(1)
			http.Redirect(w, r, "/sse?hop=1", http.StatusTemporaryRedirect)
			return
		}
		if n == 1 {
			sseSend(w, "retry: 1\n", sseFrame(1)) // ends: the client reconnects
			return
		}
		if id := r.Header.Get("Last-Event-ID"); id != "1" {
			t.Errorf("after the redirect Last-Event-ID is %q, want 1", id)
		}
		if sseSend(w, sseFrame(2)) {
			<-r.Context().Done()
		}
	})
	tr := NewTracker(0, nil, 0)
	r := start(t, newTestClient(t, contract.SSE, p.base, tr, Options{}))
	waitFor(t, "2 events", func() bool { return tr.Delivered() == 2 })
	if err := r.stop(t); err != nil {
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
	p := newPeerWith(t, "", func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
		if sseSend(w, "data: a\n\ndata: b\n\ndata: c\n\n") {
			<-r.Context().Done()
		}
	}, (*httptest.Server).StartTLS)
	roots := x509.NewCertPool()
	roots.AddCert(p.srv.Certificate())
	errEnough := errors.New("enough")
	var got []string
	es := &EventSource{
		URL:       p.base + "/anything?x=1",
		TLSConfig: &tls.Config{RootCAs: roots},
		OnEvent: func(ev SSEEvent) error {
			got = append(got, string(ev.Data))
			if len(got) == 2 {
				return errEnough
			}
			return nil
		},
	}
	if err := start(t, es).wait(t); !errors.Is(err, errEnough) {
		t.Fatalf("Run = %v, want the error OnEvent returned", err)
	}
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("events %q, want a,b", got)
	}
}

// TestFollowersRejectURL gives each follower URLs it cannot follow: Run
// refuses them at once.
func TestFollowersRejectURL(t *testing.T) {
	for _, tc := range []struct {
		run  func(url string) func(context.Context) error
		bad  []string
		want error
	}{
		{func(u string) func(context.Context) error { return (&EventSource{URL: u}).Run },
			[]string{"ws://host/sse", "/sse", "http://", ":"}, ErrSSEURL},
		{func(u string) func(context.Context) error { return (&WebSocket{URL: u}).Run },
			[]string{"ftp://host/ws", "/ws", "ws://", ":"}, ErrWSURL},
		{func(u string) func(context.Context) error { return (&Poller{URL: u}).Run },
			[]string{"ws://host/poll", "/poll", "http://", ":"}, ErrPollURL},
	} {
		for _, u := range tc.bad {
			if err := tc.run(u)(context.Background()); !errors.Is(err, tc.want) {
				t.Errorf("%q: Run = %v, want %v", u, err, tc.want)
			}
		}
	}
}

// A 204 is the standard's "stop reconnecting": Run gives up at once with
// ErrSSENoContent, still an ErrSSEStatus.
func TestEventSourceStopsOn204(t *testing.T) {
	p := newSSEPeer(t, func(_ int, _ uint64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	retried := 0
	es := &EventSource{URL: p.base + "/sse", Options: &Options{SSERetry: time.Millisecond},
		OnRetry: func(error, time.Duration) { retried++ }}
	err := start(t, es).wait(t)
	if !errors.Is(err, ErrSSENoContent) || !errors.Is(err, ErrSSEStatus) {
		t.Fatalf("Run = %v, want ErrSSENoContent and ErrSSEStatus", err)
	}
	if n := len(p.requests()); n != 1 || retried != 0 {
		t.Fatalf("%d connections, %d retries; want 1 and none", n, retried)
	}
}

// OnRetry hears of every attempt the EventSource retries, with what ended
// it and the delay the stream asked for.
func TestEventSourceOnRetry(t *testing.T) {
	p := newSSEPeer(t, func(n int, _ uint64, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 0:
			sseSend(w, "retry: 7\n\n") // and the stream ends
		case 1:
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
		URL:     p.base + "/sse",
		Options: &Options{ReadTimeout: 50 * time.Millisecond},
		OnRetry: func(err error, d time.Duration) { retries = append(retries, retry{err, d}) },
		OnEvent: func(SSEEvent) error { return errEnough },
	}
	if err := start(t, es).wait(t); !errors.Is(err, errEnough) {
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
	ids := make(chan string, 2)
	p := newSSEPeer(t, func(n int, _ uint64, w http.ResponseWriter, r *http.Request) {
		ids <- r.Header.Get("Last-Event-ID")
		if n == 0 {
			sseSend(w, "retry: 1\nid: [\xF0\x9F\x98]\xE0\x80\ndata: x\n\n")
			return
		}
		<-r.Context().Done()
	})
	r := start(t, newTestClient(t, contract.SSE, p.base, NewTracker(0, nil, 0), Options{}))
	first, second := <-ids, <-ids
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if want := "[\uFFFD]\uFFFD\uFFFD"; first != "" || second != want {
		t.Fatalf("Last-Event-ID %q then %q, want none then %q", first, second, want)
	}
}
