package loadgen

import (
	"errors"
	"fmt"
	"net"
)

// MaxResponseHeaderBytes bounds the response header every HTTP/1.1 client
// here reads (the SSE client and EventSource, the polling client, the
// WebSocket handshake), and the header list of the HTTP/2 variants, in
// bytes.
//
// net/http's Transport defaults to 10 MiB and Chromium refuses headers over
// 256 KiB. Our servers send under 1 KiB, and a load generator holds
// thousands of connections, each of which may be reading a header at the
// same instant: at 64 KiB, 19,000 clients reading hostile headers at once
// hold at most about 1.2 GiB, where 1 MiB would be 19 GiB.
const MaxResponseHeaderBytes = 64 << 10

// ErrHeaderTooLarge is a response whose header did not end within
// MaxResponseHeaderBytes. The client treats it as a failed connection: it
// counts it and tries again as after a network error.
var ErrHeaderTooLarge = errors.New("loadgen: response header too large")

// noHeaderLimit marks a headerConn whose limit is lifted.
const noHeaderLimit = -1

// headerConn limits what may be read from a connection while a response
// header is being read, as net/http's persistConn does with its readLimit:
// a server that never ends its header makes the read fail once
// MaxResponseHeaderBytes have been read, instead of growing the header
// reader's buffer without bound. Once the header has been read the client
// lifts the limit (the body has limits of its own, or is a stream read in
// place), and a keep-alive client arms it again before the next response.
//
// Bytes a bufio.Reader read ahead count against the limit too, so a header
// may come out a few KiB shorter than the limit; the bound is what matters.
// Only the goroutine that reads the connection calls its methods.
type headerConn struct {
	net.Conn
	left int64 // bytes the header may still take, or noHeaderLimit
}

// newHeaderConn returns c with the limit armed.
func newHeaderConn(c net.Conn) *headerConn {
	return &headerConn{Conn: c, left: MaxResponseHeaderBytes}
}

func (c *headerConn) Read(p []byte) (int, error) {
	if c.left == noHeaderLimit {
		return c.Conn.Read(p)
	}
	if c.left <= 0 {
		return 0, errHeaderLimit
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	return n, err
}

// errHeaderLimit is what a read past the limit returns; headerErr turns the
// header reader's error into ErrHeaderTooLarge, whatever the reader made of
// it.
var errHeaderLimit = fmt.Errorf("%w: more than %d bytes", ErrHeaderTooLarge, MaxResponseHeaderBytes)

// arm limits reads to MaxResponseHeaderBytes from now on.
func (c *headerConn) arm() { c.left = MaxResponseHeaderBytes }

// lift ends the limit.
func (c *headerConn) lift() { c.left = noHeaderLimit }

// headerErr returns the error a failed header read should report: a header
// that used up the limit is ErrHeaderTooLarge, whatever the HTTP reader made
// of the failed read (net/http does the same). c may be nil: no connection
// was made.
func (c *headerConn) headerErr(err error) error {
	if err != nil && c != nil && c.left == 0 && !errors.Is(err, ErrHeaderTooLarge) {
		return fmt.Errorf("%w (reading it: %v)", errHeaderLimit, err)
	}
	return err
}
