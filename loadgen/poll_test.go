package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/results"
)

// attemptsOK reports whether c shows one attempt per answered poll plus
// failed ones, allowing for the one request a cancel may cut short.
func attemptsOK(c Counts, failed uint64) bool {
	return c.Attempts == c.Polls+failed || c.Attempts == c.Polls+failed+1
}

// TestPollDeliversEveryEventOnce polls 40 events in batches of 32 (the first
// answer is big enough for the server to send it chunked) and keeps polling
// once caught up.
func TestPollDeliversEveryEventOnce(t *testing.T) {
	const head = 40
	p := newPollPeer(t, head, 32, nil)
	tr := NewTracker(0, NewLatency(), 0)
	observe, observed := collect()
	r := start(t, newTestClient(t, contract.Poll, p.base, tr, Options{PollInterval: 5 * time.Millisecond, Observe: observe}))
	waitFor(t, "empty polls after the last event", func() bool {
		return tr.Delivered() == head && len(p.requests()) >= 5
	})
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	got := tr.Counts(head)
	if !attemptsOK(got, 0) {
		t.Fatalf("%d attempts for %d polls", got.Attempts, got.Polls)
	}
	want := Counts{Delivery: results.Delivery{Expected: head, Delivered: head}, Attempts: got.Attempts, Connects: 1, Polls: got.Polls, EmptyPolls: got.Polls - 2}
	if got != want {
		t.Fatalf("counts %+v\nwant   %+v", got, want)
	}
	checkObserved(t, observed(), 1, head)
	q := p.requests()
	if q[0] != "after=0" || q[1] != "after=32" || q[2] != "after=40" {
		t.Fatalf("queries %q, want after=0, after=32, after=40, …", q)
	}
}

func TestPollKeepAliveReusesOneConnection(t *testing.T) {
	p := newPollPeer(t, 3, 1, nil)
	tr := NewTracker(0, nil, 0)
	r := start(t, newTestClient(t, contract.Poll, p.base, tr, Options{PollInterval: time.Millisecond}))
	waitFor(t, "20 polls", func() bool { return len(p.requests()) >= 20 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if n := p.accepted.Load(); n != 1 {
		t.Fatalf("server accepted %d connections for %d polls, want 1", n, len(p.requests()))
	}
	if c := tr.Counts(3); c.Connects != 1 || c.Delivered != 3 || !attemptsOK(c, 0) {
		t.Fatalf("counts %+v, want 1 connect, 3 delivered, one attempt per poll", c)
	}
}

// TestPollMoreRepollsAtOnce sets an hour's interval: only "more" can fetch the
// second and third batches within the test.
func TestPollMoreRepollsAtOnce(t *testing.T) {
	p := newPollPeer(t, 10, 4, nil)
	tr := NewTracker(0, nil, 0)
	r := start(t, newTestClient(t, contract.Poll, p.base, tr, Options{PollInterval: time.Hour}))
	waitFor(t, "all events", func() bool { return tr.Delivered() == 10 })
	if err := r.stop(t); err != nil { // also: cancel during the pause
		t.Fatalf("Run = %v", err)
	}
	if q := strings.Join(p.requests(), " "); q != "after=0 after=4 after=8" {
		t.Fatalf("queries %q, want after=0 after=4 after=8 and then a pause", q)
	}
}

// TestPollGapAndStaleEvents sends a gap in an answer with no "events" key
// between two answers with events, in different layouts. A client that kept
// the previous answer's events would count them again.
func TestPollGapAndStaleEvents(t *testing.T) {
	answers := []string{
		`{"events":[` + string(testEvent(1)) + `,` + string(testEvent(2)) + `],"next":2,"more":true}`,
		`{"gap":{"from":3,"to":4},"next":4,"more":true}`,
		"{ \"more\" : false ,\n \"extra\": [1, {\"x\": \"]}\"}],\n \"events\" : [ " + string(testEvent(5)) + " ] , \"next\" : 5 }",
	}
	p := newPollPeer(t, 5, 5, func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n >= len(answers) {
			return false
		}
		_, _ = io.WriteString(w, answers[n])
		return true
	})
	tr := NewTracker(0, nil, 0)
	r := start(t, newTestClient(t, contract.Poll, p.base, tr, Options{PollInterval: time.Millisecond}))
	waitFor(t, "an empty poll", func() bool { return len(p.requests()) > len(answers) })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	got := tr.Counts(5)
	if !attemptsOK(got, 0) {
		t.Fatalf("%d attempts for %d polls", got.Attempts, got.Polls)
	}
	want := Counts{Delivery: results.Delivery{Expected: 5, Delivered: 3, Gaps: 1, GapMissed: 2}, Attempts: got.Attempts, Connects: 1, Polls: got.Polls, EmptyPolls: got.Polls - 2}
	if got != want {
		t.Fatalf("counts %+v\nwant   %+v", got, want)
	}
	if q := p.requests(); q[1] != "after=2" || q[2] != "after=4" || q[3] != "after=5" {
		t.Fatalf("queries %q", q)
	}
}

func TestPollMalformed(t *testing.T) {
	answers := []string{
		`{"events":["garbage"],"next":0,"more":false}`, // not an event
		`not json`, // not an answer
		`{"events":[` + string(testEvent(1)) + `],"next":7,"more":false}`, // wrong next
	}
	p := newPollPeer(t, 1, 1, func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n >= len(answers) {
			return false
		}
		_, _ = io.WriteString(w, answers[n])
		return true
	})
	tr := NewTracker(0, nil, 0)
	r := start(t, newTestClient(t, contract.Poll, p.base, tr, Options{PollInterval: time.Millisecond}))
	waitFor(t, "an empty poll", func() bool { return len(p.requests()) > len(answers) })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if c := tr.Counts(1); c.Malformed != 3 || c.Delivered != 1 || c.Duplicates != 0 {
		t.Fatalf("counts %+v, want 3 malformed, 1 delivered", c)
	}
}

func TestPollGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name, base string
		status     int
		text       []string
	}{
		{"400", "", http.StatusBadRequest, []string{"400 Bad Request", "cursor ahead"}},
		{"404", "/wrong", 0, []string{"404", "not found"}},
		{"429", "", http.StatusTooManyRequests, []string{"429"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPollPeer(t, 1, 1, func(_ int, w http.ResponseWriter, _ *http.Request) bool {
				http.Error(w, "cursor ahead of the stream", tc.status)
				return true
			})
			tr := NewTracker(0, nil, 0)
			err := start(t, newTestClient(t, contract.Poll, p.base+tc.base, tr, Options{PollInterval: time.Millisecond})).wait(t)
			if !errors.Is(err, ErrPollRejected) {
				t.Fatalf("Run = %v, want ErrPollRejected", err)
			}
			for _, s := range tc.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if c := tr.Counts(0); c.Attempts != 1 || c.Polls != 0 {
				t.Errorf("counts %+v, want 1 attempt and no answered poll", c)
			}
		})
	}
}

func TestPollRetriesServerErrors(t *testing.T) {
	p := newPollPeer(t, 3, 3, func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n < 2 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	tr := NewTracker(0, nil, 0)
	r := start(t, newTestClient(t, contract.Poll, p.base, tr, Options{PollInterval: time.Millisecond}))
	waitFor(t, "all events", func() bool { return tr.Delivered() == 3 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if c := tr.Counts(3); !attemptsOK(c, 2) || c.Lost != 0 {
		t.Fatalf("counts %+v, want two failed attempts and nothing lost", c)
	}
}

func TestPollRedials(t *testing.T) {
	t.Run("after Connection: close", func(t *testing.T) {
		p := newPollPeer(t, 8, 4, func(n int, w http.ResponseWriter, _ *http.Request) bool {
			if n == 0 {
				w.Header().Set("Connection", "close")
			}
			return false
		})
		tr := NewTracker(0, nil, 0)
		r := start(t, newTestClient(t, contract.Poll, p.base, tr, Options{PollInterval: time.Hour}))
		waitFor(t, "all events", func() bool { return tr.Delivered() == 8 })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
		// Had the client not hung up, its second request would have failed
		// and been retried: one more attempt than polls.
		if c := tr.Counts(8); c.Connects != 2 || c.Attempts != c.Polls || p.accepted.Load() != 2 {
			t.Fatalf("counts %+v, server saw %d connections; want 2 connects, one attempt per poll", c, p.accepted.Load())
		}
	})

	t.Run("stale keep-alive connection", func(t *testing.T) {
		p := newPollPeer(t, 8, 4, func(n int, w http.ResponseWriter, _ *http.Request) bool {
			if n != 1 {
				return false
			}
			// The server dropped the idle connection: no answer at all.
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return true
			}
			if err := c.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			return true
		})
		tr := NewTracker(0, nil, 0)
		// An hour's interval: only an immediate resend fetches events 5..8.
		r := start(t, newTestClient(t, contract.Poll, p.base, tr, Options{PollInterval: time.Hour}))
		waitFor(t, "all events", func() bool { return tr.Delivered() == 8 })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v", err)
		}
		want := Counts{Delivery: results.Delivery{Expected: 8, Delivered: 8}, Attempts: 3, Connects: 2, Polls: 2, Errors: results.Errors{Closed: 1}}
		if got := tr.Counts(8); got != want {
			t.Fatalf("counts %+v\nwant   %+v", got, want)
		}
	})
}

func TestPollReadTimeout(t *testing.T) {
	const timeout = 150 * time.Millisecond
	p := newPollPeer(t, 2, 2, func(n int, _ http.ResponseWriter, r *http.Request) bool {
		if n > 0 {
			return false
		}
		select { // hang until the client gives up on the request
		case <-r.Context().Done():
		case <-time.After(hangGuard):
			t.Errorf("client did not give up on the request within %v: hung", hangGuard)
		}
		return true
	})
	tr := NewTracker(0, nil, 0)
	r := start(t, newTestClient(t, contract.Poll, p.base, tr, Options{PollInterval: time.Millisecond, ReadTimeout: timeout}))
	waitFor(t, "all events", func() bool { return tr.Delivered() == 2 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
	// Only the read timeout can end the first request before the hang
	// guard: the second comes no sooner than it.
	at := p.arrivals()
	if d := at[1].Sub(at[0]); d < timeout {
		t.Fatalf("second request %v after the first, before the %v read timeout", d, timeout)
	}
	if c := tr.Counts(2); c.Connects != 2 || !attemptsOK(c, 1) {
		t.Fatalf("counts %+v, want a fresh connection after the timeout", c)
	}
}

func TestPollCancelDuringRequest(t *testing.T) {
	arrived := make(chan struct{}, 1)
	p := newPollPeer(t, 1, 1, func(_ int, _ http.ResponseWriter, r *http.Request) bool {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(hangGuard):
			t.Errorf("client did not hang up within %v: hung", hangGuard)
		}
		return true
	})
	// The request timeout is 45 s, far beyond the hang guard: stop returns
	// within the guard only if the cancel itself ends the request.
	r := start(t, newTestClient(t, contract.Poll, p.base, NewTracker(0, nil, 0), Options{}))
	<-arrived
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestPollAnswerParse checks the answer scanner against encoding/json.
func TestPollAnswerParse(t *testing.T) {
	e1, e2 := string(testEvent(1)), string(testEvent(2))
	tricky := `{"seq":3,"at":1,"type":"t","data":"a\"],}{[\\"}`
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"canonical", `{"events":[` + e1 + `,` + e2 + `],"next":2,"more":true}`, true},
		{"empty", `{"events":[],"next":0,"more":false}`, true},
		{"empty object", `{}`, true},
		{"gap only", `{"gap":{"from":3,"to":4},"next":4,"more":false}`, true},
		{"layout", " {\n\t\"next\" : 2 ,\"events\":[ " + e1 + " ,\r\n" + e2 + " ] , \"more\":false , \"x\":null}\n", true},
		{"escapes in strings", `{"events":[` + tricky + `],"next":3,"more":false,"note":"\\\\"}`, true},
		{"nested unknown", `{"x":{"a":[1,2,{"b":"}"}]},"events":[` + e1 + `],"next":1,"more":false}`, true},
		{"trailing garbage", `{"next":1} x`, false},
		{"missing colon", `{"next" 1}`, false},
		{"missing comma", `{"next":1 "more":true}`, false},
		{"unterminated string", `{"events":["abc]}`, false},
		{"unterminated array", `{"events":[` + e1, false},
		{"next overflows", `{"next":18446744073709551616}`, false},
		{"next negative", `{"next":-1}`, false},
		{"more not bool", `{"more":"yes"}`, false},
		{"bad gap", `{"gap":{"from":0,"to":4}}`, false},
		{"not an object", `[1]`, false},
		{"empty body", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a pollAnswer
			err := a.parse([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("parse = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			var want struct {
				Events []json.RawMessage `json:"events"`
				Next   uint64            `json:"next"`
				More   bool              `json:"more"`
				Gap    *event.Gap        `json:"gap"`
			}
			if err := json.Unmarshal([]byte(tc.in), &want); err != nil {
				t.Fatalf("test case is not valid JSON: %v", err)
			}
			if a.next != want.Next || a.more != want.More || a.hasGap != (want.Gap != nil) || (want.Gap != nil && a.gap != *want.Gap) {
				t.Fatalf("got next %d more %v gap %v/%+v, want %+v", a.next, a.more, a.hasGap, a.gap, want)
			}
			if len(a.events) != len(want.Events) {
				t.Fatalf("%d events, want %d", len(a.events), len(want.Events))
			}
			for i := range a.events {
				if !bytes.Equal(a.events[i], want.Events[i]) {
					t.Fatalf("event %d = %q, want %q", i, a.events[i], want.Events[i])
				}
			}
		})
	}
}

// BenchmarkPollClient measures the client alone, per event, against an
// in-memory connection answering 100-event batches. The fake's cost of
// building each answer (a copy of pre-encoded bytes and a number per event)
// is included.
func BenchmarkPollClient(b *testing.B) {
	b.ReportAllocs()
	const batch = 100
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got int
	o := Options{
		PollInterval: time.Hour, // every answer says more
		Dial:         func(context.Context, string, string) (net.Conn, error) { return newPollConn(batch), nil },
		Observe: func([]byte) {
			if got++; got == b.N {
				cancel()
			}
		},
	}
	c, err := New(contract.Poll, "http://bench.invalid", NewTracker(0, NewLatency(), 0), &o)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := c.Run(ctx); err != nil {
		b.Fatal(err)
	}
}

// pollConn is a net.Conn that answers each poll with the next batch events.
type pollConn struct {
	net.Conn // nil: only the methods below are used
	batch    uint64
	tails    [][]byte // each event's encoding after its seq, by seq % len
	body     []byte   // the answer's body, rebuilt per request
	out      []byte   // the whole answer
	pending  []byte   // what Read returns next: the unread rest of out
	closed   chan struct{}
	once     sync.Once
}

func newPollConn(batch uint64) *pollConn {
	c := &pollConn{batch: batch, closed: make(chan struct{})}
	// An event's encoding past "seq":N depends on seq only through its type
	// and payload, which repeat every 2·62 events.
	for seq := uint64(1); seq <= 124; seq++ {
		e := testEvent(seq)
		c.tails = append(c.tails, e[len(`{"seq":`+strconv.FormatUint(seq, 10)):])
	}
	return c
}

func (c *pollConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	i := bytes.Index(p, []byte("after="))
	if i < 0 {
		return 0, errors.New("pollConn: no cursor")
	}
	j := i + len("after=")
	for j < len(p) && p[j] >= '0' && p[j] <= '9' {
		j++
	}
	after, err := strconv.ParseUint(string(p[i+len("after="):j]), 10, 64)
	if err != nil {
		return 0, err
	}
	b := append(c.body[:0], `{"events":[`...)
	for seq := after + 1; seq <= after+c.batch; seq++ {
		if seq > after+1 {
			b = append(b, ',')
		}
		b = append(b, `{"seq":`...)
		b = strconv.AppendUint(b, seq, 10)
		b = append(b, c.tails[(seq-1)%124]...)
	}
	b = append(b, `],"next":`...)
	b = strconv.AppendUint(b, after+c.batch, 10)
	b = append(b, `,"more":true}`...)
	c.body = b
	c.out = append(c.out[:0], "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "...)
	c.out = strconv.AppendInt(c.out, int64(len(b)), 10)
	c.out = append(c.out, "\r\n\r\n"...)
	c.out = append(c.out, b...)
	c.pending = c.out
	return len(p), nil
}

func (c *pollConn) Read(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	if len(c.pending) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *pollConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *pollConn) SetDeadline(time.Time) error      { return nil }
func (c *pollConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pollConn) SetWriteDeadline(time.Time) error { return nil }
func (c *pollConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *pollConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
