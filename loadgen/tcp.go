package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// TCP is the floor: the same events over plain TCP with one line of request
// and newline-framed JSON, as servers.TCPServer serves them. Reports set every
// transport beside it.
const TCP = "tcp"

// Errors the TCP client gives up with. Anything else (a refused or dropped
// connection, a connection silent for ReadTimeout) is transient: the client
// reconnects with Backoff.
var (
	// ErrTCPRefused is an "error:" line from the server: the request itself
	// is wrong (a bad cursor, one ahead of the stream), so repeating it
	// cannot help.
	ErrTCPRefused = errors.New("loadgen: tcp: server refused the request")
	// ErrTCPLineTooLong is a line longer than TCPMaxLine.
	ErrTCPLineTooLong = errors.New("loadgen: tcp: line too long")
)

// TCPMaxLine is the longest line the TCP client accepts, in bytes, newline
// excluded. Like WSReadLimit it only stops a broken server from making a
// client buffer without bound.
const TCPMaxLine = 1 << 20

// tcpMaxReason bounds how much of a server's error line the client repeats.
const tcpMaxReason = 512

// tcpClient keeps one connection open to the floor and reopens it from its
// cursor whenever it drops, pausing as Backoff says, like the WebSocket
// client. It is one goroutine with one read buffer, reused by every
// connection.
type tcpClient struct {
	t    *Tracker
	o    Options
	addr string        // host:port
	br   *bufio.Reader // ReadBuffer bytes; lines that fit are read in place
	long []byte        // a line longer than br's buffer, gathered here
	req  []byte        // the request line, rebuilt per connection
	// setAt is when the read deadline was last pushed forward; see touch.
	setAt time.Time
}

// newTCPClient returns a client of the floor at base, "tcp://host:port" or
// "host:port".
func newTCPClient(base string, t *Tracker, o Options) (Client, error) {
	addr, err := tcpAddr(base)
	if err != nil {
		return nil, err
	}
	return &tcpClient{t: t, o: o, addr: addr, br: bufio.NewReaderSize(nil, o.ReadBuffer)}, nil
}

func tcpAddr(base string) (string, error) {
	bad := fmt.Errorf("loadgen: tcp client: base %q: want tcp://host:port or host:port", base)
	addr, ok := strings.CutPrefix(base, "tcp://")
	if !ok && strings.Contains(base, "://") {
		return "", bad
	}
	addr = strings.TrimSuffix(addr, "/")
	if _, port, err := net.SplitHostPort(addr); err != nil {
		return "", bad
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", bad
	}
	return addr, nil
}

// Run keeps a connection open until ctx ends, pausing between connections
// as Backoff says. It returns nil when ctx ends, and an error wrapping
// ErrTCPRefused or ErrTCPLineTooLong when the server's answer would only be
// repeated.
func (c *tcpClient) Run(ctx context.Context) error {
	return reconnect(ctx, c.o, c.t, c.session, func(err error) bool {
		return errors.Is(err, ErrTCPRefused) || errors.Is(err, ErrTCPLineTooLong)
	})
}

// session makes one connection, asks for the events after the cursor and
// reads lines until the connection ends. delivered reports whether at least
// one line arrived.
func (c *tcpClient) session(ctx context.Context) (delivered bool, err error) {
	c.t.Attempt()
	conn, err := c.o.Dial(ctx, "tcp", c.addr)
	if err != nil {
		return false, dialError{err}
	}
	// Closing the connection is how a blocked read learns that ctx ended.
	stop := watchCtx(ctx, func() { _ = conn.Close() })
	defer func() {
		stop()
		// Whether or not the guard closed it already, the connection is
		// finished; a close error cannot change the session's outcome.
		_ = conn.Close()
		c.br.Reset(nil) // hold no reference to a dead connection
	}()

	now := time.Now()
	c.setAt = now
	// The first deadline covers the request's write too.
	if err := conn.SetDeadline(now.Add(c.o.ReadTimeout + c.o.ReadTimeout/8)); err != nil {
		return false, err
	}
	c.req = strconv.AppendUint(append(c.req[:0], "after="...), c.t.Cursor(), 10)
	c.req = append(c.req, '\n')
	if _, err := conn.Write(c.req); err != nil {
		return false, err
	}
	// The floor has no handshake: a sent request is a stream, and its first
	// line may come only once the first event is published.
	c.t.Connected()
	// Detection time for recovery figures: when this connection ended,
	// unless it ended because Run is ending.
	defer func() {
		if ctx.Err() == nil {
			c.t.Disconnected()
		}
	}()

	c.br.Reset(conn)
	for {
		line, err := c.readLine()
		if err != nil {
			return delivered, err
		}
		now := time.Now()
		delivered = true
		if reason, ok := bytes.CutPrefix(line, []byte("error:")); ok {
			return delivered, fmt.Errorf("%w: %q", ErrTCPRefused, bytes.TrimSpace(reason[:min(len(reason), tcpMaxReason)]))
		}
		accountMsg(c.t, &c.o, line, now.UnixNano())
		if cap(c.long) > retainBuf {
			c.long = nil // one huge line must not pin a huge buffer
		}
		if err := c.touch(conn, now); err != nil {
			return delivered, err
		}
	}
}

// readLine returns the next line without its newline. A line that fits the
// read buffer is returned in place; a longer one is gathered into c.long. The
// slice is valid until the next call. A line cut short by the end of the
// connection is dropped: the client resumes before it.
func (c *tcpClient) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == nil {
		return line[:len(line)-1], nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	c.long = append(c.long[:0], line...)
	for {
		line, err = c.br.ReadSlice('\n')
		c.long = append(c.long, line...)
		if err == nil {
			line = c.long[:len(c.long)-1]
			if len(line) > TCPMaxLine {
				return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTCPLineTooLong, len(line), TCPMaxLine)
			}
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		if len(c.long) > TCPMaxLine {
			return nil, fmt.Errorf("%w: over %d bytes", ErrTCPLineTooLong, TCPMaxLine)
		}
	}
}

// touch pushes the read deadline forward after a line at now, the way the
// WebSocket client's touch does: only once an eighth of ReadTimeout has
// passed since the last move, and then to ReadTimeout plus that eighth, so
// that a connection is called dead after between ReadTimeout and 9/8
// ReadTimeout of silence at the cost of a timer update per eighth, not per
// line.
func (c *tcpClient) touch(conn net.Conn, now time.Time) error {
	slack := c.o.ReadTimeout / 8
	if now.Sub(c.setAt) < slack {
		return nil
	}
	c.setAt = now
	return conn.SetReadDeadline(now.Add(c.o.ReadTimeout + slack))
}
