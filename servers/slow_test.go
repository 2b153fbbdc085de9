package servers

import (
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// rcvbufDialer dials with a receive buffer of size bytes, set before
// connecting so the window is small from the start.
func rcvbufDialer(size int) *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		}); err != nil {
			return err
		}
		return serr
	}}
}

// dialStalled opens a stream of transport from a raw TCP client that sends
// its request and then does not read, with a small receive window so that
// the server's writes to it block soon. The test may read it later.
func dialStalled(t testing.TB, s *testServer, transport contract.Transport) net.Conn {
	t.Helper()
	c, err := rcvbufDialer(4096).Dial("tcp", s.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	req := "GET /sse HTTP/1.1\r\nHost: pushbench\r\n\r\n"
	if transport == contract.WS {
		req = "GET /ws HTTP/1.1\r\nHost: pushbench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	}
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// stallBesideReader opens a stalled stream of transport (dialStalled), then
// one that reads (openReader), and waits for both to subscribe.
func stallBesideReader(t testing.TB, s *testServer, transport contract.Transport) (stalled net.Conn, next func() uint64) {
	t.Helper()
	stalled = dialStalled(t, s, transport)
	waitFor(t, "the stalled client's subscription", func() bool { return s.hub.Stats().Subscribers == 1 })
	next = openReader(t, s, transport)
	waitFor(t, "the reading client's subscription", func() bool { return s.hub.Stats().Subscribers == 2 })
	return stalled, next
}

// openReader opens a stream of transport from a client that reads, and
// returns a function that reads the next event's seq.
func openReader(t testing.TB, s *testServer, transport contract.Transport) func() uint64 {
	t.Helper()
	if transport == contract.SSE {
		st := s.openSSE(t, "/sse", nil)
		return func() uint64 {
			seq, err := strconv.ParseUint(st.nextID(t), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return seq
		}
	}
	c := s.dialWS(t, "/ws")
	return func() uint64 {
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		h, err := event.DecodeHeader(msg)
		if err != nil {
			t.Fatal(err)
		}
		return h.Seq
	}
}

func (s *testServer) streamStats(transport contract.Transport) contract.StreamStats {
	if transport == contract.SSE {
		return s.srv.Stats().Transports.SSE
	}
	return s.srv.Stats().Transports.WS
}

// The stalled client's write never times out within the test (its deadline
// is three hang guards away), so the reading client can only get its events
// if no publish waits on the stalled one: the test counts events delivered
// while the stalled stream is still stuck, and asserts no time.
func TestSlowConsumerIsCutOffWhileOthersKeepUp(t *testing.T) {
	const payload = 16 << 10
	for _, tr := range []contract.Transport{contract.SSE, contract.WS} {
		t.Run(string(tr), func(t *testing.T) {
			s := newTestServer(t, testConfig{
				hub:    &HubOptions{History: 32, MaxLag: 8},
				opts:   &Options{WriteTimeout: 3 * testTimeout},
				sndbuf: 8 << 10,
			})
			stalled, next := stallBesideReader(t, s, tr)

			// Publish in step with the reading client. Once the stalled one
			// fills its socket, it lags, and the hub must cut it off without
			// the reader ever waiting for it.
			publish := func(seq uint64) {
				if err := s.hub.Publish(NewEntry(event.New(seq, 0, payload))); err != nil {
					t.Fatal(err)
				}
				if got := next(); got != seq {
					t.Fatalf("reading client got event %d, want %d", got, seq)
				}
			}
			seq := uint64(1)
			for ; s.hub.Stats().SlowDropped == 0; seq++ {
				if seq > 5000 {
					t.Fatal("the stalled client was never cut off")
				}
				publish(seq)
			}
			for end := seq + 20; seq < end; seq++ {
				publish(seq)
			}
			// Every event reached the reader while the stalled stream was
			// still stuck in its write: it has neither ended nor been counted.
			if st := s.streamStats(tr); st != (contract.StreamStats{Active: 2, Total: 2}) {
				t.Fatalf("%s stats %+v while the stalled client has read nothing, want both streams open", tr, st)
			}
			// The stalled client reads at last: its stream's write completes,
			// its next take finds it cut off, and the server closes it.
			if err := stalled.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, stalled); err != nil {
				t.Fatalf("stalled connection: %v, want the server to close it", err)
			}
			waitFor(t, "the stalled stream to end and be counted", func() bool {
				st := s.streamStats(tr)
				return st.SlowDisconnects == 1 && st.Active == 1
			})
			publish(seq)
			if st := s.hub.Stats(); st.SlowDropped != 1 || st.Subscribers != 1 {
				t.Fatalf("hub stats %+v", st)
			}
			if st := s.streamStats(tr); st != (contract.StreamStats{Active: 1, Total: 2, SlowDisconnects: 1}) {
				t.Fatalf("%s stats %+v", tr, st)
			}
		})
	}
}

// A burst larger than MaxLag does not cut off subscribers that had taken
// everything before it: lag is measured against the head before the publish,
// so only a subscriber already MaxLag behind is slow.
func TestBurstBeyondMaxLagKeepsCaughtUpSubscribers(t *testing.T) {
	s := newTestServer(t, testConfig{hub: &HubOptions{History: 64, MaxLag: 4}})
	st := s.openSSE(t, "/sse", nil)
	st.expect(t, "retry: 1000\n\n")
	c := s.dialWS(t, "/ws")
	waitFor(t, "two subscribers", func() bool { return s.hub.Stats().Subscribers == 2 })
	burst := make([]*Entry, 5)
	for i := range burst {
		burst[i] = NewEntry(event.New(uint64(i+1), 0, 8))
	}
	if err := s.hub.Publish(burst...); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		if id := st.nextID(t); id != strconv.FormatUint(seq, 10) {
			t.Fatalf("SSE id %s, want %d", id, seq)
		}
		if _, msg, err := c.ReadMessage(); err != nil || string(msg) != string(s.json(t, seq)) {
			t.Fatalf("WebSocket message %q, %v; want event %d", msg, err, seq)
		}
	}
	if st := s.hub.Stats(); st.SlowDropped != 0 || st.Subscribers != 2 {
		t.Fatalf("hub stats %+v: a caught-up subscriber was cut off", st)
	}
}
