package servers

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// The behaviours every implementation shares (delivery, resume, gap, slow
// consumers cut off, bad input, shutdown) are the behaviour suite's, in the
// module's e2e tests. These are what the suite does not see: close codes,
// pings, deadlines and what each library does on its own.

// forEachImpl runs f as a subtest for every implementation of transport
// that serves under net/http, with c's options naming it.
func forEachImpl(t *testing.T, transport contract.Transport, c testConfig, f func(t *testing.T, c testConfig)) {
	for _, impl := range Impls(transport) {
		if impl.handler == nil || impl.Engine != NetHTTP {
			continue
		}
		t.Run(impl.Name, func(t *testing.T) {
			var o Options
			if c.opts != nil {
				o = *c.opts
			}
			o.Impl = map[contract.Transport]string{transport: impl.Name}
			c := c
			c.opts = &o
			f(t, c)
		})
	}
}

// Once upgraded, a WebSocket's ServeHTTP returns, so that net/http drops
// what it held for the request, and the stream goes on.
func TestWSImplsReturnFromServeHTTP(t *testing.T) {
	returned := make(chan struct{}, 1)
	handler := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.URL.Path == "/ws" {
				returned <- struct{}{}
			}
		})
	}
	forEachImpl(t, contract.WS, testConfig{handler: handler}, func(t *testing.T, c testConfig) {
		s := newTestServer(t, c)
		conn := s.dialWS(t, "/ws")
		select {
		case <-returned:
		case <-time.After(testTimeout):
			t.Fatalf("hang guard: ServeHTTP still running %v after the upgrade", testTimeout)
		}
		publishN(t, s.hub, 2)
		expectText(t, conn, wantJSON[1])
		expectText(t, conn, wantJSON[2])
		if st := s.srv.Stats().Transports.WS; st != (contract.StreamStats{Active: 1, Total: 1}) {
			t.Fatalf("stats %+v", st)
		}
	})
}

// Every close code the contract names, from every WebSocket implementation.
// The reasons' texts are the libraries' own.
func TestWSImplsCloseCodes(t *testing.T) {
	forEachImpl(t, contract.WS, testConfig{opts: &Options{ReadLimit: 100}}, func(t *testing.T, c testConfig) {
		s := newTestServer(t, c)
		for _, tc := range []struct {
			name string
			code int
			send func(c *websocket.Conn) error
		}{
			{"message over ReadLimit", websocket.CloseMessageTooBig, func(c *websocket.Conn) error {
				return c.WriteMessage(websocket.BinaryMessage, make([]byte, 5000))
			}},
			{"text not UTF-8", websocket.CloseInvalidFramePayloadData, func(c *websocket.Conn) error {
				return c.WriteMessage(websocket.TextMessage, []byte{'o', 'k', 0xff, 0xfe})
			}},
			{"close with a 1-byte body", websocket.CloseProtocolError, func(c *websocket.Conn) error {
				return c.WriteControl(websocket.CloseMessage, []byte{0x03}, time.Now().Add(testTimeout))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				seq := s.hub.Head() + 1
				conn := s.dialWS(t, "/ws?after="+strconv.FormatUint(seq-1, 10))
				// Up to the limit, whatever a client sends is ignored.
				if err := conn.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("é", 50))); err != nil {
					t.Fatal(err)
				}
				publishN(t, s.hub, 1)
				expectText(t, conn, string(s.json(t, seq)))
				if err := tc.send(conn); err != nil {
					t.Fatal(err)
				}
				expectClose(t, conn, tc.code)
			})
		}
		waitFor(t, "the streams to end", func() bool {
			st := s.srv.Stats()
			return st.Transports.WS.Active == 0 && st.Hub.Subscribers == 0
		})
		if st := s.srv.Stats().Transports.WS; st.SlowDisconnects != 0 {
			t.Fatalf("clients that broke the protocol counted slow: %+v", st)
		}
		s.assertServing(t, contract.WS)
	})
}

// Close says 1001 to every client, and returns once every stream has ended.
func TestWSImplsShutdownSays1001(t *testing.T) {
	forEachImpl(t, contract.WS, testConfig{}, func(t *testing.T, c testConfig) {
		s := newTestServer(t, c)
		const clients = 3
		ends := make(chan error, clients)
		for range clients {
			conn := s.dialWS(t, "/ws")
			go func() {
				for {
					if _, _, err := conn.ReadMessage(); err != nil {
						ends <- err
						return
					}
				}
			}()
		}
		waitFor(t, "every client to subscribe", func() bool { return s.hub.Stats().Subscribers == clients })
		s.srv.Close()
		if st := s.srv.Stats(); st.Transports.WS.Active != 0 || st.Hub.Subscribers != 0 {
			t.Fatalf("after Close: %+v %+v", st.Hub, st.Transports.WS)
		}
		for range clients {
			var ce *websocket.CloseError
			if err := <-ends; !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
				t.Fatalf("client ended with %v, want 1001", err)
			}
		}
	})
}

// readToClose reads a raw WebSocket connection, its handshake answer and then
// frames of any length, until a close frame, and returns its code.
func readToClose(t testing.TB, br *bufio.Reader) int {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatalf("reading a frame: %v, want a close frame", err)
		}
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126, 127:
			ext := make([]byte, 2+6*(n-126))
			if _, err := io.ReadFull(br, ext); err != nil {
				t.Fatal(err)
			}
			n = uint64(binary.BigEndian.Uint16(ext))
			if len(ext) == 8 {
				n = binary.BigEndian.Uint64(ext)
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatal(err)
		}
		if hdr[0]&0x0f == 0x8 {
			if len(payload) < 2 {
				t.Fatalf("close frame %q without a code", payload)
			}
			return int(binary.BigEndian.Uint16(payload))
		}
	}
}

// A client that stops reading and falls more than MaxLag behind is cut off
// with 1008 once its stuck write completes, and counted.
func TestWSImplsSlowConsumerGets1008(t *testing.T) {
	c := testConfig{
		hub: &HubOptions{History: 32, MaxLag: 8},
		// The write stays stuck until the client reads.
		opts:   &Options{WriteTimeout: 3 * testTimeout},
		sndbuf: 8 << 10,
	}
	forEachImpl(t, contract.WS, c, func(t *testing.T, c testConfig) {
		s := newTestServer(t, c)
		stalled := dialStalled(t, s, contract.WS)
		waitFor(t, "the stalled client's subscription", func() bool { return s.hub.Stats().Subscribers == 1 })
		publishUntil(t, s, "the stalled client to be cut off", 0, func() bool { return s.hub.Stats().SlowDropped > 0 })
		if err := stalled.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
			t.Fatal(err)
		}
		if code := readToClose(t, bufio.NewReader(stalled)); code != websocket.ClosePolicyViolation {
			t.Fatalf("close code %d, want 1008", code)
		}
		// Answered, a close handshake ends at once.
		write(t, stalled, clientFrame(0x8, binary.BigEndian.AppendUint16(nil, websocket.ClosePolicyViolation)))
		waitFor(t, "the stream to end and be counted", func() bool {
			return s.srv.Stats().Transports.WS == contract.StreamStats{Total: 1, SlowDisconnects: 1}
		})
	})
}

// publishUntil publishes events of 16 KiB, pausing between them, until done
// says what waited for has come; 2,000 events (fewer than MaxLag in the
// tests that do not want the hub to cut anyone off) are the hang guard.
func publishUntil(t testing.TB, s *testServer, what string, pause time.Duration, done func() bool) {
	t.Helper()
	for n := 0; !done(); n++ {
		if n == 2000 {
			t.Fatalf("hang guard: 2,000 events published, still waiting for %s", what)
		}
		if err := s.hub.Publish(NewEntry(event.New(s.hub.Head()+1, 0, 16<<10))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(pause)
	}
}

// A write stuck for WriteTimeout ends the stream, which is counted slow,
// whether or not the hub has cut the client off: here it has not.
func TestStreamImplsStuckWriteIsCountedSlow(t *testing.T) {
	for _, tr := range []contract.Transport{contract.SSE, contract.WS} {
		t.Run(string(tr), func(t *testing.T) {
			c := testConfig{
				hub:    &HubOptions{History: 4096, MaxLag: 2048},
				opts:   &Options{WriteTimeout: 50 * time.Millisecond},
				sndbuf: 8 << 10,
			}
			forEachImpl(t, tr, c, func(t *testing.T, c testConfig) {
				s := newTestServer(t, c)
				dialStalled(t, s, tr)
				waitFor(t, "the stalled client's subscription", func() bool { return s.hub.Stats().Subscribers == 1 })
				// A few events fill the socket buffers, and the next write
				// is stuck.
				publishUntil(t, s, "the stuck stream to end", time.Millisecond, func() bool { return s.hub.Stats().Subscribers == 0 })
				waitFor(t, "the stream to end", func() bool { return s.streamStats(tr).Active == 0 })
				if st := s.streamStats(tr); st.SlowDisconnects != 1 {
					t.Fatalf("stats %+v, want the stuck stream counted slow", st)
				}
				if got := s.hub.Stats().SlowDropped; got != 0 {
					t.Fatalf("hub cut off %d subscribers: the write deadline was not what ended the stream", got)
				}
			})
		})
	}
}

// A client that answers pings outlives one that does not. It proves it by
// count: without pongs, it would be dropped PingInterval+PongWait after it
// connected, and a ticker needs at least twice that to send it
// 2·(PingInterval+PongWait)/PingInterval pings. PongWait is the slack a busy
// machine has to answer a ping. The deaf client is dropped without a close
// frame, as it is presumably gone and there is nobody to tell, except by gws,
// which says 1000.
func TestWSImplsPingsKeepReadersAndDropSilentOnes(t *testing.T) {
	const interval, pongWait = 20 * time.Millisecond, 500 * time.Millisecond
	deafEnd := map[string]int{"gws": websocket.CloseNormalClosure}
	forEachImpl(t, contract.WS, testConfig{opts: &Options{PingInterval: interval, PongWait: pongWait}}, func(t *testing.T, c testConfig) {
		want, ok := deafEnd[c.opts.Impl[contract.WS]]
		if !ok {
			want = websocket.CloseAbnormalClosure
		}
		s := newTestServer(t, c)
		alive := s.dialWS(t, "/ws")
		deaf := s.dialWS(t, "/ws")
		deaf.SetPingHandler(func(string) error { return nil })
		var pings atomic.Int64
		alive.SetPingHandler(func(data string) error {
			pings.Add(1)
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
		_, _, err := deaf.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != want {
			t.Fatalf("deaf client ended with %v, want close code %d", err, want)
		}
		enough := int64(2 * (interval + pongWait) / interval)
		waitFor(t, "the answering client to be pinged for twice the deaf one's allowance", func() bool { return pings.Load() >= enough })
		publishN(t, s.hub, 1)
		if err := <-got; err != nil {
			t.Fatalf("answering client: %v", err)
		}
		if st := s.srv.Stats().Transports.WS; st.Active != 1 || st.SlowDisconnects != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// A client's ping is answered with a pong carrying its payload.
func TestWSImplsAnswerClientPings(t *testing.T) {
	forEachImpl(t, contract.WS, testConfig{}, func(t *testing.T, c testConfig) {
		s := newTestServer(t, c)
		conn := s.dialWS(t, "/ws")
		pongs := make(chan string, 1)
		conn.SetPongHandler(func(data string) error {
			pongs <- data
			return nil
		})
		read := make(chan error, 1)
		go func() {
			_, _, err := conn.ReadMessage() // handles the pong on its way
			read <- err
		}()
		if err := conn.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(testTimeout)); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-pongs:
			if got != "are you there" {
				t.Fatalf("pong %q, want the ping's payload", got)
			}
		case <-time.After(testTimeout):
			t.Fatalf("hang guard: no pong within %v", testTimeout)
		}
		publishN(t, s.hub, 1)
		if err := <-read; err != nil {
			t.Fatal(err)
		}
	})
}

// net/http puts a read deadline (ReadTimeout) on a connection while it reads
// the request; an upgraded stream must not inherit it.
func TestWSImplsOutliveTheReadTimeout(t *testing.T) {
	const timeout, interval, beats = 50 * time.Millisecond, 5 * time.Millisecond, 40 // 200 ms at least: 4 read timeouts
	forEachImpl(t, contract.WS, testConfig{opts: &Options{ReadTimeout: timeout, PingInterval: interval}}, func(t *testing.T, c testConfig) {
		s := newTestServer(t, c)
		conn := s.dialWS(t, "/ws")
		var pings atomic.Int64
		conn.SetPingHandler(func(data string) error {
			if pings.Add(1) == beats {
				publishN(t, s.hub, 1)
			}
			return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		expectText(t, conn, wantJSON[1])
	})
}

// Like gorilla's and coder's defaults, every implementation refuses a
// browser's handshake from another origin's page.
func TestWSImplsRefuseOtherOrigins(t *testing.T) {
	forEachImpl(t, contract.WS, testConfig{}, func(t *testing.T, c testConfig) {
		s := newTestServer(t, c)
		d := websocket.Dialer{HandshakeTimeout: testTimeout}
		host := strings.TrimPrefix(s.ts.URL, "http://")
		for origin, want := range map[string]int{
			"http://" + host:        http.StatusSwitchingProtocols,
			"http://evil.example":   http.StatusForbidden,
			"http://" + host + ".x": http.StatusForbidden,
		} {
			conn, resp, err := d.Dial(s.wsURL("/ws"), http.Header{"Origin": {origin}})
			if conn != nil {
				_ = conn.Close() // only the handshake is tested
			}
			if resp == nil {
				t.Fatalf("Origin %s: %v", origin, err)
			}
			_ = resp.Body.Close() // not read
			if resp.StatusCode != want {
				t.Errorf("Origin %s: %s, want %d", origin, resp.Status, want)
			}
		}
	})
}

// Every SSE implementation sends the same bytes: the headers, retry: first,
// the gap signal before any event, the events, and a heartbeat when silent,
// over HTTP/1.1 and HTTP/2.
func TestSSEImplsSendTheSameBytes(t *testing.T) {
	for _, noAccel := range []bool{false, true} {
		c := testConfig{hub: &HubOptions{History: 4}, opts: &Options{Heartbeat: 20 * time.Millisecond, NoAccelHeader: noAccel}}
		t.Run("NoAccelHeader="+strconv.FormatBool(noAccel), func(t *testing.T) {
			forEachImpl(t, contract.SSE, c, func(t *testing.T, c testConfig) {
				s := newTestServer(t, c)
				publishN(t, s.hub, 10) // history holds 7..10
				want := "retry: 1000\n\nid: 6\nevent: gap\ndata: {\"gap\":{\"from\":3,\"to\":6}}\n\n"
				for seq := uint64(7); seq <= 10; seq++ {
					typ := map[bool]string{true: "quote", false: "tick"}[seq%2 == 1]
					want += "id: " + strconv.FormatUint(seq, 10) + "\nevent: " + typ + "\ndata: " + string(s.json(t, seq)) + "\n\n"
				}
				want += ": hb\n\n"
				for _, client := range []struct {
					name  string
					c     *http.Client
					major int
				}{{"HTTP/1.1", s.client, 1}, {"HTTP/2", h2cClient(t), 2}} {
					ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.ts.URL+"/sse", nil)
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Last-Event-ID", "2") // wins over the URL's missing cursor
					resp, err := client.c.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					st := &sseStream{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
					t.Cleanup(st.close)
					if resp.StatusCode != http.StatusOK || resp.ProtoMajor != client.major {
						t.Fatalf("%s: %s %s", client.name, resp.Proto, resp.Status)
					}
					accel := map[bool]string{false: "no", true: ""}[noAccel]
					for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": accel} {
						if got := resp.Header.Get(k); got != v {
							t.Errorf("%s: %s %q, want %q", client.name, k, got, v)
						}
					}
					st.expect(t, want)
				}
			})
		})
	}
}

// With RetryJitter each stream asks for a delay of its own in [0, 2·Retry];
// go-sse cannot send one under 1 ms.
func TestSSEImplsRetryJitterStaysInRange(t *testing.T) {
	forEachImpl(t, contract.SSE, testConfig{opts: &Options{Retry: 5 * time.Millisecond, RetryJitter: true}}, func(t *testing.T, c testConfig) {
		s := newTestServer(t, c)
		seen := map[int64]bool{}
		for range 40 {
			st := s.openSSE(t, "/sse", nil)
			line, err := st.r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			ms, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(line, "retry: "), "\n"), 10, 64)
			if err != nil || ms < 0 || ms > 10 {
				t.Fatalf("first line %q, want retry: MS within [0, 10]", line)
			}
			seen[ms] = true
			st.close()
		}
		if len(seen) < 3 {
			t.Fatalf("retry values %v: not spread", seen)
		}
	})
}
