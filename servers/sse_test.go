package servers

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
)

// frame is the SSE frame of event seq as publishN makes it.
func frame(seq uint64) string {
	typ := map[uint64]string{1: "quote", 2: "tick", 3: "quote", 4: "tick"}[seq]
	return "id: " + strconv.FormatUint(seq, 10) + "\nevent: " + typ + "\ndata: " + wantJSON[seq] + "\n\n"
}

func TestSSEWire(t *testing.T) {
	s := newTestServer(t, testConfig{opts: &Options{Retry: 1500 * time.Millisecond}})
	publishN(t, s.hub, 3)
	st := s.openSSE(t, "/sse?after=1", nil)
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"Connection":        "keep-alive",
		"X-Accel-Buffering": "no",
	} {
		if got := st.resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	st.expect(t, "retry: 1500\n\n"+
		"id: 2\nevent: tick\ndata: "+wantJSON[2]+"\n\n"+
		"id: 3\nevent: quote\ndata: "+wantJSON[3]+"\n\n")
	publishN(t, s.hub, 1)
	st.expect(t, "id: 4\nevent: tick\ndata: "+wantJSON[4]+"\n\n")
	if got := s.srv.Stats().Transports.SSE; got != (contract.StreamStats{Active: 1, Total: 1}) {
		t.Fatalf("stats %+v", got)
	}
}

// TestSSERetryJitter checks that with RetryJitter each stream is asked for a
// delay of its own within [0, 2·Retry], and that the delays are spread, not
// one value: that spread is what breaks up a reconnect storm of browsers.
func TestSSERetryJitter(t *testing.T) {
	s := newTestServer(t, testConfig{opts: &Options{Retry: time.Second, RetryJitter: true}})
	const streams = 40
	seen := map[int64]bool{}
	var sum int64
	for range streams {
		st := s.openSSE(t, "/sse", nil)
		line, err := st.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		ms, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(line, "retry: "), "\n"), 10, 64)
		if err != nil || !strings.HasPrefix(line, "retry: ") {
			t.Fatalf("first line %q, want retry: MS", line)
		}
		if ms < 0 || ms > 2000 {
			t.Fatalf("retry: %d outside [0, 2000]", ms)
		}
		if blank, err := st.r.ReadString('\n'); err != nil || blank != "\n" {
			t.Fatalf("after retry: %q, %v; want a blank line", blank, err)
		}
		seen[ms] = true
		sum += ms
		st.close()
	}
	// 40 uniform draws from 2001 values: fewer than 20 distinct ones, or a
	// mean outside 500…1500 ms, is far beyond chance.
	if len(seen) < streams/2 {
		t.Fatalf("only %d distinct retry values in %d streams", len(seen), streams)
	}
	if mean := sum / streams; mean < 500 || mean > 1500 {
		t.Fatalf("mean retry %d ms, want about 1000", mean)
	}
}

func TestSSEResumesFromLastEventID(t *testing.T) {
	s := newTestServer(t, testConfig{})
	publishN(t, s.hub, 4)
	// The header wins over the URL an EventSource reuses on reconnect.
	st := s.openSSE(t, "/sse?after=1", http.Header{"Last-Event-Id": {"3"}})
	st.expect(t, "retry: 1000\n\n"+frame(4))
	// An empty header is no header.
	st = s.openSSE(t, "/sse?after=2", http.Header{"Last-Event-Id": {""}})
	st.expect(t, "retry: 1000\n\n"+frame(3)+frame(4))
	// No cursor at all is the beginning.
	st = s.openSSE(t, "/sse", nil)
	st.expect(t, "retry: 1000\n\n"+frame(1)+frame(2))
}

func TestSSEGapComesFirst(t *testing.T) {
	s := newTestServer(t, testConfig{hub: &HubOptions{History: 4}})
	publishN(t, s.hub, 10) // history holds 7..10
	st := s.openSSE(t, "/sse?after=2", nil)
	st.expect(t, "retry: 1000\n\n"+
		"id: 6\nevent: gap\ndata: {\"gap\":{\"from\":3,\"to\":6}}\n\n"+
		"id: 7\nevent: quote\ndata: {\"seq\":7,")
	for _, want := range []string{"8", "9", "10"} {
		if id := st.nextID(t); id != want {
			t.Fatalf("id %s, want %s", id, want)
		}
	}
}

func TestSSEHeartbeatsOnlyWhenSilent(t *testing.T) {
	s := newTestServer(t, testConfig{opts: &Options{Heartbeat: 30 * time.Millisecond}})
	st := s.openSSE(t, "/sse", nil)
	st.expect(t, "retry: 1000\n\n: hb\n\n: hb\n\n")
	publishN(t, s.hub, 1)
	// The event may follow a heartbeat already due, never split one.
	for {
		b, err := st.r.Peek(2)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != ": " {
			break
		}
		st.expect(t, ": hb\n\n")
	}
	st.expect(t, frame(1)+": hb\n\n")
}
