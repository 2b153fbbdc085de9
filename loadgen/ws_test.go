package loadgen

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/results"
)

// Helpers shared by the WebSocket and polling client tests.

// checkLeaks fails t if a goroutine started during the test outlives it. Call
// it first, so that its cleanup runs after every other.
func checkLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// testEpoch is every test event's scheduled time, so an event's encoding is a
// function of its seq alone and tests can compare bytes.
var testEpoch = time.Now().UnixNano()

// testEvent is the canonical encoding of event seq.
func testEvent(seq uint64) []byte {
	return event.New(seq, testEpoch, 64).AppendJSON(nil)
}

// running is a client's Run in its own goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, once done is closed
}

// start runs c until the test ends or stop is called.
func start(t *testing.T, c Client) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// hangGuard bounds every wait in these tests. It is a hang guard, not a
// measurement: tests run under -race on busy shared cores, so nothing here
// asserts how long anything took, only that it did not hang.
const hangGuard = 10 * time.Second

// stop cancels the run and returns Run's result, failing t if Run hangs.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// wait returns Run's result, failing t if Run hangs.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(hangGuard):
		t.Fatalf("Run did not return within %v: hung", hangGuard)
		return nil
	}
}

// waitFor polls cond until it holds, failing t if it hangs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %v: hung", what, hangGuard)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// collect returns an Observe func that keeps a copy of every message and a
// function returning them. Read them only after Run has returned.
func collect() (func([]byte), func() [][]byte) {
	var msgs [][]byte
	return func(m []byte) { msgs = append(msgs, bytes.Clone(m)) }, func() [][]byte { return msgs }
}

// checkObserved fails t unless msgs are exactly events from..to.
func checkObserved(t *testing.T, msgs [][]byte, from, to uint64) {
	t.Helper()
	if uint64(len(msgs)) != to-from+1 {
		t.Fatalf("observed %d messages, want %d", len(msgs), to-from+1)
	}
	for i, m := range msgs {
		if want := testEvent(from + uint64(i)); !bytes.Equal(m, want) {
			t.Fatalf("message %d = %q, want %q", i, m, want)
		}
	}
}

// fakeWS is a tiny /ws endpoint following the wire protocol in servers/doc.go.
// serve handles its n-th connection (from 0); after is the parsed cursor.
type fakeWS struct {
	t      *testing.T
	srv    *httptest.Server
	serve  func(n int, after uint64, w http.ResponseWriter, r *http.Request)
	wg     sync.WaitGroup // handlers: httptest stops tracking them once hijacked
	mu     sync.Mutex
	query  []string    // raw query of each connection
	connAt []time.Time // when each connection arrived
}

func newFakeWS(t *testing.T, serve func(n int, after uint64, w http.ResponseWriter, r *http.Request)) *fakeWS {
	t.Helper()
	f := &fakeWS{t: t, serve: serve}
	f.srv = httptest.NewServer(http.HandlerFunc(f.handle))
	t.Cleanup(func() {
		f.srv.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakeWS) handle(w http.ResponseWriter, r *http.Request) {
	f.wg.Add(1)
	defer f.wg.Done()
	if r.URL.Path != "/ws" {
		http.NotFound(w, r)
		return
	}
	after, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	if err != nil {
		http.Error(w, "bad cursor", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	n := len(f.query)
	f.query = append(f.query, r.URL.RawQuery)
	f.connAt = append(f.connAt, time.Now())
	f.mu.Unlock()
	f.serve(n, after, w, r)
}

// queries returns the raw query of every connection so far.
func (f *fakeWS) queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.query...)
}

func (f *fakeWS) arrivals() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.connAt...)
}

var testUpgrader = websocket.Upgrader{}

// upgrade upgrades r, or returns nil if it fails. That is no test failure in
// itself: a client stopped mid-handshake makes it fail, and a client that
// cannot shake hands fails its test by receiving nothing.
func (f *fakeWS) upgrade(w http.ResponseWriter, r *http.Request) *websocket.Conn {
	c, err := testUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // Upgrade has answered with an error status if it could
	}
	return c
}

// send sends events from..to as text messages.
func (f *fakeWS) send(c *websocket.Conn, from, to uint64) bool {
	for seq := from; seq <= to; seq++ {
		if err := c.WriteMessage(websocket.TextMessage, testEvent(seq)); err != nil {
			f.t.Errorf("send %d: %v", seq, err)
			return false
		}
	}
	return true
}

// drain reads c until it fails (the client sends only control frames) and
// returns the error: a *websocket.CloseError when the client said goodbye.
func drain(c *websocket.Conn) error {
	for {
		if _, _, err := c.NextReader(); err != nil {
			return err
		}
	}
}

// closeWith sends a close frame with code and waits for the client's echo.
func closeWith(c *websocket.Conn, code int) {
	// Errors are expected here: the client may drop the connection first.
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "bye"), time.Now().Add(time.Second))
	_ = drain(c)
}

// fastRetry keeps reconnection tests quick.
var fastRetry = Options{BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond}

func newWS(t *testing.T, base string, tr *Tracker, o Options) Client {
	t.Helper()
	c, err := New(contract.WS, base, tr, &o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWSDeliversEveryEventOnce(t *testing.T) {
	checkLeaks(t)
	const n = 50
	goodbye := make(chan error, 1)
	var f *fakeWS
	f = newFakeWS(t, func(_ int, after uint64, w http.ResponseWriter, r *http.Request) {
		c := f.upgrade(w, r)
		if c == nil {
			return
		}
		defer c.Close()
		// A ping on the way exercises the client's wrapped ping handler.
		if err := c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
			t.Errorf("ping: %v", err)
		}
		f.send(c, after+1, n)
		goodbye <- drain(c)
	})
	tr := NewTracker(0, NewLatency(), 0)
	observe, observed := collect()
	r := start(t, newWS(t, f.srv.URL, tr, Options{Observe: observe}))
	waitFor(t, "all events", func() bool { return tr.Delivered() == n })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	want := Counts{Delivery: results.Delivery{Expected: n, Delivered: n}, Attempts: 1, Connects: 1}
	if got := tr.Counts(n); got != want {
		t.Fatalf("counts %+v\nwant   %+v", got, want)
	}
	checkObserved(t, observed(), 1, n)
	if q := f.queries(); len(q) != 1 || q[0] != "after=0" {
		t.Fatalf("queries %q, want [after=0]", q)
	}
	select {
	case err := <-goodbye:
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Fatalf("server saw %v, want a 1000 close frame", err)
		}
	case <-time.After(hangGuard):
		t.Fatalf("server did not see the client go within %v: hung", hangGuard)
	}
}

// TestWSReconnectResumes drops the first connection after 5 events in each way
// a server may, and checks that the client comes back asking for after=5 and
// ends with every event exactly once. The fake serves whatever it is asked
// for, so a client resuming from the wrong cursor shows up as duplicates or
// losses.
func TestWSReconnectResumes(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(c *websocket.Conn)
	}{
		{"going away 1001", func(c *websocket.Conn) { closeWith(c, websocket.CloseGoingAway) }},
		{"abrupt TCP close", func(c *websocket.Conn) { _ = c.NetConn().Close() }},
		{"policy 1008", func(c *websocket.Conn) { closeWith(c, websocket.ClosePolicyViolation) }},
		{"internal error 1011", func(c *websocket.Conn) { closeWith(c, websocket.CloseInternalServerErr) }},
		{"restart 1012", func(c *websocket.Conn) { closeWith(c, websocket.CloseServiceRestart) }},
		{"try later 1013", func(c *websocket.Conn) { closeWith(c, websocket.CloseTryAgainLater) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			const head = 10
			var f *fakeWS
			f = newFakeWS(t, func(n int, after uint64, w http.ResponseWriter, r *http.Request) {
				c := f.upgrade(w, r)
				if c == nil {
					return
				}
				defer c.Close()
				if n == 0 {
					f.send(c, after+1, 5)
					tc.end(c)
					return
				}
				f.send(c, after+1, head)
				_ = drain(c) // until the client goes
			})
			tr := NewTracker(0, NewLatency(), 0)
			r := start(t, newWS(t, f.srv.URL, tr, fastRetry))
			waitFor(t, "all events", func() bool { return tr.Delivered() == head })
			if err := r.stop(t); err != nil {
				t.Fatalf("Run = %v", err)
			}
			if q := f.queries(); strings.Join(q, " ") != "after=0 after=5" {
				t.Fatalf("queries %q, want [after=0 after=5]", q)
			}
			want := Counts{Delivery: results.Delivery{Expected: head, Delivered: head}, Attempts: 2, Connects: 2, Errors: results.Errors{Closed: 1}}
			if got := tr.Counts(head); got != want {
				t.Fatalf("counts %+v\nwant   %+v", got, want)
			}
		})
	}
}

func TestWSRetriesServerErrors(t *testing.T) {
	checkLeaks(t)
	var f *fakeWS
	f = newFakeWS(t, func(n int, after uint64, w http.ResponseWriter, r *http.Request) {
		if n < 2 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		c := f.upgrade(w, r)
		if c == nil {
			return
		}
		defer c.Close()
		f.send(c, after+1, 3)
		_ = drain(c)
	})
	tr := NewTracker(0, nil, 0)
	r := start(t, newWS(t, f.srv.URL, tr, fastRetry))
	waitFor(t, "all events", func() bool { return tr.Delivered() == 3 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	want := Counts{Delivery: results.Delivery{Expected: 3, Delivered: 3}, Attempts: 3, Connects: 1, Errors: results.Errors{Status: 2}}
	if got := tr.Counts(3); got != want {
		t.Fatalf("counts %+v\nwant   %+v", got, want)
	}
}

// TestWSBackoffInUse checks that the client paces itself by Backoff: pauses
// grow while a server keeps failing it, and fall back to BackoffMin after a
// connection that delivered.
func TestWSBackoffInUse(t *testing.T) {
	t.Run("grows while refused", func(t *testing.T) {
		checkLeaks(t)
		f := newFakeWS(t, func(_ int, _ uint64, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		})
		tr := NewTracker(0, nil, 0)
		began := time.Now()
		r := start(t, newWS(t, f.srv.URL, tr, Options{BackoffMin: time.Millisecond, BackoffMax: time.Hour}))
		waitFor(t, "3 attempts", func() bool { return tr.Counts(0).Attempts >= 3 })
		time.Sleep(300 * time.Millisecond)
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
		// Against the time the client actually had, measured here: with
		// ceilings doubling from 1 ms, k attempts take pauses with
		// ceilings up to 2^k ms, so about log2(elapsed in ms) attempts
		// fit; a dozen more would need pauses far below their ceilings
		// many times running. A slow machine gives more time and fewer
		// attempts, never more.
		elapsed := time.Since(began)
		n := tr.Counts(0).Attempts
		if bound := uint64(math.Log2(float64(elapsed/time.Millisecond)+1)) + 12; n > bound {
			t.Fatalf("%d attempts in %v, want at most %d: the backoff does not grow", n, elapsed, bound)
		}
	})

	t.Run("resets after delivery", func(t *testing.T) {
		checkLeaks(t)
		const conns = 20
		var f *fakeWS
		f = newFakeWS(t, func(n int, after uint64, w http.ResponseWriter, r *http.Request) {
			c := f.upgrade(w, r)
			if c == nil {
				return
			}
			defer c.Close()
			if n >= conns {
				_ = drain(c) // enough: stay up until the client goes
				return
			}
			f.send(c, after+1, after+1)
			closeWith(c, websocket.CloseGoingAway)
		})
		tr := NewTracker(0, nil, 0)
		// Without a reset, the 20th pause alone could last 2^19 ms.
		r := start(t, newWS(t, f.srv.URL, tr, Options{BackoffMin: time.Millisecond, BackoffMax: time.Hour}))
		waitFor(t, "20 connections", func() bool { return tr.Delivered() == conns })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

// TestWSGivesUp checks the failures a reconnect would only repeat: Run must
// return them by itself, after one attempt.
func TestWSGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(f *fakeWS, w http.ResponseWriter, r *http.Request)
		want  error
		text  []string // in the error message
	}{
		{"handshake 403", func(_ *fakeWS, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no entry for you", http.StatusForbidden)
		}, ErrWSRejected, []string{"403", "no entry for you"}},
		{"handshake 400", func(_ *fakeWS, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "cursor ahead of stream", http.StatusBadRequest)
		}, ErrWSRejected, []string{"400 Bad Request", "cursor ahead of stream"}},
		{"close 1002", func(f *fakeWS, w http.ResponseWriter, r *http.Request) {
			if c := f.upgrade(w, r); c != nil {
				defer c.Close()
				closeWith(c, websocket.CloseProtocolError)
			}
		}, ErrWSProtocol, []string{"1002"}},
		{"close 1009", func(f *fakeWS, w http.ResponseWriter, r *http.Request) {
			if c := f.upgrade(w, r); c != nil {
				defer c.Close()
				closeWith(c, websocket.CloseMessageTooBig)
			}
		}, ErrWSProtocol, []string{"1009"}},
		{"message over limit", func(f *fakeWS, w http.ResponseWriter, r *http.Request) {
			if c := f.upgrade(w, r); c != nil {
				defer c.Close()
				// The client may hang up mid-message; that is the point.
				_ = c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), WSReadLimit+1))
				_ = drain(c)
			}
		}, ErrWSProtocol, []string{"longer than"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			var f *fakeWS
			f = newFakeWS(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) { tc.serve(f, w, r) })
			tr := NewTracker(0, nil, 0)
			err := start(t, newWS(t, f.srv.URL, tr, fastRetry)).wait(t)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Run = %v, want %v", err, tc.want)
			}
			for _, s := range tc.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if got := tr.Counts(0).Attempts; got != 1 {
				t.Errorf("%d attempts, want 1", got)
			}
		})
	}
}

func TestWSGapAndMalformed(t *testing.T) {
	checkLeaks(t)
	var f *fakeWS
	f = newFakeWS(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
		c := f.upgrade(w, r)
		if c == nil {
			return
		}
		defer c.Close()
		for _, m := range []struct {
			typ int
			msg []byte
		}{
			{websocket.TextMessage, event.Gap{From: 1, To: 4}.AppendJSON(nil)},
			{websocket.TextMessage, testEvent(5)},
			{websocket.TextMessage, []byte("garbage")},
			{websocket.BinaryMessage, testEvent(6)},               // events are text
			{websocket.TextMessage, []byte(`{"gap":{"from":0}}`)}, // a broken gap
			{websocket.TextMessage, testEvent(6)},
		} {
			if err := c.WriteMessage(m.typ, m.msg); err != nil {
				t.Errorf("send: %v", err)
				return
			}
		}
		_ = drain(c)
	})
	tr := NewTracker(0, nil, 0)
	r := start(t, newWS(t, f.srv.URL, tr, Options{}))
	waitFor(t, "event 6", func() bool { return tr.Cursor() == 6 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	want := Counts{Delivery: results.Delivery{Expected: 6, Delivered: 2, Gaps: 1, GapMissed: 4, Malformed: 3}, Attempts: 1, Connects: 1}
	if got := tr.Counts(6); got != want {
		t.Fatalf("counts %+v\nwant   %+v", got, want)
	}
}

func TestWSReadTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond

	t.Run("silent server is dropped", func(t *testing.T) {
		checkLeaks(t)
		var f *fakeWS
		f = newFakeWS(t, func(n int, after uint64, w http.ResponseWriter, r *http.Request) {
			c := f.upgrade(w, r)
			if c == nil {
				return
			}
			defer c.Close()
			if n > 0 {
				f.send(c, after+1, 1)
			}
			_ = drain(c) // connection 0 says nothing until the client gives up
		})
		tr := NewTracker(0, nil, 0)
		o := fastRetry
		o.ReadTimeout = timeout
		r := start(t, newWS(t, f.srv.URL, tr, o))
		waitFor(t, "event 1", func() bool { return tr.Delivered() == 1 })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
		// Only the read timeout can end the silent connection before the
		// hang guard: the second comes no sooner than it.
		at := f.arrivals()
		if len(at) != 2 {
			t.Fatalf("%d connections, want 2", len(at))
		}
		if d := at[1].Sub(at[0]); d < timeout {
			t.Fatalf("reconnected %v after a silent start, before the %v read timeout", d, timeout)
		}
	})

	t.Run("pings keep it alive", func(t *testing.T) {
		// A longer timeout than above, pings ten to it: only a stall of
		// most of a second could make the client give up.
		const timeout = time.Second
		checkLeaks(t)
		const pings = 15
		var pongs atomic.Int64
		var f *fakeWS
		f = newFakeWS(t, func(_ int, after uint64, w http.ResponseWriter, r *http.Request) {
			c := f.upgrade(w, r)
			if c == nil {
				return
			}
			defer c.Close()
			c.SetPongHandler(func(string) error { pongs.Add(1); return nil })
			read := make(chan struct{})
			go func() { // pong handlers run in the reader
				defer close(read)
				_ = drain(c)
			}()
			// Pings and nothing else, for at least one and a half read
			// timeouts (the sleeps guarantee the lower bound).
			for range pings {
				time.Sleep(timeout / 10)
				if err := c.WriteControl(websocket.PingMessage, nil, time.Now().Add(hangGuard)); err != nil {
					t.Errorf("ping: %v", err)
					break
				}
			}
			f.send(c, after+1, 1)
			<-read
		})
		tr := NewTracker(0, nil, 0)
		o := fastRetry
		o.ReadTimeout = timeout
		r := start(t, newWS(t, f.srv.URL, tr, o))
		waitFor(t, "event 1", func() bool { return tr.Delivered() == 1 })
		// The client answers each ping before it reads on, so by the event
		// every pong is on its way.
		waitFor(t, "a pong for every ping", func() bool { return pongs.Load() == pings })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if q := f.queries(); len(q) != 1 {
			t.Fatalf("%d connections, want 1: pings must count as activity", len(q))
		}
	})
}

func TestWSCancel(t *testing.T) {
	t.Run("during handshake", func(t *testing.T) {
		checkLeaks(t)
		arrived := make(chan struct{}, 1)
		f := newFakeWS(t, func(_ int, _ uint64, _ http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			select { // never answer; the client must not wait for one
			case <-r.Context().Done():
			case <-time.After(hangGuard):
				t.Errorf("client did not hang up within %v: hung", hangGuard)
			}
		})
		// The handshake timeout is 45 s, far beyond the hang guard: stop
		// returns within the guard only if the cancel itself ends the
		// handshake.
		r := start(t, newWS(t, f.srv.URL, NewTracker(0, nil, 0), Options{}))
		<-arrived
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})

	t.Run("during backoff", func(t *testing.T) {
		checkLeaks(t)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		if err := l.Close(); err != nil { // nobody listens there now
			t.Fatal(err)
		}
		tr := NewTracker(0, nil, 0)
		r := start(t, newWS(t, "http://"+addr, tr, Options{BackoffMin: time.Hour, BackoffMax: time.Hour}))
		waitFor(t, "the first attempt", func() bool { return tr.Counts(0).Attempts == 1 })
		time.Sleep(20 * time.Millisecond) // into the pause
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

func TestBackoff(t *testing.T) {
	const ms = time.Millisecond
	top := func(n int64) int64 { return n - 1 } // always the ceiling
	b := Backoff{Min: 100 * ms, Max: time.Second}
	for i, want := range []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second} {
		if got := b.Next(top); got != want {
			t.Fatalf("pause %d = %v, want %v", i, got, want)
		}
	}
	b.Reset()
	if got := b.Next(top); got != 100*ms {
		t.Fatalf("after Reset: %v, want 100ms", got)
	}
	if got := b.Next(func(int64) int64 { return 0 }); got != 0 {
		t.Fatalf("full jitter reaches 0: got %v", got)
	}

	// Without jitter the source is never asked: every pause is the ceiling.
	nj := Backoff{Min: 100 * ms, Max: time.Second, Jitter: contract.NoJitter}
	for i, want := range []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second} {
		if got := nj.Next(func(int64) int64 { t.Fatal("no-jitter backoff drew a random number"); return 0 }); got != want {
			t.Fatalf("no jitter: pause %d = %v, want %v", i, got, want)
		}
	}

	// With a seeded source: reproducible, within [0, ceiling], and spread
	// over the whole window (mean near half the ceiling, many distinct
	// values), not clustered at the top as "equal jitter" would be.
	draw := func(seed uint64) []time.Duration {
		rng := rand.New(rand.NewPCG(seed, 1))
		b := Backoff{Min: 100 * ms, Max: time.Second}
		out := make([]time.Duration, 2000)
		for i := range out {
			c := b.Ceiling()
			out[i] = b.Next(rng.Int64N)
			if out[i] < 0 || out[i] > c {
				t.Fatalf("pause %v outside [0, %v]", out[i], c)
			}
		}
		return out
	}
	a, a2 := draw(7), draw(7)
	var sum time.Duration
	distinct := map[time.Duration]bool{}
	for i := range a {
		if a[i] != a2[i] {
			t.Fatal("same seed, different pauses")
		}
		if i >= 4 { // the ceiling has reached Max
			sum += a[i]
			distinct[a[i]] = true
		}
	}
	// Durations drawn, not waited: a deterministic check on a seeded
	// source, no clock involved.
	if mean := sum / time.Duration(len(a)-4); mean < 450*ms || mean > 550*ms {
		t.Fatalf("mean pause %v at a 1s ceiling, want about 500ms", mean)
	}
	if len(distinct) < len(a)/2 {
		t.Fatalf("only %d distinct pauses in %d", len(distinct), len(a)-4)
	}
}

func TestNewRejectsUnknownJitter(t *testing.T) {
	_, err := New(contract.WS, "http://127.0.0.1:1", NewTracker(0, nil, 0), &Options{Jitter: "equal"})
	if !errors.Is(err, ErrUnknownJitter) {
		t.Fatalf("New with Jitter \"equal\" = %v, want ErrUnknownJitter", err)
	}
	for _, j := range []contract.Jitter{"", contract.FullJitter, contract.NoJitter} {
		if _, err := New(contract.WS, "http://127.0.0.1:1", NewTracker(0, nil, 0), &Options{Jitter: j}); err != nil {
			t.Errorf("New with Jitter %q = %v", j, err)
		}
	}
}

// BenchmarkWSClientRead measures the client alone: it reads pre-framed events
// from an in-memory connection, so the numbers are the client's cost per
// event, allocations included.
func BenchmarkWSClientRead(b *testing.B) {
	b.ReportAllocs()
	msg := testEvent(1)
	frames := make([]byte, 0, 1000*(len(msg)+4))
	var seq uint64
	for range 1000 {
		seq++
		m := testEvent(seq)
		frames = append(frames, 0x81, byte(len(m))) // FIN+text, unmasked, short length
		frames = append(frames, m...)
	}
	if len(msg) > 125 {
		b.Fatal("event too long for a short frame")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got int
	o := Options{
		Dial: func(context.Context, string, string) (net.Conn, error) { return newFrameConn(frames), nil },
		Observe: func([]byte) {
			if got++; got == b.N {
				cancel()
			}
		},
	}
	c, err := New(contract.WS, "http://bench.invalid", NewTracker(0, NewLatency(), 0), &o)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := c.Run(ctx); err != nil {
		b.Fatal(err)
	}
}

// frameConn is a net.Conn that completes a client handshake and then replays
// the same frames for ever.
type frameConn struct {
	net.Conn // nil: only the methods below are used
	frames   []byte
	pending  []byte      // bytes Read returns next; only the reader touches it after the handshake
	shook    atomic.Bool // the handshake request has been answered
	closed   chan struct{}
	once     sync.Once
}

func newFrameConn(frames []byte) *frameConn {
	return &frameConn{frames: frames, closed: make(chan struct{})}
}

func (c *frameConn) Write(p []byte) (int, error) {
	if c.shook.Load() {
		return len(p), nil // control frames after the handshake
	}
	i := bytes.Index(p, []byte("Sec-WebSocket-Key: "))
	if i < 0 {
		return 0, errors.New("frameConn: no handshake key")
	}
	key := p[i+len("Sec-WebSocket-Key: "):]
	key = key[:bytes.IndexByte(key, '\r')]
	c.pending = []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptKey(string(key)) + "\r\n\r\n")
	c.shook.Store(true)
	return len(p), nil
}

// acceptKey is RFC 6455's answer to a handshake key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func (c *frameConn) Read(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	if len(c.pending) == 0 {
		c.pending = c.frames
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *frameConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *frameConn) SetDeadline(time.Time) error      { return nil }
func (c *frameConn) SetReadDeadline(time.Time) error  { return nil }
func (c *frameConn) SetWriteDeadline(time.Time) error { return nil }
func (c *frameConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *frameConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
