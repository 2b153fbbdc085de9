package conform

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pushbench/pushbench/bench"
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/internal/testbin"
	"github.com/pushbench/pushbench/servers"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The servers under test run with short timers, and Check waits several
// times as long: these bound waits, they are not measurements.
const (
	testHeartbeat = 200 * time.Millisecond
	testHold      = 2 * time.Second // long polling's, well above heldProbe
	testLiveness  = 3 * testHold
	// hangGuard bounds a whole Check.
	hangGuard = 3 * time.Minute
)

// testSpec is the server every conforming implementation is started as.
func testSpec() bench.ServerSpec {
	return bench.ServerSpec{Heartbeat: testHeartbeat, PingInterval: testHeartbeat, History: 100}
}

// start starts spec, with long polling's hold shortened, and stops it when
// t ends.
func start(t *testing.T, spec bench.ServerSpec) *bench.Server {
	t.Helper()
	spec.Command = append(spec.Command[:len(spec.Command):len(spec.Command)], "--longpoll-wait", testHold.String())
	srv, err := bench.StartServer(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(10 * time.Second); err != nil {
			t.Errorf("stopping the server: %v", err)
		}
	})
	return srv
}

// check runs Check against url with the test's waits.
func check(t *testing.T, url string, o Options) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	o.URL = url
	if o.Liveness == 0 {
		o.Liveness = testLiveness
	}
	rep, err := Check(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Check ran past the hang guard (%v)", hangGuard)
	}
	var b bytes.Buffer
	if err := rep.Text(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", b.String())
	return rep
}

// eventPackageAtUS says whether the event package writes contract 1's
// canonical encoding (at_us). Until it does, pushbench's own servers send
// "at" and fail the canonical-encoding checks, and only those.
var eventPackageAtUS = bytes.Contains(event.Event{Seq: 1}.AppendJSON(nil), []byte(`"at_us":`))

// expectConforming fails t for every failed check, except, for a server
// built on an event package from before contract 1, the canonical-encoding
// ones that say so.
func expectConforming(t *testing.T, rep Report, legacyAt bool) {
	t.Helper()
	for _, res := range rep.Results {
		if res.Status != Fail {
			continue
		}
		if legacyAt && res.Check == checkCanonical && strings.Contains(res.Why, `gives its time as "at"`) {
			t.Logf("expected until the event package writes at_us: %s", res)
			continue
		}
		t.Errorf("failed: %s", res)
	}
	// Every transport is checked, and only the checks that need what a
	// running server cannot do are skipped.
	for _, res := range rep.Results {
		if res.Status == Skip && res.Check != checkGoingAway && res.Check != checkToken {
			t.Errorf("skipped: %s", res)
		}
	}
}

func TestPushbenchServe(t *testing.T) {
	serve := []string{testbin.Pushbench(t), "serve"}
	t.Run("all", func(t *testing.T) {
		spec := testSpec()
		spec.Command = serve
		srv := start(t, spec)
		expectConforming(t, check(t, srv.URL, Options{}), !eventPackageAtUS)
	})
	t.Run("token", func(t *testing.T) { testToken(t, serve) })
}

// testToken checks a server that requires a control token, with and
// without it.
func testToken(t *testing.T, serve []string) {
	spec := testSpec()
	spec.Command = serve
	spec.Token = "conform-test-token"
	srv := start(t, spec)

	rep := check(t, srv.URL, Options{Token: spec.Token, Transports: []contract.Transport{contract.Poll}})
	expectConforming(t, rep, !eventPackageAtUS)
	if got := result(t, rep, Server, checkToken); got.Status != Pass {
		t.Errorf("with the token: %s", got)
	}

	// Without the token, Check says it is needed, and skips what needs
	// /control instead of failing it.
	rep = check(t, srv.URL, Options{Transports: []contract.Transport{contract.Poll}})
	if got := result(t, rep, Server, checkToken); got.Status != Fail || !strings.Contains(got.Why, "--control-token") {
		t.Errorf("without the token: %s", got)
	}
	if got := result(t, rep, Server, checkStart); got.Status != Skip {
		t.Errorf("without the token: %s", got)
	}
}

// nodeSpec is the Node.js implementation: the registered one, or, until it
// is registered, node/server.js started directly. It skips t without node
// or its dependencies (make deps installs them).
func nodeSpec(t *testing.T) bench.ServerSpec {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skipf("node is not on PATH (make deps): %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node", "node_modules", "ws")); err != nil {
		t.Skipf("node/node_modules/ws is missing (make deps, or npm ci --prefix node): %v", err)
	}
	spec, err := bench.WithImpl(testSpec(), contract.SSE, "node")
	if err != nil {
		t.Logf("node is not registered yet (%v): starting node/server.js directly", err)
		spec = testSpec()
		spec.Command, spec.External = []string{"node", filepath.Join(root, "node", "server.js")}, true
	}
	return spec
}

func TestNode(t *testing.T) {
	srv := start(t, nodeSpec(t))
	expectConforming(t, check(t, srv.URL, Options{}), false)
}

// plainSSE is an SSE endpoint that knows nothing of the contract: no ids,
// no retry:, no JSON, no cursors, no /stats, no /control.
func plainSSE(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := io.WriteString(w, "data: hello\n\n"); err != nil {
				return
			}
			if err := http.NewResponseController(w).Flush(); err != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// result is the one result of check on transport tr.
func result(t *testing.T, rep Report, tr, check string) Result {
	t.Helper()
	for _, res := range rep.Results {
		if res.Transport == tr && res.Check == check {
			return res
		}
	}
	t.Fatalf("no result for %s %q", tr, check)
	return Result{}
}

func TestPlainSSE(t *testing.T) {
	srv := plainSSE(t)
	rep := check(t, srv.URL, Options{Liveness: time.Second, Timeout: 2 * time.Second})
	if rep.OK() {
		t.Fatal("a plain SSE endpoint conforms")
	}
	sse := string(contract.SSE)
	for _, want := range []struct {
		transport, check string
		status           Status
		says             string // what the line must name
	}{
		{Server, checkHealth, Fail, "404"},
		{Server, checkStats, Fail, "404"},
		{Server, checkStart, Fail, "no working /control"},
		{Server, checkHistory, Skip, "/control/start"},
		{string(contract.Poll), "offered", Skip, "404"},
		{string(contract.LongPoll), "offered", Skip, "404"},
		{string(contract.WS), "offered", Skip, "404"},
		{sse, checkBadCursors, Fail, "after=abc: got 200"},
		{sse, checkStream, Fail, "Cache-Control"},
		{sse, checkRetry, Fail, "data: hello"},
		{sse, checkFrames, Fail, "no id: or event: line"},
		{sse, checkCanonical, Fail, "`hello` is not an event"},
		{sse, checkTypes, Fail, "not an event"},
		{sse, checkExactlyOnce(contract.SSE), Skip, "/control/start"},
		{sse, checkResumeID, Skip, "/stats hub.head"},
		{sse, checkGap, Skip, "/control/start"},
	} {
		got := result(t, rep, want.transport, want.check)
		if got.Status != want.status || !strings.Contains(got.Why, want.says) {
			t.Errorf("got %s\nwant %s naming %q", got, strings.ToUpper(string(want.status)), want.says)
		}
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	rep := check(t, url, Options{})
	if len(rep.Results) != 1 || rep.OK() || !strings.Contains(rep.Results[0].Why, "cannot be reached") {
		t.Fatalf("got %+v, want one failure saying the server cannot be reached", rep.Results)
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{{URL: "127.0.0.1:8080"}, {URL: "ftp://x"}, {URL: "http://x", Transports: []contract.Transport{contract.TCP}}} {
		if _, err := Check(context.Background(), o); err == nil {
			t.Errorf("Check accepted %+v", o)
		}
	}
}

// hostile answers every path in a way that would hold or grow a client
// without bounds: no answer, endless bodies, endless headers, endless lines.
func hostile(t *testing.T) *httptest.Server {
	t.Helper()
	endless := func(w io.Writer, chunk string) {
		b := []byte(strings.Repeat(chunk, 1024))
		for {
			if _, err := w.Write(b); err != nil {
				return
			}
		}
	}
	hijack := func(w http.ResponseWriter, status string) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "HTTP/1.1 "+status+"\r\n"); err == nil {
			endless(conn, "X-Endless: header\r\n")
		}
	}
	mux := http.NewServeMux()
	hold := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	mux.HandleFunc("/healthz", hold)
	mux.HandleFunc("/longpoll", hold)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		endless(w, " ")
	})
	mux.HandleFunc("/control/", func(w http.ResponseWriter, r *http.Request) { hijack(w, "200 OK") })
	// Polling and WebSocket are found (a bad cursor is refused), and then
	// send endless headers.
	mux.HandleFunc("/poll", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "after=abc" {
			http.Error(w, "bad cursor", http.StatusBadRequest)
			return
		}
		hijack(w, "200 OK")
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			http.Error(w, "bad cursor", http.StatusBadRequest)
			return
		}
		hijack(w, "101 Switching Protocols")
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		if _, err := io.WriteString(w, "data: "); err == nil {
			endless(w, "x")
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestHostile checks that an endpoint that never answers, or answers
// without end, makes Check fail rather than hang or grow without bound.
func TestHostile(t *testing.T) {
	srv := hostile(t)
	rep := check(t, srv.URL, Options{Liveness: 500 * time.Millisecond, Timeout: 500 * time.Millisecond})
	if rep.OK() {
		t.Fatal("a hostile endpoint conforms")
	}
	for _, want := range []struct{ transport, check, says string }{
		{Server, checkHealth, "no answer"},
		{string(contract.SSE), checkFrames, "longer than"},
		{string(contract.Poll), checkBadCursors, "headers exceeded"},
		{string(contract.WS), checkWSCursors, "answer longer than"},
	} {
		if got := result(t, rep, want.transport, want.check); got.Status != Fail || !strings.Contains(got.Why, want.says) {
			t.Errorf("got %s, want a failure naming %q", got, want.says)
		}
	}
}

// noRetry drops the retry: frame a stream starts with.
type noRetry struct {
	http.ResponseWriter
	started bool
}

func (w *noRetry) Write(b []byte) (int, error) {
	if !w.started {
		w.started = true
		if bytes.HasPrefix(b, []byte("retry:")) {
			if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
				n, err := w.ResponseWriter.Write(b[i+2:])
				return n + i + 2, err
			}
		}
	}
	return w.ResponseWriter.Write(b)
}

func (w *noRetry) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// rewrite answers with h's answer as edit changes it; for answers that end.
func rewrite(h http.Handler, edit func(status int, body []byte) (int, []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		status, body := edit(rec.Code, rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(status)
		_, _ = w.Write(body) // the client reads what it gets
	})
}

// TestBroken breaks pushbench's own server in one way at a time and checks
// that the check for it fails, saying so.
func TestBroken(t *testing.T) {
	poll, sse, ws := []contract.Transport{contract.Poll}, []contract.Transport{contract.SSE}, []contract.Transport{contract.WS}
	for _, c := range []struct {
		name       string
		opts       servers.Options
		break_     func(srv http.Handler) http.Handler
		transports []contract.Transport
		transport  string
		check      string
		says       string
	}{
		{name: "lenient cursors", transports: poll, transport: "poll", check: checkBadCursors, says: "after=abc: got 200",
			break_: func(srv http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/poll" && strings.Trim(r.URL.Query().Get("after"), "0123456789") != "" {
						r.URL.RawQuery = "after=0"
					}
					srv.ServeHTTP(w, r)
				})
			}},
		{name: "200 for nothing new", transports: poll, transport: "poll", check: checkNoContent, says: "got 200",
			break_: func(srv http.Handler) http.Handler {
				mux := http.NewServeMux()
				mux.Handle("/", srv)
				mux.Handle("/poll", rewrite(srv, func(status int, body []byte) (int, []byte) {
					if status == http.StatusNoContent {
						return http.StatusOK, []byte(`{"events":[],"next":0,"more":false}`)
					}
					return status, body
				}))
				return mux
			}},
		{name: "no gap signal", transports: poll, transport: "poll", check: checkGap, says: "want a gap",
			break_: func(srv http.Handler) http.Handler {
				mux := http.NewServeMux()
				mux.Handle("/", srv)
				mux.Handle("/poll", rewrite(srv, func(status int, body []byte) (int, []byte) {
					if i := bytes.Index(body, []byte(`,"gap":`)); i >= 0 {
						body = append(body[:i:i], '}')
					}
					return status, body
				}))
				return mux
			}},
		{name: "no hub.head", transports: poll, transport: Server, check: checkStats, says: "no hub.head",
			break_: func(srv http.Handler) http.Handler {
				mux := http.NewServeMux()
				mux.Handle("/", srv)
				mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					_, _ = io.WriteString(w, `{"contract":1,"hub":{}}`)
				})
				return mux
			}},
		{name: "lenient control", transports: poll, transport: Server, check: checkUnknown, says: "colour=red: got 200",
			break_: func(srv http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == contract.PathStart {
						q := r.URL.Query()
						q.Del("colour")
						r.URL.RawQuery = q.Encode()
					}
					srv.ServeHTTP(w, r)
				})
			}},
		{name: "no retry", transports: sse, transport: "sse", check: checkRetry, says: "want \"retry: MS\"",
			break_: func(srv http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/sse" {
						w = &noRetry{ResponseWriter: w}
					}
					srv.ServeHTTP(w, r)
				})
			}},
		{name: "no heartbeat", opts: servers.Options{Heartbeat: time.Hour}, transports: sse, transport: "sse", check: checkHeartbeat, says: "no comment line"},
		{name: "no ping", opts: servers.Options{PingInterval: time.Hour}, transports: ws, transport: "ws", check: checkPing, says: "no ping"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hub := servers.NewHub(&servers.HubOptions{History: 100})
			if c.opts.Heartbeat == 0 {
				c.opts.Heartbeat = testHeartbeat
			}
			if c.opts.PingInterval == 0 {
				c.opts.PingInterval = testHeartbeat
			}
			srv, err := servers.New(hub, &c.opts)
			if err != nil {
				t.Fatal(err)
			}
			var h http.Handler = srv
			if c.break_ != nil {
				h = c.break_(srv)
			}
			ts := httptest.NewServer(h)
			defer ts.Close()
			defer srv.Close()
			rep := check(t, ts.URL, Options{Liveness: time.Second, Transports: c.transports})
			if got := result(t, rep, c.transport, c.check); got.Status != Fail || !strings.Contains(got.Why, c.says) {
				t.Errorf("got %s, want a failure naming %q", got, c.says)
			}
		})
	}
}
