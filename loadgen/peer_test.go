package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/servers"
)

// The scaffolding every client test here shares: the clients' side (start,
// waitFor) and the server's side, a peer of one shape whatever the transport.

// TestMain fails the run if any test leaves a goroutine behind: a client's
// Run must wait for every goroutine it starts, and so must every peer.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testEpoch is every test event's scheduled time, so an event's encoding is a
// function of its seq alone and tests can compare bytes.
var testEpoch = time.Now().UnixNano()

// testEvent is the canonical encoding of event seq.
func testEvent(seq uint64) []byte {
	return event.New(seq, testEpoch, 64).AppendJSON(nil)
}

// newTestClient returns a client of transport for base, failing t if New
// refuses it.
func newTestClient(t testing.TB, transport contract.Transport, base string, tr *Tracker, o Options) Client {
	t.Helper()
	c, err := New(transport, base, tr, &o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fastRetry keeps reconnection tests quick.
var fastRetry = Options{BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond}

// hangGuard bounds every wait in these tests. It is a hang guard, not a
// measurement: tests run under -race on busy shared cores, so nothing here
// asserts how long anything took, only that it did not hang.
const hangGuard = 10 * time.Second

// running is a client's Run in its own goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, once done is closed
}

// start runs c until the test ends or stop is called. c is a client or a
// follower (EventSource, WebSocket, Poller): anything with a Run.
func start(t testing.TB, c Client) *running {
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

// stop cancels the run and returns Run's result, failing t if Run hangs.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// wait returns Run's result, failing t if Run hangs.
func (r *running) wait(t testing.TB) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(hangGuard):
		t.Fatalf("Run did not return within %v: hung", hangGuard)
		return nil
	}
}

// runFunc is a function with a client's Run, to start a follower's Session
// as start starts a Run.
type runFunc func(ctx context.Context) error

func (f runFunc) Run(ctx context.Context) error { return f(ctx) }

// waitFor polls cond until it holds, failing t if it hangs.
func waitFor(t testing.TB, what string, cond func() bool) {
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
func checkObserved(t testing.TB, msgs [][]byte, from, to uint64) {
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

// peer is the server side of a test, on loopback. It counts the connections
// it accepts and keeps them (drop closes them all, as a crash would), and it
// records every request the same way whatever the transport: an HTTP
// request's raw query, or the line a raw connection starts with, and when it
// came. What it answers is the test's: a handler (newPeer), whatever owns a
// raw connection (newRawPeer), or a real server (startTCPFloor). It stops
// with the test and waits for every goroutine it started.
type peer struct {
	base     string           // what a client is given: http://…, https://… or tcp://host:port
	srv      *httptest.Server // nil for a raw peer
	l        net.Listener
	accepted atomic.Int64   // connections
	wg       sync.WaitGroup // handlers (httptest forgets hijacked ones) and raw connections
	lines    bool           // record each connection's first line as a request

	mu    sync.Mutex
	conns []net.Conn  // the server's side of every connection not dropped
	reqs  []string    // every request
	at    []time.Time // when each came
}

// peerHandler answers the n-th request (from 0) a peer records, which asks
// for the events after after: its after parameter, 0 if it has none.
type peerHandler func(n int, after uint64, w http.ResponseWriter, r *http.Request)

// newPeer serves handle over HTTP/1.1 for requests to path ("" for every
// path), 404 elsewhere; a malformed after parameter gets a 400.
func newPeer(t testing.TB, path string, handle peerHandler) *peer {
	t.Helper()
	return newPeerWith(t, path, handle, (*httptest.Server).Start)
}

// newPeerWith is newPeer started by start: (*httptest.Server).StartTLS for
// https, startH2C for cleartext HTTP/2 beside HTTP/1.1.
func newPeerWith(t testing.TB, path string, handle peerHandler, start func(*httptest.Server)) *peer {
	t.Helper()
	p := &peer{}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.wg.Add(1)
		defer p.wg.Done()
		if path != "" && r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		var after uint64
		if s := r.URL.Query().Get("after"); s != "" {
			var err error
			if after, err = strconv.ParseUint(s, 10, 64); err != nil {
				http.Error(w, "bad cursor", http.StatusBadRequest)
				return
			}
		}
		handle(p.record(r.URL.RawQuery), after, w, r)
	}))
	p.l = &peerListener{Listener: p.srv.Listener, p: p}
	p.srv.Listener = p.l
	start(p.srv)
	p.base = p.srv.URL
	t.Cleanup(func() {
		p.srv.Close()
		p.wg.Wait()
	})
	return p
}

// startH2C starts s serving cleartext HTTP/2 with prior knowledge, and
// HTTP/1.1.
func startH2C(s *httptest.Server) {
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetHTTP1(true)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
}

// startH2TLS starts s serving https, HTTP/2 by ALPN.
func startH2TLS(s *httptest.Server) {
	s.EnableHTTP2 = true
	s.StartTLS()
}

// newRawPeer hands every connection it accepts, the n-th from 0, to serve,
// which owns it until it returns; the peer closes it then. Each connection's
// first line is its request.
func newRawPeer(t testing.TB, serve func(n int, c net.Conn)) *peer {
	t.Helper()
	p := listenRaw(t)
	p.wg.Go(func() {
		for n := 0; ; n++ {
			c, err := p.l.Accept()
			if err != nil {
				return // the listener is closed
			}
			p.wg.Go(func() {
				defer c.Close()
				serve(n, c)
			})
		}
	})
	t.Cleanup(func() {
		_ = p.l.Close() // ends the accept loop; its error says nothing
		p.wg.Wait()
	})
	return p
}

// newTCPPeer is a raw peer for TCP floor clients: serve has each connection
// once its request line has come.
func newTCPPeer(t testing.TB, serve func(n int, c net.Conn)) *peer {
	t.Helper()
	return newRawPeer(t, func(n int, c net.Conn) {
		if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
			serve(n, c)
		}
	})
}

// listenRaw returns a peer listening on loopback, not yet accepting.
func listenRaw(t testing.TB) *peer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{lines: true, base: "tcp://" + l.Addr().String()}
	p.l = &peerListener{Listener: l, p: p}
	return p
}

// deadAddr returns a loopback host:port nobody listens on: every dial to it
// fails.
func deadAddr(t testing.TB) string {
	t.Helper()
	p := listenRaw(t)
	if err := p.l.Close(); err != nil {
		t.Fatal(err)
	}
	return p.addr()
}

// addr is the peer's host:port.
func (p *peer) addr() string { return p.l.Addr().String() }

// record records a request and returns its number, from 0.
func (p *peer) record(req string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, req)
	p.at = append(p.at, time.Now())
	return len(p.reqs) - 1
}

// requests returns every request so far.
func (p *peer) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.reqs...)
}

// arrivals returns when every request so far came.
func (p *peer) arrivals() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.at...)
}

// drop closes the server's side of every connection so far, as a crash or a
// network failure would.
func (p *peer) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close() // it may have ended already
	}
	p.conns = nil
}

// peerListener counts and keeps what it accepts for its peer.
type peerListener struct {
	net.Listener
	p *peer
}

func (l *peerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.p.accepted.Add(1)
	if l.p.lines {
		c = &lineConn{Conn: c, p: l.p, i: -1}
	}
	l.p.mu.Lock()
	l.p.conns = append(l.p.conns, c)
	l.p.mu.Unlock()
	return c, nil
}

// lineConn records the first line read from it as its peer's request.
type lineConn struct {
	net.Conn
	p    *peer
	i    int  // index in p.reqs; -1 before the first read
	done bool // the line has ended
}

func (c *lineConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.done || n == 0 {
		return n, err
	}
	if c.i < 0 {
		c.i = c.p.record("")
	}
	line := b[:n]
	if k := bytes.IndexByte(line, '\n'); k >= 0 {
		line, c.done = line[:k+1], true
	}
	c.p.mu.Lock()
	c.p.reqs[c.i] += string(line)
	c.p.mu.Unlock()
	return n, err
}

// SSE.

// sseFrame is event seq as an SSE server frames it.
func sseFrame(seq uint64) string {
	return fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", seq, event.TypeOf(seq), testEvent(seq))
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

// WebSocket.

var testUpgrader = websocket.Upgrader{}

// upgrade upgrades r, or returns nil if it fails. That is no test failure in
// itself: a client stopped mid-handshake makes it fail, and a client that
// cannot shake hands fails its test by receiving nothing.
func upgrade(w http.ResponseWriter, r *http.Request) *websocket.Conn {
	c, err := testUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // Upgrade has answered with an error status if it could
	}
	return c
}

// sendEvents sends events from..to as text messages, reporting whether they
// all went.
func sendEvents(t testing.TB, c *websocket.Conn, from, to uint64) bool {
	for seq := from; seq <= to; seq++ {
		if err := c.WriteMessage(websocket.TextMessage, testEvent(seq)); err != nil {
			t.Errorf("send %d: %v", seq, err)
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

// Polling.

// newPollPeer serves /poll over events 1..head, at most batch per answer, as
// the protocol says. answer, if set, may take over the n-th request by
// returning true.
func newPollPeer(t testing.TB, head, batch uint64, answer func(n int, w http.ResponseWriter, r *http.Request) bool) *peer {
	t.Helper()
	return newPeer(t, contract.Poll.Path(), func(n int, after uint64, w http.ResponseWriter, r *http.Request) {
		if answer == nil || !answer(n, w, r) {
			writePoll(w, after, head, batch)
		}
	})
}

// writePoll answers a poll after cursor after as the protocol says.
func writePoll(w http.ResponseWriter, after, head, batch uint64) {
	switch {
	case after > head:
		http.Error(w, "bad cursor", http.StatusBadRequest)
		return
	case after == head:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	last := min(after+batch, head)
	b := []byte(`{"events":[`)
	for seq := after + 1; seq <= last; seq++ {
		if seq > after+1 {
			b = append(b, ',')
		}
		b = append(b, testEvent(seq)...)
	}
	b = append(b, `],"next":`...)
	b = strconv.AppendUint(b, last, 10)
	b = append(b, `,"more":`...)
	b = strconv.AppendBool(b, last < head)
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b) // a client that hung up is the test's to notice
}

// TCP floor.

// tcpFloor is a real hub served by servers.TCPServer on a peer's listener:
// the peer records each connection's request line and can drop them all.
type tcpFloor struct {
	*peer
	hub *servers.Hub
	srv *servers.TCPServer
}

func startTCPFloor(t testing.TB, hubOpts *servers.HubOptions) *tcpFloor {
	t.Helper()
	f := &tcpFloor{peer: listenRaw(t), hub: servers.NewHub(hubOpts)}
	f.srv = servers.NewTCP(f.hub, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, f.l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return f
}

// publish publishes events up to seq to, in bursts of burst, encoded as
// testEvent encodes them.
func (f *tcpFloor) publish(t testing.TB, to uint64, burst int) {
	t.Helper()
	batch := make([]*servers.Entry, 0, burst)
	for seq := f.hub.Head() + 1; seq <= to; seq++ {
		batch = append(batch, servers.NewEntry(event.New(seq, testEpoch, 64)))
		if len(batch) == burst || seq == to {
			if err := f.hub.Publish(batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// Hostile servers.

// hostile is a raw peer written for one misbehaviour: on every connection it
// reads the request's head, writes prefix and then junk until it has written
// total bytes or the client hangs up, and then holds the connection open
// until the client closes it. It reads and discards whatever else the client
// sends.
type hostile struct {
	*peer
	prefix   []byte
	total    int64
	done     chan struct{}
	written  atomic.Int64 // bytes written over every connection
	hungUp   atomic.Int64 // connections the client closed before total
	finished atomic.Int64 // connections that took all total bytes
}

// junk is what a hostile server streams: no CR or LF, so a header line
// never ends.
var junk = bytes.Repeat([]byte("a"), 64<<10)

// newHostile starts a hostile server on loopback; it stops with the test.
func newHostile(t testing.TB, prefix string, total int64) *hostile {
	t.Helper()
	h := &hostile{prefix: []byte(prefix), total: total, done: make(chan struct{})}
	h.peer = newRawPeer(t, func(_ int, c net.Conn) { h.serve(c) })
	t.Cleanup(func() { close(h.done) }) // before the peer waits for serve
	return h
}

func (h *hostile) serve(c net.Conn) {
	// Answer only once asked, as a server does: an HTTP client may take
	// bytes that come before its request for a broken connection.
	br := bufio.NewReader(c)
	if _, err := http.ReadRequest(br); err != nil {
		return // no request: nothing to answer
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(io.Discard, br) // until the client closes, or serve does
	}()
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
