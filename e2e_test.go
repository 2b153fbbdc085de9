package pushbench_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
	"github.com/pushbench/pushbench/servers"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// subject is one server implementation of one transport: what the
// behaviour × subject suite below runs every behaviour against.
type subject struct {
	t    contract.Transport
	impl string
}

func (s subject) String() string { return string(s.t) + "/" + s.impl }

// subjects is every server implementation this process can serve, of every
// transport, from the one registry (servers.Impls), the TCP floor last.
// Implementations in other languages run as processes of their own and are
// checked by pushbench conform instead.
func subjects() []subject {
	var out []subject
	for _, t := range servers.HTTPTransports {
		for _, i := range servers.Impls(t) {
			if len(i.Command) == 0 {
				out = append(out, subject{t, i.Name})
			}
		}
	}
	return append(out, subject{contract.TCP, "std"})
}

// forEachSubject runs f as a subtest per subject.
func forEachSubject(t *testing.T, f func(t *testing.T, sub subject)) {
	for _, sub := range subjects() {
		t.Run(sub.String(), func(t *testing.T) { f(t, sub) })
	}
}

// stack is a hub served over every transport by real listeners, by the
// implementation a subject names for its transport.
type stack struct {
	hub  *servers.Hub
	srv  *servers.Server
	http string // http://host:port
	tcp  string // tcp://host:port of the floor
}

// newStack serves a fresh hub; short timings keep reconnect tests fast.
func newStack(t testing.TB, sub subject, hubOpts *servers.HubOptions) *stack {
	t.Helper()
	return newStackWith(t, sub, hubOpts, &servers.Options{})
}

// newStackWith serves a fresh hub with opts, whose Retry and Heartbeat are
// made short.
func newStackWith(t testing.TB, sub subject, hubOpts *servers.HubOptions, opts *servers.Options) *stack {
	t.Helper()
	hub := servers.NewHub(hubOpts)
	opts.Retry, opts.Heartbeat = 20*time.Millisecond, time.Second
	if sub.t != contract.TCP {
		opts.Impl = map[contract.Transport]string{sub.t: sub.impl}
	}
	srv, err := servers.New(hub, opts)
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := srv.Serving(srv, true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	floor := servers.NewTCP(hub, opts)
	done := make(chan error, 2)
	go func() { done <- floor.Serve(ctx, l) }()
	go func() { done <- ignoreClosed(hs.Serve(hl)) }()
	t.Cleanup(func() {
		srv.Close() // ends every stream, so the listeners can close
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		if err := hs.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("serving: %v", err)
			}
		}
	})
	return &stack{hub: hub, srv: srv, http: "http://" + hl.Addr().String(), tcp: "tcp://" + l.Addr().String()}
}

// ignoreClosed drops the error Serve returns after a Shutdown.
func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *stack) target(transport contract.Transport) string {
	if transport == contract.TCP {
		return s.tcp
	}
	return s.http
}

// publish publishes n more events of size bytes, scheduled now.
func (s *stack) publish(t testing.TB, n, size int) {
	t.Helper()
	for range n {
		seq := s.hub.Head() + 1
		if err := s.hub.Publish(servers.NewEntry(event.New(seq, time.Now().UnixNano(), size))); err != nil {
			t.Fatal(err)
		}
	}
}

// clientOptions make reconnects quick and polling frequent.
func clientOptions() loadgen.Options {
	return loadgen.Options{
		PollInterval: 5 * time.Millisecond,
		SSERetry:     20 * time.Millisecond,
		BackoffMin:   5 * time.Millisecond,
		BackoffMax:   50 * time.Millisecond,
		ReadTimeout:  5 * time.Second,
	}
}

// startFleet runs n clients of transport from cursor after.
func startFleet(t testing.TB, s *stack, transport contract.Transport, n int, after uint64, o loadgen.Options) *loadgen.Fleet {
	t.Helper()
	f, err := loadgen.StartFleet(context.Background(), loadgen.FleetConfig{
		Transport: transport, Target: s.target(transport), Clients: n, After: after, Options: o,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// finish waits for every client to reach the head, stops them and returns
// their summed account.
func finish(t testing.TB, s *stack, f *loadgen.Fleet) loadgen.Counts {
	t.Helper()
	head := s.hub.Head()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.WaitCaughtUp(ctx, head); err != nil {
		t.Errorf("%d clients did not reach event %d: %v", f.Behind(head), head, err)
	}
	f.Stop()
	if errs := f.Errors(); len(errs) > 0 {
		t.Errorf("clients gave up: %v", errs)
	}
	return f.Counts(head)
}

// exact asserts that every client got every expected event exactly once, in
// order, with nothing signalled missing unless gapMissed says so.
func exact(t testing.TB, c loadgen.Counts, clients int, perClient, gapMissed uint64) {
	t.Helper()
	want := loadgen.Counts{Delivery: results.Delivery{
		Expected:  uint64(clients) * perClient,
		Delivered: uint64(clients) * (perClient - gapMissed),
		GapMissed: uint64(clients) * gapMissed,
	}}
	got := c
	got.Attempts, got.Connects, got.Polls, got.EmptyPolls, got.Gaps = 0, 0, 0, 0, 0
	got.Errors = results.Errors{} // reconnects after a cut or a crash fail attempts on purpose
	if got != want {
		t.Fatalf("account:\n got %+v\nwant %+v", c, want)
	}
}

func TestEveryClientGetsEveryEventOnceInOrder(t *testing.T) {
	forEachSubject(t, func(t *testing.T, sub subject) {
		s := newStack(t, sub, nil)
		const clients, events = 8, 300
		var mu sync.Mutex
		seen := map[uint64][]byte{}
		o := clientOptions()
		o.Observe = func(msg []byte) {
			h, err := event.DecodeHeader(msg)
			if err != nil {
				return // accounted as malformed by the client
			}
			mu.Lock()
			defer mu.Unlock()
			if _, ok := seen[h.Seq]; !ok {
				seen[h.Seq] = bytes.Clone(msg)
			}
		}
		f := startFleet(t, s, sub.t, clients, 0, o)
		s.publish(t, events, 200)
		exact(t, finish(t, s, f), clients, events, 0)
		// The transport carried, byte for byte, what the hub encoded once
		// for every transport and implementation.
		want, _, err := s.hub.Read(0, nil, events)
		if err != nil || len(want) != events {
			t.Fatalf("hub holds %d events: %v", len(want), err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, e := range want {
			if got := seen[e.Seq]; !bytes.Equal(got, e.JSON) {
				t.Fatalf("event %d:\n got %s\nwant %s", e.Seq, got, e.JSON)
			}
		}
		if !bytes.Contains(want[6].JSON, []byte(event.Payload(7, 200))) {
			t.Fatal("event 7 does not carry its generated payload")
		}
	})
}

// cutter is a dialer whose connections the test can cut from the client side.
type cutter struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (c *cutter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		c.mu.Lock()
		c.conns = append(c.conns, conn)
		c.mu.Unlock()
	}
	return conn, err
}

func (c *cutter) cutAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

func TestDisconnectedClientResumesWithNothingLostOrDuplicated(t *testing.T) {
	forEachSubject(t, func(t *testing.T, sub subject) {
		tr := sub.t
		s := newStack(t, sub, nil)
		var cut cutter
		o := clientOptions()
		o.Dial = cut.dial
		const clients = 4
		f := startFleet(t, s, tr, clients, 0, o)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.publish(t, 100, 64)
		if err := f.WaitCaughtUp(ctx, 50); err != nil {
			t.Fatal(err)
		}
		cut.cutAll() // mid-stream, from the client side
		s.publish(t, 100, 64)
		c := finish(t, s, f)
		exact(t, c, clients, 200, 0)
		if tr != contract.Poll && c.Connects < 2*clients {
			t.Fatalf("%d connects for %d clients: the cut did not force reconnects", c.Connects, clients)
		}
	})
}

// A cursor older than the history gets an explicit gap signal: each client
// asks from 0 while the history holds 41..50, is told once that 1..40 are
// gone, and gets 41..54 exactly once.
func TestCursorOlderThanHistoryGetsGapSignal(t *testing.T) {
	forEachSubject(t, func(t *testing.T, sub subject) {
		tr := sub.t
		s := newStack(t, sub, &servers.HubOptions{History: 10})
		s.publish(t, 50, 16) // history now holds 41..50
		const clients = 3
		f := startFleet(t, s, tr, clients, 0, clientOptions())
		// Every client first takes its gap and 41..50: one still asking
		// from 0 when more come would lose more than 40, and one that has
		// not taken its batch could lag past MaxLag and be cut off.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.WaitCaughtUp(ctx, 50); err != nil {
			t.Fatal(err)
		}
		s.publish(t, 4, 16) // within MaxLag (History/2) of the head: no client is cut off
		c := finish(t, s, f)
		exact(t, c, clients, 54, 40)
		if c.Gaps != clients {
			t.Fatalf("gap signals = %d, want one per client", c.Gaps)
		}
	})
}

// stall opens a connection that asks for the stream and then never reads.
func stall(t testing.TB, s *stack, transport contract.Transport) net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(s.http, "http://")
	var req string
	switch transport {
	case contract.SSE:
		req = "GET /sse?after=0 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
	case contract.WS:
		req = "GET /ws?after=0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	case contract.TCP:
		addr, req = s.tcp[len("tcp://"):], "after=0\n"
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// A tiny receive buffer makes the server's writes back up quickly.
	if tc, ok := conn.(*net.TCPConn); ok {
		if err := tc.SetReadBuffer(4096); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestSlowClientIsCutOffWithoutSlowingOthers stalls one subscriber (it asks
// for the stream and never reads) beside healthy clients. Nothing here is
// timed: a broadcast that waited on the stalled client would keep the healthy
// ones from reaching the head while it is still subscribed, so the test counts
// instead. First, with the stalled client far behind but within MaxLag, every
// healthy client gets every event while the stalled one is still subscribed
// and uncut; then, once it lags past MaxLag, the hub cuts it off and counts
// it, and the healthy clients still get everything exactly once.
func TestSlowClientIsCutOffWithoutSlowingOthers(t *testing.T) {
	const (
		history = 4096
		maxLag  = history / 2
		payload = 16 << 10
	)
	forEachSubject(t, func(t *testing.T, sub subject) {
		tr := sub.t
		if tr.Requests() {
			t.Skip("a poll holds no stream for the server to be stuck writing to")
		}
		{
			// The write deadline must not end the stalled stream before the
			// hub does: on a busy machine under -race the phases below take
			// seconds.
			s := newStackWith(t, sub, &servers.HubOptions{History: history, MaxLag: maxLag},
				&servers.Options{WriteTimeout: time.Minute})
			stall(t, s, tr)
			waitFor(t, "the stalled client to subscribe", func() bool { return s.hub.Stats().Subscribers >= 1 })
			const clients = 4
			f := startFleet(t, s, tr, clients, 0, clientOptions())

			// Phase 1: 2,000 events of 16 KiB, 32 MiB for every client: far
			// more than the stalled socket's buffers hold, so its stream is
			// stuck in a write, yet less than MaxLag behind.
			publishPaced(t, s, 2000, payload)
			head := s.hub.Head()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := f.WaitCaughtUp(ctx, head); err != nil {
				t.Fatalf("healthy clients did not reach event %d while one client was stalled (hang guard): %v", head, err)
			}
			if st := s.hub.Stats(); st.Subscribers != clients+1 || st.SlowDropped != 0 {
				t.Fatalf("healthy clients caught up with %d subscribers and %d cut off; want the stalled one still subscribed (%d) and none cut off: the test proved nothing",
					st.Subscribers, st.SlowDropped, clients+1)
			}

			// Phase 2: the stalled client falls past MaxLag and is cut off.
			publishPaced(t, s, maxLag, payload)
			waitFor(t, "the stalled client to be cut off", func() bool { return s.hub.Stats().SlowDropped >= 1 })
			exact(t, finish(t, s, f), clients, 2000+maxLag, 0)
			if got := s.hub.Stats().SlowDropped; got != 1 {
				t.Fatalf("slow subscribers dropped = %d, want exactly the stalled one", got)
			}
		}
	})
}

// publishPaced publishes n events of size bytes in bursts of 50, yielding
// between bursts so that readers run while the publisher works.
func publishPaced(t testing.TB, s *stack, n, size int) {
	t.Helper()
	for n > 0 {
		k := min(n, 50)
		s.publish(t, k, size)
		n -= k
		time.Sleep(2 * time.Millisecond)
	}
}

// waitFor polls cond until it holds; the minute is a hang guard, not a
// measurement.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s (hang guard)", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBadInputGetsClearErrorAndServerKeepsServing(t *testing.T) {
	type badCase struct {
		method, query string
		header        http.Header
		want          int
	}
	bad := map[contract.Transport][]badCase{
		contract.Poll: {
			{"GET", "?after=abc", nil, 400}, {"GET", "?after=-1", nil, 400},
			{"GET", "?after=99999999999999999999999", nil, 400}, {"GET", "?after=6", nil, 400},
			{"DELETE", "", nil, 405},
		},
		contract.SSE: {
			{"GET", "?after=abc", nil, 400},
			{"GET", "", http.Header{"Last-Event-ID": {"x1"}}, 400},
			{"GET", "", http.Header{"Last-Event-ID": {"18446744073709551616"}}, 400},
			{"POST", "", nil, 405},
		},
		contract.WS: {{"GET", "?after=-3", nil, 400}, {"GET", "?after=6", nil, 400}},
	}
	bad[contract.LongPoll] = bad[contract.Poll]
	forEachSubject(t, func(t *testing.T, sub subject) {
		s := newStack(t, sub, nil)
		s.publish(t, 5, 8)
		for _, tc := range append(bad[sub.t], badCase{"GET", "/nope", nil, 404}) {
			path := sub.t.Path() + tc.query
			if strings.HasPrefix(tc.query, "/") {
				path = tc.query
			}
			req, err := http.NewRequest(tc.method, s.http+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s %v: status %d, want %d", tc.method, path, tc.header, resp.StatusCode, tc.want)
			}
		}
		// Still serving.
		f := startFleet(t, s, sub.t, 1, 0, clientOptions())
		exact(t, finish(t, s, f), 1, 5, 0)
	})
}

// TestShutdownEndsEveryStreamAndRefusesNewOnes closes the server under
// streaming clients: every stream ends (the clients notice the break), and
// a new request is refused with 503 rather than left waiting.
func TestShutdownEndsEveryStreamAndRefusesNewOnes(t *testing.T) {
	forEachSubject(t, func(t *testing.T, sub subject) {
		s := newStack(t, sub, nil)
		const clients = 3
		f := startFleet(t, s, sub.t, clients, 0, clientOptions())
		s.publish(t, 10, 16)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.WaitCaughtUp(ctx, 10); err != nil {
			t.Fatal(err)
		}
		s.srv.Close()
		if !sub.t.Requests() {
			waitFor(t, "every stream to end", func() bool {
				return f.Waiting(func(tr *loadgen.Tracker) bool { return !tr.Up() }) == 0
			})
		}
		if sub.t == contract.TCP {
			return // the floor closes new connections without a word, so clients retry
		}
		resp, err := http.Get(s.http + sub.t.Path())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("a request after shutdown: %s, want 503", resp.Status)
		}
	})
}

func ExampleTransports() {
	fmt.Println(contract.Transports)
	// Output: [poll longpoll sse ws tcp]
}
