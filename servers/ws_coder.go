package servers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
)

// coderConn is a connection served with github.com/coder/websocket as its
// documentation shows: websocket.Accept, Conn.Write for every message under
// a context, Conn.Reader always reading so that control frames are handled,
// Conn.Ping, and Conn.Close for the close handshake. Its defaults are the
// other implementations' choices: no compression, and a browser whose
// Origin is not the server's own host is refused.
//
// coder offers no write deadline but a context, which closes the
// connection when it expires, and no ping without a wait for its pong, so
// pings go out from a goroutine of their own. Its Close waits a fixed 5 s
// to send the close frame and 5 s for the client's answer.
type coderConn struct {
	o       *Options // the handler's
	conn    *websocket.Conn
	pinging atomic.Bool    // a ping waits for its pong
	pings   sync.WaitGroup // the goroutine that waits
}

// newWSCoder serves WebSocket with github.com/coder/websocket.
func newWSCoder(m mount) http.Handler { return newWSHandler(m, upgradeCoder) }

// upgradeCoder is coder's handshake, with its defaults.
func upgradeCoder(o *Options) wsUpgrade {
	return func(w http.ResponseWriter, r *http.Request, readDone chan<- struct{}) (wsConn, error) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return nil, err
		}
		conn.SetReadLimit(o.ReadLimit)
		c := &coderConn{o: o, conn: conn}
		goRead(readDone, c.read)
		return c, nil
	}
}

// read is the connection's reader: it drops what the client sends until it
// ends, and finishes the close handshakes that its errors start.
func (c *coderConn) read() {
	for {
		typ, r, err := c.conn.Reader(context.Background())
		if err == nil {
			err = readClientMessage(typ == websocket.MessageText, r)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, errWSBadUTF8):
			// coder checks no UTF-8 of its own.
			_ = c.conn.Close(websocket.StatusInvalidFramePayloadData, err.Error())
		case websocket.CloseStatus(err) == -1 && !errors.Is(err, net.ErrClosed):
			// coder has sent a close frame (1009 for a message over
			// ReadLimit, 1002 for a protocol error) and left the
			// connection open, or the connection broke. Close sends 1002
			// only if nothing was sent, drops the rest of the client's
			// message and waits for its close frame, so that a reset does
			// not destroy ours. The handshake's outcome has nobody to go to.
			_ = c.conn.Close(websocket.StatusProtocolError, "")
		}
		return // the client closed, or the connection was closed under it
	}
}

// writeBatch writes entries under one context, whose expiry closes the
// connection as a write deadline would end the stream.
func (c *coderConn) writeBatch(entries []*Entry) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.WriteTimeout)
	defer cancel()
	for _, e := range entries {
		if err := c.conn.Write(ctx, websocket.MessageText, e.JSON); err != nil {
			return err
		}
	}
	return nil
}

// tick pings. Conn.Ping returns when the pong comes, so it waits on a
// goroutine of its own, and a client that answers none within PongWait is
// dropped without a close frame, as there is nobody to read it. A ping
// still waiting when the next comes due is the one that counts.
func (c *coderConn) tick() error {
	if c.pinging.Swap(true) {
		return nil
	}
	c.pings.Go(func() {
		defer c.pinging.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), c.o.PongWait)
		defer cancel()
		if err := c.conn.Ping(ctx); err != nil {
			_ = c.conn.CloseNow() // fails only on a connection closed already
		}
	})
	return nil
}

// sendClose runs coder's whole close handshake: Close sends the frame,
// waits for the client's answer and closes the connection.
func (c *coderConn) sendClose(code int, text string) error {
	return c.conn.Close(websocket.StatusCode(code), text)
}

// drop closes the connection, which ends the reader and a waiting ping, and
// waits for the ping. CloseNow fails only on a connection closed already.
func (c *coderConn) drop() {
	_ = c.conn.CloseNow()
	c.pings.Wait()
}
