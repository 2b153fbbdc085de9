package servers

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pushbench/pushbench/contract"
)

func TestWSWire(t *testing.T) {
	s := newTestServer(t, testConfig{})
	publishN(t, s.hub, 3)
	c := s.dialWS(t, "/ws?after=1")
	expectText(t, c, wantJSON[2])
	expectText(t, c, wantJSON[3])
	publishN(t, s.hub, 1)
	expectText(t, c, wantJSON[4])
	if got := s.srv.Stats().Transports.WS; got != (contract.StreamStats{Active: 1, Total: 1}) {
		t.Fatalf("stats %+v", got)
	}
}

func TestWSCompressionIsOff(t *testing.T) {
	s := newTestServer(t, testConfig{})
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: testTimeout}
	c, resp, err := d.Dial(s.wsURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("server negotiated %q", ext)
	}
}

func TestWSGapComesFirst(t *testing.T) {
	s := newTestServer(t, testConfig{hub: &HubOptions{History: 4}})
	publishN(t, s.hub, 10) // history holds 7..10
	c := s.dialWS(t, "/ws?after=2")
	expectText(t, c, `{"gap":{"from":3,"to":6}}`)
	for seq := uint64(7); seq <= 10; seq++ {
		expectText(t, c, string(s.json(t, seq)))
	}
}

func TestWSOversizedMessageCloses1009(t *testing.T) {
	s := newTestServer(t, testConfig{opts: &Options{ReadLimit: 100}})
	c := s.dialWS(t, "/ws")
	// Up to the limit, whatever a client sends is ignored.
	if err := c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("a", 100))); err != nil {
		t.Fatal(err)
	}
	publishN(t, s.hub, 1)
	expectText(t, c, wantJSON[1])
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 5000)); err != nil {
		t.Fatal(err)
	}
	expectClose(t, c, websocket.CloseMessageTooBig)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream to end", func() bool {
		st := s.srv.Stats()
		return st.Transports.WS.Active == 0 && st.Hub.Subscribers == 0
	})
	s.assertServing(t, contract.WS)
}

// A stream with events always waiting never idles, and must still ping: the
// reader's deadline would otherwise cut off a client that is keeping up.
// Small socket buffers and a large backlog keep the writer blocked in its
// writes, never idle; the client pauses for two ping intervals now and then,
// so a ping comes due while the writer is blocked, and it must go out as soon
// as the write completes, among the events. So every pause means a ping,
// whatever the machine's speed.
func TestWSPingsWhileBusy(t *testing.T) {
	const n, every, pauses = 10000, 1000, 5
	const interval = 10 * time.Millisecond
	s := newTestServer(t, testConfig{
		hub: &HubOptions{History: n, MaxLag: n},
		// A ping waits behind whatever the socket buffers already hold, so
		// the pong allowance outlasts the test; the interval is what is
		// tested.
		opts:   &Options{PingInterval: interval, PongWait: testTimeout},
		sndbuf: 8 << 10,
	})
	publishN(t, s.hub, n)
	d := websocket.Dialer{HandshakeTimeout: testTimeout, NetDialContext: rcvbufDialer(4096).DialContext}
	c, _, err := d.Dial(s.wsURL("/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	pings := 0
	c.SetPingHandler(func(data string) error {
		pings++
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	for i := 1; i <= n; i++ {
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatalf("after %d of %d events: %v", i-1, n, err)
		}
		if i%every == 0 && i/every <= pauses {
			time.Sleep(2 * interval)
		}
	}
	if pings < pauses {
		t.Fatalf("%d pings over %d events with %d pauses of two ping intervals, want at least one per pause", pings, n, pauses)
	}
}

// rawWS opens a WebSocket by hand: the test writes and reads frames itself.
func (s *testServer) rawWS(t testing.TB, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, br := s.rawConn(t)
	write(t, c, "GET "+path+" HTTP/1.1\r\nHost: pushbench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return c, br
}

// clientFrame is one final, masked client frame (RFC 6455 §5.2) with a
// payload under 126 bytes.
func clientFrame(opcode byte, payload []byte) string {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := append([]byte{0x80 | opcode, 0x80 | byte(len(payload))}, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return string(b)
}

// readServerFrame reads one server frame, which is final and unmasked, with
// a payload under 126 bytes.
func readServerFrame(t testing.TB, br *bufio.Reader) (opcode byte, payload []byte) {
	t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("hang guard: no frame from the server within %v", testTimeout)
	} else if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	if hdr[0]&0x80 == 0 || hdr[1]&0x80 != 0 || hdr[1]&0x7f >= 126 {
		t.Fatalf("frame header % x: want a final, unmasked, short frame", hdr)
	}
	payload = make([]byte, hdr[1]&0x7f)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatalf("reading a frame's payload: %v", err)
	}
	return hdr[0] & 0x0f, payload
}

// expectCloseFrame reads a close frame and requires its code and reason.
func expectCloseFrame(t testing.TB, br *bufio.Reader, code uint16, reason string) {
	t.Helper()
	op, p := readServerFrame(t, br)
	want := string(binary.BigEndian.AppendUint16(nil, code)) + reason
	if op != 0x8 || string(p) != want {
		t.Fatalf("frame opcode %d payload %q, want close %d %q", op, p, code, reason)
	}
}

// A text message must be UTF-8 (RFC 6455 §8.1): one that is not is closed
// with 1007. Valid text is ignored, as everything clients send is.
func TestWSInvalidUTF8Closes1007(t *testing.T) {
	s := newTestServer(t, testConfig{})
	c, br := s.rawWS(t, "/ws")
	write(t, c, clientFrame(0x1, []byte("héllo, 世界")))
	publishN(t, s.hub, 1)
	if op, p := readServerFrame(t, br); op != 0x1 || string(p) != wantJSON[1] {
		t.Fatalf("frame opcode %d %q, want the event: valid text is ignored", op, p)
	}
	write(t, c, clientFrame(0x1, []byte{'o', 'k', 0xff, 0xfe}))
	expectCloseFrame(t, br, websocket.CloseInvalidFramePayloadData, "invalid UTF-8 in a text message")
	// The client answers; the server then closes the connection.
	write(t, c, clientFrame(0x8, binary.BigEndian.AppendUint16(nil, websocket.CloseInvalidFramePayloadData)))
	if rest := expectClosedByServer(t, br); rest != "" {
		t.Fatalf("after the close: %q", rest)
	}
	waitFor(t, "the stream to end", func() bool { return s.srv.Stats().Transports.WS.Active == 0 })
	s.assertServing(t, contract.WS)
}

// A close frame's body is empty or a 2-byte code and a UTF-8 reason (RFC
// 6455 §5.5.1): a 1-byte body is a protocol error, answered with 1002, where
// gorilla alone would echo an empty close.
func TestWSCloseBodies(t *testing.T) {
	s := newTestServer(t, testConfig{})
	for _, tc := range []struct {
		name   string
		body   []byte
		answer string // the close frame's payload
	}{
		{"1-byte body", []byte{0x03}, "\x03\xea" + "close frame with a 1-byte body"},
		{"empty", nil, ""},
		{"1000", []byte{0x03, 0xe8}, "\x03\xe8"},
		{"1000 with a reason", []byte("\x03\xe8bye"), "\x03\xe8"},
		{"bad code", []byte{0x03, 0xec}, "\x03\xea" + "bad close code 1004"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := s.rawWS(t, "/ws")
			write(t, c, clientFrame(0x8, tc.body))
			if op, p := readServerFrame(t, br); op != 0x8 || string(p) != tc.answer {
				t.Fatalf("answer: opcode %d %q, want close %q", op, p, tc.answer)
			}
			if rest := expectClosedByServer(t, br); rest != "" {
				t.Fatalf("after the close: %q", rest)
			}
		})
	}
	waitFor(t, "the streams to end", func() bool { return s.srv.Stats().Transports.WS.Active == 0 })
}
