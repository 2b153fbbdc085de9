package servers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// tcpFloor is a TCPServer serving a fresh hub on a loopback listener.
type tcpFloor struct {
	hub  *Hub
	srv  *TCPServer
	l    net.Listener
	addr string
	stop context.CancelFunc
	done chan error // Serve's result
}

type tcpConfig struct {
	hub  *HubOptions
	opts *Options
	// sndbuf, when positive, is the send buffer of the server's sockets:
	// small buffers make a client that does not read stall the server soon.
	sndbuf int
}

func startTCP(t testing.TB, c tcpConfig) *tcpFloor {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &tcpFloor{hub: NewHub(c.hub), l: l, addr: l.Addr().String(), done: make(chan error, 1)}
	f.srv = NewTCP(f.hub, c.opts)
	if c.sndbuf > 0 {
		l = tcpSndbufListener{l, c.sndbuf}
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	go func() { f.done <- f.srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := f.wait(t); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return f
}

// wait returns Serve's result, failing t if it has not returned when the
// hang guard (testTimeout) passes. It may be called more than once.
func (f *tcpFloor) wait(t testing.TB) error {
	t.Helper()
	select {
	case err := <-f.done:
		f.done <- err // for the next caller
		return err
	case <-time.After(testTimeout):
		t.Fatalf("hang guard: Serve has not returned after %v", testTimeout)
		return nil
	}
}

type tcpSndbufListener struct {
	net.Listener
	size int
}

func (l tcpSndbufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := c.(*net.TCPConn).SetWriteBuffer(l.size); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// dial connects, sends request and returns the connection, which the test
// closes at its end. rcvbuf, when positive, is the client's receive buffer,
// set before connecting so the window is small from the start.
func (f *tcpFloor) dial(t testing.TB, request string, rcvbuf int) net.Conn {
	t.Helper()
	var d net.Dialer
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close() // the test may have closed it, or the server reset it
	})
	if err := c.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectBytes reads exactly len(want) bytes and requires them to be want.
func expectBytes(t testing.TB, r io.Reader, want string) {
	t.Helper()
	got := make([]byte, len(want))
	n, err := io.ReadFull(r, got)
	if string(got[:n]) != want {
		t.Fatalf("stream bytes:\n got %q (%v)\nwant %q", got[:n], err, want)
	}
}

// expectEnd requires everything left on c to be want, followed by the
// server closing the connection.
func expectEnd(t testing.TB, c net.Conn, want string) {
	t.Helper()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading to the end: %v (after %q)", err, got)
	}
	if string(got) != want {
		t.Fatalf("bytes to the end:\n got %q\nwant %q", got, want)
	}
}

// tcpFrame is the floor's frame of the event publishN makes for seq.
func tcpFrame(seq uint64) string {
	if s, ok := wantJSON[seq]; ok {
		return s + "\n"
	}
	return string(event.New(seq, int64(seq)*1000, 8).AppendJSON(nil)) + "\n"
}

func tcpFrames(from, to uint64) string {
	var b strings.Builder
	for seq := from; seq <= to; seq++ {
		b.WriteString(tcpFrame(seq))
	}
	return b.String()
}

func TestTCPStreamsExactFrames(t *testing.T) {
	f := startTCP(t, tcpConfig{})
	publishN(t, f.hub, 3)

	all := f.dial(t, "after=0\n", 0)
	expectBytes(t, all, wantJSON[1]+"\n"+wantJSON[2]+"\n"+wantJSON[3]+"\n")
	resumed := f.dial(t, "after=2\n", 0)
	expectBytes(t, resumed, wantJSON[3]+"\n")
	// Twenty digits are allowed, leading zeros included.
	padded := f.dial(t, "after=00000000000000000003\n", 0)
	// A request may arrive in pieces.
	split := f.dial(t, "aft", 0)
	time.Sleep(20 * time.Millisecond)
	if _, err := io.WriteString(split, "er=3\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "four streams", func() bool { return f.srv.Stats().Active == 4 })

	publishN(t, f.hub, 2)
	for _, c := range []net.Conn{all, resumed, padded, split} {
		expectBytes(t, c, wantJSON[4]+"\n"+tcpFrame(5))
	}
	if st := f.srv.Stats(); st != (contract.StreamStats{Active: 4, Total: 4}) {
		t.Fatalf("stats %+v", st)
	}
}

// TestTCPCountedInServerStats checks that a floor attached with SetTCP shows
// in /stats next to the HTTP transports, so a fault run can count the
// floor's accepts as it does theirs.
func TestTCPCountedInServerStats(t *testing.T) {
	f := startTCP(t, tcpConfig{})
	srv := mustNew(t, f.hub, nil)
	defer srv.Close()
	if st := srv.Stats().Transports.TCP; st != (contract.StreamStats{}) {
		t.Fatalf("before SetTCP: %+v, want zeros", st)
	}
	srv.SetTCP(f.srv)
	f.dial(t, "after=0\n", 0)
	f.dial(t, "after=0\n", 0)
	waitFor(t, "two streams", func() bool { return srv.Stats().Transports.TCP.Active == 2 })
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stats", nil))
	var st contract.Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("/stats: %v: %s", err, rec.Body)
	}
	if st.Transports.TCP != (contract.StreamStats{Active: 2, Total: 2}) {
		t.Fatalf("/stats transports.tcp = %+v, want 2 active of 2", st.Transports.TCP)
	}
}

func TestTCPGapComesFirst(t *testing.T) {
	f := startTCP(t, tcpConfig{hub: &HubOptions{History: 4}})
	publishN(t, f.hub, 10) // history holds 7…10
	for _, tc := range []struct{ request, want string }{
		{"after=0\n", `{"gap":{"from":1,"to":6}}` + "\n" + tcpFrames(7, 10)},
		{"after=5\n", `{"gap":{"from":6,"to":6}}` + "\n" + tcpFrames(7, 10)},
		{"after=6\n", tcpFrames(7, 10)},
		{"after=10\n", ""},
	} {
		c := f.dial(t, tc.request, 0)
		expectBytes(t, c, tc.want)
	}
}

func TestTCPRefusesBadRequests(t *testing.T) {
	f := startTCP(t, tcpConfig{})
	publishN(t, f.hub, 5)
	for _, tc := range []struct{ request, want string }{
		{"after=abc\n", `error: bad cursor "abc": want a non-negative integer`},
		{"after=-1\n", `error: bad cursor "-1": want a non-negative integer`},
		{"after=\n", `error: bad cursor "": want a non-negative integer`},
		{"after=1\r\n", `error: bad cursor "1\r": want a non-negative integer`},
		{"after=18446744073709551616\n", `error: bad cursor "18446744073709551616": want at most 18446744073709551615`},
		{"after=6\n", `error: hub: cursor is ahead of the stream: cursor 6, head 5`},
		{"after=18446744073709551615\n", `error: hub: cursor is ahead of the stream: cursor 18446744073709551615, head 5`},
		{"\n", `error: bad request "": want after=SEQ`},
		{"AFTER=1\n", `error: bad request "AFTER=1": want after=SEQ`},
		{"GET /?after=1 HTTP/1.1\r\n\r\n", `error: bad request "GET /?after=1 HTTP/1.1\r": want after=SEQ`},
		// 21 digits: the line cannot end within the bound.
		{"after=000000000000000000001\n", `error: bad request: line longer than 26 bytes: want after=SEQ`},
		{strings.Repeat("a", 8<<10), `error: bad request: line longer than 26 bytes: want after=SEQ`},
	} {
		c := f.dial(t, tc.request, 0)
		expectEnd(t, c, tc.want+"\n")
	}
	if st := f.srv.Stats(); st != (contract.StreamStats{}) {
		t.Fatalf("refused requests counted as streams: %+v", st)
	}
	if n := f.hub.Stats().Subscribers; n != 0 {
		t.Fatalf("%d subscribers left behind", n)
	}
	// Still serving.
	c := f.dial(t, "after=4\n", 0)
	expectBytes(t, c, tcpFrame(5))
}

func TestTCPRequestTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	f := startTCP(t, tcpConfig{opts: &Options{WriteTimeout: timeout}})
	start := time.Now()
	c := f.dial(t, "after=", 0)
	expectEnd(t, c, "error: bad request: no request line within 100ms\n")
	if d := time.Since(start); d < timeout {
		t.Fatalf("refused after %v, before the %v timeout", d, timeout)
	}
}

// As TestSlowConsumerIsCutOffWhileOthersKeepUp: the stalled client's write
// never times out within the test, so the reader's events prove that no
// publish waited on it.
func TestTCPSlowConsumerIsCutOffWhileOthersKeepUp(t *testing.T) {
	const payload = 16 << 10
	f := startTCP(t, tcpConfig{
		hub:    &HubOptions{History: 32, MaxLag: 8},
		opts:   &Options{WriteTimeout: 3 * testTimeout},
		sndbuf: 8 << 10,
	})
	stalled := f.dial(t, "after=0\n", 4096) // and never reads
	waitFor(t, "the stalled client's subscription", func() bool { return f.hub.Stats().Subscribers == 1 })
	reader := bufio.NewReaderSize(f.dial(t, "after=0\n", 0), 2*payload)
	waitFor(t, "the reading client's subscription", func() bool { return f.hub.Stats().Subscribers == 2 })

	// Publish in step with the reading client. Once the stalled one fills
	// its socket, it lags, and the hub must cut it off without the reader
	// ever waiting for it.
	publish := func(seq uint64) {
		t.Helper()
		if err := f.hub.Publish(NewEntry(event.New(seq, 0, payload))); err != nil {
			t.Fatal(err)
		}
		line, err := reader.ReadSlice('\n')
		if err != nil {
			t.Fatalf("reading client: %v", err)
		}
		h, err := event.DecodeHeader(line[:len(line)-1])
		if err != nil {
			t.Fatalf("reading client: %v in %.80q", err, line)
		}
		if h.Seq != seq {
			t.Fatalf("reading client got event %d, want %d", h.Seq, seq)
		}
	}
	seq := uint64(1)
	for ; f.hub.Stats().SlowDropped == 0; seq++ {
		if seq > 5000 {
			t.Fatal("the stalled client was never cut off")
		}
		publish(seq)
	}
	for end := seq + 20; seq < end; seq++ {
		publish(seq)
	}
	// Every event reached the reader while the stalled stream was still
	// stuck in its write: it has neither ended nor been counted.
	if st := f.srv.Stats(); st != (contract.StreamStats{Active: 2, Total: 2}) {
		t.Fatalf("stats %+v while the stalled client has read nothing, want both streams open", st)
	}
	// The stalled client reads at last: its stream's write completes, its
	// next take finds it cut off, and the server closes it, after what it
	// had sent.
	if _, err := io.Copy(io.Discard, stalled); err != nil {
		t.Fatalf("stalled connection: %v, want the server to have closed it", err)
	}
	waitFor(t, "the stalled stream to end and be counted", func() bool {
		st := f.srv.Stats()
		return st.SlowDisconnects == 1 && st.Active == 1
	})
	publish(seq)
	if st := f.hub.Stats(); st.SlowDropped != 1 || st.Subscribers != 1 {
		t.Fatalf("hub stats %+v", st)
	}
	if st := f.srv.Stats(); st != (contract.StreamStats{Active: 1, Total: 2, SlowDisconnects: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestTCPHubCloseEndsStreams(t *testing.T) {
	f := startTCP(t, tcpConfig{})
	publishN(t, f.hub, 2)
	a := f.dial(t, "after=0\n", 0)
	b := f.dial(t, "after=1\n", 0)
	waitFor(t, "two streams", func() bool { return f.srv.Stats().Active == 2 })
	f.hub.Close()
	expectEnd(t, a, wantJSON[1]+"\n"+wantJSON[2]+"\n")
	expectEnd(t, b, wantJSON[2]+"\n")
	waitFor(t, "the streams to end", func() bool { return f.srv.Stats().Active == 0 })
	if st := f.srv.Stats(); st != (contract.StreamStats{Total: 2}) {
		t.Fatalf("stats %+v", st)
	}
	// A closed hub turns connections away without a line, so clients retry
	// as they would a restart.
	expectEnd(t, f.dial(t, "after=0\n", 0), "")
}

// The stalled connection's write would fail only after its WriteTimeout,
// three hang guards away: Serve returns within the hang guard only if it
// ends that connection instead of waiting for the write.
func TestTCPServeReturnsWhenCtxEnds(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	f := startTCP(t, tcpConfig{
		hub:    &HubOptions{History: 1024, MaxLag: 1024},
		opts:   &Options{WriteTimeout: 3 * testTimeout},
		sndbuf: 8 << 10,
	})
	idle := f.dial(t, "after=0\n", 0)
	silent := f.dial(t, "", 0) // no request line yet
	stalled := f.dial(t, "after=0\n", 4096)
	waitFor(t, "two streams", func() bool { return f.srv.Stats().Active == 2 })
	// Fill the stalled socket so that its goroutine blocks in a write.
	for seq := uint64(1); seq <= 200; seq++ {
		if err := f.hub.Publish(NewEntry(event.New(seq, 0, 16<<10))); err != nil {
			t.Fatal(err)
		}
	}
	f.stop()
	if err := f.wait(t); err != nil {
		t.Fatalf("Serve = %v, want nil after ctx ended", err)
	}
	for name, c := range map[string]net.Conn{"idle": idle, "silent": silent, "stalled": stalled} {
		// The stalled client's unread data may turn the close into a reset.
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s connection: %v, want it closed by the server", name, err)
		}
	}
	if st := f.srv.Stats(); st.Active != 0 || st.Total != 2 {
		t.Fatalf("stats %+v", st)
	}
	if n := f.hub.Stats().Subscribers; n != 0 {
		t.Fatalf("%d subscribers left behind", n)
	}
	if _, err := net.Dial("tcp", f.addr); err == nil {
		t.Fatal("listener still accepting after Serve returned")
	}
	goleak.VerifyNone(t, opt)
}

func TestTCPServeReturnsWhenListenerCloses(t *testing.T) {
	f := startTCP(t, tcpConfig{})
	c := f.dial(t, "after=0\n", 0)
	waitFor(t, "the stream", func() bool { return f.srv.Stats().Active == 1 })
	if err := f.l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.wait(t); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve = %v, want net.ErrClosed", err)
	}
	<-f.done
	f.done <- nil       // it was expected; the cleanup need not report it
	expectEnd(t, c, "") // Serve ended its stream before returning
	if st := f.srv.Stats(); st.Active != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestParseTCPRequest(t *testing.T) {
	for line, want := range map[string]uint64{
		"after=0":                    0,
		"after=42":                   42,
		"after=18446744073709551615": 1<<64 - 1,
	} {
		got, err := parseTCPRequest([]byte(line))
		if err != nil || got != want {
			t.Errorf("parseTCPRequest(%q) = %d, %v; want %d", line, got, err, want)
		}
	}
	for _, line := range []string{"after=+1", "after= 1", " after=1", "after=1 ", "after=0x1", "after=1e3", "after", "seq=1"} {
		if _, err := parseTCPRequest([]byte(line)); err == nil {
			t.Errorf("parseTCPRequest(%q) accepted", line)
		}
	}
	if tcpMaxRequest != 27 {
		t.Fatalf("tcpMaxRequest = %d, want 27 (after=, 20 digits, newline)", tcpMaxRequest)
	}
}
