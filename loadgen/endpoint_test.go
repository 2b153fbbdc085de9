package loadgen

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/contract"
)

func TestScanStamp(t *testing.T) {
	for _, tc := range []struct {
		msg   string
		exact bool
		i     int64
		f     float64
		ok    bool
	}{
		{msg: `{"ts":1712345678901}`, exact: true, i: 1712345678901, ok: true},
		{msg: ` { "a" : 1 , "ts" : -42 } `, exact: true, i: -42, ok: true},
		// Members before it, of every kind, are skipped, not read.
		{msg: `{"meta":{"ts":1,"s":"}\"{"},"list":[1,{"ts":2}],"s":"ts\"","t":true,"n":null,"ts":7}`, exact: true, i: 7, ok: true},
		{msg: `{"ts":1712345678.25}`, f: 1712345678.25, ok: true},
		{msg: `{"ts":1.7e18}`, f: 1.7e18, ok: true},
		{msg: `{"ts":"1712345678901"}`, exact: true, i: 1712345678901, ok: true},
		{msg: `{"ts":12345678901234567890}`, f: 12345678901234567890, ok: true}, // past int64: read as a float
		{msg: `{"meta":{"ts":1}}`}, // only nested
		{msg: `{"t\u0073":1}`},     // a name with escapes is not matched
		{msg: `{"ts":"soon"}`},     // not a number
		{msg: `{"ts":true}`},
		{msg: `[{"ts":1}]`}, // not an object
		{msg: `hello`},
		{msg: ``},
		{msg: `{"a":"unterminated,"ts":1}`},
		{msg: `{"a":{"ts":1},`},
	} {
		s, ok := scanStamp([]byte(tc.msg), "ts")
		if ok != tc.ok || (ok && (s.exact != tc.exact || s.i != tc.i || s.f != tc.f)) {
			t.Errorf("scanStamp(%s) = %+v, %v; want exact=%v i=%d f=%g, %v", tc.msg, s, ok, tc.exact, tc.i, tc.f, tc.ok)
		}
	}
}

// Reading an integer stamp costs no allocation: it is done per message.
func TestScanStampAllocatesNothing(t *testing.T) {
	msg := []byte(`{"seq":12,"payload":{"a":[1,2,3],"b":"x"},"ts":1712345678901234567}`)
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := scanStamp(msg, "ts"); !ok {
			t.Fatal("not found")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per message", n)
	}
}

func TestStampUnits(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		v    float64
		want StampUnit
	}{
		{float64(now.Unix()), StampS},
		{float64(now.UnixMilli()), StampMS},
		{float64(now.UnixMicro()), StampUS},
		{float64(now.UnixNano()), StampNS},
		{1e9, StampS},            // 2001
		{32503680000, StampS},    // the year 3000
		{32503680000e3, StampMS}, // in ms
	} {
		if got := DetectStampUnit(tc.v); got != tc.want {
			t.Errorf("DetectStampUnit(%g) = %v, want %v", tc.v, got, tc.want)
		}
	}
	// Every unit reads now back as now, to its resolution.
	for u, s := range map[StampUnit]stamp{
		StampS:  {i: now.Unix(), exact: true},
		StampMS: {i: now.UnixMilli(), exact: true},
		StampUS: {i: now.UnixMicro(), exact: true},
		StampNS: {i: now.UnixNano(), exact: true},
	} {
		ns, ok := s.ns(u)
		if d := now.UnixNano() - ns; !ok || d < 0 || d >= stampScale[u] {
			t.Errorf("%v: %d ns is %d from now", u, ns, d)
		}
	}
	if _, ok := (stamp{i: now.UnixNano(), exact: true}).ns(StampS); ok {
		t.Error("ns read as seconds did not overflow")
	}
	if _, ok := (stamp{f: 1e30}).ns(StampMS); ok {
		t.Error("1e30 ms did not overflow")
	}
	for in, want := range map[string]StampUnit{"": StampAuto, "auto": StampAuto, "s": StampS, "ms": StampMS, "us": StampUS, "µs": StampUS, "ns": StampNS} {
		if got, err := ParseStampUnit(in); got != want || err != nil {
			t.Errorf("ParseStampUnit(%q) = %v, %v", in, got, err)
		}
		if want != StampAuto && want.String() != in && in != "µs" {
			t.Errorf("%v.String() = %q", want, want.String())
		}
	}
	if _, err := ParseStampUnit("minutes"); !errors.Is(err, ErrStampUnit) {
		t.Errorf("ParseStampUnit(minutes) = %v", err)
	}
}

func TestNewEndpointRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  EndpointConfig
		want error
	}{
		{EndpointConfig{URL: "http://x/", Transport: contract.Poll}, ErrEndpointTransport},
		{EndpointConfig{URL: "ws://x/", Transport: contract.SSE}, ErrSSEURL},
		{EndpointConfig{URL: "ftp://x/", Transport: contract.WS}, ErrWSURL},
		{EndpointConfig{URL: "ws://x/", Transport: contract.WS, Header: http.Header{"upgrade": {"h2c"}}}, ErrEndpointHeader},
		{EndpointConfig{URL: "ws://x/", Transport: contract.WS, Options: Options{Jitter: "some"}}, ErrUnknownJitter},
	} {
		if _, err := NewEndpoint(tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("NewEndpoint(%+v) = %v, want %v", tc.cfg, err, tc.want)
		}
	}
}

// The clients send the headers they are given (auth, for one), on every
// connection, and a stamp ahead of the clock counts as negative instead of
// as a fast delivery.
func TestEndpointHeadersAndNegativeStamps(t *testing.T) {
	const auth = "Bearer s3cret"
	var mu sync.Mutex
	var seen []string
	future := time.Now().Add(time.Hour).UnixMilli()
	msg := `{"ts":` + strconv.FormatInt(future, 10) + `}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if websocket.IsWebSocketUpgrade(r) {
			c := upgrade(w, r)
			if c == nil {
				return
			}
			defer c.Close()
			if c.WriteMessage(websocket.TextMessage, []byte(msg)) == nil {
				_ = drain(c)
			}
			return
		}
		if sseSend(w, "data: "+msg+"\n\n") {
			<-r.Context().Done()
		}
	}))
	t.Cleanup(srv.Close)
	for _, transport := range []contract.Transport{contract.SSE, contract.WS} {
		t.Run(string(transport), func(t *testing.T) {
			e, err := NewEndpoint(EndpointConfig{
				URL: srv.URL, Transport: transport, StampField: "ts",
				Header: http.Header{"Authorization": {auth}},
			})
			if err != nil {
				t.Fatal(err)
			}
			r := start(t, e.NewClient())
			waitFor(t, "the message", func() bool { return e.Received() == 1 })
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			s := e.Stats()
			if s.StampNegative != 1 || s.Latency.TotalCount() != 0 || s.StampAheadNS < int64(59*time.Minute) {
				t.Errorf("negative %d, latency count %d, ahead %v; want the stamp an hour ahead counted as negative",
					s.StampNegative, s.Latency.TotalCount(), time.Duration(s.StampAheadNS))
			}
			if s.StampUnit != StampMS || !s.StampDetected {
				t.Errorf("unit %v (detected %v), want ms detected", s.StampUnit, s.StampDetected)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) == 0 || seen[len(seen)-1] != auth {
				t.Errorf("the server saw Authorization %q, want %q", seen, auth)
			}
		})
	}
}

// A client that gives up counts the failure it gave up on.
func TestEndpointClientCountsGivingUp(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	e, err := NewEndpoint(EndpointConfig{URL: srv.URL, Transport: contract.SSE})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := e.NewClient().Run(ctx); !errors.Is(err, ErrSSEStatus) {
		t.Fatalf("Run = %v, want ErrSSEStatus", err)
	}
	if s := e.Stats(); s.Errors.Status != 1 || s.Attempts != 1 || s.Connects != 0 {
		t.Fatalf("stats %+v", s)
	}
}
