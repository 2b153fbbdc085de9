package loadgen

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/results"
)

// newWSPeer serves handle at /ws.
func newWSPeer(t *testing.T, handle peerHandler) *peer {
	t.Helper()
	return newPeer(t, contract.WS.Path(), handle)
}

func TestWSDeliversEveryEventOnce(t *testing.T) {
	const n = 50
	goodbye := make(chan error, 1)
	p := newWSPeer(t, func(_ int, after uint64, w http.ResponseWriter, r *http.Request) {
		c := upgrade(w, r)
		if c == nil {
			return
		}
		defer c.Close()
		// A ping on the way exercises the client's wrapped ping handler.
		if err := c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
			t.Errorf("ping: %v", err)
		}
		sendEvents(t, c, after+1, n)
		goodbye <- drain(c)
	})
	tr := NewTracker(0, NewLatency(), 0)
	observe, observed := collect()
	r := start(t, newTestClient(t, contract.WS, p.base, tr, Options{Observe: observe}))
	waitFor(t, "all events", func() bool { return tr.Delivered() == n })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	want := Counts{Delivery: results.Delivery{Expected: n, Delivered: n}, Attempts: 1, Connects: 1}
	if got := tr.Counts(n); got != want {
		t.Fatalf("counts %+v\nwant   %+v", got, want)
	}
	checkObserved(t, observed(), 1, n)
	if q := p.requests(); len(q) != 1 || q[0] != "after=0" {
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
			const head = 10
			p := newWSPeer(t, func(n int, after uint64, w http.ResponseWriter, r *http.Request) {
				c := upgrade(w, r)
				if c == nil {
					return
				}
				defer c.Close()
				if n == 0 {
					sendEvents(t, c, after+1, 5)
					tc.end(c)
					return
				}
				sendEvents(t, c, after+1, head)
				_ = drain(c) // until the client goes
			})
			tr := NewTracker(0, NewLatency(), 0)
			r := start(t, newTestClient(t, contract.WS, p.base, tr, fastRetry))
			waitFor(t, "all events", func() bool { return tr.Delivered() == head })
			if err := r.stop(t); err != nil {
				t.Fatalf("Run = %v", err)
			}
			if q := p.requests(); strings.Join(q, " ") != "after=0 after=5" {
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
	p := newWSPeer(t, func(n int, after uint64, w http.ResponseWriter, r *http.Request) {
		if n < 2 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		c := upgrade(w, r)
		if c == nil {
			return
		}
		defer c.Close()
		sendEvents(t, c, after+1, 3)
		_ = drain(c)
	})
	tr := NewTracker(0, nil, 0)
	r := start(t, newTestClient(t, contract.WS, p.base, tr, fastRetry))
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
		p := newWSPeer(t, func(_ int, _ uint64, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		})
		tr := NewTracker(0, nil, 0)
		began := time.Now()
		r := start(t, newTestClient(t, contract.WS, p.base, tr, Options{BackoffMin: time.Millisecond, BackoffMax: time.Hour}))
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
		const conns = 20
		p := newWSPeer(t, func(n int, after uint64, w http.ResponseWriter, r *http.Request) {
			c := upgrade(w, r)
			if c == nil {
				return
			}
			defer c.Close()
			if n >= conns {
				_ = drain(c) // enough: stay up until the client goes
				return
			}
			sendEvents(t, c, after+1, after+1)
			closeWith(c, websocket.CloseGoingAway)
		})
		tr := NewTracker(0, nil, 0)
		// Without a reset, the 20th pause alone could last 2^19 ms.
		r := start(t, newTestClient(t, contract.WS, p.base, tr, Options{BackoffMin: time.Millisecond, BackoffMax: time.Hour}))
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
		serve func(w http.ResponseWriter, r *http.Request)
		want  error
		text  []string // in the error message
	}{
		{"handshake 403", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no entry for you", http.StatusForbidden)
		}, ErrWSRejected, []string{"403", "no entry for you"}},
		{"handshake 400", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "cursor ahead of stream", http.StatusBadRequest)
		}, ErrWSRejected, []string{"400 Bad Request", "cursor ahead of stream"}},
		{"close 1002", func(w http.ResponseWriter, r *http.Request) {
			if c := upgrade(w, r); c != nil {
				defer c.Close()
				closeWith(c, websocket.CloseProtocolError)
			}
		}, ErrWSProtocol, []string{"1002"}},
		{"close 1009", func(w http.ResponseWriter, r *http.Request) {
			if c := upgrade(w, r); c != nil {
				defer c.Close()
				closeWith(c, websocket.CloseMessageTooBig)
			}
		}, ErrWSProtocol, []string{"1009"}},
		{"message over limit", func(w http.ResponseWriter, r *http.Request) {
			if c := upgrade(w, r); c != nil {
				defer c.Close()
				// The client may hang up mid-message; that is the point.
				_ = c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), WSReadLimit+1))
				_ = drain(c)
			}
		}, ErrWSProtocol, []string{"longer than"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newWSPeer(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) { tc.serve(w, r) })
			tr := NewTracker(0, nil, 0)
			err := start(t, newTestClient(t, contract.WS, p.base, tr, fastRetry)).wait(t)
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
	p := newWSPeer(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
		c := upgrade(w, r)
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
	r := start(t, newTestClient(t, contract.WS, p.base, tr, Options{}))
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
		p := newWSPeer(t, func(n int, after uint64, w http.ResponseWriter, r *http.Request) {
			c := upgrade(w, r)
			if c == nil {
				return
			}
			defer c.Close()
			if n > 0 {
				sendEvents(t, c, after+1, 1)
			}
			_ = drain(c) // connection 0 says nothing until the client gives up
		})
		tr := NewTracker(0, nil, 0)
		o := fastRetry
		o.ReadTimeout = timeout
		r := start(t, newTestClient(t, contract.WS, p.base, tr, o))
		waitFor(t, "event 1", func() bool { return tr.Delivered() == 1 })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
		// Only the read timeout can end the silent connection before the
		// hang guard: the second comes no sooner than it.
		at := p.arrivals()
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
		const pings = 15
		var pongs atomic.Int64
		p := newWSPeer(t, func(_ int, after uint64, w http.ResponseWriter, r *http.Request) {
			c := upgrade(w, r)
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
			sendEvents(t, c, after+1, 1)
			<-read
		})
		tr := NewTracker(0, nil, 0)
		o := fastRetry
		o.ReadTimeout = timeout
		r := start(t, newTestClient(t, contract.WS, p.base, tr, o))
		waitFor(t, "event 1", func() bool { return tr.Delivered() == 1 })
		// The client answers each ping before it reads on, so by the event
		// every pong is on its way.
		waitFor(t, "a pong for every ping", func() bool { return pongs.Load() == pings })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if q := p.requests(); len(q) != 1 {
			t.Fatalf("%d connections, want 1: pings must count as activity", len(q))
		}
	})
}

func TestWSCancel(t *testing.T) {
	t.Run("during handshake", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		p := newWSPeer(t, func(_ int, _ uint64, _ http.ResponseWriter, r *http.Request) {
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
		r := start(t, newTestClient(t, contract.WS, p.base, NewTracker(0, nil, 0), Options{}))
		<-arrived
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})

	t.Run("during backoff", func(t *testing.T) {
		addr := deadAddr(t)
		tr := NewTracker(0, nil, 0)
		r := start(t, newTestClient(t, contract.WS, "http://"+addr, tr, Options{BackoffMin: time.Hour, BackoffMax: time.Hour}))
		waitFor(t, "the first attempt", func() bool { return tr.Counts(0).Attempts == 1 })
		time.Sleep(20 * time.Millisecond) // into the pause
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

// TestWebSocketRun ends a connection that carried a text and a binary
// message in each way a server may: Run returns nil only for a normal close
// or a server going away, as a page that does not reconnect sees it.
func TestWebSocketRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(c *websocket.Conn)
		ok   bool
	}{
		{"normal 1000", func(c *websocket.Conn) { closeWith(c, websocket.CloseNormalClosure) }, true},
		{"going away 1001", func(c *websocket.Conn) { closeWith(c, websocket.CloseGoingAway) }, true},
		{"internal error 1011", func(c *websocket.Conn) { closeWith(c, websocket.CloseInternalServerErr) }, false},
		{"abrupt TCP close", func(c *websocket.Conn) { _ = c.NetConn().Close() }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newWSPeer(t, func(_ int, after uint64, w http.ResponseWriter, r *http.Request) {
				c := upgrade(w, r)
				if c == nil {
					return
				}
				defer c.Close()
				if err := c.WriteMessage(websocket.BinaryMessage, []byte{0, 1}); err != nil {
					t.Errorf("send: %v", err)
				}
				sendEvents(t, c, after+1, after+1)
				tc.end(c)
			})
			var got []string
			ws := &WebSocket{URL: p.base + "/ws?after=7", OnMessage: func(typ int, data []byte) error {
				got = append(got, fmt.Sprintf("%d:%q", typ, data))
				return nil
			}}
			err := start(t, ws).wait(t)
			if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "ws://"+p.addr()+"/ws?after=7")) {
				t.Fatalf("Run = %v, want ok=%v or an error naming the URL", err, tc.ok)
			}
			want := []string{fmt.Sprintf("%d:%q", websocket.BinaryMessage, "\x00\x01"), fmt.Sprintf("%d:%q", websocket.TextMessage, testEvent(8))}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("messages %s, want %s", got, want)
			}
		})
	}
}

func TestWebSocketStopsOnOnMessageError(t *testing.T) {
	p := newWSPeer(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
		if c := upgrade(w, r); c != nil {
			defer c.Close()
			sendEvents(t, c, 1, 1)
			_ = drain(c) // until the client hangs up
		}
	})
	errEnough := errors.New("enough")
	ws := &WebSocket{URL: p.base + "/ws", OnMessage: func(int, []byte) error { return errEnough }}
	if err := start(t, ws).wait(t); err != errEnough {
		t.Fatalf("Run = %v, want OnMessage's error as it is", err)
	}
}

func TestWebSocketTLS(t *testing.T) {
	p := newPeerWith(t, contract.WS.Path(), func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
		if c := upgrade(w, r); c != nil {
			defer c.Close()
			sendEvents(t, c, 1, 1)
			closeWith(c, websocket.CloseNormalClosure)
		}
	}, (*httptest.Server).StartTLS)
	roots := x509.NewCertPool()
	roots.AddCert(p.srv.Certificate())
	var n int
	ws := &WebSocket{
		URL:       p.base + "/ws", // https, taken as wss
		TLSConfig: &tls.Config{RootCAs: roots},
		OnMessage: func(int, []byte) error { n++; return nil },
	}
	if err := start(t, ws).wait(t); err != nil || n != 1 {
		t.Fatalf("Run = %v after %d messages, want nil after 1", err, n)
	}
}

// With an IdleTimeout a silent session ends with a timeout, which a
// reconnect loop retries; without one it waits, as a browser does.
func TestWebSocketIdleTimeout(t *testing.T) {
	const idle = 100 * time.Millisecond
	t.Run("set", func(t *testing.T) {
		p := newWSPeer(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
			if c := upgrade(w, r); c != nil {
				defer c.Close()
				_ = drain(c) // silent until the client gives up
			}
		})
		ws := &WebSocket{URL: p.base + "/ws", IdleTimeout: idle}
		err := start(t, runFunc(func(ctx context.Context) error {
			_, err := ws.Session(ctx)
			return err
		})).wait(t)
		if classify(err) != FailTimeout {
			t.Fatalf("Session = %v, want a timeout", err)
		}
	})
	t.Run("none", func(t *testing.T) {
		p := newWSPeer(t, func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
			if c := upgrade(w, r); c != nil {
				defer c.Close()
				time.Sleep(3 * idle) // silent, longer than the limit above
				sendEvents(t, c, 1, 1)
				closeWith(c, websocket.CloseNormalClosure)
			}
		})
		var n int
		ws := &WebSocket{URL: p.base + "/ws", OnMessage: func(int, []byte) error { n++; return nil }}
		if err := start(t, ws).wait(t); err != nil || n != 1 {
			t.Fatalf("Run = %v after %d messages, want nil after 1", err, n)
		}
	})
}

// TestWebSocketSession runs sessions as a reconnect loop does: each reports
// whether it delivered and why it ended, and calls the hooks a Tracker
// needs.
func TestWebSocketSession(t *testing.T) {
	p := newWSPeer(t, func(n int, after uint64, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 0:
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		case 1:
			if c := upgrade(w, r); c != nil {
				defer c.Close()
				sendEvents(t, c, after+1, after+1)
				closeWith(c, websocket.CloseGoingAway)
			}
		case 2:
			if c := upgrade(w, r); c != nil {
				defer c.Close()
				_ = drain(c) // until the client hangs up
			}
		default:
			http.Error(w, "no entry for you", http.StatusForbidden)
		}
	})
	var attempts, connects, disconnects int
	var cancelOnConnect context.CancelFunc // ends a session as soon as it connects
	ws := &WebSocket{
		URL:       p.base + "/ws",
		OnAttempt: func() { attempts++ },
		OnConnect: func() {
			if connects++; cancelOnConnect != nil {
				cancelOnConnect()
			}
		},
		OnDisconnect: func() { disconnects++ },
	}
	final := func(err error) bool {
		return errors.Is(err, ErrWSURL) || errors.Is(err, ErrWSRejected) || errors.Is(err, ErrWSProtocol)
	}
	var ce *websocket.CloseError
	for i, check := range []func(delivered bool, err error) bool{
		func(d bool, err error) bool { return !d && classify(err) == FailStatus && !final(err) },
		func(d bool, err error) bool {
			return d && errors.As(err, &ce) && ce.Code == websocket.CloseGoingAway && !final(err)
		},
		func(d bool, err error) bool { return !d && err == nil }, // ctx ended
		func(d bool, err error) bool { return !d && errors.Is(err, ErrWSRejected) && final(err) },
	} {
		var delivered bool
		err := start(t, runFunc(func(ctx context.Context) (err error) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			cancelOnConnect = nil
			if i == 2 {
				cancelOnConnect = cancel
			}
			delivered, err = ws.Session(ctx)
			return err
		})).wait(t)
		if !check(delivered, err) {
			t.Fatalf("session %d = %v, %v", i, delivered, err)
		}
	}
	if attempts != 4 || connects != 2 || disconnects != 1 {
		t.Fatalf("%d attempts, %d connects, %d disconnects; want 4, 2 and 1 (none when ctx ends)", attempts, connects, disconnects)
	}
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
