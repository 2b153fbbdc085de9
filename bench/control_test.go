package bench

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
)

// A server that accepts and never answers must not hold a run for ever:
// every control request has a timeout of its own.
func TestControlGivesUpOnASilentServer(t *testing.T) {
	addr, conns := silentServer(t)
	ctl := Control{Base: "http://" + addr, Timeout: 50 * time.Millisecond}
	done := make(chan error, 1)
	go func() {
		_, err := ctl.Stats(context.Background())
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(hangGuard):
		t.Fatalf("Stats did not return within %v from a silent server: hung", hangGuard)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Fatalf("Stats = %v, want an error saying the server did not answer within 50ms", err)
	}
	if conns.Load() != 1 {
		t.Fatalf("%d connections, want 1", conns.Load())
	}
	controlClient.CloseIdleConnections()
}

func TestControlSendsItsToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "control needs the token", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"hub":{"head":7}}`))
	}))
	defer srv.Close()
	st, err := Control{Base: srv.URL, Token: "s3cret", Client: srv.Client()}.Stats(context.Background())
	if err != nil || st.Hub.Head != 7 {
		t.Fatalf("with the token: %+v, %v", st.Hub, err)
	}
	for _, token := range []string{"", "wrong"} {
		_, err := Control{Base: srv.URL, Token: token, Client: srv.Client()}.Stats(context.Background())
		if !errors.Is(err, contract.ErrUnauthorized) || !strings.Contains(err.Error(), "401") {
			t.Errorf("token %q: %v, want contract.ErrUnauthorized naming the 401", token, err)
		}
	}
}

// fakeControl is a pushbench server's /stats and /control as Measure uses
// them, with SSE streams that stay open and carry nothing: a run of no
// events, whose /stats moves between the calls before and after it.
type fakeControl struct {
	srv     *httptest.Server
	stopped atomic.Bool
	mu      sync.Mutex
	auth    []string // Authorization of every control request
}

func newFakeControl(t *testing.T, before, after string) *fakeControl {
	t.Helper()
	f := &fakeControl{}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		body := before
		if f.stopped.Load() {
			body = after
		}
		_, _ = w.Write([]byte(body))
	})
	mux.HandleFunc("/control/", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		if r.URL.Path == "/control/stop" {
			f.stopped.Store(true)
			_, _ = w.Write([]byte(`{"head":0}`))
			return
		}
		_, _ = w.Write([]byte(`{"first":1}`))
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		if sseSend(w, ": open\n") {
			<-r.Context().Done()
		}
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// A run's slow clients are the transports' slow_disconnects, which count
// the streams a write deadline ended as well as the hub's cut-offs; the
// hub's slow_dropped alone misses the former.
func TestMeasureCountsEveryTransportsSlowDisconnects(t *testing.T) {
	stats := func(sse, ws, tcp, hub uint64) string {
		b, err := json.Marshal(map[string]any{
			"hub": map[string]any{"head": 0, "slow_dropped": hub},
			"transports": map[string]any{
				"sse":  map[string]any{"slow_disconnects": sse},
				"ws":   map[string]any{"slow_disconnects": ws},
				"tcp":  map[string]any{"slow_disconnects": tcp},
				"poll": map[string]any{"requests": 0},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// 2,000 cut off by write deadlines while the hub cut off none.
	f := newFakeControl(t, stats(10, 5, 0, 0), stats(1810, 205, 1, 0))
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	run, err := Measure(ctx, Target{Stream: f.srv.URL, Control: Control{Base: f.srv.URL, Token: "s3cret"}}, Plan{
		Load:  Load{Transport: contract.SSE, Clients: 2, Schedule: contract.Schedule{Rate: 1}, Duration: time.Millisecond},
		Drain: hangGuard,
	})
	if err != nil {
		t.Fatal(err)
	}
	if run.SlowDisconnects != 2001 {
		t.Fatalf("SlowDisconnects = %d, want 2001: 1800 sse + 200 ws + 1 tcp", run.SlowDisconnects)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.auth) != 2 || f.auth[0] != "Bearer s3cret" || f.auth[1] != "Bearer s3cret" {
		t.Fatalf("control requests carried %q, want the token on start and stop", f.auth)
	}
}

// A run whose clients cannot connect says what they met.
func TestMeasureNamesTheFailuresWhenClientsCannotConnect(t *testing.T) {
	f := newFakeControl(t, `{"hub":{"head":0}}`, `{"hub":{"head":0}}`)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	// No /ws there: every client's handshake is refused with a 404.
	run, err := Measure(ctx, Target{Stream: f.srv.URL, Control: Control{Base: f.srv.URL}}, Plan{
		Load: Load{Transport: contract.WS, Clients: 2, Client: fastRetry, Schedule: contract.Schedule{Rate: 1}},
	})
	if !errors.Is(err, loadgen.ErrClientsGaveUp) || !strings.Contains(err.Error(), "failures meanwhile: ") {
		t.Fatalf("Measure = %v, want the clients' giving up, naming their failures", err)
	}
	// One client's refusal ends the wait; the other's may not have come.
	if s := run.Errors.Status; s == 0 || run.Errors != (results.Errors{Status: s}) || !strings.Contains(err.Error(), run.Errors.String()) {
		t.Fatalf("run errors %+v in %q, want status failures only, named in the error", run.Errors, err)
	}
}
