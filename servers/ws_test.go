package servers

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestWSWire(t *testing.T) {
	s := newTestServer(t, testConfig{})
	publishN(t, s.hub, 3)
	c := s.dialWS(t, "/ws?after=1")
	expectText(t, c, wantJSON[2])
	expectText(t, c, wantJSON[3])
	publishN(t, s.hub, 1)
	expectText(t, c, wantJSON[4])
	if got := s.srv.Stats().Transports.WS; got != (StreamStats{Active: 1, Total: 1}) {
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
	s.assertServing(t, TransportWS)
}

func TestWSPingsKeepReadersAndDropSilentOnes(t *testing.T) {
	s := newTestServer(t, testConfig{opts: &Options{PingInterval: 20 * time.Millisecond, PongWait: 250 * time.Millisecond}})
	alive := s.dialWS(t, "/ws") // gorilla answers pings while it reads
	deaf := s.dialWS(t, "/ws")
	deaf.SetPingHandler(func(string) error { return nil })
	pings := 0
	alive.SetPingHandler(func(data string) error {
		pings++
		return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})

	got := make(chan error, 1)
	go func() {
		_, msg, err := alive.ReadMessage()
		if err == nil && string(msg) != wantJSON[1] {
			err = errors.New("wrong message " + string(msg))
		}
		got <- err
	}()

	// The deaf client is dropped without a close frame: it is presumably
	// gone, so there is nobody to tell.
	_, _, err := deaf.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseAbnormalClosure {
		t.Fatalf("deaf client ended with %v, want an abnormal closure", err)
	}
	time.Sleep(600 * time.Millisecond) // more than twice the deaf client's allowance
	publishN(t, s.hub, 1)
	if err := <-got; err != nil {
		t.Fatalf("answering client: %v", err)
	}
	if pings < 5 {
		t.Fatalf("%d pings in 600ms at a 20ms interval", pings)
	}
	if st := s.srv.Stats().Transports.WS; st.Active != 1 || st.SlowDisconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A stream with events always waiting never idles, and must still ping: the
// reader's deadline would otherwise cut off a client that is keeping up.
func TestWSPingsWhileBusy(t *testing.T) {
	const n = 50000
	s := newTestServer(t, testConfig{
		hub: &HubOptions{History: n, MaxLag: n},
		// A ping waits behind whatever the socket buffers already hold, so
		// the pong allowance outlasts the test; the interval is what is
		// tested.
		opts: &Options{PingInterval: 10 * time.Millisecond, PongWait: testTimeout},
	})
	publishN(t, s.hub, n)
	c := s.dialWS(t, "/ws")
	pings := 0
	c.SetPingHandler(func(data string) error {
		pings++
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatalf("after %d of %d events in %v: %v", i, n, time.Since(start), err)
		}
	}
	if took := time.Since(start); took > 100*time.Millisecond && pings == 0 {
		t.Fatalf("no ping in %v of streaming", took)
	}
}
