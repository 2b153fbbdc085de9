package servers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// What the behaviour suite (the module's e2e tests) checks of every
// implementation, sse/nbio and ws/nbio included, is not repeated here. These
// are what is nbio's own: serving everything else on nbio's engine, the
// guard's bounds, close codes, Close and Shutdown waiting, and no goroutine
// per connection.

// nbioBoth names the nbio implementation of both streams.
var nbioBoth = map[contract.Transport]string{contract.SSE: "nbio", contract.WS: "nbio"}

// newNBIOServer is newTestServer with both streams on nbio, unless c
// names implementations.
func newNBIOServer(t testing.TB, c testConfig) *testServer {
	t.Helper()
	var o Options
	if c.opts != nil {
		o = *c.opts
	}
	if o.Impl == nil {
		o.Impl = nbioBoth
	}
	c.opts = &o
	s := newTestServer(t, c)
	if s.srv.Engine() != NBIO {
		t.Fatalf("engine %q, want nbio", s.srv.Engine())
	}
	return s
}

// goroutinesRunning counts the goroutines whose stacks hold any of funcs.
func goroutinesRunning(funcs ...string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		for _, f := range funcs {
			if strings.Contains(g, f) {
				n++
				break
			}
		}
	}
	return n
}

// New serves every other transport beside nbio's when none is named, but
// leaves out the ones whose implementation runs on net/http only, and
// refuses them when they are named.
func TestNBIOServerMountsWhatRunsOnItsEngine(t *testing.T) {
	srv := mustNew(t, NewHub(nil), &Options{Impl: map[contract.Transport]string{contract.SSE: "nbio"}})
	t.Cleanup(srv.Close)
	if srv.Engine() != NBIO {
		t.Fatalf("engine %q, want nbio", srv.Engine())
	}
	got := srv.Stats().Implementation
	want := map[contract.Transport]string{contract.Poll: "std", contract.LongPoll: "std", contract.SSE: "nbio"}
	if len(got) != len(want) {
		t.Fatalf("implementations %v, want %v: ws/gorilla needs net/http", got, want)
	}
	for tr, name := range want {
		if got[tr] != name {
			t.Fatalf("implementations %v, want %v", got, want)
		}
	}
	_, err := New(NewHub(nil), &Options{Impl: map[contract.Transport]string{contract.SSE: "nbio"}}, contract.SSE, contract.WS)
	if err == nil || !strings.Contains(err.Error(), "ws/gorilla runs on net/http, not on nbio") {
		t.Fatalf("New with sse/nbio and ws/gorilla named: %v, want a refusal naming ws/gorilla", err)
	}
}

// Everything that is not a stream runs on nbio's engine unchanged, behind
// the guard: health, statistics, control, polls, and the answers to bad
// requests.
func TestNBIOServesEverythingElse(t *testing.T) {
	s := newNBIOServer(t, testConfig{})
	if resp, body := s.do(t, http.MethodGet, "/healthz", nil); resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("/healthz: %s %q", resp.Status, body)
	}
	st := s.stats(t)
	if st.Implementation[contract.SSE] != "nbio" || st.Implementation[contract.WS] != "nbio" ||
		!strings.HasPrefix(st.Library[contract.SSE], "github.com/lesismal/nbio") {
		t.Fatalf("/stats names %v %v", st.Implementation, st.Library)
	}
	if resp, body := s.do(t, http.MethodPost, "/control/start?rate=1000&count=3", nil); resp.StatusCode != http.StatusOK || body != "{\"first\":1}\n" {
		t.Fatalf("start: %s %q", resp.Status, body)
	}
	waitFor(t, "the generator's 3 events", func() bool { return s.hub.Head() == 3 })
	if resp, body := s.do(t, http.MethodPost, "/control/stop", nil); resp.StatusCode != http.StatusOK || body != "{\"head\":3}\n" {
		t.Fatalf("stop: %s %q", resp.Status, body)
	}
	if resp, body := s.do(t, http.MethodGet, "/poll?after=2", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"next":3`) {
		t.Fatalf("poll: %s %q", resp.Status, body)
	}
	if resp, body := s.do(t, http.MethodGet, "/longpoll?after=2", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"next":3`) {
		t.Fatalf("long poll: %s %q", resp.Status, body)
	}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/sse?after=abc", 400}, {"GET", "/sse?after=9", 400}, {"POST", "/sse", 405},
		{"GET", "/ws?after=-1", 400}, {"GET", "/ws", 400}, {"DELETE", "/poll", 405}, {"GET", "/nope", 404},
	} {
		if resp, body := s.do(t, tc.method, tc.path, nil); resp.StatusCode != tc.want {
			t.Errorf("%s %s: %s %q, want %d", tc.method, tc.path, resp.Status, body, tc.want)
		}
	}
	if resp, _ := s.do(t, http.MethodGet, "/ws", http.Header{"Origin": {"http://elsewhere.example"},
		"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-origin handshake: %s, want 403", resp.Status)
	}
	s.assertServing(t, contract.SSE)
	s.assertServing(t, contract.WS)
}

// A request with a body is refused and its connection closed; an idle
// connection is closed after IdleTimeout, a stream is not.
func TestNBIOGuard(t *testing.T) {
	const idle = 50 * time.Millisecond
	s := newNBIOServer(t, testConfig{opts: &Options{IdleTimeout: idle, Heartbeat: idle / 5}})
	c, br := s.rawConn(t)
	write(t, c, "POST /control/stop HTTP/1.1\r\nHost: pushbench\r\nContent-Length: 5\r\n\r\nhello")
	resp, body := readResponse(t, br)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Fatalf("a request with a body: %s close=%v %q, want 413 and the connection closed", resp.Status, resp.Close, body)
	}
	if rest := expectClosedByServer(t, br); rest != "" {
		t.Fatalf("after the 413: %q", rest)
	}

	st := s.openSSE(t, "/sse", nil)
	st.expect(t, "retry: 1000\n\n: hb\n\n")
	// The idle connection shows that IdleTimeout has passed: the stream,
	// open since before, still gets what comes after.
	_, br = s.rawConn(t)
	if rest := expectClosedByServer(t, br); rest != "" {
		t.Fatalf("an idle connection got %q", rest)
	}
	publishN(t, s.hub, 1)
	for {
		line, err := st.r.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended after the idle timeout: %v", err)
		}
		if line == "id: 1\n" {
			break
		}
	}
}

// The connection cap holds on nbio's engine as on net/http's, though nbio
// takes each connection over from the listener's: beyond it streams and
// polls are answered 503 and their connections closed, /healthz still
// answers, refusals are counted, and a stream that ends makes room.
func TestNBIOConnectionLimit(t *testing.T) { connectionLimit(t, nbioBoth) }

// The bytes on the wire are the standard SSE handler's: retry first, the
// gap, each event's frame, heartbeats only when silent; the response is
// chunked, and ends when the server closes.
func TestNBIOSSEWire(t *testing.T) {
	s := newNBIOServer(t, testConfig{hub: &HubOptions{History: 4}, opts: &Options{Heartbeat: 30 * time.Millisecond}})
	publishN(t, s.hub, 10) // history holds 7..10
	st := s.openSSE(t, "/sse?after=2", nil)
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := st.resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if len(st.resp.TransferEncoding) != 1 || st.resp.TransferEncoding[0] != "chunked" {
		t.Errorf("transfer encoding %v, want chunked", st.resp.TransferEncoding)
	}
	st.expect(t, "retry: 1000\n\nid: 6\nevent: gap\ndata: {\"gap\":{\"from\":3,\"to\":6}}\n\n")
	for seq := uint64(7); seq <= 10; seq++ {
		st.expect(t, "id: "+strconv.FormatUint(seq, 10)+"\nevent: "+map[bool]string{true: "quote", false: "tick"}[seq%2 == 1]+
			"\ndata: "+string(s.json(t, seq))+"\n\n")
	}
	st.expect(t, ": hb\n\n: hb\n\n")
	// An HTTP/1.0 client gets the stream unchunked, until the connection
	// closes.
	c, br := s.rawConn(t)
	write(t, c, "GET /sse?after=10 HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK || resp.ProtoMinor != 0 || !resp.Close || len(resp.TransferEncoding) != 0 {
		t.Fatalf("HTTP/1.0: %v %v, want a 1.0 response that ends with its connection", resp, err)
	}
	s.srv.Close()
	if rest, err := io.ReadAll(st.r); err != nil || strings.Trim(string(rest), ": hb\n") != "" {
		t.Fatalf("after Close: %q %v, want the response to end", rest, err)
	}
	if rest, err := io.ReadAll(resp.Body); err != nil || !strings.HasPrefix(string(rest), "retry: 1000\n\n") || strings.Trim(string(rest[13:]), ": hb\n") != "" {
		t.Fatalf("HTTP/1.0 stream: %q %v", rest, err)
	}
}

// A WebSocket carries each event as one final text frame, the gap first,
// and negotiates no extension.
func TestNBIOWSWire(t *testing.T) {
	s := newNBIOServer(t, testConfig{hub: &HubOptions{History: 4}})
	publishN(t, s.hub, 10) // history holds 7..10
	c, br := s.rawConn(t)
	write(t, c, "GET /ws?after=2 HTTP/1.1\r\nHost: pushbench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols ||
		resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" || resp.Header.Get("Sec-WebSocket-Extensions") != "" {
		t.Fatalf("handshake: %v %v, want 101 with RFC 6455's accept and no extension", resp, err)
	}
	if op, p := readServerFrame(t, br); op != 0x1 || string(p) != `{"gap":{"from":3,"to":6}}` {
		t.Fatalf("first frame: opcode %d %q, want the gap", op, p)
	}
	for seq := uint64(7); seq <= 10; seq++ {
		if op, p := readServerFrame(t, br); op != 0x1 || string(p) != string(s.json(t, seq)) {
			t.Fatalf("frame: opcode %d %q, want event %d", op, p, seq)
		}
	}
	if st := s.srv.Stats().Transports.WS; st != (contract.StreamStats{Active: 1, Total: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

// What a client sends is read as it arrives, in whatever pieces: a ping is
// answered with its payload, valid messages are ignored, and every way to
// end is answered as gorilla's implementation answers it, byte for byte:
// the client's close frame echoed (1002 for a 1-byte body, a code a peer
// may not send, a reason that is not UTF-8), 1002 for a frame that breaks
// RFC 6455, 1007 for a text message that is not UTF-8, 1009 for a message
// over ReadLimit. Then the server closes the connection, after the
// client's own close where it waits for one.
func TestNBIOWSReadsAndCloses(t *testing.T) {
	s := newNBIOServer(t, testConfig{opts: &Options{ReadLimit: 100}})
	const (
		protocol = "\x03\xea" // 1002
		badUTF8  = "\x03\xef" // 1007
	)
	fragment := func(op byte, p []byte) string { // a frame that does not end its message
		f := []byte(clientFrame(op, p))
		f[0] &^= 0x80
		return string(f)
	}
	for _, tc := range []struct {
		name   string
		frames string // what the client sends after a ping and valid messages
		answer string // the server's close frame's payload
		reply  bool   // the client answers the server's close before it goes
	}{
		{"close with a 1-byte body", clientFrame(0x8, []byte{0x03}), protocol + "close frame with a 1-byte body", false},
		{"close without a body", clientFrame(0x8, nil), "", false},
		{"close 1000", clientFrame(0x8, []byte{0x03, 0xe8}), "\x03\xe8", false},
		{"close 1000 with a reason", clientFrame(0x8, []byte("\x03\xe8bye")), "\x03\xe8", false},
		{"close with a bad code", clientFrame(0x8, []byte{0x03, 0xec}), protocol + "bad close code 1004", false},
		{"close with a reason not UTF-8", clientFrame(0x8, []byte{0x03, 0xe8, 0xff}), protocol + "invalid utf8 payload in close frame", false},
		{"unmasked", "\x89\x00", protocol + "bad MASK", false},
		{"bad opcode and RSV2", "\xa3\x80mask", protocol + "RSV2 set, bad opcode 3", false},
		{"long ping", "\x89\xfe\x00\x7emask", protocol + "len > 125 for control", false},
		{"continuation first", clientFrame(0x0, []byte("x")), protocol + "continuation after FIN", false},
		{"text not UTF-8", clientFrame(0x1, []byte{'o', 'k', 0xff}), badUTF8 + errWSBadUTF8.Error(), true},
		{"text not UTF-8 across fragments", fragment(0x1, []byte{'o', 0xc3}) + clientFrame(0x0, []byte{0x28}), badUTF8 + errWSBadUTF8.Error(), true},
		{"message over ReadLimit", fragment(0x2, make([]byte, 60)) + clientFrame(0x0, make([]byte, 60)), "\x03\xf1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := s.rawWS(t, "/ws")
			valid := clientFrame(0x9, []byte("hi")) + clientFrame(0x1, []byte("héllo")) +
				fragment(0x1, []byte{'o', 0xc3}) + clientFrame(0x0, []byte{0xa9}) + clientFrame(0x2, make([]byte, 100))
			for i := range len(valid) { // in pieces, as TCP may deliver them
				write(t, c, valid[i:i+1])
			}
			// At once: the server answers as soon as it sees what is
			// wrong, and closing with unread input would reset the
			// connection.
			write(t, c, tc.frames)
			if op, p := readServerFrame(t, br); op != 0xa || string(p) != "hi" {
				t.Fatalf("ping answered with opcode %d %q, want a pong with its payload", op, p)
			}
			if op, p := readServerFrame(t, br); op != 0x8 || string(p) != tc.answer {
				t.Fatalf("answer: opcode %d %q, want close %q", op, p, tc.answer)
			}
			if tc.reply {
				write(t, c, clientFrame(0x8, []byte(tc.answer[:2])))
			}
			if rest := expectClosedByServer(t, br); rest != "" {
				t.Fatalf("after the close: %q", rest)
			}
		})
	}
	waitFor(t, "the streams to end", func() bool {
		st := s.srv.Stats()
		return st.Transports.WS.Active == 0 && st.Hub.Subscribers == 0
	})
	if st := s.srv.Stats().Transports.WS; st.SlowDisconnects != 0 {
		t.Fatalf("clients that ended or broke the protocol counted slow: %+v", st)
	}
	s.assertServing(t, contract.WS)
}

// The server pings every PingInterval, an empty ping; a client that
// answers with pongs outlives one that does not, which is dropped without
// a close frame once PingInterval+PongWait pass with no pong. Proved by
// count: the answering client is pinged more often than the silent one
// could be before it is dropped.
func TestNBIOWSPings(t *testing.T) {
	const interval, pongWait = 20 * time.Millisecond, 300 * time.Millisecond
	s := newNBIOServer(t, testConfig{opts: &Options{PingInterval: interval, PongWait: pongWait}})
	alive, aliveR := s.rawWS(t, "/ws")
	_, deafR := s.rawWS(t, "/ws")
	var pings atomic.Int64
	got := make(chan error, 1)
	go func() { // the answering client, until the event comes
		var hdr [2]byte
		for {
			if _, err := io.ReadFull(aliveR, hdr[:]); err != nil {
				got <- err
				return
			}
			p := make([]byte, hdr[1]&0x7f)
			if _, err := io.ReadFull(aliveR, p); err != nil {
				got <- err
				return
			}
			switch {
			case hdr[0] == 0x89 && len(p) == 0:
				pings.Add(1)
				if _, err := io.WriteString(alive, clientFrame(0xa, nil)); err != nil {
					got <- err
					return
				}
			case hdr[0] == 0x81 && string(p) == wantJSON[1]:
				got <- nil
				return
			default:
				got <- errors.New("unexpected frame " + strconv.Quote(string(hdr[:])+string(p)))
				return
			}
		}
	}()
	if rest := expectClosedByServer(t, deafR); strings.Trim(rest, "\x89\x00") != "" {
		t.Fatalf("the silent client got %q, want pings only and then the connection closed", rest)
	}
	enough := int64(2 * (interval + pongWait) / interval)
	waitFor(t, "the answering client to be pinged for twice the silent one's allowance", func() bool { return pings.Load() >= enough })
	publishN(t, s.hub, 1)
	if err := <-got; err != nil {
		t.Fatalf("answering client: %v", err)
	}
	if st := s.srv.Stats().Transports.WS; st.Active != 1 || st.Total != 2 || st.SlowDisconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A stream whose client stops reading holds at most batchChunk unwritten
// bytes (and one frame more, as the others do): it stops taking events
// while nbio holds them, falls behind, and the hub cuts it off (counted
// slow; 1008 on a WebSocket), while a reading client gets every event.
// Nothing here is timed: the reader gets each event before the next is
// published.
func TestNBIOStalledStreamIsBoundedAndCutOff(t *testing.T) {
	const payload = 4 << 10
	for _, tr := range []contract.Transport{contract.SSE, contract.WS} {
		t.Run(string(tr), func(t *testing.T) {
			s := newNBIOServer(t, testConfig{
				hub:    &HubOptions{History: 512, MaxLag: 256},
				opts:   &Options{WriteTimeout: 3 * testTimeout},
				sndbuf: 8 << 10,
			})
			stalled, next := stallBesideReader(t, s, tr)
			held := int64(0)
			for seq := uint64(1); s.hub.Stats().SlowDropped == 0; seq++ {
				if seq > 5000 {
					t.Fatal("the stalled client was never cut off")
				}
				if err := s.hub.Publish(NewEntry(event.New(seq, 0, payload))); err != nil {
					t.Fatal(err)
				}
				if got := next(); got != seq {
					t.Fatalf("reading client got event %d, want %d", got, seq)
				}
				held = max(held, unwritten(s.serving.(*nbioServing)))
			}
			if bound := int64(batchChunk + payload + 256); held > bound || held == 0 {
				t.Fatalf("the streams held up to %d unwritten bytes, want some and at most %d", held, bound)
			}
			waitFor(t, "the stalled stream to be counted slow", func() bool {
				st := s.streamStats(tr)
				return st.SlowDisconnects == 1 && st.Active == 1
			})
			// Cut off: its connection ends once it reads what was held (a
			// WebSocket's 1008 may have gone with it, as the connection
			// could take no more).
			if err := stalled.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, stalled); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("stalled connection: %v, want the server to close it", err)
			}
		})
	}
}

// unwritten is the most any stream on sv's engine holds unwritten now.
func unwritten(sv *nbioServing) int64 {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	most := int64(0)
	for c := range sv.gated {
		if st, ok := c.Session().(nbioStepper); ok {
			most = max(most, st.base().pending.Load())
		}
	}
	return most
}

// Close ends every stream, the SSE response and the WebSocket with 1001,
// and waits for them and for the pump, as on net/http; Shutdown then stops
// nbio's event loops and waits for them and for the handlers and close
// callbacks it ran: none is left when it returns.
func TestNBIOCloseAndShutdownWait(t *testing.T) {
	s := closeEndsOpenStreams(t, testConfig{opts: &Options{Impl: nbioBoth}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.serving.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := goroutinesRunning("nbio.(*poller)", "servers.(*nbioPump)", "servers.(*nbioServing).execute"); n != 0 {
		t.Fatalf("%d event loops, pump workers or handlers still running after Shutdown returned", n)
	}
}

// The point of nbio: no goroutine per connection. With 2n streams open
// (n SSE, n WebSocket) the process runs no more goroutines than with none,
// give or take a few; the control, the same streams on the standard
// implementations under net/http, runs at least one per stream, which shows
// that the count would catch them. Counts, not times: the wait is a hang
// guard for handlers still returning.
func TestNBIOHoldsNoGoroutinePerConnection(t *testing.T) {
	const n, slack = 40, 10
	open := func(t *testing.T, s *testServer, k int) {
		for range k {
			c, br := s.rawConn(t)
			write(t, c, "GET /sse HTTP/1.1\r\nHost: pushbench\r\n\r\n")
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("SSE: %v %v", resp, err)
			}
			s.rawWS(t, "/ws")
		}
	}
	t.Run("nbio", func(t *testing.T) {
		s := newNBIOServer(t, testConfig{})
		base := runtime.NumGoroutine()
		for _, k := range []int{n, 2 * n} {
			open(t, s, k-s.hub.Stats().Subscribers/2)
			waitFor(t, strconv.Itoa(2*k)+" streams", func() bool { return s.hub.Stats().Subscribers == 2*k })
			waitFor(t, "the goroutines to be no more than with no stream", func() bool { return runtime.NumGoroutine() <= base+slack })
		}
	})
	t.Run("std control", func(t *testing.T) {
		s := newTestServer(t, testConfig{})
		base := runtime.NumGoroutine()
		open(t, s, n)
		waitFor(t, strconv.Itoa(2*n)+" streams", func() bool { return s.hub.Stats().Subscribers == 2*n })
		if got := runtime.NumGoroutine() - base; got < 2*n {
			t.Fatalf("%d goroutines more for %d streams: the control shows nothing", got, 2*n)
		}
	})
}
