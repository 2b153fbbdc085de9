package servers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// TCPServer is the floor: the hub's stream over plain TCP with the least
// framing that still carries it, so a report can show how far each real
// transport sits from what the machine can do at all. It is not HTTP and has
// no path; it serves whatever listener Serve is given.
//
// # Protocol
//
// The client connects and sends one line:
//
//	after=SEQ\n
//
// SEQ follows the cursor rules of the other transports (decimal digits only,
// at most 20, fitting a uint64, not beyond the newest event). The line is
// exact: no spaces, no "\r", nothing else. A client that sends anything else,
// more than 26 bytes before the newline, or no line within WriteTimeout, is
// answered with one line and the connection is closed:
//
//	error: REASON\n
//
// So is every connection, before it sends anything, when Serve's listener
// came from Server.Listener and the server is at its connection limit
// (Options.MaxConns): "error: server at its connection limit".
//
// Otherwise the server streams frames, each one event's canonical JSON
// followed by "\n" (the JSON never contains a raw newline):
//
//	{"seq":1,"at_us":1700000000000000,"type":"tick","data":"…"}\n
//
// A cursor older than the history is answered, before any event, with the
// gap signal as its own frame: {"gap":{"from":F,"to":T}}\n.
//
// After its line the client sends nothing; the server never reads again.
// There are no heartbeats: liveness is TCP keepalive's (net.Listen enables it
// on accepted connections). The server simply closes the connection when it
// cuts the subscriber off for lagging more than MaxLag events, when a write
// is stuck for WriteTimeout (at most 9/8 of it), when the hub closes (then a new connection is closed
// without a line, so that clients retry as they would a restart), and when
// Serve's context ends. The client resumes with after= its cursor.
//
// # Cost
//
// Each connection is one goroutine. A batch (everything the subscription has
// waiting, up to the same bound the streaming transports use) is gathered into
// one pooled buffer and written in one call (one per 64 KiB of frames) under
// one write deadline, as the best of the other transports does; an idle
// connection holds no buffer.
type TCPServer struct {
	hub   *Hub
	o     Options
	stats streamCounters
}

// tcpMaxRequest is the longest request line: "after=", 20 digits, "\n".
const tcpMaxRequest = len("after=") + maxCursorDigits + 1

// tcpChunk is the most bytes of frames one write carries. A batch of large
// events is written in several chunks, which bounds the scratch memory it
// needs; small batches take one write.
const tcpChunk = 64 << 10

// tcpCloseGrace bounds how long a refused connection waits for its client to
// read the error line and close.
const tcpCloseGrace = time.Second

// Accept retry bounds: running out of file descriptors or memory is
// temporary, and Serve waits for it to pass as http.Server does.
const (
	tcpAcceptRetryMin = 5 * time.Millisecond
	tcpAcceptRetryMax = time.Second
)

// errBadRequest is the error every malformed request line wraps.
var errBadRequest = errors.New("bad request")

// NewTCP returns the floor transport over hub. A nil o means defaults; of the
// options, only WriteTimeout applies: it bounds the wait for the request line
// and every write.
func NewTCP(hub *Hub, o *Options) *TCPServer {
	return &TCPServer{hub: hub, o: o.withDefaults()}
}

// Stats counts the floor's streams: connections that sent a valid request and
// were subscribed. Refused connections are not counted.
func (s *TCPServer) Stats() contract.StreamStats { return s.stats.snapshot() }

// Serve accepts connections on l, one goroutine each, until ctx ends or
// accepting fails. It closes l, ends every connection it accepted and waits
// for their goroutines before it returns. It returns nil when ctx ended, and
// otherwise what stopped Accept (net.ErrClosed if someone else closed l).
// Serve may be called on several listeners at once.
func (s *TCPServer) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Deferred in this order: end every connection, then wait for them.
	defer wg.Wait()
	defer cancel()
	// Closing the listener is how a blocked Accept learns that ctx ended.
	// A second close only fails, so neither error says anything.
	stop := afterDone(ctx, func() { _ = l.Close() })
	defer func() {
		stop()
		_ = l.Close()
	}()

	retry := time.Duration(0)
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !acceptRetryable(err) {
				return fmt.Errorf("servers: tcp: accept: %w", err)
			}
			retry = min(max(2*retry, tcpAcceptRetryMin), tcpAcceptRetryMax)
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		retry = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, conn)
		}()
	}
}

// acceptRetryable says whether an Accept error is a shortage that passes.
func acceptRetryable(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// afterDone runs f on its own goroutine when ctx ends. The returned stop
// cancels that or, if f has started, waits for it, so no goroutine outlives
// the caller.
func afterDone(ctx context.Context, f func()) (stop func()) {
	done := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		defer close(done)
		f()
	})
	return func() {
		if !cancel() {
			<-done
		}
	}
}

// serveConn reads the request, subscribes and streams until the stream ends.
// It always closes conn.
func (s *TCPServer) serveConn(ctx context.Context, conn net.Conn) {
	defer func() { _ = conn.Close() }() // it may be closed already; nothing to report
	defer afterDone(ctx, func() { _ = conn.Close() })()

	if gc := overLimit(conn); gc != nil {
		gc.refuse()
		refuseTCP(conn, ErrConnLimit, s.o.WriteTimeout)
		return
	}
	after, err := s.readRequest(conn)
	if err != nil {
		if errors.Is(err, errBadRequest) || errors.Is(err, errBadCursor) {
			refuseTCP(conn, err, s.o.WriteTimeout)
		}
		return // the client left or ctx ended: nobody to tell
	}
	sub, gap, err := s.hub.Subscribe(after)
	if errors.Is(err, ErrCursorAhead) {
		refuseTCP(conn, err, s.o.WriteTimeout)
		return
	}
	if err != nil {
		return // ErrClosed: closing without a word makes clients retry
	}
	defer sub.Close()
	s.stats.opened()
	s.stats.closed(s.stream(ctx, &tcpConn{Conn: conn, timeout: s.o.WriteTimeout}, sub, gap))
}

// readRequest reads and parses the request line within WriteTimeout. It
// reads in as few calls as the client's writes allow, and never more than
// tcpMaxRequest bytes.
func (s *TCPServer) readRequest(conn net.Conn) (uint64, error) {
	if err := conn.SetReadDeadline(time.Now().Add(s.o.WriteTimeout)); err != nil {
		return 0, err
	}
	var buf [tcpMaxRequest]byte
	n := 0
	for {
		m, err := conn.Read(buf[n:])
		if i := bytes.IndexByte(buf[n:n+m], '\n'); i >= 0 {
			return parseTCPRequest(buf[:n+i])
		}
		n += m
		switch {
		case n == len(buf):
			return 0, fmt.Errorf("%w: line longer than %d bytes: want after=SEQ", errBadRequest, tcpMaxRequest-1)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return 0, fmt.Errorf("%w: no request line within %v", errBadRequest, s.o.WriteTimeout)
		case err != nil:
			return 0, err
		}
	}
}

// parseTCPRequest parses a request line without its newline.
func parseTCPRequest(line []byte) (uint64, error) {
	v, ok := bytes.CutPrefix(line, []byte("after="))
	if !ok {
		return 0, fmt.Errorf("%w %q: want after=SEQ", errBadRequest, clip(string(line)))
	}
	return parseCursor(string(v), "")
}

// refuseTCP answers a refused request with its error line, then half-closes
// and waits, up to tcpCloseGrace, for the client to close its end: closing a
// socket with unread input (the rest of an over-long line) resets the
// connection, and the reset can destroy the line before the client reads it.
func refuseTCP(conn net.Conn, why error, timeout time.Duration) {
	line := append([]byte("error: "), why.Error()...)
	line = append(bytes.ReplaceAll(line, []byte("\n"), []byte(" ")), '\n') // one line, whatever the reason says
	if err := conn.SetWriteDeadline(time.Now().Add(min(timeout, tcpCloseGrace))); err != nil {
		return
	}
	if _, err := conn.Write(line); err != nil {
		return
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			return
		}
	}
	if err := conn.SetReadDeadline(time.Now().Add(tcpCloseGrace)); err != nil {
		return
	}
	// Discard until EOF, the deadline or an error: each is the end we wait for.
	var scratch [512]byte
	for {
		if _, err := conn.Read(scratch[:]); err != nil {
			return
		}
	}
}

// tcpConn is a connection with a write deadline that is cheap to keep fresh.
//
// Moving a deadline costs a timer update, too much for every batch at high
// rates, so write moves it only once an eighth of timeout has passed since
// the last move, and then to timeout plus that eighth from now: a write that
// cannot proceed fails after between timeout and 9/8 timeout, never sooner.
type tcpConn struct {
	net.Conn
	timeout time.Duration
	setAt   time.Time // when the write deadline was last moved
}

func (c *tcpConn) write(b []byte) error {
	slack := c.timeout / 8
	if now := time.Now(); now.Sub(c.setAt) >= slack {
		if err := c.Conn.SetWriteDeadline(now.Add(c.timeout + slack)); err != nil {
			return err
		}
		c.setAt = now
	}
	_, err := c.Conn.Write(b)
	return err
}

// tcpScratch is one batch's working memory, pooled like the SSE scratch, so
// an idle connection holds no buffer of its own.
type tcpScratch struct {
	entries []*Entry
	frames  []byte
}

var tcpScratchPool = sync.Pool{New: func() any { return new(tcpScratch) }}

func putTCPScratch(sc *tcpScratch) {
	clear(sc.entries) // do not keep published entries alive from the pool
	sc.entries = sc.entries[:0]
	if cap(sc.frames) > 2*tcpChunk {
		sc.frames = nil // one huge event must not pin a huge buffer
	}
	tcpScratchPool.Put(sc)
}

// stream writes frames until the subscription ends, a write fails or ctx
// ends, and returns why it stopped.
func (s *TCPServer) stream(ctx context.Context, c *tcpConn, sub *Subscription, gap *event.Gap) error {
	for {
		n, err := s.sendBatch(c, sub, gap)
		if err != nil {
			return err
		}
		gap = nil // sent with the first batch
		if n > 0 {
			continue
		}
		select {
		case <-sub.Ready():
		case <-sub.Done(): // the next Take says why
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sendBatch writes gap, if any, and what the subscription has waiting. It
// returns how many events it sent.
func (s *TCPServer) sendBatch(c *tcpConn, sub *Subscription, gap *event.Gap) (int, error) {
	sc := tcpScratchPool.Get().(*tcpScratch)
	defer putTCPScratch(sc)
	entries, err := sub.Take(sc.entries[:0], streamBatch)
	sc.entries = entries
	if err != nil {
		return 0, err
	}
	b := sc.frames[:0]
	if gap != nil {
		b = append(gap.AppendJSON(b), '\n')
	}
	for _, e := range entries {
		b = append(append(b, e.JSON...), '\n')
		if len(b) >= tcpChunk {
			if err := c.write(b); err != nil {
				return 0, err
			}
			b = b[:0]
		}
	}
	sc.frames = b
	if len(b) > 0 {
		if err := c.write(b); err != nil {
			return 0, err
		}
	}
	return len(entries), nil
}
