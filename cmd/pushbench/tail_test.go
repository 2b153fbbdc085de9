package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/event"
)

// runTail runs tail with args and returns what it printed. It must stop by
// itself (--count) well before the timeout.
func runTail(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := tail(ctx, args, &out); err != nil {
		t.Fatalf("tail %q: %v\noutput so far:\n%s", args, err, out.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("tail %q ran until the timeout instead of stopping at --count\noutput:\n%s", args, out.String())
	}
	return out.String()
}

// streamSend writes parts to an event stream and flushes, reporting whether
// the client is still there.
func streamSend(w http.ResponseWriter, parts ...string) bool {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, p := range parts {
		if _, err := io.WriteString(w, p); err != nil {
			return false
		}
	}
	return http.NewResponseController(w).Flush() == nil
}

func TestTailSSE(t *testing.T) {
	type request struct{ path, query, lastID string }
	var (
		mu    sync.Mutex
		reqs  []request
		conns atomic.Int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, request{r.URL.Path, r.URL.RawQuery, r.Header.Get("Last-Event-ID")})
		mu.Unlock()
		if conns.Add(1) == 1 {
			// Not our server's stream: a BOM, CRLF, comments, a custom
			// event type, multi-line data with a kept space, retry on an
			// event that dispatches nothing, then an event cut off by the
			// end of the connection, whose id must not be resumed from.
			streamSend(w,
				"\uFEFF: welcome\r\nretry: 10\r\n\r\n",
				"id: 1\r\nevent: greet\r\ndata: hello\r\ndata:  world\r\n\r\n",
				": hb\r\ndata: {\"x\":\"<&>\"}\r\n\r\n",
				"id: 2\ndata\n\n",
				"id: 3\rdata: cut off",
			)
			return
		}
		if streamSend(w, "data: after\rdata: reconnect\r\r") {
			<-r.Context().Done()
		}
	}))
	defer srv.Close()

	got := runTail(t, "--count", "4", srv.URL+"/stream?token=a%20b")
	want := `{"type":"greet","id":"1","data":"hello\n world","retry":10}
{"type":"message","id":"1","data":"{\"x\":\"<&>\"}"}
{"type":"message","id":"2","data":""}
{"type":"message","id":"2","data":"after\nreconnect"}
`
	if got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	wantReqs := []request{{"/stream", "token=a%20b", ""}, {"/stream", "token=a%20b", "2"}}
	if fmt.Sprint(reqs) != fmt.Sprint(wantReqs) {
		t.Fatalf("requests %+v, want %+v", reqs, wantReqs)
	}
}

func TestTailSSEResumeFlags(t *testing.T) {
	var query, lastID atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query.Store(r.URL.RawQuery)
		lastID.Store(r.Header.Get("Last-Event-ID"))
		if streamSend(w, "id: 8\ndata: x\n\n") {
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	got := runTail(t, "--after", "7", "--last-event-id", "7", "--count", "1", srv.URL+"/sse?token=1")
	if want := `{"type":"message","id":"8","data":"x"}` + "\n"; got != want {
		t.Fatalf("printed %q, want %q", got, want)
	}
	if q, id := query.Load(), lastID.Load(); q != "token=1&after=7" || id != "7" {
		t.Fatalf("request query %q, Last-Event-ID %q; want token=1&after=7 and 7", q, id)
	}
}

func TestTailSSEFailsConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := tail(ctx, []string{srv.URL}, &out); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("tail = %v, want an error naming the 403", err)
	}
}

func TestTailPoll(t *testing.T) {
	ev := func(seq uint64) string {
		return string(event.Event{Seq: seq, At: 1000 + int64(seq), Type: "tick", Data: "<p>"}.AppendJSON(nil))
	}
	var (
		mu      sync.Mutex
		queries []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		n := len(queries)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		var err error
		switch n {
		case 1: // resuming from 0 after history moved on: a gap, then more
			_, err = fmt.Fprintf(w, `{"events":[%s],"next":4,"more":true,"gap":{"from":1,"to":3}}`, ev(4))
		case 2:
			_, err = fmt.Fprintf(w, `{"events":[%s,%s],"next":6,"more":false}`, ev(5), ev(6))
		case 3:
			w.WriteHeader(http.StatusNoContent)
		default:
			_, err = fmt.Fprintf(w, `{"events":[%s],"next":7,"more":false}`, ev(7))
		}
		if err != nil {
			t.Errorf("write answer %d: %v", n, err)
		}
	}))
	defer srv.Close()
	got := runTail(t, "--transport", "poll", "--poll-interval", "1ms", "--count", "5", srv.URL+"/poll")
	want := `{"type":"gap","id":"3","data":"{\"gap\":{\"from\":1,\"to\":3}}"}
{"type":"tick","id":"4","data":"{\"seq\":4,\"at\":1004,\"type\":\"tick\",\"data\":\"\\u003cp\\u003e\"}"}
{"type":"tick","id":"5","data":"{\"seq\":5,\"at\":1005,\"type\":\"tick\",\"data\":\"\\u003cp\\u003e\"}"}
{"type":"tick","id":"6","data":"{\"seq\":6,\"at\":1006,\"type\":\"tick\",\"data\":\"\\u003cp\\u003e\"}"}
{"type":"tick","id":"7","data":"{\"seq\":7,\"at\":1007,\"type\":\"tick\",\"data\":\"\\u003cp\\u003e\"}"}
`
	if got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "after=0 after=4 after=6 after=6"; strings.Join(queries, " ") != want {
		t.Fatalf("queries %q, want %q", queries, want)
	}
}

func TestTailWS(t *testing.T) {
	var query atomic.Value
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query.Store(r.URL.RawQuery)
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer c.Close()
		for _, m := range []string{`{"seq":3}`, `{"gap":{"from":4,"to":5}}`} {
			if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye")
		if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
			t.Errorf("close: %v", err)
		}
	}))
	defer srv.Close()
	// No --count: the server going away ends the tail without an error.
	got := runTail(t, "--transport", "ws", "--after", "2", srv.URL+"/ws")
	want := `{"type":"message","data":"{\"seq\":3}"}
{"type":"message","data":"{\"gap\":{\"from\":4,\"to\":5}}"}
`
	if got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}
	if q := query.Load(); q != "after=2" {
		t.Fatalf("query %q, want after=2", q)
	}
}

func TestTailFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"a", "b"},
		{"--transport", "carrier-pigeon", "http://x"},
		{"--transport", "ws", "--last-event-id", "1", "http://x"},
		{"--poll-interval", "0s", "http://x"},
	} {
		var out bytes.Buffer
		if err := tail(context.Background(), args, &out); err == nil {
			t.Errorf("tail %q succeeded, want an error", args)
		}
	}
}
