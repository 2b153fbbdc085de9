package servers

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// coalescingConn lets the WebSocket writer put a whole batch of frames into
// one write, as the SSE handler does with one flush per batch and the TCP
// floor with one write per batch. gorilla/websocket writes every message
// with its own system call; at a few thousand events per second to a hundred
// clients that call, not the protocol, is what saturates, and a broadcast
// server in production coalesces (Centrifugo's "write delay" does the same).
//
// Between hold and flush, writes are appended to a pooled buffer of at most
// batchChunk bytes, which is written out whenever the next write would
// overflow it; at any other time they go straight through, so the
// handshake, pings and close frames sent from any goroutine are never
// delayed. The cap is what bounds a connection whose client stopped
// reading: it holds at most batchChunk bytes while its write is stuck, as an
// SSE stream does, not the whole batch.
type coalescingConn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     *[]byte // while holding; from coalescePool
}

// coalescePool holds batch buffers, so an idle connection holds none. A
// buffer never grows beyond batchChunk.
var coalescePool = sync.Pool{New: func() any { b := make([]byte, 0, batchChunk); return &b }}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding {
		return c.Conn.Write(p)
	}
	if len(*c.buf)+len(p) > batchChunk && len(*c.buf) > 0 {
		_, err := c.Conn.Write(*c.buf)
		*c.buf = (*c.buf)[:0]
		if err != nil {
			return 0, err
		}
	}
	if len(p) > batchChunk {
		return c.Conn.Write(p) // gorilla passes a large payload on its own
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// hold starts buffering writes.
func (c *coalescingConn) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = true
	c.buf = coalescePool.Get().(*[]byte)
}

// flush writes what was held in one write, under the deadline the last
// frame set, and stops buffering.
func (c *coalescingConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding {
		return nil
	}
	c.holding = false
	var err error
	if len(*c.buf) > 0 {
		_, err = c.Conn.Write(*c.buf)
	}
	*c.buf = (*c.buf)[:0]
	coalescePool.Put(c.buf)
	c.buf = nil
	return err
}

// coalescingWriter hands gorilla's Upgrade a coalescingConn when it hijacks
// the connection, reading through a clientFrames.
type coalescingWriter struct {
	http.ResponseWriter
	conn   *coalescingConn
	frames *clientFrames
}

func (w *coalescingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.frames = newClientFrames(c)
	w.conn = &coalescingConn{Conn: w.frames}
	return w.conn, brw, nil
}
