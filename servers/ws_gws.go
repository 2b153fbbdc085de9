package servers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lxzan/gws"
)

// gwsConn is a connection served with github.com/lxzan/gws as its
// documentation shows: an Upgrader with an event handler (gwsEvents),
// ReadLoop on a goroutine of its own, and WriteMessage for every message.
// gws itself closes with 1009 a message over ReadLimit, with 1007 a text
// message that is not UTF-8 and with 1002 a bad close frame.
//
// gws closes the TCP connection as soon as its close frame is out, without
// waiting for the client's answer; on a read error, such as a missed pong,
// it sends a close frame (1000) where the others send none; and it checks
// no Origin, so the handler refuses a cross-origin handshake before gws
// sees it, as the others do.
type gwsConn struct {
	o      *Options // the handler's
	socket *gws.Conn
}

// gwsEvents is gws's event handler, one for every connection: it keeps a
// client that answers pings, answers the client's own pings, and drops
// what it sends.
type gwsEvents struct {
	gws.BuiltinEventHandler
	wait time.Duration // PingInterval + PongWait: how long a silent client lives
}

// OnOpen gives the client until its first pong, as gws's documentation
// does with SetDeadline: a failure has closed the connection already.
func (e gwsEvents) OnOpen(socket *gws.Conn) {
	_ = socket.SetReadDeadline(time.Now().Add(e.wait))
}

func (e gwsEvents) OnPong(socket *gws.Conn, _ []byte) {
	_ = socket.SetReadDeadline(time.Now().Add(e.wait)) // as OnOpen
}

// OnPing answers with the ping's payload, as RFC 6455 asks. gws handles a
// failed write: it closes the connection. The write has no deadline of its
// own (gwsConn.writing says how long it can be stuck).
func (e gwsEvents) OnPing(socket *gws.Conn, payload []byte) {
	_ = socket.WritePong(payload)
}

func (e gwsEvents) OnMessage(_ *gws.Conn, m *gws.Message) { _ = m.Close() } // returns its buffer

// errCrossOrigin refuses a handshake from another origin's page.
var errCrossOrigin = errors.New("websocket: request origin not allowed")

// newWSGWS serves WebSocket with github.com/lxzan/gws.
func newWSGWS(m mount) http.Handler { return newWSHandler(m, upgradeGWS) }

// upgradeGWS is gws's Upgrader with its event handler.
func upgradeGWS(o *Options) wsUpgrade {
	up := gws.NewUpgrader(gwsEvents{wait: o.PingInterval + o.PongWait}, &gws.ServerOption{
		ReadMaxPayloadSize: int(o.ReadLimit),
		ReadBufferSize:     wsReadBuffer,
		CheckUtf8Enabled:   true, // and 1007 for a text message that is not UTF-8
		HandshakeTimeout:   o.WriteTimeout,
		// PermessageDeflate stays off: every transport carries the same bytes.
	})
	return func(w http.ResponseWriter, r *http.Request, readDone chan<- struct{}) (wsConn, error) {
		if !sameOrigin(r) {
			http.Error(w, errCrossOrigin.Error(), http.StatusForbidden)
			return nil, errCrossOrigin
		}
		if _, ok := w.(http.Hijacker); !ok {
			// gws would fail without an answer (HTTP/2 has no upgrade).
			http.Error(w, "websocket: the connection cannot be upgraded", http.StatusNotImplemented)
			return nil, http.ErrNotSupported
		}
		socket, err := up.Upgrade(w, r)
		if err != nil {
			return nil, err
		}
		goRead(readDone, socket.ReadLoop)
		return &gwsConn{o: o, socket: socket}, nil
	}
}

// sameOrigin says whether a browser's handshake comes from a page of the
// server's own host, as gorilla's and coder's default checks do. A client
// that is not a browser sends no Origin.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// writing runs f, which writes, under a write deadline d from now, and then
// lifts the deadline: gws also writes on its own (pongs, and its close
// frames for 1002, 1007 and 1009), setting none, and a deadline left over
// from an idle stream's last batch would fail those writes at once. One of
// them stuck on a client that stopped reading ends once the stream's next
// ping or batch sets a deadline, which applies to it too, and gws closes the
// connection.
func (c *gwsConn) writing(d time.Duration, f func() error) error {
	if err := c.socket.SetWriteDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	if err := f(); err != nil {
		return err // gws has closed the connection
	}
	return c.socket.SetWriteDeadline(time.Time{})
}

// writeBatch writes entries, one WriteMessage each, under one deadline.
func (c *gwsConn) writeBatch(entries []*Entry) error {
	return c.writing(c.o.WriteTimeout, func() error {
		for _, e := range entries {
			if err := c.socket.WriteMessage(gws.OpcodeText, e.JSON); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *gwsConn) tick() error {
	return c.writing(c.o.WriteTimeout, func() error { return c.socket.WritePing(nil) })
}

// sendClose sends the close frame, and gws closes the connection at once.
func (c *gwsConn) sendClose(code int, text string) error {
	return c.writing(min(wsCloseGrace, c.o.WriteTimeout), func() error {
		return c.socket.WriteClose(uint16(code), []byte(text))
	})
}

// drop closes the connection. It fails only on a connection gws has closed
// already.
func (c *gwsConn) drop() { _ = c.socket.NetConn().Close() }
