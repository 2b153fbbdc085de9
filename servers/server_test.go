package servers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pushbench/pushbench/contract"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout is the hang guard of every wait in these tests, so that a
// broken server fails a test instead of hanging the suite. No test asserts
// that anything happens within it on a healthy server: it is only there to
// turn a hang into a failure that says so.
const testTimeout = 10 * time.Second

// The canonical encodings of the events publishN makes, written out so the
// tests catch any drift in what goes on the wire.
var wantJSON = map[uint64]string{
	1: `{"seq":1,"at_us":1,"type":"quote","data":"bcdefghi"}`,
	2: `{"seq":2,"at_us":2,"type":"tick","data":"cdefghij"}`,
	3: `{"seq":3,"at_us":3,"type":"quote","data":"defghijk"}`,
	4: `{"seq":4,"at_us":4,"type":"tick","data":"efghijkl"}`,
}

// testServer is a Server behind a real listener, served as the serve command
// serves it (HTTPServer, Listener, h2c on; or Serving on the engine its
// implementations need), with a client of its own.
type testServer struct {
	hub *Hub
	srv *Server
	// ts is net/http's test server; on another engine it holds only the
	// listener and its URL, and serving serves it.
	ts      *httptest.Server
	serving Serving
	client  *http.Client
}

type testConfig struct {
	hub        *HubOptions
	opts       *Options
	transports []contract.Transport
	// sndbuf, when positive, is the send buffer of the server's sockets:
	// small buffers make a client that does not read stall the server soon.
	sndbuf int
	// handler, if set, wraps the server, as serve's browser page does; the
	// HTTP server serves handler(srv).
	handler func(http.Handler) http.Handler
}

// mustNew is New for a configuration the test knows to be right.
func mustNew(t testing.TB, hub *Hub, o *Options, transports ...contract.Transport) *Server {
	t.Helper()
	srv, err := New(hub, o, transports...)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func newTestServer(t testing.TB, c testConfig) *testServer {
	t.Helper()
	hub := NewHub(c.hub)
	srv := mustNew(t, hub, c.opts, c.transports...)
	var h http.Handler = srv
	if c.handler != nil {
		h = c.handler(srv)
	}
	ts := httptest.NewUnstartedServer(nil)
	if c.sndbuf > 0 {
		ts.Listener = sndbufListener{ts.Listener, c.sndbuf}
	}
	ts.Listener = srv.Listener(ts.Listener)
	tr := &http.Transport{}
	s := &testServer{hub: hub, srv: srv, ts: ts, client: &http.Client{Transport: tr}}
	if srv.Engine() != NetHTTP {
		s.serveOnEngine(t, h)
	} else {
		ts.Config = srv.HTTPServer(h, true)
		ts.Start()
	}
	t.Cleanup(func() {
		srv.Close() // ends the streams, so ts.Close does not wait for them
		if s.serving == nil {
			ts.Close()
		}
		tr.CloseIdleConnections()
	})
	return s
}

// serveOnEngine serves h with Serving on ts's listener, as serve does on an
// engine other than net/http's, until the test ends (after Close).
func (s *testServer) serveOnEngine(t testing.TB, h http.Handler) {
	t.Helper()
	s.serving = s.srv.Serving(h, true)
	s.ts.URL = "http://" + s.ts.Listener.Addr().String()
	done := make(chan error, 1)
	go func() { done <- s.serving.Serve(s.ts.Listener) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.serving.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
}

type sndbufListener struct {
	net.Listener
	size int
}

func (l sndbufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := c.(*net.TCPConn).SetWriteBuffer(l.size); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// do makes a request whose answer is not a stream and returns it with its
// body.
func (s *testServer) do(t testing.TB, method, path string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang guard: %s %s got no answer within %v", method, path, testTimeout)
	} else if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang guard: %s %s: %s, its body still open after %v", method, path, resp.Status, testTimeout)
	} else if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// sseStream is an open SSE response.
type sseStream struct {
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

// openSSE opens an SSE stream and requires a 200.
func (s *testServer) openSSE(t testing.TB, path string, hdr http.Header) *sseStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.ts.URL+path, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	st := &sseStream{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(st.close)
	if resp.StatusCode != http.StatusOK {
		body, err := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %q %v", path, resp.Status, body, err)
	}
	return st
}

func (st *sseStream) close() {
	st.cancel()
	// Closing after the cancel only releases the connection; its error
	// says the request was canceled, which is what we asked for.
	_ = st.resp.Body.Close()
}

// expect reads exactly len(want) bytes and requires them to be want.
func (st *sseStream) expect(t testing.TB, want string) {
	t.Helper()
	got := make([]byte, len(want))
	n, err := io.ReadFull(st.r, got)
	if string(got[:n]) != want {
		t.Fatalf("stream bytes:\n got %q (%v)\nwant %q", got[:n], err, want)
	}
}

// nextID reads frames until one with an id and returns the id.
func (st *sseStream) nextID(t testing.TB) string {
	t.Helper()
	for {
		id := ""
		for {
			line, err := st.r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading SSE frame: %v", err)
			}
			if line == "\n" {
				break
			}
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id = strings.TrimSuffix(v, "\n")
			}
		}
		if id != "" {
			return id
		}
	}
}

func (s *testServer) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(s.ts.URL, "http") + path
}

// dialWS opens a WebSocket and requires the upgrade to succeed.
func (s *testServer) dialWS(t testing.TB, path string) *websocket.Conn {
	t.Helper()
	c, resp, err := s.dialWSErr(path)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", path, err, resp)
	}
	t.Cleanup(func() {
		_ = c.Close() // a test may have closed it already
	})
	if err := c.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *testServer) dialWSErr(path string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: testTimeout}
	c, resp, err := d.Dial(s.wsURL(path), nil)
	if resp != nil && resp.Body != nil {
		// The body of a refused handshake is read by the caller.
		if err == nil {
			_ = resp.Body.Close()
		}
	}
	return c, resp, err
}

// expectText reads one message and requires it to be the text want.
func expectText(t testing.TB, c *websocket.Conn, want string) {
	t.Helper()
	typ, msg, err := c.ReadMessage()
	if err != nil || typ != websocket.TextMessage || string(msg) != want {
		t.Fatalf("message: type %d %q %v, want text %q", typ, msg, err, want)
	}
}

// expectClose reads until the connection ends and requires close code code.
func expectClose(t testing.TB, c *websocket.Conn, code int) {
	t.Helper()
	for {
		_, msg, err := c.ReadMessage()
		if err == nil {
			continue // events sent before the close
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("connection ended with %v, want close code %d (last message %q)", err, code, msg)
		}
		return
	}
}

// waitFor polls cond until it holds, or fails the test when the hang guard
// (testTimeout) passes first.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("hang guard: still waiting for %s after %v", what, testTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// assertServing makes one valid request of transport and requires it to work.
func (s *testServer) assertServing(t testing.TB, transport contract.Transport) {
	t.Helper()
	switch transport {
	case contract.Poll:
		if resp, body := s.do(t, http.MethodGet, "/poll?after=0", nil); resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
			t.Fatalf("valid poll after a bad request: %s %q", resp.Status, body)
		}
	case contract.SSE:
		st := s.openSSE(t, "/sse?after=0", nil)
		st.expect(t, "retry: ")
		st.close()
	case contract.WS:
		c := s.dialWS(t, "/ws?after=0")
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBadRequestsAreRefusedAndServingGoesOn(t *testing.T) {
	s := newTestServer(t, testConfig{})
	publishN(t, s.hub, 3)
	cursorCases := []struct {
		name  string
		query string
		hdr   http.Header
		want  string // the whole text body, less its newline
	}{
		{"letters", "after=abc", nil, `bad cursor "abc": want a non-negative integer`},
		{"negative", "after=-1", nil, `bad cursor "-1": want a non-negative integer`},
		{"empty", "after=", nil, `bad cursor "": want a non-negative integer`},
		{"plus sign", "after=%2B1", nil, `bad cursor "+1": want a non-negative integer`},
		{"too many digits", "after=99999999999999999999", nil, `bad cursor "99999999999999999999": want at most 18446744073709551615`},
		{"overflow", "after=18446744073709551616", nil, `bad cursor "18446744073709551616": want at most 18446744073709551615`},
		{"twice", "after=1&after=2", nil, `bad cursor: after given more than once`},
		{"ahead of head", "after=4", nil, `hub: cursor is ahead of the stream: cursor 4, head 3`},
	}
	for _, tr := range []contract.Transport{contract.Poll, contract.SSE, contract.WS} {
		for _, c := range cursorCases {
			t.Run(string(tr)+"/"+c.name, func(t *testing.T) {
				path := tr.Path() + "?" + c.query
				if tr == contract.WS {
					// A real WebSocket client: the refusal must come before
					// the upgrade, as plain HTTP.
					conn, resp, err := s.dialWSErr(path)
					if err == nil {
						t.Fatalf("dial %s upgraded: %v", path, conn.Close())
					}
					if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusBadRequest {
						t.Fatalf("dial %s: %v, %v", path, err, resp)
					}
					body, rerr := io.ReadAll(resp.Body)
					if cerr := resp.Body.Close(); rerr != nil || cerr != nil {
						t.Fatal(rerr, cerr)
					}
					if string(body) != c.want+"\n" {
						t.Fatalf("body %q, want %q", body, c.want+"\n")
					}
				} else {
					resp, body := s.do(t, http.MethodGet, path, c.hdr)
					if resp.StatusCode != http.StatusBadRequest || body != c.want+"\n" {
						t.Fatalf("GET %s: %s %q, want 400 %q", path, resp.Status, body, c.want+"\n")
					}
					if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
						t.Fatalf("Content-Type %q", ct)
					}
				}
				s.assertServing(t, tr)
			})
		}
	}

	// Last-Event-ID is SSE's; it wins over after, and empty means absent.
	t.Run("sse/Last-Event-ID", func(t *testing.T) {
		resp, body := s.do(t, http.MethodGet, "/sse?after=0", http.Header{"Last-Event-Id": {"x1"}})
		if want := `bad cursor "x1" in Last-Event-ID: want a non-negative integer` + "\n"; resp.StatusCode != http.StatusBadRequest || body != want {
			t.Fatalf("%s %q, want 400 %q", resp.Status, body, want)
		}
		s.assertServing(t, contract.SSE)
	})

	other := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, ""},
		{http.MethodGet, "/sse/", http.StatusNotFound, ""},
		{http.MethodGet, "/", http.StatusNotFound, ""},
		{http.MethodPost, "/sse", http.StatusMethodNotAllowed, "GET"},
		{http.MethodHead, "/sse", http.StatusMethodNotAllowed, "GET"},
		{http.MethodPost, "/ws", http.StatusMethodNotAllowed, "GET"},
		{http.MethodPost, "/poll", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodDelete, "/poll", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodGet, "/control/start", http.StatusMethodNotAllowed, "POST"},
		{http.MethodGet, "/control/stop", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPost, "/stats", http.StatusMethodNotAllowed, "GET, HEAD"},
	}
	for _, c := range other {
		t.Run(c.method+c.path, func(t *testing.T) {
			resp, body := s.do(t, c.method, c.path, nil)
			if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow {
				t.Fatalf("%s %s: %s Allow %q %q, want %d Allow %q", c.method, c.path, resp.Status, resp.Header.Get("Allow"), body, c.status, c.allow)
			}
			for _, tr := range []contract.Transport{contract.Poll, contract.SSE, contract.WS} {
				s.assertServing(t, tr)
			}
		})
	}

	t.Run("ws/not a handshake", func(t *testing.T) {
		idle := func() bool { return s.hub.Stats().Subscribers == 0 }
		waitFor(t, "earlier streams to end", idle)
		before := s.srv.Stats().Transports.WS.Total
		resp, body := s.do(t, http.MethodGet, "/ws?after=0", nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "websocket") {
			t.Fatalf("%s %q", resp.Status, body)
		}
		waitFor(t, "the refused upgrade to unsubscribe", idle)
		if st := s.srv.Stats().Transports.WS; st.Total != before || st.Active != 0 {
			t.Fatalf("a refused upgrade was counted: %+v", st)
		}
		s.assertServing(t, contract.WS)
	})
}

func TestHealthzAndStats(t *testing.T) {
	s := newTestServer(t, testConfig{})
	resp, body := s.do(t, http.MethodGet, "/healthz", nil)
	if resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("healthz: %s %q", resp.Status, body)
	}

	publishN(t, s.hub, 2)
	st := s.openSSE(t, "/sse", nil)
	st.expect(t, "retry: 1000\n\n")
	c := s.dialWS(t, "/ws")
	s.do(t, http.MethodGet, "/poll?after=0", nil)
	s.do(t, http.MethodGet, "/poll?after=2", nil)
	expectText(t, c, wantJSON[1]) // the WS stream is open once it sends

	resp, body = s.do(t, http.MethodGet, "/stats", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("stats: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	// The shape is an interface other programs read: check the names.
	var sections map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &sections); err != nil {
		t.Fatal(err)
	}
	raw := map[string]map[string]any{}
	for _, k := range []string{"hub", "transports", "process"} {
		var m map[string]any
		if err := json.Unmarshal(sections[k], &m); err != nil {
			t.Fatalf("stats.%s: %v", k, err)
		}
		raw[k] = m
	}
	if string(sections["contract"]) != "1" || !strings.Contains(string(sections["implementation"]), `"sse":"std"`) {
		t.Errorf("stats do not say the contract version and the implementations: %s", body)
	}
	for section, keys := range map[string][]string{
		"hub":        {"head", "subscribers", "slow_dropped"},
		"transports": {"sse", "ws", "poll", "longpoll"},
		"process":    {"goroutines", "heap_inuse_bytes", "rss_bytes", "cpu_seconds", "open_files"},
	} {
		for _, k := range keys {
			if _, ok := raw[section][k]; !ok {
				t.Errorf("stats lack %s.%s: %s", section, k, body)
			}
		}
	}
	var got contract.Stats
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := contract.TransportStats{
		SSE:  contract.StreamStats{Active: 1, Total: 1},
		WS:   contract.StreamStats{Active: 1, Total: 1},
		Poll: contract.PollStats{Requests: 2, Empty: 1},
	}
	if got.Transports != want || got.Hub != (contract.HubStats{Head: 2, Subscribers: 2}) {
		t.Fatalf("stats %+v %+v, want %+v", got.Hub, got.Transports, want)
	}
	if p := got.Process; p.Goroutines < 1 || p.RSSBytes == 0 || p.HeapBytes == 0 || p.OpenFiles < 3 || p.CPUSeconds <= 0 {
		t.Fatalf("implausible process figures %+v", p)
	}
}

func TestNewMountsOnlyTheNamedTransports(t *testing.T) {
	s := newTestServer(t, testConfig{transports: []contract.Transport{contract.SSE}})
	for _, path := range []string{"/poll", "/ws"} {
		if resp, _ := s.do(t, http.MethodGet, path, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %s, want 404", path, resp.Status)
		}
	}
	s.assertServing(t, contract.SSE)

	if _, err := New(NewHub(nil), nil, "carrier-pigeon"); err == nil {
		t.Fatal("New accepted an unknown transport")
	}
	if _, err := New(NewHub(nil), &Options{Impl: map[contract.Transport]string{contract.WS: "tin-can"}}); err == nil {
		t.Fatal("New accepted an unknown implementation")
	}
}

func TestControlStartsAndStopsTheGenerator(t *testing.T) {
	s := newTestServer(t, testConfig{})
	post := func(path string) (int, string) {
		resp, body := s.do(t, http.MethodPost, path, nil)
		return resp.StatusCode, body
	}
	for _, q := range []string{
		"rate=0", "rate=abc", "rate=-1", "rate=NaN", "rate=Inf", "burst=0", "burst=x",
		"payload=-1", "payload=2000000", "count=-1", "count=1.5", "speed=9", "rate=1&rate=2", "rate=%zz",
	} {
		if code, body := post("/control/start?" + q); code != http.StatusBadRequest || strings.Count(body, "\n") != 1 {
			t.Errorf("start?%s: %d %q, want 400 and one line", q, code, body)
		}
	}
	if h := s.hub.Head(); h != 0 {
		t.Fatalf("a refused start published %d events", h)
	}

	if code, body := post("/control/start?rate=10000&burst=10&payload=0&count=50"); code != http.StatusOK || body != `{"first":1}`+"\n" {
		t.Fatalf("start: %d %q", code, body)
	}
	waitFor(t, "50 events", func() bool { return s.hub.Head() == 50 })
	got, _, err := s.hub.Read(0, nil, 100)
	if err != nil || len(got) != 50 || got[49].Data != "" {
		t.Fatalf("published %d events, last %+v, %v", len(got), got[len(got)-1].Event, err)
	}
	if code, body := post("/control/stop"); code != http.StatusOK || body != `{"head":50}`+"\n" {
		t.Fatalf("stop: %d %q", code, body)
	}

	// An unbounded run: a second start is refused until stop.
	if code, body := post("/control/start?rate=1000&payload=16"); code != http.StatusOK || body != `{"first":51}`+"\n" {
		t.Fatalf("start: %d %q", code, body)
	}
	if code, body := post("/control/start"); code != http.StatusConflict {
		t.Fatalf("second start: %d %q, want 409", code, body)
	}
	waitFor(t, "the second run to publish", func() bool { return s.hub.Head() > 51 })
	code, body := post("/control/stop")
	var stop struct{ Head uint64 }
	if err := json.Unmarshal([]byte(body), &stop); code != http.StatusOK || err != nil || stop.Head != s.hub.Head() {
		t.Fatalf("stop: %d %q %v, head %d", code, body, err, s.hub.Head())
	}
	time.Sleep(20 * time.Millisecond)
	if h := s.hub.Head(); h != stop.Head {
		t.Fatalf("the generator published up to %d after stop answered %d", h, stop.Head)
	}
	if code, body := post("/control/stop"); code != http.StatusOK || body != `{"head":`+strconv.FormatUint(stop.Head, 10)+"}\n" {
		t.Fatalf("idle stop: %d %q", code, body)
	}

	// Close stops a running generator too.
	if code, _ := post("/control/start?rate=1000"); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	s.srv.Close()
	h := s.hub.Head()
	time.Sleep(20 * time.Millisecond)
	if s.hub.Head() != h {
		t.Fatal("the generator published after Close")
	}
	if code, _ := post("/control/start"); code != http.StatusServiceUnavailable {
		t.Fatalf("start after Close: %d, want 503", code)
	}
}

func TestCloseEndsOpenStreams(t *testing.T) { closeEndsOpenStreams(t, testConfig{}) }

// closeEndsOpenStreams closes a server made with cfg while an SSE and a
// WebSocket client read, and requires both streams ended and waited for.
func closeEndsOpenStreams(t *testing.T, cfg testConfig) *testServer {
	s := newTestServer(t, cfg)
	publishN(t, s.hub, 1)
	st := s.openSSE(t, "/sse", nil)
	st.expect(t, "retry: 1000\n\nid: 1\nevent: quote\ndata: "+wantJSON[1]+"\n\n")
	c := s.dialWS(t, "/ws")
	expectText(t, c, wantJSON[1])

	// Both clients read while the server closes: the WebSocket client must
	// answer the close frame.
	sseEnd := make(chan error, 1)
	go func() {
		_, err := st.r.ReadByte()
		sseEnd <- err
	}()
	wsEnd := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		wsEnd <- err
	}()
	s.srv.Close()
	// Close waits for the stream handlers: nothing is left open.
	if st := s.srv.Stats(); st.Transports.SSE.Active != 0 || st.Transports.WS.Active != 0 || st.Hub.Subscribers != 0 {
		t.Fatalf("after Close: %+v %+v", st.Hub, st.Transports)
	}
	if err := <-sseEnd; err != io.EOF {
		t.Fatalf("SSE stream ended with %v, want EOF", err)
	}
	err := <-wsEnd
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text != "server shutting down" {
		t.Fatalf("WebSocket ended with %v, want 1001", err)
	}
	// New streams and polls are refused: the server is going away.
	if resp, body := s.do(t, http.MethodGet, "/sse", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("SSE after Close: %s %q", resp.Status, body)
	}
	if resp, _ := s.do(t, http.MethodGet, "/poll", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("poll after Close: %s", resp.Status)
	}
	return s
}

func TestStreamsEndWhenTheClientLeaves(t *testing.T) {
	s := newTestServer(t, testConfig{})
	st := s.openSSE(t, "/sse", nil)
	st.expect(t, "retry: 1000\n\n")
	c := s.dialWS(t, "/ws")
	waitFor(t, "two subscribers", func() bool { return s.hub.Stats().Subscribers == 2 })
	st.close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both streams to end", func() bool {
		st := s.srv.Stats()
		return st.Hub.Subscribers == 0 && st.Transports.SSE.Active == 0 && st.Transports.WS.Active == 0
	})
	if st := s.srv.Stats().Transports; st.SSE.SlowDisconnects != 0 || st.WS.SlowDisconnects != 0 {
		t.Fatalf("a client that left was counted slow: %+v", st)
	}
}
