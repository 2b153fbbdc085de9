package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/servers"
)

// tcpOptions reconnect quickly.
func tcpOptions() Options {
	return Options{BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond, ReadTimeout: 5 * time.Second}
}

// checkExact fails t unless c accounts for every event after the start up
// to head exactly once, with nothing wrong.
func checkExact(t *testing.T, c Counts, head uint64) {
	t.Helper()
	if c.Expected != head || c.Delivered != head || c.Lost != 0 || c.Duplicates != 0 ||
		c.Reordered != 0 || c.Gaps != 0 || c.Malformed != 0 {
		t.Fatalf("counts %+v, want %d delivered exactly once", c, head)
	}
}

// TestTCPGathersLinesAcrossReads reads with a 16-byte buffer, smaller than
// any event: every line is gathered from several reads.
func TestTCPGathersLinesAcrossReads(t *testing.T) {
	f := startTCPFloor(t, nil)
	f.publish(t, 100, 10) // before the client connects
	tr := NewTracker(0, nil, 0)
	observe, observed := collect()
	o := tcpOptions()
	o.ReadBuffer, o.Observe = 16, observe
	r := start(t, newTestClient(t, contract.TCP, f.base, tr, o))
	waitFor(t, "the first events", func() bool { return tr.Cursor() == 100 })
	f.publish(t, 1000, 37)
	waitFor(t, "every event", func() bool { return tr.Cursor() == 1000 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	c := tr.Counts(1000)
	checkExact(t, c, 1000)
	if c.Attempts != 1 || c.Connects != 1 {
		t.Fatalf("attempts %d, connects %d; want one each", c.Attempts, c.Connects)
	}
	checkObserved(t, observed(), 1, 1000)
	if got := f.requests(); len(got) != 1 || got[0] != "after=0\n" {
		t.Fatalf("requests %q, want [after=0]", got)
	}
}

func TestTCPResumesAcrossDrops(t *testing.T) {
	f := startTCPFloor(t, nil)
	tr := NewTracker(0, nil, 0)
	observe, observed := collect()
	o := tcpOptions()
	o.Observe = observe
	r := start(t, newTestClient(t, contract.TCP, f.base, tr, o))
	waitFor(t, "the connection", func() bool { return f.srv.Stats().Active == 1 })

	// Once between bursts, so some events are published while the client
	// is away; then in the middle of the flow, so a connection can end
	// halfway through a line.
	f.publish(t, 100, 10)
	waitFor(t, "the first burst", func() bool { return tr.Cursor() == 100 })
	f.drop()
	f.publish(t, 200, 10)
	waitFor(t, "the second burst", func() bool { return tr.Cursor() == 200 })
	for to := uint64(300); to <= 3000; to += 100 {
		f.publish(t, to, 25)
		if to%500 == 0 {
			streams := f.srv.Stats().Total
			f.drop()
			f.publish(t, to+50, 25) // while the client is away
			waitFor(t, "the client to reconnect", func() bool { return f.srv.Stats().Total > streams })
		}
	}
	head := f.hub.Head()
	waitFor(t, "every event", func() bool { return tr.Cursor() == head })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	c := tr.Counts(head)
	checkExact(t, c, head)
	if c.Connects != 8 || c.Attempts != c.Connects {
		t.Fatalf("attempts %d, connects %d; want 8 each: one, and one per drop", c.Attempts, c.Connects)
	}
	checkObserved(t, observed(), 1, head)

	// Every reconnection asked for the events after the client's cursor.
	reqs := f.requests()
	if len(reqs) != int(c.Connects) || reqs[0] != "after=0\n" || reqs[1] != "after=100\n" {
		t.Fatalf("requests %q over %d connections, want after=0, after=100, …", reqs, c.Connects)
	}
	prev := uint64(100)
	for _, q := range reqs[2:] {
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(q, "after="), "\n"), 10, 64)
		if err != nil || !strings.HasSuffix(q, "\n") || n < prev {
			t.Fatalf("request %q after after=%d", q, prev)
		}
		prev = n
	}
}

func TestTCPGivesUpWhenRefused(t *testing.T) {
	f := startTCPFloor(t, nil)
	f.publish(t, 5, 5)
	tr := NewTracker(9, nil, 0) // ahead of the stream
	r := start(t, newTestClient(t, contract.TCP, f.base, tr, tcpOptions()))
	err := r.wait(t)
	if !errors.Is(err, ErrTCPRefused) || !strings.Contains(err.Error(), "cursor 9, head 5") {
		t.Fatalf("Run = %v, want ErrTCPRefused naming the cursor", err)
	}
	if c := tr.Counts(5); c.Attempts != 1 || c.Delivered != 0 || c.Malformed != 0 {
		t.Fatalf("counts %+v, want one attempt and nothing else", c)
	}
}

func TestTCPMalformedAndOverlongLines(t *testing.T) {
	p := newTCPPeer(t, func(_ int, c net.Conn) {
		script := string(testEvent(1)) + "\n" +
			"garbage\n" +
			`{"gap":{"from":0,"to":1}}` + "\n" + // a gap must start at 1 or later
			"\n" +
			string(testEvent(2)) + "\n" +
			strings.Repeat("x", TCPMaxLine+1) + "\n"
		// The client stops reading at the long line and closes.
		_, _ = io.WriteString(c, script)
	})
	tr := NewTracker(0, nil, 0)
	o := tcpOptions()
	o.ReadBuffer = 64
	r := start(t, newTestClient(t, contract.TCP, p.base, tr, o))
	if err := r.wait(t); !errors.Is(err, ErrTCPLineTooLong) {
		t.Fatalf("Run = %v, want ErrTCPLineTooLong", err)
	}
	if c := tr.Counts(2); c.Delivered != 2 || c.Malformed != 3 || c.Gaps != 0 {
		t.Fatalf("counts %+v, want 2 events and 3 malformed lines", c)
	}
}

func TestTCPErrorLine(t *testing.T) {
	p := newTCPPeer(t, func(_ int, c net.Conn) {
		_, _ = io.WriteString(c, string(testEvent(1))+"\nerror: go away\n")
	})
	tr := NewTracker(0, nil, 0)
	r := start(t, newTestClient(t, contract.TCP, p.base, tr, tcpOptions()))
	if err := r.wait(t); !errors.Is(err, ErrTCPRefused) || !strings.Contains(err.Error(), `"go away"`) {
		t.Fatalf("Run = %v, want ErrTCPRefused with the reason", err)
	}
	if c := tr.Counts(1); c.Delivered != 1 || c.Attempts != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestTCPReadTimeout(t *testing.T) {
	const timeout = 80 * time.Millisecond
	p := newTCPPeer(t, func(n int, c net.Conn) {
		if n == 0 {
			_, _ = io.WriteString(c, string(testEvent(1))+"\n")
		}
		// Then silence, until the client gives up on the connection.
		_, _ = io.Copy(io.Discard, c)
	})
	tr := NewTracker(0, nil, 0)
	o := tcpOptions()
	o.ReadTimeout = timeout
	r := start(t, newTestClient(t, contract.TCP, p.base, tr, o))
	waitFor(t, "two reconnections", func() bool { return len(p.requests()) >= 3 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	arrived := p.arrivals()
	for i := 1; i < len(arrived); i++ {
		if d := arrived[i].Sub(arrived[i-1]); d < timeout {
			t.Fatalf("connection %d came %v after the previous one, before the %v read timeout", i, d, timeout)
		}
	}
	if reqs := p.requests(); reqs[0] != "after=0\n" || reqs[1] != "after=1\n" {
		t.Fatalf("requests %q, want after=0, then after=1", reqs)
	}
}

func TestTCPCancel(t *testing.T) {
	t.Run("streaming", func(t *testing.T) {
		f := startTCPFloor(t, nil)
		tr := NewTracker(0, nil, 0)
		r := start(t, newTestClient(t, contract.TCP, f.base, tr, tcpOptions()))
		waitFor(t, "the connection", func() bool { return f.srv.Stats().Active == 1 })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		waitFor(t, "the server to see the client leave", func() bool {
			f.publish(t, f.hub.Head()+1, 1) // a write is how the server notices
			return f.srv.Stats().Active == 0
		})
	})
	t.Run("backing off", func(t *testing.T) {
		addr := deadAddr(t)
		tr := NewTracker(0, nil, 0)
		o := tcpOptions()
		o.BackoffMin, o.BackoffMax = time.Hour, time.Hour
		r := start(t, newTestClient(t, contract.TCP, addr, tr, o))
		waitFor(t, "the first attempt", func() bool { return tr.attempts.Load() == 1 })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
}

func TestTCPBase(t *testing.T) {
	for base, want := range map[string]string{
		"tcp://127.0.0.1:9000":  "127.0.0.1:9000",
		"tcp://127.0.0.1:9000/": "127.0.0.1:9000",
		"127.0.0.1:9000":        "127.0.0.1:9000",
		"tcp://[::1]:9000":      "[::1]:9000",
		"localhost:9000":        "localhost:9000",
	} {
		if got, err := tcpAddr(base); err != nil || got != want {
			t.Errorf("tcpAddr(%q) = %q, %v; want %q", base, got, err, want)
		}
	}
	for _, base := range []string{"http://127.0.0.1:9000", "tcp://127.0.0.1", "127.0.0.1", "tcp://", "udp://127.0.0.1:9000", "127.0.0.1:", "tcp://127.0.0.1:http", "127.0.0.1:70000", "tcp:/127.0.0.1:9000"} {
		if _, err := newTCPClient(base, NewTracker(0, nil, 0), Options{}); err == nil {
			t.Errorf("newTCPClient(%q) accepted", base)
		}
	}
}

// BenchmarkTCPFloor publishes events to clients over loopback through the
// real server and client, and reports deliveries per second: the figure the
// other transports are set beside.
func BenchmarkTCPFloor(b *testing.B) {
	for _, clients := range []int{1, 16, 128} {
		for _, payload := range []int{64, 1024} {
			b.Run(fmt.Sprintf("clients=%d/payload=%d", clients, payload), func(b *testing.B) {
				benchTCPFloor(b, clients, payload)
			})
		}
	}
}

func benchTCPFloor(b *testing.B, clients, payload int) {
	// Bursts keep the server's batching honest; the window keeps the
	// publisher from running so far ahead that the hub cuts clients off.
	const burst, window = 64, 1024
	f := startTCPFloor(b, nil)
	trackers := make([]*Tracker, clients)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i := range trackers {
		trackers[i] = NewTracker(0, nil, i)
		c := newTestClient(b, contract.TCP, f.base, trackers[i], Options{})
		wg.Go(func() {
			if err := c.Run(ctx); err != nil {
				b.Error(err)
			}
		})
	}
	for f.srv.Stats().Active < int64(clients) {
		time.Sleep(time.Millisecond)
	}
	slowest := func() uint64 {
		low := trackers[0].Cursor()
		for _, t := range trackers[1:] {
			low = min(low, t.Cursor())
		}
		return low
	}
	// Payloads repeat every len(alphabet) events; making them is the
	// generator's cost, not the transport's.
	var payloads [62]string
	for i := range payloads {
		payloads[i] = event.Payload(uint64(i), payload)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	batch := make([]*servers.Entry, 0, burst)
	for seq := uint64(1); seq <= uint64(b.N); seq++ {
		e := event.Event{Seq: seq, At: time.Now().UnixNano(), Type: event.TypeOf(seq), Data: payloads[seq%62]}
		batch = append(batch, servers.NewEntry(e))
		if len(batch) < burst && seq < uint64(b.N) {
			continue
		}
		for seq > window && slowest() < seq-window {
			time.Sleep(50 * time.Microsecond)
		}
		if err := f.hub.Publish(batch...); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for slowest() < uint64(b.N) {
		time.Sleep(50 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)*float64(clients)/elapsed.Seconds(), "deliveries/s")
	if st := f.hub.Stats(); st.SlowDropped != 0 {
		b.Fatalf("%d clients cut off as slow: the benchmark measured reconnects", st.SlowDropped)
	}
}
