package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/servers"
)

// conformHangGuard bounds one conform run; it is not a measurement.
const conformHangGuard = 2 * time.Minute

// runConform runs the conform command with args and returns its error and
// what it printed.
func runConform(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), conformHangGuard)
	defer cancel()
	var out bytes.Buffer
	err := conformRun(ctx, args, &out)
	if ctx.Err() != nil {
		t.Fatalf("conform %q ran past the hang guard", args)
	}
	t.Logf("conform %q printed:\n%s", args, out.String())
	return out.String(), err
}

// inProcessServer is pushbench's own server in this process, with short
// timers: an SSE heartbeat and WebSocket pings every 200 ms and long polls
// held for 2 s.
func inProcessServer(t *testing.T) string {
	t.Helper()
	hub := servers.NewHub(&servers.HubOptions{History: 100})
	srv, err := servers.New(hub, &servers.Options{
		Heartbeat:    200 * time.Millisecond,
		PingInterval: 200 * time.Millisecond,
		LongPollWait: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	return ts.URL
}

func TestConformExitCode(t *testing.T) {
	// A plain SSE endpoint: exit status 1, with the lines saying why.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sse" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for r.Context().Err() == nil {
			if _, err := io.WriteString(w, "data: hello\n\n"); err != nil {
				return
			}
			if err := http.NewResponseController(w).Flush(); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}))
	defer plain.Close()
	out, err := runConform(t, "--liveness", "1s", "--timeout", "2s", plain.URL)
	if !errors.Is(err, errNonConforming) {
		t.Fatalf("plain SSE: %v, want %v (exit status 1)", err, errNonConforming)
	}
	for _, want := range []string{"FAIL server   GET /stats", "FAIL sse      retry: frame first", "no id: or event: line", "`hello` is not an event"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain SSE: the output does not say %q", want)
		}
	}

	// pushbench's own server passes, once the event package writes at_us
	// (contract 1); until then, only its canonical-encoding lines fail.
	url := inProcessServer(t)
	out, err = runConform(t, "--liveness", "6s", "--transports", "sse,poll", url)
	if bytes.Contains(event.Event{Seq: 1}.AppendJSON(nil), []byte(`"at_us":`)) {
		if err != nil {
			t.Fatalf("pushbench's server: %v, want nil (exit status 0)", err)
		}
	} else {
		if !errors.Is(err, errNonConforming) {
			t.Fatalf("pushbench's server sending \"at\": %v, want %v", err, errNonConforming)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "FAIL") && !strings.Contains(l, `gives its time as "at"`) {
				t.Errorf("pushbench's server: %s", l)
			}
		}
	}

	// --json prints one object, and the exit status is the same.
	out, jerr := runConform(t, "--liveness", "6s", "--transports", "poll", "--json", url)
	var rep struct {
		OK      bool `json:"ok"`
		Results []struct {
			Transport, Check, Status string
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v", err)
	}
	if len(rep.Results) == 0 || rep.OK != (jerr == nil) {
		t.Fatalf("--json: %d results, ok %v, error %v", len(rep.Results), rep.OK, jerr)
	}
}

func TestConformFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"http://a", "http://b"},
		{"--transports", "tcp", "http://127.0.0.1:1"},
		{"127.0.0.1:8080"},
	} {
		if _, err := runConform(t, args...); err == nil || errors.Is(err, errNonConforming) {
			t.Errorf("conform %q: %v, want a usage error", args, err)
		}
	}
}
