package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/report"
	"github.com/pushbench/pushbench/results"
)

// plainStream serves n messages to every client at once, each a JSON
// object with its send time in Unix µs in "sent", over SSE or WebSocket,
// and then holds the connection open. It answers only requests that carry
// the Authorization the test sends.
func plainStream(t *testing.T, n int, auth string) (srv *httptest.Server, refused *atomic.Int64) {
	t.Helper()
	refused = new(atomic.Int64)
	var wg sync.WaitGroup // WebSocket handlers: hijacked, so the server does not wait for them
	msg := func(i int) string {
		return fmt.Sprintf(`{"n":%d,"sent":%d,"text":"hello"}`, i, time.Now().UnixMicro())
	}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != auth {
			refused.Add(1)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		if !websocket.IsWebSocketUpgrade(r) {
			for i := 1; i <= n; i++ {
				if !streamSend(w, "id: "+strconv.Itoa(i)+"\ndata: "+msg(i)+"\n\n") {
					return
				}
			}
			<-r.Context().Done()
			return
		}
		wg.Add(1)
		defer wg.Done()
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for i := 1; i <= n; i++ {
			if c.WriteMessage(websocket.TextMessage, []byte(msg(i))) != nil {
				return
			}
		}
		for { // until the client closes
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return srv, refused
}

// TestLoad runs the command against plain SSE and WebSocket servers and
// checks what it prints and writes: the table, --json with every key the
// issue lists, and --out's results.json, report.md and plot.
func TestLoad(t *testing.T) {
	const (
		clients = 3
		n       = 5
		auth    = "Bearer t0ken"
	)
	srv, refused := plainStream(t, n, auth)
	for _, scheme := range []string{"http", "ws"} {
		t.Run(scheme, func(t *testing.T) {
			dir := t.TempDir()
			jsonFile := filepath.Join(dir, "load.json")
			url := scheme + strings.TrimPrefix(srv.URL, "http") + "/feed"
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			var out, diag bytes.Buffer
			err := loadTo(ctx, []string{
				"--clients", strconv.Itoa(clients), "--duration", hangGuard.String(), "--ramp", "50ms",
				"--count", strconv.Itoa(clients * n), url, // flags after the URL too
				"--timestamp", "sent", "--header", "Authorization: " + auth,
				"--json", jsonFile, "--out", filepath.Join(dir, "out"),
			}, &out, &diag)
			if err != nil {
				t.Fatalf("load: %v\n%s\n%s", err, out.String(), diag.String())
			}
			if ctx.Err() != nil {
				t.Fatalf("load ran until the hang guard")
			}
			if refused.Load() != 0 {
				t.Fatalf("the server refused %d requests without the header", refused.Load())
			}

			// --json: every key the issue lists.
			b, err := os.ReadFile(jsonFile)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"clients", "duration_s", "events_received", "events_per_sec", "bytes", "reconnects", "errors"} {
				if _, ok := doc[k]; !ok {
					t.Errorf("--json lacks %q:\n%s", k, b)
				}
			}
			for _, k := range []string{"connect_ns", "first_event_ns", "inter_arrival_ns", "latency_ns"} {
				obj, _ := doc[k].(map[string]any)
				for _, q := range []string{"p50", "p90", "p99", "max", "count"} {
					if _, ok := obj[q].(float64); !ok {
						t.Errorf("--json %s lacks %q:\n%s", k, q, b)
					}
				}
			}
			lat, _ := doc["latency_ns"].(map[string]any)
			if lat["field"] != "sent" || lat["unit"] != "us" || lat["unit_from"] != "detected" || lat["clock"] == "" {
				t.Errorf("latency_ns states field %v, unit %v (%v), clock %q; want sent, us detected and a note",
					lat["field"], lat["unit"], lat["unit_from"], lat["clock"])
			}
			var run results.LoadRun
			if err := json.Unmarshal(b, &run); err != nil {
				t.Fatal(err)
			}
			if run.EventsReceived != clients*n || run.EventsPerClient != (results.MinMax{Min: n, Max: n}) ||
				run.Clients != clients || run.LatencyNS.Count != clients*n || run.Errors.Total() != 0 {
				t.Errorf("received %d (%+v per client) by %d clients, latency count %d, errors %v; want %d each of %d, no error",
					run.EventsReceived, run.EventsPerClient, run.Clients, run.LatencyNS.Count, run.Errors, n, clients)
			}

			// The table, and the progress.
			for _, want := range []string{"Load 1: ", "first event", "inter-arrival", "latency (sent, us detected)", "15 events received (5 per client)"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the table lacks %q:\n%s", want, out.String())
				}
			}
			if !strings.Contains(diag.String(), "[1/1] load ") || !strings.Contains(diag.String(), "15 events, 0 reconnects") {
				t.Errorf("progress:\n%s", diag.String())
			}

			// --out: results.json that reloads, report.md and the plot.
			rep, err := results.Load(filepath.Join(dir, "out"))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Loads) != 1 || rep.Loads[0].EventsReceived != clients*n {
				t.Errorf("results.json holds %+v", rep.Loads)
			}
			md, err := os.ReadFile(filepath.Join(dir, "out", report.ReportName))
			if err != nil || !bytes.Contains(md, []byte("## Load")) {
				t.Errorf("report.md: %v\n%s", err, md)
			}
			if _, err := os.Stat(filepath.Join(dir, "out", report.PlotsDir, "endpoint-load", "percentiles.png")); err != nil {
				t.Error(err)
			}
			if bytes.Contains(b, []byte(auth)) || strings.Contains(strings.Join(rep.Notes, " "), auth) {
				t.Error("the header's value was written out")
			}
		})
	}
}

// A run that fails before any client runs prints nothing, and a run whose
// clients all give up prints what it measured and says why.
func TestLoadErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	for _, args := range [][]string{
		{},
		{"--transport", "poll", "http://127.0.0.1:1/"},
		{"--timestamp-unit", "ms", "http://127.0.0.1:1/"},
		{"--timestamp", "t", "--timestamp-unit", "minutes", "http://127.0.0.1:1/"},
		{"--header", "no colon", "http://127.0.0.1:1/"},
		{"--header", "Upgrade: h2c", "ws://127.0.0.1:1/"},
		{"--clients", "0", "http://127.0.0.1:1/"},
		{"not a url"},
		{"http://127.0.0.1:1/", "extra"},
	} {
		var out, diag bytes.Buffer
		if err := loadTo(ctx, args, &out, &diag); err == nil || out.Len() != 0 {
			t.Errorf("load %q = %v, printed %q; want an error and nothing printed", args, err, out.String())
		}
	}

	srv, _ := plainStream(t, 1, "Bearer right")
	var out, diag bytes.Buffer
	err := loadTo(ctx, []string{"--clients", "2", "--duration", hangGuard.String(), srv.URL}, &out, &diag)
	if err == nil || !strings.Contains(err.Error(), "every client gave up") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("load = %v, want every client giving up on the 401", err)
	}
	if !strings.Contains(out.String(), "errors: 2 status") || !strings.Contains(out.String(), "2 gave up") {
		t.Errorf("the table does not say what happened:\n%s", out.String())
	}
}
