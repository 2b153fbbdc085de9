package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pushbench/pushbench/internal/testbin"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHandlerServesThePageAndPassesTheRestOn(t *testing.T) {
	var passed []string
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		passed = append(passed, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	h := Handler(stream)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PagePath, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET %s: %d %q", PagePath, rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(rec.Body.Bytes(), page) || !bytes.Contains(page, []byte("window.pushbench")) {
		t.Fatal("the page is not the embedded one")
	}

	for _, target := range []string{"/sse?after=3", "/poll", "/ws", "/stats", "/browser/other"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusTeapot {
			t.Errorf("GET %s: %d, want the stream handler's 418", target, rec.Code)
		}
	}
	want := []string{"GET /sse", "GET /poll", "GET /ws", "GET /stats", "GET /browser/other"}
	if !slices.Equal(passed, want) {
		t.Errorf("passed on %q, want %q", passed, want)
	}
}

func TestHandlerRecordsLastEventIDOfSSERequests(t *testing.T) {
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	send := func(path, id string) {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if id != "" {
			r.Header.Set("Last-Event-ID", id)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	read := func() []string {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, LastEventIDsPath, nil))
		var v lastEventIDs
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %q: %v", LastEventIDsPath, rec.Code, rec.Body, err)
		}
		return v.IDs
	}
	if got := read(); got == nil || len(got) != 0 {
		t.Fatalf("fresh record %#v, want an empty list", got)
	}
	send("/sse?after=1", "")               // a first connection carries none
	send("/poll?after=2", "9")             // not an SSE request
	send("/sse", "17")                     // a reconnection
	send("/sse", strings.Repeat("8", 100)) // clipped
	if got, want := read(), []string{"17", strings.Repeat("8", maxLastEventID)}; !slices.Equal(got, want) {
		t.Fatalf("recorded %q, want %q", got, want)
	}
}

func TestIDRingKeepsTheNewest(t *testing.T) {
	var r idRing
	var want []string
	for i := range keptLastEventIDs + 5 {
		id := strings.Repeat("x", i%7) + string(rune('a'+i%26))
		r.add(id)
		want = append(want, id)
	}
	if got := r.list(); !slices.Equal(got, want[5:]) {
		t.Fatalf("kept %q\nwant %q", got, want[5:])
	}
}

func TestLatencyIsByNearestRank(t *testing.T) {
	ms := make([]float64, 100)
	for i := range ms {
		ms[i] = float64(100 - i) // 100 … 1, unsorted on purpose
	}
	got := newLatency(ms)
	want := Latency{N: 100, P50MS: 50, P90MS: 90, P99MS: 99, MaxMS: 100}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if ms[0] != 100 {
		t.Fatal("newLatency sorted its argument")
	}
	if got := newLatency(nil); got != (Latency{}) {
		t.Fatalf("no latencies: %+v", got)
	}
}

// fixture is an outcome as a passing run records it, with fixed figures.
func fixture() *Outcome {
	f := func(v float64) *float64 { return &v }
	return &Outcome{
		Browser:   "HeadlessChrome/156.0.8078.79",
		Flags:     []string{"--headless", "--no-sandbox", "--ignore-certificate-errors-spki-list=PIN"},
		Started:   time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC),
		DurationS: 14.2,
		Delivery: DeliveryCheck{
			Events: 200, Rate: 50, Payload: 64, PollIntervalS: 0.05,
			Transports: []Delivery{
				{Transport: "sse", Expected: 200, Received: 200, Latency: Latency{N: 200, P50MS: 1.3, P90MS: 2, P99MS: 5.2, MaxMS: 7.1}},
				{Transport: "ws", Expected: 200, Received: 200, Latency: Latency{N: 200, P50MS: 1.3, P90MS: 2.2, P99MS: 5.8, MaxMS: 8.6}},
				{Transport: "poll", Expected: 200, Received: 199, Missing: 1, Errors: 2, Latency: Latency{N: 199, P50MS: 34.1, P90MS: 56.5, P99MS: 62.7, MaxMS: 71.6}},
			},
		},
		Resume: ResumeCheck{
			KilledAt: 21, BrowserLastEventID: "21", ServerLastEventIDs: []string{"21"},
			Reconnects: 1, ErrorEvents: 3, Last: 41, Received: 41, ResumeS: 0.3,
		},
		Limit: []LimitCheck{
			{Scheme: "http", Protocol: "http/1.1", Opened: 8, Streaming: 6, Connections: 6, PeakConnections: 6, WindowS: 3,
				FirstEventMS: []*float64{f(30), f(31), f(31), f(31), f(32), f(30), nil, nil}},
			{Scheme: "https", Protocol: "h2", Opened: 8, Streaming: 8, Connections: 1, PeakConnections: 1, WindowS: 3,
				FirstEventMS: []*float64{f(19), f(31), f(32), f(33), f(55), f(50), f(64), f(59)}},
		},
	}
}

func TestWriteMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := fixture().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "browser.md.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("markdown differs from %s (go test -update rewrites it):\n%s", golden, b.String())
	}
}

func TestFailuresNameWhatFailed(t *testing.T) {
	o := fixture()
	got := o.Failures()
	if len(got) != 1 || !strings.HasPrefix(got[0], "delivery poll: 199 of 200") {
		t.Fatalf("failures %q, want only the poll delivery", got)
	}
	o.Delivery.Transports = o.Delivery.Transports[:2]
	o.Resume = ResumeCheck{Skipped: "no serve"}
	if got := o.Failures(); len(got) != 0 {
		t.Fatalf("failures %q, want none: a skipped check is not a failure", got)
	}
	o.Limit[0].Streaming = 8 // HTTP/1.1 showed no limit: nothing demonstrated
	o.Limit[1].Streaming = 7 // HTTP/2 stalled one
	if got := o.Failures(); len(got) != 2 {
		t.Fatalf("failures %q, want both connection-limit checks", got)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of an empty dir: %v, want fs.ErrNotExist", err)
	}
	want := fixture()
	if err := want.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(want) // marshalling these types cannot fail
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Fatalf("round trip:\n got %s\nwant %s", b, a)
	}
}

// TestRealBrowser runs the whole scenario in chromium: `make test` installs
// it; elsewhere the test skips. It builds pushbench for the restart check,
// which kills and restarts a real `pushbench serve` process.
func TestRealBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser: skipped in -short mode")
	}
	exe, err := FindChromium()
	if err != nil {
		t.Skipf("%v; `make test` installs it", err)
	}
	serve := []string{testbin.Pushbench(t), "serve"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o, err := Run(ctx, &Options{
		ExecPath: exe,
		Serve:    serve,
		Events:   100,
		Logf:     t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := json.MarshalIndent(o, "", "  "); err == nil {
		t.Logf("outcome: %s", b)
	}

	t.Run("delivery", func(t *testing.T) {
		if o.Delivery.Error != "" {
			t.Fatal(o.Delivery.Error)
		}
		var got []string
		for _, d := range o.Delivery.Transports {
			got = append(got, d.Transport)
			if !d.OK() {
				t.Errorf("%s: %+v", d.Transport, d)
			}
			// Every delivered event has a latency, and none is absurd: the
			// page and the server share one clock.
			if l := d.Latency; l.N != d.Received || l.P50MS <= -1 || l.MaxMS > 10_000 {
				t.Errorf("%s latency %+v", d.Transport, l)
			}
		}
		if !slices.Equal(got, pageTransports) {
			t.Errorf("transports %q, want %q", got, pageTransports)
		}
	})
	t.Run("connection limit", func(t *testing.T) {
		if len(o.Limit) != 2 {
			t.Fatalf("%d connection-limit checks, want http and https", len(o.Limit))
		}
		h1, h2 := o.Limit[0], o.Limit[1]
		// How many stream over HTTP/1.1 is measured, not assumed: some must
		// stall, and the server must have seen as many connections open
		// at once as streams streamed.
		if h1.Protocol != "http/1.1" || !h1.OK() || h1.PeakConnections != h1.Streaming {
			t.Errorf("http: %+v", h1)
		}
		if h2.Protocol != "h2" || !h2.OK() || h2.PeakConnections != 1 {
			t.Errorf("https: %+v", h2)
		}
	})
	t.Run("resume", func(t *testing.T) {
		r := o.Resume
		if r.Skipped != "" {
			t.Skip(r.Skipped)
		}
		if !r.OK() {
			t.Errorf("%+v", r)
		}
	})
}

func TestDataFlagIsFoundInServeUsage(t *testing.T) {
	with := "Usage of serve:\n  -addr string\n    \tlisten address\n  -data string\n    \tkeep the event log here\n"
	without := "Usage of serve:\n  -addr string\n    \tlisten address\n  -payload int\n    \tevent data size\n  -metadata-dir string\n"
	if !dataFlag.MatchString(with) {
		t.Error("missed --data")
	}
	if dataFlag.MatchString(without) {
		t.Error("found --data where there is none")
	}
}
