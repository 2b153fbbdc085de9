package servers

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/event"
)

// wsHandler is the WebSocket transport over gorilla/websocket: GET
// /ws?after=SEQ upgrades and streams every event after the cursor, one text
// message each, as the package documentation describes. Like
// gorilla/websocket's default, it refuses a browser handshake whose Origin
// is not the server's own host. Each connection is
// the handler goroutine, which writes, and one reader goroutine, which the
// handler waits for: gorilla allows one of each at a time, and only reading
// answers pings and sees pongs and close frames.
type wsHandler struct {
	hub   *Hub
	o     Options
	stats *streamCounters
	group *streamGroup
	up    websocket.Upgrader
}

// wsReadBuffer is the read buffer of a connection. Clients send nothing but
// control frames, so it is small; larger messages are read through it in
// pieces until ReadLimit stops them.
const wsReadBuffer = 256

// wsCloseGrace is how long a closing connection waits for the client's part
// of the close handshake before it drops the TCP connection.
const wsCloseGrace = time.Second

// wsWriteBuffers lends write buffers to every connection for the length of
// one message, so an idle connection holds none.
var wsWriteBuffers sync.Pool

// Reasons the server gives in the close frames it ends a stream with.
const (
	wsSlowText    = "slow consumer"
	wsClosingText = "server shutting down"
)

// Protocol errors of a client, which the server closes the connection for:
// with 1007 (invalid frame payload data) and 1002 (protocol error).
var (
	errWSBadUTF8    = errors.New("invalid UTF-8 in a text message")
	errWSShortClose = errors.New("close frame with a 1-byte body")
)

func newWS(m mount) http.Handler {
	o := m.o
	return &wsHandler{
		hub: m.hub, o: o, stats: m.streams, group: m.group,
		up: websocket.Upgrader{
			HandshakeTimeout: o.WriteTimeout,
			ReadBufferSize:   wsReadBuffer,
			WriteBufferPool:  &wsWriteBuffers,
			// Compression stays off: every transport must carry the same
			// bytes, and deflating small events costs more than it saves.
			EnableCompression: false,
			Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
				w.Header().Set("Sec-Websocket-Version", "13")
				http.Error(w, reason.Error(), status)
			},
		},
	}
}

// wsScratch is one batch's slice of entries, pooled like the SSE scratch.
type wsScratch struct{ entries []*Entry }

var wsScratchPool = sync.Pool{New: func() any { return new(wsScratch) }}

func (h *wsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header()["Allow"] = hdrAllowGet
		http.Error(w, "method not allowed: upgrade with GET", http.StatusMethodNotAllowed)
		return
	}
	after, err := queryCursor(r.URL.RawQuery)
	if err != nil {
		refuse(w, err)
		return
	}
	if !h.group.enter() {
		refuse(w, ErrClosed)
		return
	}
	defer h.group.leave()
	// Subscribe before upgrading, so that a cursor the hub refuses is a plain
	// HTTP 400 the client can read, not a close code after a handshake.
	sub, gap, err := h.hub.Subscribe(after)
	if err != nil {
		refuse(w, err)
		return
	}
	defer sub.Close()
	cw := &coalescingWriter{ResponseWriter: w}
	conn, err := h.up.Upgrade(cw, r, nil)
	if err != nil {
		return // Upgrade has answered the client with the reason
	}
	h.stats.opened()
	h.stats.closed(h.serve(conn, cw.conn, cw.frames, sub, gap))
}

// wsStream is one upgraded connection.
type wsStream struct {
	o     Options
	conn  *websocket.Conn
	out   *coalescingConn // conn's connection: batches go out in one write
	in    *clientFrames   // what conn reads through
	sub   *Subscription
	readc chan error // the reader's end; buffered, so the reader never waits
	read  bool       // readc has been received from
	rerr  error      // what the reader ended with, once read
}

// serve streams until the subscription ends, a write fails or the reader
// ends, then closes the connection and waits for the reader. It returns the
// writer's reason, nil when the client ended it.
func (h *wsHandler) serve(conn *websocket.Conn, out *coalescingConn, in *clientFrames, sub *Subscription, gap *event.Gap) error {
	s := &wsStream{o: h.o, conn: conn, out: out, in: in, sub: sub, readc: make(chan error, 1)}
	conn.SetReadLimit(h.o.ReadLimit)
	go func() { s.readc <- s.readLoop() }()
	why := s.writeLoop(gap)
	s.close(why)
	return why
}

// readLoop discards whatever the client sends, so that gorilla answers its
// pings and hands over its pongs and close frame. It ends on the first error:
// the client closed, sent a message over ReadLimit (gorilla has then sent
// 1009) or another protocol error (gorilla or the server has then sent 1002
// or 1007), missed a pong, or the connection was closed under it.
func (s *wsStream) readLoop() error {
	wait := s.o.PingInterval + s.o.PongWait
	if err := s.conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return err
	}
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(wait))
	})
	answer := s.conn.CloseHandler() // gorilla's: echo the code
	s.conn.SetCloseHandler(func(code int, text string) error {
		if code == websocket.CloseNoStatusReceived && s.in.firstClose == 1 {
			s.sendClose(websocket.CloseProtocolError, errWSShortClose.Error())
			return errWSShortClose // the client has closed: nothing to wait for
		}
		return answer(code, text)
	})
	for {
		typ, r, err := s.conn.NextReader()
		if err != nil {
			return err
		}
		if typ != websocket.TextMessage {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			continue
		}
		// Clients have nothing to say, and ReadLimit bounds what they may,
		// so the rare text message is read whole to be checked.
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			return s.fail(websocket.CloseInvalidFramePayloadData, errWSBadUTF8)
		}
	}
}

// sendClose sends a close frame with code and text, under the grace a close
// frame gets. A failure means the connection is gone: nobody to tell.
func (s *wsStream) sendClose(code int, text string) {
	msg := websocket.FormatCloseMessage(code, text)
	_ = s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(min(wsCloseGrace, s.o.WriteTimeout)))
}

// fail ends the reader's side for a client that broke the protocol: it
// sends code with why's text, then reads and drops what the client still
// sends until its close frame, for up to wsCloseGrace, so that a reset does
// not destroy the close frame before the client reads it. It returns why.
func (s *wsStream) fail(code int, why error) error {
	s.sendClose(code, why.Error())
	s.conn.SetPongHandler(nil) // pongs must not extend the grace
	if err := s.conn.SetReadDeadline(time.Now().Add(wsCloseGrace)); err != nil {
		return why
	}
	for {
		_, r, err := s.conn.NextReader()
		if err != nil {
			return why
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return why
		}
	}
}

// writeLoop is the handler's side: events, pings, and waiting for either.
// It returns why the stream ended on its side, or nil when the reader ended.
func (s *wsStream) writeLoop(gap *event.Gap) error {
	if gap != nil {
		if err := s.conn.SetWriteDeadline(time.Now().Add(s.o.WriteTimeout)); err != nil {
			return err
		}
		if err := s.conn.WriteMessage(websocket.TextMessage, gap.AppendJSON(nil)); err != nil {
			return err
		}
	}
	ping := time.NewTicker(s.o.PingInterval)
	defer ping.Stop()
	for {
		n, err := s.writeBatch()
		if err != nil {
			return err
		}
		if n > 0 {
			// A stream that always has events never waits below, yet it
			// must still ping, or its reader's deadline cuts off a healthy
			// client, and it must notice a reader that has ended.
			select {
			case <-ping.C:
				if err := s.ping(); err != nil {
					return err
				}
			case s.rerr = <-s.readc:
				s.read = true
				return nil
			default:
			}
			continue
		}
		select {
		case <-s.sub.Ready():
		case <-s.sub.Done(): // the next Take says why
		case <-ping.C:
			if err := s.ping(); err != nil {
				return err
			}
		case s.rerr = <-s.readc:
			s.read = true
			return nil
		}
	}
}

func (s *wsStream) ping() error {
	return s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.o.WriteTimeout))
}

// writeBatch takes what the subscription has waiting and writes it, one
// text message per event, under one write deadline and in one write.
func (s *wsStream) writeBatch() (int, error) {
	sc := wsScratchPool.Get().(*wsScratch)
	defer func() {
		clear(sc.entries) // do not keep published entries alive from the pool
		sc.entries = sc.entries[:0]
		wsScratchPool.Put(sc)
	}()
	entries, err := s.sub.Take(sc.entries[:0], streamBatch)
	sc.entries = entries
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.o.WriteTimeout)); err != nil {
		return 0, err
	}
	s.out.hold()
	for _, e := range entries {
		if err := s.conn.WriteMessage(websocket.TextMessage, e.JSON); err != nil {
			return 0, errors.Join(err, s.out.flush())
		}
	}
	return len(entries), s.out.flush()
}

// close ends the connection. When the server ends the stream it says why
// with a close frame and gives the client wsCloseGrace to answer, so the
// frame is read before the TCP connection goes. It always waits for the
// reader.
func (s *wsStream) close(why error) {
	if errors.Is(why, websocket.ErrCloseSent) && !s.read {
		// The reader sent a close frame (1009, or a protocol error) before
		// the writer saw it end; it returns at once.
		s.rerr, s.read = <-s.readc, true
	}
	if code, text := wsCloseReason(why); code != 0 && !s.read {
		msg := websocket.FormatCloseMessage(code, text)
		// A close frame is tiny: a client that cannot take it within the
		// grace period is stuck, and shutdown should not wait on it longer.
		if err := s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(min(wsCloseGrace, s.o.WriteTimeout))); err == nil {
			t := time.NewTimer(wsCloseGrace)
			select {
			case s.rerr = <-s.readc:
				s.read = true
			case <-t.C:
			}
			t.Stop()
		}
	}
	if s.read && errors.Is(s.rerr, websocket.ErrReadLimit) {
		// The rest of the oversized message is still unread.
		linger(s.conn.NetConn())
	}
	// Close fails only if the connection is already closed; either way the
	// reader now returns.
	_ = s.conn.Close()
	if !s.read {
		s.rerr = <-s.readc
		s.read = true
	}
}

// wsCloseReason is the close frame for a stream the server ends: 1008 for a
// client cut off as too slow, 1001 when the server shuts down. A failed write
// gets none, as the connection can take no more.
func wsCloseReason(why error) (int, string) {
	switch {
	case errors.Is(why, ErrSlow):
		return websocket.ClosePolicyViolation, wsSlowText
	case errors.Is(why, ErrClosed):
		return websocket.CloseGoingAway, wsClosingText
	}
	return 0, ""
}

// linger discards what the client still sends until it closes its end or
// wsCloseGrace passes. Closing a socket that holds unread input makes the
// kernel reset the connection, and a reset can destroy the close frame before
// the client reads it.
func linger(c net.Conn) {
	if err := c.SetReadDeadline(time.Now().Add(wsCloseGrace)); err != nil {
		return // already closed: nothing to linger for
	}
	// It ends at EOF, at the deadline or on a reset; each is the end we wait for.
	_, _ = io.Copy(io.Discard, c)
}
