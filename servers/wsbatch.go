package servers

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
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

// coalescingWriter hands gorilla's Upgrade, when it hijacks the
// connection, a connection that reads through a clientFrames and, with
// coalesce, writes through a coalescingConn.
type coalescingWriter struct {
	http.ResponseWriter
	coalesce bool
	conn     *coalescingConn // with coalesce
	frames   *clientFrames
}

func (w *coalescingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.frames = newClientFrames(c)
	if !w.coalesce {
		return w.frames, brw, nil
	}
	w.conn = &coalescingConn{Conn: w.frames}
	return w.conn, brw, nil
}

// streamWriter is one stream's connection as pump drives it.
type streamWriter interface {
	// writeBatch writes entries, a batch taken from the subscription.
	writeBatch(entries []*Entry) error
	// tick is what a stream sends when its ticker comes due: a WebSocket
	// ping, an SSE heartbeat.
	tick() error
}

// pump is the loop every stream runs once its first frames are out: it
// writes what sub has waiting, at most streamBatch events at a time, and
// otherwise waits for more, for its ticker, which comes due every `every`,
// or for end, the client's end of the connection, on which it returns nil.
// With quiet, ticks are for a silent stream only (SSE heartbeats), and a
// batch puts the next one off; without, they come due whatever the traffic
// (WebSocket pings, which the reader's deadline waits for). It returns why
// the stream stopped: the subscription's end or a failed write.
func pump(sub *Subscription, w streamWriter, every time.Duration, quiet bool, end <-chan struct{}) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := writeTaken(sub, w)
		switch {
		case err != nil:
			return err
		case n > 0 && quiet:
			t.Reset(every)
			continue
		case n > 0:
			// A stream that always has events never waits below, yet it
			// must still tick, or the reader's deadline cuts off a healthy
			// client, and it must notice its client's end.
			select {
			case <-t.C:
				err = w.tick()
			case <-end:
				return nil
			default:
			}
		default:
			select {
			case <-sub.Ready():
			case <-sub.Done(): // the next take says why
			case <-t.C:
				err = w.tick()
			case <-end:
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
}

// streamScratch is one batch's slice of entries. It is pooled and held only
// while a batch is being written, so an idle stream holds none.
type streamScratch struct{ entries []*Entry }

var streamScratchPool = sync.Pool{New: func() any { return new(streamScratch) }}

// writeTaken takes what sub has waiting, at most streamBatch events, and
// writes it. The hub measures lag at the cursor, which advances when events
// are taken, not when they are written, so a bounded batch keeps a stalled
// connection from hiding its lag in its own buffer. It returns how many
// events it wrote.
func writeTaken(sub *Subscription, w streamWriter) (int, error) {
	sc := streamScratchPool.Get().(*streamScratch)
	defer func() {
		clear(sc.entries) // do not keep published entries alive from the pool
		sc.entries = sc.entries[:0]
		streamScratchPool.Put(sc)
	}()
	entries, err := sub.Take(sc.entries[:0], streamBatch)
	sc.entries = entries
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	return len(entries), w.writeBatch(entries)
}
