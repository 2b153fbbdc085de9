package servers

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pushbench/pushbench/contract"
)

// rawConn dials the test server over plain TCP, with the hang guard as the
// connection's deadline; the test writes the protocol by hand.
func (s *testServer) rawConn(t testing.TB) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", s.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close() // the server may have closed it; either way it is gone
	})
	if err := c.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// write sends b on c.
func write(t testing.TB, c net.Conn, b string) {
	t.Helper()
	if _, err := io.WriteString(c, b); err != nil {
		t.Fatal(err)
	}
}

// readResponse reads one HTTP/1.1 response and its body.
func readResponse(t testing.TB, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("hang guard: no response within %v", testTimeout)
	} else if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading a response's body: %v", err)
	}
	return resp, string(body)
}

// expectClosedByServer reads what is left on r and requires the server to
// end the connection, returning what it read.
func expectClosedByServer(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("hang guard: the server kept the connection open for %v (read %q)", testTimeout, b)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading to the end: %v (read %q)", err, b)
	}
	return string(b)
}

// h2cClient speaks HTTP/2 with prior knowledge over cleartext, as
// loadgen's sse-h2c and poll-h2c clients do.
func h2cClient(t testing.TB) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (s *testServer) stats(t testing.TB) contract.Stats {
	t.Helper()
	resp, body := s.do(t, http.MethodGet, "/stats", nil)
	var st contract.Stats
	if err := json.Unmarshal([]byte(body), &st); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("/stats: %s %v %q", resp.Status, err, body)
	}
	return st
}

// h2Preface is what an h2c client with prior knowledge opens with (RFC 9113
// §3.4): the connection preface and an empty SETTINGS frame.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"

// HTTP/2 frame types and flags the tests write and read (RFC 9113 §6).
const (
	h2FrameHeaders   = 0x1
	h2FrameRSTStream = 0x3
	h2FrameSettings  = 0x4
	h2FlagEndStream  = 0x1
	h2FlagEndHeaders = 0x4
	h2FlagAck        = 0x1
	h2SettingStreams = 0x3 // SETTINGS_MAX_CONCURRENT_STREAMS
	h2Cancel         = 0x8 // the CANCEL error code
)

// appendH2Frame appends one HTTP/2 frame.
func appendH2Frame(b []byte, typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), typ, flags)
	b = binary.BigEndian.AppendUint32(b, stream)
	return append(b, payload...)
}

// h2GetSSE is the HPACK block of GET /sse (RFC 7541): :method GET and
// :scheme http from the static table, :path and :authority as literals
// with static names, never indexed.
var h2GetSSE = []byte("\x82\x86\x04\x04/sse\x01\x09pushbench")

// readH2Frame reads one HTTP/2 frame.
func readH2Frame(r io.Reader) (typ, flags byte, payload []byte, err error) {
	var hdr [9]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, nil, err
	}
	payload = make([]byte, int(hdr[0])<<16|int(hdr[1])<<8|int(hdr[2]))
	_, err = io.ReadFull(r, payload)
	return hdr[3], hdr[4], payload, err
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	const idle = 100 * time.Millisecond
	s := newTestServer(t, testConfig{opts: &Options{IdleTimeout: idle}})

	t.Run("http1 keep-alive", func(t *testing.T) {
		c, br := s.rawConn(t)
		start := time.Now()
		write(t, c, "GET /healthz HTTP/1.1\r\nHost: pushbench\r\n\r\n")
		if resp, body := readResponse(t, br); resp.StatusCode != http.StatusOK || resp.Close || body != "ok" {
			t.Fatalf("%s close=%v %q, want 200 ok on a connection kept alive", resp.Status, resp.Close, body)
		}
		if rest := expectClosedByServer(t, br); rest != "" {
			t.Fatalf("after the answer: %q", rest)
		}
		// The server's timer guarantees this lower bound.
		if d := time.Since(start); d < idle {
			t.Fatalf("closed after %v, before the idle timeout %v", d, idle)
		}
	})
	t.Run("h2c with no stream", func(t *testing.T) {
		c, br := s.rawConn(t)
		write(t, c, h2Preface)
		expectClosedByServer(t, br) // its SETTINGS, a GOAWAY, then the end
	})
	waitFor(t, "no connection open", func() bool { return s.srv.Stats().Conns.Open == 0 })
}

// A request that declares a body and never sends it, on any endpoint, is
// answered at once and its connection closed: with the default read
// timeout (60 s) far beyond the hang guard, only a refusal that does not
// wait for the body passes.
func TestRequestBodiesAreRefusedAtOnce(t *testing.T) {
	s := newTestServer(t, testConfig{})
	const want = "request body not accepted: no endpoint takes one\n"
	for _, req := range []string{
		"POST /control/start HTTP/1.1\r\nHost: p\r\nContent-Length: 1000\r\n\r\n",
		"POST /control/stop HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\n\r\nhello",
		"GET /sse HTTP/1.1\r\nHost: p\r\nContent-Length: 1000\r\n\r\n",
		"GET /poll HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: p\r\nContent-Length: 1\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: p\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 10\r\n\r\n",
	} {
		line, _, _ := strings.Cut(req, "\r\n")
		t.Run(line, func(t *testing.T) {
			// Many at once, as the attack held a thousand.
			const conns = 20
			var cs []net.Conn
			var brs []*bufio.Reader
			for range conns {
				c, br := s.rawConn(t)
				write(t, c, req)
				cs, brs = append(cs, c), append(brs, br)
			}
			for i := range cs {
				resp, body := readResponse(t, brs[i])
				if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close || body != want {
					t.Fatalf("%s close=%v %q, want 413 %q and the connection closed", resp.Status, resp.Close, body, want)
				}
				expectClosedByServer(t, brs[i])
			}
		})
	}
	if h := s.hub.Head(); h != 0 {
		t.Fatalf("a refused /control/start published %d events", h)
	}
	waitFor(t, "no connection open", func() bool { return s.srv.Stats().Conns.Open == 0 })

	// Over HTTP/2 a body that never comes is refused the same way.
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequest(http.MethodPost, s.ts.URL+"/control/start", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h2cClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestEntityTooLarge || string(body) != want {
		t.Fatalf("h2c: %s %s %q, want HTTP/2 413 %q", resp.Proto, resp.Status, body, want)
	}
	if h := s.hub.Head(); h != 0 {
		t.Fatalf("a refused /control/start published %d events", h)
	}
}

// A client that stops half-way through its request line loses its
// connection after the read timeout (and no later than the header timeout).
func TestSlowRequestHeadersAreCut(t *testing.T) {
	const timeout = 200 * time.Millisecond
	s := newTestServer(t, testConfig{opts: &Options{ReadTimeout: timeout}})
	// The timeout runs from accept, which may come before the dial
	// returns: start is taken before the dial, so that it comes first.
	start := time.Now()
	c, br := s.rawConn(t)
	write(t, c, "GET /healthz HTTP/1.1\r\nHost: pus")
	expectClosedByServer(t, br)
	if d := time.Since(start); d < timeout {
		t.Fatalf("closed after %v, before the read timeout %v", d, timeout)
	}
}

// The read timeout must not cut streams. net/http sets it on the
// connection for the request, and a read that timed out would cancel the
// request's context; Go 1.26 lifts it before the handler runs (HTTP/1.1),
// applies it to request bodies only (HTTP/2), and a WebSocket sets its own.
// This holds net/http to that. Each stream outlives the timeout several
// times over, shown by count: n heartbeats or pings at interval d take at
// least n·d.
func TestStreamsOutliveTheReadTimeout(t *testing.T) {
	const timeout, interval, beats = 50 * time.Millisecond, 5 * time.Millisecond, 40 // 200 ms at least: 4 read timeouts
	s := newTestServer(t, testConfig{opts: &Options{ReadTimeout: timeout, Heartbeat: interval, PingInterval: interval}})
	sse := func(t *testing.T, client *http.Client, proto int) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.ts.URL+"/sse?after="+strconv.FormatUint(s.hub.Head(), 10), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		st := &sseStream{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
		defer st.close()
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != proto {
			t.Fatalf("%s %s, want HTTP/%d 200", resp.Proto, resp.Status, proto)
		}
		st.expect(t, "retry: 1000\n\n")
		for range beats {
			st.expect(t, ": hb\n\n")
		}
		publishN(t, s.hub, 1)
		if id, want := st.nextID(t), strconv.FormatUint(s.hub.Head(), 10); id != want {
			t.Fatalf("after %d heartbeats: event %s, want %s", beats, id, want)
		}
	}
	t.Run("sse", func(t *testing.T) { sse(t, s.client, 1) })
	t.Run("sse-h2c", func(t *testing.T) { sse(t, h2cClient(t), 2) })
	t.Run("ws", func(t *testing.T) {
		c := s.dialWS(t, "/ws?after="+strconv.FormatUint(s.hub.Head(), 10))
		pings := 0
		c.SetPingHandler(func(data string) error {
			if pings++; pings == beats {
				publishN(t, s.hub, 1)
			}
			return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		if _, msg, err := c.ReadMessage(); err != nil || string(msg) != string(s.json(t, s.hub.Head())) {
			t.Fatalf("after %d pings: %q, %v; want event %d", pings, msg, err, s.hub.Head())
		}
	})
}

// At its connection limit the server still accepts: streams and polls are
// answered 503 and their connections closed, /healthz and /stats still
// answer, and each refusal is counted; a stream that ends makes room.
func TestConnectionLimit(t *testing.T) { connectionLimit(t, nil) }

// connectionLimit is TestConnectionLimit with the streams served by impl.
func connectionLimit(t *testing.T, impl map[contract.Transport]string) {
	const limit = 10
	s := newTestServer(t, testConfig{opts: &Options{MaxConns: limit, Impl: impl}})
	var streams []*sseStream
	for range limit {
		st := s.openSSE(t, "/sse", nil)
		st.expect(t, "retry: 1000\n\n")
		streams = append(streams, st)
	}
	waitFor(t, "the streams' connections", func() bool { return s.srv.Stats().Conns.Open == limit })

	const want = "server at its connection limit\n"
	for _, path := range []string{"/sse", "/poll", "/ws"} {
		resp, body := s.do(t, http.MethodGet, path, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !resp.Close || body != want {
			t.Fatalf("GET %s beyond the limit: %s close=%v %q, want 503 %q and the connection closed", path, resp.Status, resp.Close, body, want)
		}
	}
	if c, resp, err := s.dialWSErr("/ws"); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("WebSocket handshake beyond the limit: %v %v, want 503", resp, err)
	} else if c != nil {
		t.Fatal(c.Close())
	}
	if resp, body := s.do(t, http.MethodGet, "/healthz", nil); resp.StatusCode != http.StatusOK || !resp.Close || body != "ok" {
		t.Fatalf("/healthz beyond the limit: %s close=%v %q, want 200 ok and the connection closed", resp.Status, resp.Close, body)
	}
	// The refused connections close after their answers; the server
	// counts them closed a moment later.
	waitFor(t, "the refused connections to close", func() bool { return s.srv.Stats().Conns.Open == limit })
	st := s.stats(t)
	if st.Transports.Refused != 4 || st.Conns.Limit != limit || st.Conns.Open != limit+1 {
		t.Fatalf("/stats beyond the limit: refused %d, conns %+v; want 4 refused, %d open of %d (its own included)", st.Transports.Refused, st.Conns, limit+1, limit)
	}
	if st.Transports.SSE.Active != limit || st.Transports.SSE.Total != limit || st.Transports.Poll.Requests != 0 {
		t.Fatalf("refused requests reached the transports: %+v", st.Transports)
	}

	streams[0].close()
	waitFor(t, "the ended stream's connection to close", func() bool { return s.srv.Stats().Conns.Open == limit-1 })
	s.assertServing(t, contract.SSE)
}

// The TCP floor, on a listener of the same server, counts against the same
// limit and refuses with its error line.
func TestTCPConnectionLimit(t *testing.T) {
	hub := NewHub(nil)
	srv := mustNew(t, hub, &Options{MaxConns: 2})
	t.Cleanup(srv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &tcpFloor{hub: hub, srv: NewTCP(hub, nil), l: l, addr: l.Addr().String(), done: make(chan error, 1)}
	srv.SetTCP(f.srv)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { f.done <- f.srv.Serve(ctx, srv.Listener(l)) }()
	t.Cleanup(func() {
		cancel()
		if err := f.wait(t); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	publishN(t, hub, 1)
	for range 2 {
		expectBytes(t, f.dial(t, "after=0\n", 0), tcpFrame(1))
	}
	expectEnd(t, f.dial(t, "after=0\n", 0), "error: server at its connection limit\n")
	if st := srv.Stats(); st.Transports.Refused != 1 || st.Transports.TCP != (contract.StreamStats{Active: 2, Total: 2}) {
		t.Fatalf("stats %+v", st.Transports)
	}
}

// Far beyond the limit, a connection is closed as soon as it is accepted:
// silent clients cannot hold the whole margin of file descriptors.
func TestConnectionsFarBeyondTheLimitAreClosedAtOnce(t *testing.T) {
	s := newTestServer(t, testConfig{opts: &Options{MaxConns: 1}})
	st := s.openSSE(t, "/sse", nil)
	st.expect(t, "retry: 1000\n\n")
	for range refusingConns {
		s.rawConn(t) // silent: held until the header timeout
	}
	waitFor(t, "the silent connections", func() bool { return s.srv.Stats().Conns.Open == 1+refusingConns })
	c, br := s.rawConn(t)
	write(t, c, "GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n")
	if got := expectClosedByServer(t, br); got != "" {
		t.Fatalf("answered %q, want the connection closed unanswered", got)
	}
	if st := s.srv.Stats(); st.Transports.Refused != 1 || st.Conns.Open != 1+refusingConns {
		t.Fatalf("stats %+v %+v", st.Transports, st.Conns)
	}
}

func TestDefaultConnectionLimitKeepsTheMargin(t *testing.T) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Cur <= 2*FDMargin || l.Cur > 1<<30 {
		t.Skipf("open-file limit %d: the default is not the limit less the margin", l.Cur)
	}
	srv := mustNew(t, NewHub(nil), nil)
	defer srv.Close()
	if got, want := srv.Stats().Conns.Limit, int64(l.Cur)-FDMargin; got != want {
		t.Fatalf("default limit %d, want the open-file limit %d less %d", got, l.Cur, FDMargin)
	}
}

func TestControlToken(t *testing.T) {
	const token = "s3cret-token"
	s := newTestServer(t, testConfig{opts: &Options{ControlToken: token}})
	for _, auth := range []string{"", "Bearer", "Bearer wrong", "Basic " + token, "Bearer " + token + "x", token} {
		for _, path := range []string{"/control/start?rate=1000", "/control/stop"} {
			resp, body := s.do(t, http.MethodPost, path, http.Header{"Authorization": {auth}})
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Fatalf("POST %s with %q: %s %q (WWW-Authenticate %q), want 401 with WWW-Authenticate: Bearer",
					path, auth, resp.Status, body, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
	if h := s.hub.Head(); h != 0 {
		t.Fatalf("an unauthorized start published %d events", h)
	}
	// Open to anyone: health and figures.
	for _, path := range []string{"/healthz", "/stats"} {
		if resp, _ := s.do(t, http.MethodGet, path, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s without the token: %s", path, resp.Status)
		}
	}
	if resp, body := s.do(t, http.MethodPost, "/control/start?rate=1000&count=3", http.Header{"Authorization": {"Bearer " + token}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("start with the token: %s %q", resp.Status, body)
	}
	waitFor(t, "3 events", func() bool { return s.hub.Head() == 3 })
	// The scheme is case-insensitive (RFC 9110 §11.1).
	if resp, body := s.do(t, http.MethodPost, "/control/stop", http.Header{"Authorization": {"bearer " + token}}); resp.StatusCode != http.StatusOK || body != `{"head":3}`+"\n" {
		t.Fatalf("stop with the token: %s %q", resp.Status, body)
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.0.0.2:1": true, "[::1]:8080": true,
		"0.0.0.0:8080": false, "[::]:8080": false, "10.200.0.1:8080": false, "192.168.1.2:80": false,
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := Loopback(a); got != want {
			t.Errorf("Loopback(%s) = %v, want %v", addr, got, want)
		}
	}
	if Loopback(&net.UnixAddr{Name: "/tmp/x", Net: "unix"}) {
		t.Error("a Unix socket is not a loopback TCP address")
	}
}

// An HTTP/2 client that opens and at once resets /sse streams on one
// connection (CVE-2023-44487) loses it after about h2EarlyResets such
// streams, having made the server run at most that many /sse handlers and
// a connection's worth (h2MaxStreams) more. A client that resets streams
// after they were answered, as a browser closing EventSources does, keeps
// its connection.
func TestH2RapidResetIsBounded(t *testing.T) {
	var ran atomic.Int64
	s := newTestServer(t, testConfig{handler: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/sse" {
				ran.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	}})

	// The control: streams answered, then reset, on one connection.
	client := h2cClient(t)
	for i := range 2 * h2EarlyResets {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.ts.URL+"/sse", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("stream %d: %v", i, err)
		}
		st := &sseStream{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
		st.expect(t, "retry: 1000\n\n")
		st.close()
	}
	// Each was answered before its reset (a reset racing the answer's
	// flush may rarely count), so the connection is still there.
	if st := s.srv.Stats().Conns; st.H2ResetFloods != 0 || st.Open != 1 {
		t.Fatalf("after %d answered streams were reset: %+v, want their connection still open", 2*h2EarlyResets, st)
	}
	ran.Store(0)

	// The attack.
	c, err := net.Dial("tcp", s.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, h2Preface); err != nil {
		t.Fatal(err)
	}
	// The reader reads until the server ends the connection; it alone
	// touches maxStreams until it ends.
	var maxStreams uint32
	ended := make(chan error, 1)
	go func() {
		r := bufio.NewReader(c)
		for {
			typ, flags, p, err := readH2Frame(r)
			if err != nil {
				ended <- err
				return
			}
			for ; typ == h2FrameSettings && flags&h2FlagAck == 0 && len(p) >= 6; p = p[6:] {
				if binary.BigEndian.Uint16(p) == h2SettingStreams {
					maxStreams = binary.BigEndian.Uint32(p[2:])
				}
			}
		}
	}()
	const streams, perWrite = 20000, 100
	var b []byte
	for i := range streams {
		id := uint32(2*i + 1)
		b = appendH2Frame(b, h2FrameHeaders, h2FlagEndStream|h2FlagEndHeaders, id, h2GetSSE)
		b = appendH2Frame(b, h2FrameRSTStream, 0, id, binary.BigEndian.AppendUint32(nil, h2Cancel))
		if i%perWrite == perWrite-1 {
			if _, err := c.Write(b); err != nil {
				break // the server closed the connection
			}
			b = b[:0]
		}
	}
	if err := <-ended; errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("hang guard: the server kept the connection open for %v through %d open-and-reset streams (%d handlers ran)", testTimeout, streams, ran.Load())
	}
	if maxStreams != h2MaxStreams {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS %d, want %d", maxStreams, h2MaxStreams)
	}
	if n := ran.Load(); n > h2EarlyResets+h2MaxStreams {
		t.Fatalf("%d /sse handlers ran for open-and-reset streams, want at most %d (the allowance plus a connection's worth at once)", n, h2EarlyResets+h2MaxStreams)
	}
	if st := s.srv.Stats().Conns; st.H2ResetFloods != 1 || st.H2EarlyResets <= h2EarlyResets {
		t.Fatalf("conns %+v, want one connection closed for more than %d early resets", st, h2EarlyResets)
	}
	t.Logf("%d /sse handlers ran; %+v", ran.Load(), s.srv.Stats().Conns)
}
