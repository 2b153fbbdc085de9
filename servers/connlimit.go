package servers

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// FDMargin is how many file descriptors below the open-file limit the
// server keeps free by default (Options.MaxConns): for the accepts that
// answer a connection beyond the limit, for the event log and for reading
// /proc for /stats. A server that let its connections take every descriptor
// would fail accept with EMFILE, and then even /healthz goes unanswered.
const FDMargin = 128

// refusingConns is how many connections beyond MaxConns may be open at once
// while they are being answered 503: half the margin. A connection beyond
// that is closed as soon as it is accepted, unanswered, so that silent
// clients cannot hold the rest of the margin until their header timeout.
const refusingConns = FDMargin / 2

// ErrConnLimit refuses a stream or poll on a connection beyond
// Options.MaxConns: 503 over HTTP, an error line on the TCP floor.
var ErrConnLimit = errors.New("server at its connection limit")

// defaultMaxConns is the open-file limit less FDMargin, or half the limit
// when that is no more than twice the margin.
func defaultMaxConns() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<30 {
		return 1 << 30 // unknown or unlimited: no cap of ours
	}
	if l.Cur <= 2*FDMargin {
		return max(1, int(l.Cur/2))
	}
	return int(l.Cur - FDMargin)
}

// connGate counts the connections open over every listener of one Server.
type connGate struct {
	limit   int64 // Options.MaxConns
	open    atomic.Int64
	refused atomic.Uint64 // connections refused: answered 503 or an error line, or closed at once
}

// Listener returns l with its connections counted against the server's
// Options.MaxConns: serve every listener the server's transports use
// through it, the TCP floor's included (a TLS listener wraps the result).
// Beyond the limit, connections are still accepted, and marked so that the
// handlers of HTTPServer and the TCP floor refuse them; more than FDMargin/2
// beyond it, Accept closes them at once.
func (s *Server) Listener(l net.Listener) net.Listener {
	return &gateListener{Listener: l, g: &s.gate}
}

type gateListener struct {
	net.Listener
	g *connGate
}

func (l *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		n := l.g.open.Add(1)
		if n <= l.g.limit+refusingConns {
			return &gatedConn{Conn: c, g: l.g, over: n > l.g.limit}, nil
		}
		l.g.open.Add(-1)
		l.g.refused.Add(1)
		_ = c.Close() // its client sees the connection end unanswered; nobody else to tell
	}
}

// gatedConn is a connection a gateListener counts until it is closed.
type gatedConn struct {
	net.Conn
	g       *connGate
	over    bool        // accepted beyond the limit: to be refused
	closed  atomic.Bool // counted out
	refused atomic.Bool // counted as refused
}

func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.g.open.Add(-1)
	}
	return err
}

// CloseWrite half-closes the connection, as net/http and the TCP floor do
// before closing a connection they answered.
func (c *gatedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// refuse counts c as refused, once however many requests it carries.
func (c *gatedConn) refuse() {
	if c.refused.CompareAndSwap(false, true) {
		c.g.refused.Add(1)
	}
}

// overLimit returns c as a gatedConn accepted beyond the limit, or nil.
func overLimit(c net.Conn) *gatedConn {
	if gc, ok := c.(*gatedConn); ok && gc.over {
		return gc
	}
	return nil
}
