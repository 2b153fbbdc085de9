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

// wsHandler is the WebSocket transport, whatever library serves it: GET
// /ws?after=SEQ upgrades and streams every event after the cursor, one text
// message each, as the package documentation describes. It checks the
// request and subscribes before the library upgrades, so that a bad or
// impossible cursor is a plain HTTP 400 the client can read, not a close
// code after a handshake.
//
// Once the connection is upgraded, ServeHTTP returns: the stream runs on
// goroutines of its own (wsStream), which the server's stream group waits
// for on Close. A handler that stayed in ServeHTTP for the stream's life
// kept net/http's state for the request alive with it (its 4 KiB read and
// write buffers, the chunk writer, the request, the handler's stack): about
// half of what an idle connection cost.
type wsHandler struct {
	mount
	upgrade wsUpgrade
}

// wsUpgrade is a library's handshake. It answers a failed one itself; on
// success it has started the connection's reader (goRead), which closes
// readDone when it ends.
type wsUpgrade func(w http.ResponseWriter, r *http.Request, readDone chan<- struct{}) (wsConn, error)

// newWSHandler serves WebSocket with a library's handshake, which upgrade
// makes from the handler's options. A connection keeps a pointer to them:
// a copy would cost every connection their size.
func newWSHandler(m mount, upgrade func(o *Options) wsUpgrade) *wsHandler {
	h := &wsHandler{mount: m}
	h.upgrade = upgrade(&h.o)
	return h
}

// goRead runs read, a connection's reader, on a goroutine of its own, which
// closes readDone when read returns.
func goRead(readDone chan<- struct{}, read func()) {
	go func() {
		defer close(readDone)
		read()
	}()
}

// wsConn is one upgraded connection as its library writes it; wsStream
// drives it.
type wsConn interface {
	// streamWriter's writeBatch sends each entry's JSON as one text
	// message, under one write deadline of WriteTimeout; its tick pings,
	// and a client that answers no ping within PongWait ends the reader.
	streamWriter
	// sendClose sends a close frame with code and text, within
	// min(wsCloseGrace, WriteTimeout); the client's answer ends the reader.
	sendClose(code int, text string) error
	// drop closes the connection without a word, so the reader ends.
	drop()
}

// wsReadBuffer is the read buffer of a connection. Clients send nothing but
// control frames, so it is what gorilla needs for the largest (125 bytes of
// payload); larger messages are read through it in pieces until ReadLimit
// stops them.
const wsReadBuffer = 128

// wsCloseGrace is how long a closing connection waits for the client's part
// of the close handshake before it drops the TCP connection.
const wsCloseGrace = time.Second

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

func (h *wsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sub, gap, ok := h.openStream(w, r, "upgrade", wsCursor)
	if !ok {
		return
	}
	s := &wsStream{o: &h.o, sub: sub, readDone: make(chan struct{})}
	c, err := h.upgrade(w, r, s.readDone)
	if err != nil {
		sub.Close()
		h.group.leave()
		return // the library has answered the client with the reason
	}
	s.c = c
	h.streams.opened()
	go func() {
		defer h.group.leave()
		defer sub.Close()
		h.streams.closed(s.run(gap))
	}()
}

// wsCursor reads a WebSocket client's cursor: the after parameter.
func wsCursor(r *http.Request) (uint64, error) { return queryCursor(r.URL.RawQuery) }

// openStream checks a streaming request and subscribes it to the events
// after its cursor. It answers what it refuses itself, before anything else
// goes out: a method other than GET (405; verb says what to do with GET), a
// bad cursor or one ahead of the head (400), a server shutting down (503).
// On success the stream is in the server's stream group: whoever serves it
// closes sub, then leaves the group.
func (m mount) openStream(w http.ResponseWriter, r *http.Request, verb string, cursor func(*http.Request) (uint64, error)) (*Subscription, *event.Gap, bool) {
	if r.Method != http.MethodGet {
		w.Header()["Allow"] = hdrAllowGet
		http.Error(w, "method not allowed: "+verb+" with GET", http.StatusMethodNotAllowed)
		return nil, nil, false
	}
	after, err := cursor(r)
	if err == nil && !m.group.enter() {
		err = ErrClosed
	}
	if err != nil {
		refuse(w, err)
		return nil, nil, false
	}
	sub, gap, err := m.hub.Subscribe(after)
	if err != nil {
		m.group.leave()
		refuse(w, err)
		return nil, nil, false
	}
	return sub, gap, true
}

// wsStream is one upgraded connection's stream, the same over every
// library: the gap signal, then batches and pings (pump) until the
// subscription ends, a write fails or the reader ends, then the close.
type wsStream struct {
	o        *Options // the handler's
	c        wsConn
	sub      *Subscription
	readDone chan struct{} // closed when the connection's reader has ended
}

// run streams, closes the connection and waits for its reader. It returns
// the writer's reason, nil when the client ended it.
func (s *wsStream) run(gap *event.Gap) error {
	why := s.write(gap)
	s.close(why)
	return why
}

func (s *wsStream) write(gap *event.Gap) error {
	if gap != nil {
		if err := s.c.writeBatch([]*Entry{{JSON: gap.AppendJSON(nil)}}); err != nil {
			return err
		}
	}
	return pump(s.sub, s.c, s.o.PingInterval, false, s.readDone)
}

// close ends the connection and returns once the reader has ended. When the
// server ends the stream (wsCloseReason) it says why with a close frame and
// gives the client wsCloseGrace to answer, so the frame is read before the
// TCP connection goes.
func (s *wsStream) close(why error) {
	switch code, text := wsCloseReason(why); {
	case s.readerEnded():
	case code != 0:
		if s.c.sendClose(code, text) == nil {
			s.waitReader(wsCloseGrace)
		}
	case errors.Is(why, websocket.ErrCloseSent) || errors.Is(why, net.ErrClosed):
		// The reader has sent a close frame (1009, or a protocol error), or
		// its library closed the connection: it ends on its own, after the
		// grace it gives the client to answer, which dropping the
		// connection now would cut short.
		<-s.readDone
	}
	s.c.drop()
	<-s.readDone
}

func (s *wsStream) readerEnded() bool {
	select {
	case <-s.readDone:
		return true
	default:
		return false
	}
}

// waitReader waits up to d for the reader to end.
func (s *wsStream) waitReader(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.readDone:
	case <-t.C:
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

// readClientMessage reads one of a client's data messages to its end and
// drops it. Clients have nothing to say, and ReadLimit bounds what they
// may, so a text message, which is rare, is read whole to be checked: one
// that is not UTF-8 is errWSBadUTF8.
func readClientMessage(text bool, r io.Reader) error {
	if !text {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	b, err := io.ReadAll(r)
	if err == nil && !utf8.Valid(b) {
		err = errWSBadUTF8
	}
	return err
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

// gorillaConn is a connection served with gorilla/websocket. Like
// gorilla/websocket's default, the handshake refuses a browser whose Origin
// is not the server's own host. gorilla allows one reader and one writer at
// a time: the reader is a goroutine of its own, since only reading answers
// pings and sees pongs and close frames, and the stream writes.
type gorillaConn struct {
	o    *Options // the handler's
	conn *websocket.Conn
	out  *coalescingConn // conn's connection, a batch in one write; nil: a write per message
	in   *clientFrames   // what conn reads through
}

// wsWriteBuffers lends write buffers to every connection for the length of
// one message, so an idle connection holds none.
var wsWriteBuffers sync.Pool

// newWS serves WebSocket with gorilla/websocket, each batch of messages
// coalesced into one write (wsbatch.go).
func newWS(m mount) http.Handler {
	return newWSHandler(m, func(o *Options) wsUpgrade { return upgradeGorilla(o, true) })
}

// upgradeGorilla is gorilla's handshake; with coalesce, a batch of messages
// goes out in one write.
func upgradeGorilla(o *Options, coalesce bool) wsUpgrade {
	up := &websocket.Upgrader{
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
	}
	return func(w http.ResponseWriter, r *http.Request, readDone chan<- struct{}) (wsConn, error) {
		hw := &coalescingWriter{ResponseWriter: w, coalesce: coalesce}
		conn, err := up.Upgrade(hw, r, nil)
		if err != nil {
			return nil, err
		}
		c := &gorillaConn{o: o, conn: conn, out: hw.conn, in: hw.frames}
		conn.SetReadLimit(o.ReadLimit)
		goRead(readDone, c.read)
		return c, nil
	}
}

// read is the connection's reader.
func (c *gorillaConn) read() {
	if err := c.readLoop(); errors.Is(err, websocket.ErrReadLimit) {
		// gorilla has sent 1009; the rest of the oversized message is
		// still unread.
		linger(c.conn.NetConn())
	}
}

// readLoop discards whatever the client sends, so that gorilla answers its
// pings and hands over its pongs and close frame. It ends on the first error:
// the client closed, sent a message over ReadLimit (gorilla has then sent
// 1009) or another protocol error (gorilla or the server has then sent 1002
// or 1007), missed a pong, or the connection was closed under it.
func (c *gorillaConn) readLoop() error {
	wait := c.o.PingInterval + c.o.PongWait
	if err := c.conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return err
	}
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(wait))
	})
	answer := c.conn.CloseHandler() // gorilla's: echo the code
	c.conn.SetCloseHandler(func(code int, text string) error {
		if code == websocket.CloseNoStatusReceived && c.in.firstClose == 1 {
			// A failed close frame means the connection is gone: nobody to
			// tell. The client has closed: nothing to wait for.
			_ = c.sendClose(websocket.CloseProtocolError, errWSShortClose.Error())
			return errWSShortClose
		}
		return answer(code, text)
	})
	for {
		typ, r, err := c.conn.NextReader()
		if err == nil {
			err = readClientMessage(typ == websocket.TextMessage, r)
		}
		if errors.Is(err, errWSBadUTF8) {
			return c.fail(websocket.CloseInvalidFramePayloadData, err)
		}
		if err != nil {
			return err
		}
	}
}

// fail ends the reader's side for a client that broke the protocol: it
// sends code with why's text, then reads and drops what the client still
// sends until its close frame, for up to wsCloseGrace, so that a reset does
// not destroy the close frame before the client reads it. It returns why.
func (c *gorillaConn) fail(code int, why error) error {
	_ = c.sendClose(code, why.Error()) // failing, the connection is gone: nobody to tell
	c.conn.SetPongHandler(nil)         // pongs must not extend the grace
	if err := c.conn.SetReadDeadline(time.Now().Add(wsCloseGrace)); err != nil {
		return why
	}
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			return why
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return why
		}
	}
}

// sendClose sends a close frame under the grace a close frame gets: a
// client that cannot take one within it is stuck, and a shutdown should not
// wait on it longer.
func (c *gorillaConn) sendClose(code int, text string) error {
	msg := websocket.FormatCloseMessage(code, text)
	return c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(min(wsCloseGrace, c.o.WriteTimeout)))
}

func (c *gorillaConn) tick() error {
	return c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.o.WriteTimeout))
}

// writeBatch writes entries, one text message each, under one write
// deadline, and with coalescing in one write.
func (c *gorillaConn) writeBatch(entries []*Entry) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.o.WriteTimeout)); err != nil {
		return err
	}
	if c.out != nil {
		c.out.hold()
	}
	var err error
	for _, e := range entries {
		if err = c.conn.WriteMessage(websocket.TextMessage, e.JSON); err != nil {
			break
		}
	}
	if c.out != nil {
		err = errors.Join(err, c.out.flush())
	}
	return err
}

// drop closes the connection. Close fails only if the connection is
// already closed; either way the reader now returns.
func (c *gorillaConn) drop() { _ = c.conn.Close() }
