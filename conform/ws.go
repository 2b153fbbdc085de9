package conform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
)

// WebSocket check names.
const (
	checkWSCursors = "bad cursors are refused with HTTP 400 before the upgrade"
	checkMessages  = "after=C gives one text message per event from C+1"
	checkPing      = "the server pings"
	checkTooBig    = "close 1009 for a 64 KiB message"
	checkBadUTF8   = "close 1007 for a text message that is not UTF-8"
	checkBadClose  = "close 1002 for a close frame with a one-byte body"
	checkGoingAway = "close 1001 when the server shuts down"
)

// tooBigMessage is the message the server must refuse with 1009: far over
// any read limit a server that only takes control frames needs (pushbench's
// is 4 KiB).
const tooBigMessage = 64 << 10

// Errors of the WebSocket checks.
var (
	errHeaderTooLarge = fmt.Errorf("handshake answer longer than %d bytes", loadgen.MaxResponseHeaderBytes)
	errPinged         = errors.New("pinged")
)

// headerConn bounds what the handshake's answer may take, as the load
// generator's clients bound theirs; lift removes the bound once it is read.
type headerConn struct {
	net.Conn
	left int // -1: no bound
}

func (c *headerConn) Read(b []byte) (int, error) {
	if c.left < 0 {
		return c.Conn.Read(b)
	}
	if c.left == 0 {
		return 0, errHeaderTooLarge
	}
	if len(b) > c.left {
		b = b[:c.left]
	}
	n, err := c.Conn.Read(b)
	c.left -= n
	return n, err
}

// dialWS opens /ws?query. A refused handshake returns its answer, read up
// to what gorilla keeps of the body, with the error.
func (r *run) dialWS(ctx context.Context, query string) (*websocket.Conn, *answer, error) {
	u, err := url.Parse(r.o.URL + contract.WS.Path())
	if err != nil {
		return nil, nil, err
	}
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.RawQuery = query
	var hc *headerConn
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			hc = &headerConn{Conn: c, left: loadgen.MaxResponseHeaderBytes}
			return hc, nil
		},
		HandshakeTimeout: r.o.Timeout,
	}
	where := "GET /ws"
	if query != "" {
		where += "?" + query
	}
	conn, resp, err := d.DialContext(ctx, u.String(), nil)
	if err != nil {
		if resp != nil {
			a := &answer{status: resp.StatusCode, header: resp.Header}
			a.body, _ = io.ReadAll(io.LimitReader(resp.Body, 512)) // only to say what it was
			return nil, a, fmt.Errorf("%s: got %s", where, a)
		}
		if hc != nil && hc.left == 0 {
			// The header reader fails on the cut-off line before it
			// reads again and meets the bound: name the bound.
			err = errHeaderTooLarge
		}
		return nil, nil, fmt.Errorf("%s: %w", where, err)
	}
	hc.left = -1
	conn.SetReadLimit(loadgen.WSReadLimit)
	return conn, nil, nil
}

// ws checks WebSocket.
func (r *run) ws(ctx context.Context) {
	const t = contract.WS
	r.refuseWSCursors(ctx)
	r.messages(ctx)
	r.ping(ctx)
	r.wsClose(ctx, checkTooBig, websocket.CloseMessageTooBig, func(c *websocket.Conn) error {
		return c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("a"), tooBigMessage))
	})
	r.wsClose(ctx, checkBadUTF8, websocket.CloseInvalidFramePayloadData, func(c *websocket.Conn) error {
		return c.WriteMessage(websocket.TextMessage, []byte{'o', 'k', 0xff, 0xfe})
	})
	r.wsClose(ctx, checkBadClose, websocket.CloseProtocolError, func(c *websocket.Conn) error {
		return c.WriteControl(websocket.CloseMessage, []byte{0x03}, time.Now().Add(r.o.Timeout))
	})
	r.skip(string(t), checkGoingAway, "not checkable without stopping the server")
	r.delivery(ctx, t)
	r.reportContent(t)
}

// refuseWSCursors checks that bad cursors are refused by the handshake.
func (r *run) refuseWSCursors(ctx context.Context) {
	const t = contract.WS
	bad, note := r.badCursors(t)
	var whys []string
	for _, b := range bad {
		conn, a, err := r.dialWS(ctx, b.query)
		switch {
		case conn != nil:
			conn.Close()
			whys = append(whys, b.query+": upgraded (101), want 400 before the upgrade")
		case a == nil:
			whys = append(whys, err.Error())
		case a.status != http.StatusBadRequest:
			whys = append(whys, fmt.Sprintf("%s: got %s", b.query, a))
		}
	}
	r.cursorVerdict(t, checkWSCursors, len(bad), whys, note)
}

// readWS reads n messages from /ws?after=cursor within o.Timeout, as items,
// feeding the events to the content checks.
func (r *run) readWS(ctx context.Context, cursor uint64, n int) ([]item, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	conn, _, err := r.dialWS(ctx, after(cursor))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	c := r.contentOf(contract.WS)
	var items []item
	for len(items) < n {
		typ, msg, err := conn.ReadMessage()
		if err != nil {
			return items, fmt.Errorf("GET /ws?%s: after %d of %d messages: %s", after(cursor), len(items), n, wsEnd(err))
		}
		if typ != websocket.TextMessage {
			return items, fmt.Errorf("GET /ws?%s: a binary message %s, want text", after(cursor), quote(msg))
		}
		it := newItem(msg)
		if it.gap == nil {
			c.observe(it.raw)
		}
		items = append(items, it)
	}
	return items, nil
}

// messages checks the messages from a cursor a few events behind the head.
func (r *run) messages(ctx context.Context) {
	const t = string(contract.WS)
	cursor, ok := r.recentCursor(ctx, t, checkMessages)
	if !ok {
		return
	}
	items, err := r.readWS(ctx, cursor, int(r.head-cursor))
	if err == nil {
		if why := consecutive(items, cursor, r.head); why != "" {
			err = fmt.Errorf("%s: %s", after(cursor), why)
		}
	}
	if err != nil {
		r.fail(t, checkMessages, err.Error())
		return
	}
	r.pass(t, checkMessages, "")
}

// ping waits up to Liveness for a ping on a connection with nothing to
// send.
func (r *run) ping(ctx context.Context) {
	const t = string(contract.WS)
	query := ""
	if r.haveHead {
		if err := r.refreshHead(ctx); err != nil {
			r.fail(t, checkPing, err.Error())
			return
		}
		query = after(r.head)
	}
	conn, _, err := r.dialWS(ctx, query)
	if err != nil {
		r.fail(t, checkPing, err.Error())
		return
	}
	defer conn.Close()
	conn.SetPingHandler(func(string) error { return errPinged })
	if err := conn.SetReadDeadline(time.Now().Add(r.o.Liveness)); err != nil {
		r.fail(t, checkPing, err.Error())
		return
	}
	for {
		_, _, err := conn.ReadMessage()
		switch {
		case errors.Is(err, errPinged):
			r.pass(t, checkPing, "within --liveness "+r.o.Liveness.String())
			return
		case isTimeout(err):
			r.fail(t, checkPing, fmt.Sprintf("no ping within --liveness %v", r.o.Liveness))
			return
		case err != nil:
			r.fail(t, checkPing, "the connection ended before a ping: "+wsEnd(err))
			return
		}
	}
}

// wsClose provokes the server on a connection of its own and checks the
// close code it answers with.
func (r *run) wsClose(ctx context.Context, check string, want int, provoke func(*websocket.Conn) error) {
	const t = string(contract.WS)
	query := ""
	if r.haveHead {
		if err := r.refreshHead(ctx); err != nil {
			r.fail(t, check, err.Error())
			return
		}
		query = after(r.head)
	}
	conn, _, err := r.dialWS(ctx, query)
	if err != nil {
		r.fail(t, check, err.Error())
		return
	}
	defer conn.Close()
	deadline := time.Now().Add(r.o.Timeout)
	if err := conn.SetWriteDeadline(deadline); err != nil {
		r.fail(t, check, err.Error())
		return
	}
	// A failed write is not the verdict: the server may have closed
	// already, and its close frame is still there to read.
	werr := provoke(conn)
	if err := conn.SetReadDeadline(deadline); err != nil {
		r.fail(t, check, err.Error())
		return
	}
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue // an event published meanwhile
		}
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce) && ce.Code == want:
			r.pass(t, check, "")
		case isTimeout(err):
			why := fmt.Sprintf("no close within %v", r.o.Timeout)
			if werr != nil {
				why += fmt.Sprintf(" (sending: %v)", werr)
			}
			r.fail(t, check, why)
		default:
			r.fail(t, check, "got "+wsEnd(err))
		}
		return
	}
}

// isTimeout says a read passed its deadline. gorilla hides the net
// package's error behind one of its own that only says Timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// wsEnd says how a connection ended: its close code and reason, or 1006
// for one dropped without a close frame.
func wsEnd(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Code == websocket.CloseAbnormalClosure {
			return "1006 (connection dropped without a close frame)"
		}
		s := fmt.Sprintf("%d", ce.Code)
		if ce.Text != "" {
			s += fmt.Sprintf(" %q", ce.Text)
		}
		return s
	}
	if isTimeout(err) {
		return "nothing within the timeout"
	}
	return fmt.Sprintf("1006 (connection dropped: %v)", err)
}
