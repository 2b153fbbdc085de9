package servers

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
)

func TestPollWire(t *testing.T) {
	s := newTestServer(t, testConfig{})
	resp, body := s.do(t, http.MethodGet, "/poll?after=0", nil)
	if resp.StatusCode != http.StatusNoContent || body != "" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("empty hub: %s %q %v, want 204 with no body", resp.Status, body, resp.Header)
	}

	publishN(t, s.hub, 3)
	resp, body = s.do(t, http.MethodGet, "/poll?after=1", nil)
	want := `{"events":[` + wantJSON[2] + `,` + wantJSON[3] + `],"next":3,"more":false}`
	if resp.StatusCode != http.StatusOK || body != want {
		t.Fatalf("GET /poll?after=1: %s\n got %q\nwant %q", resp.Status, body, want)
	}
	for k, v := range map[string]string{
		"Content-Type":   "application/json",
		"Cache-Control":  "no-store",
		"Content-Length": strconv.Itoa(len(want)),
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if resp.TransferEncoding != nil {
		t.Errorf("Transfer-Encoding %v: the length is known, so no chunking", resp.TransferEncoding)
	}

	resp, body = s.do(t, http.MethodGet, "/poll?after=3", nil)
	if resp.StatusCode != http.StatusNoContent || body != "" {
		t.Fatalf("at head: %s %q", resp.Status, body)
	}

	resp, body = s.do(t, http.MethodHead, "/poll?after=1", nil)
	if resp.StatusCode != http.StatusOK || body != "" || resp.ContentLength != int64(len(want)) {
		t.Fatalf("HEAD: %s %q length %d", resp.Status, body, resp.ContentLength)
	}
	if got := s.srv.Stats().Transports.Poll; got != (contract.PollStats{Requests: 4, Empty: 2}) {
		t.Fatalf("stats %+v", got)
	}
}

func TestPollBatchSaysMore(t *testing.T) {
	s := newTestServer(t, testConfig{opts: &Options{PollBatch: 2}})
	publishN(t, s.hub, 3)
	_, body := s.do(t, http.MethodGet, "/poll", nil)
	if want := `{"events":[` + wantJSON[1] + `,` + wantJSON[2] + `],"next":2,"more":true}`; body != want {
		t.Fatalf("\n got %q\nwant %q", body, want)
	}
	_, body = s.do(t, http.MethodGet, "/poll?after=2", nil)
	if want := `{"events":[` + wantJSON[3] + `],"next":3,"more":false}`; body != want {
		t.Fatalf("\n got %q\nwant %q", body, want)
	}
}

func TestPollGap(t *testing.T) {
	s := newTestServer(t, testConfig{hub: &HubOptions{History: 4}, opts: &Options{PollBatch: 2}})
	publishN(t, s.hub, 10) // history holds 7..10
	resp, body := s.do(t, http.MethodGet, "/poll?after=2", nil)
	want := `{"events":[` + string(s.json(t, 7)) + `,` + string(s.json(t, 8)) + `],"next":8,"more":true,"gap":{"from":3,"to":6}}`
	if resp.StatusCode != http.StatusOK || body != want {
		t.Fatalf("%s\n got %q\nwant %q", resp.Status, body, want)
	}
}

// json is the encoding of event seq as the hub holds it.
func (s *testServer) json(t testing.TB, seq uint64) []byte {
	t.Helper()
	es, _, err := s.hub.Read(seq-1, nil, 1)
	if err != nil || len(es) != 1 {
		t.Fatalf("event %d: %v", seq, err)
	}
	return es[0].JSON
}

// BenchmarkPollHandler measures the handler alone, from the request to the
// bytes handed to the ResponseWriter, for a client one event behind and for
// one a hundred behind.
func BenchmarkPollHandler(b *testing.B) {
	for _, behind := range []int{1, 100} {
		b.Run(strconv.Itoa(behind)+"-behind", func(b *testing.B) {
			hub := NewHub(nil)
			publishN(b, hub, 1000)
			h := mustNew(b, hub, nil, contract.Poll)
			req := httptest.NewRequest(http.MethodGet, "/poll?after="+strconv.Itoa(1000-behind), nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatal(w.code)
				}
			}
		})
	}
}

// discardWriter is the cheapest ResponseWriter that takes deadlines and
// flushes as net/http's does, so a benchmark counts the handler's
// allocations only.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header  { return w.h }
func (w *discardWriter) WriteHeader(code int) { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(b), nil
}

func (w *discardWriter) SetWriteDeadline(time.Time) error { return nil }
func (w *discardWriter) FlushError() error                { return nil }
