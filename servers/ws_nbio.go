package servers

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// wsNBIO is the WebSocket transport on nbio's engine (Engine NBIO), with no
// goroutine per connection: its handler checks the request, subscribes and
// answers the handshake as the gorilla implementation does, then takes the
// connection over from nbio and returns. From then on the pump (nbioPump)
// writes the stream when the hub, its ping timer or nbio's writing wakes
// it, and nbio hands what the client sends to Parse on its event loop.
//
// It speaks RFC 6455 itself rather than through nbio's WebSocket package
// (nbhttp/websocket): importing that package starts two goroutine pools
// and allocates two queues of 64K tasks at init (its DefaultEngine),
// whatever the process serves, which every program importing this package
// would carry and every goroutine leak check would report; and its close
// codes are not the contract's (1002 for a text message that is not UTF-8,
// where RFC 6455 and the contract say 1007). What a server that only sends
// text and only reads control frames needs is small: the handshake, as
// gorilla's Upgrader checks it; unmasked frames out; masked frames in, read
// as they arrive, with gorilla's checks and answers, so that every
// implementation closes a misbehaving client alike.
type wsNBIO struct{ m *nbioMount }

func newWSNBIO(m mount) http.Handler { return &wsNBIO{m: newNBIOMount(m)} }

// wsNBIOStream is one WebSocket stream on nbio.
type wsNBIOStream struct {
	nbioStream
	// in is the client's frame or message being read, when one is
	// unfinished; nil between them, which is where a client that only
	// answers pings always is.
	in *wsIn
	// discard: what the client sends is no longer read, only dropped until
	// the connection closes: after a protocol error, after a message over
	// ReadLimit (whose rest is not read, as gorilla's implementation lingers),
	// and once both sides have sent their close.
	discard bool
}

var (
	_ nbioStepper = (*wsNBIOStream)(nil)
	_ nbioFramer  = (*wsNBIOStream)(nil)
)

// wsIn is what is read of an unfinished frame or message.
type wsIn struct {
	partial []byte // the start of a frame whose header, or whole control frame, has not all arrived
	remain  uint64 // payload bytes of the current data frame still to come
	pos     uint64 // payload bytes of it read so far: where its mask stands
	mask    [4]byte
	final   bool  // the current data frame ends its message
	open    bool  // a message has begun whose final frame has not (gorilla's !readFinal)
	text    bool  // the message is text: its bytes are kept for the UTF-8 check
	length  int64 // bytes of the message so far, against ReadLimit
	msg     []byte
}

// WebSocket opcodes (RFC 6455 §5.2).
const (
	wsOpContinuation = 0x0
	wsOpText         = 0x1
	wsOpBinary       = 0x2
	wsOpClose        = 0x8
	wsOpPing         = 0x9
	wsOpPong         = 0xa
)

// wsGUID is what a handshake's key is hashed with (RFC 6455 §1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Handshakes the server refuses, with gorilla's words.
var (
	errWSNoUpgrade  = errors.New("websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header")
	errWSNoWebSock  = errors.New("websocket: the client is not using the websocket protocol: 'websocket' token not found in 'Upgrade' header")
	errWSVersion    = errors.New("websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header")
	errWSKey        = errors.New("websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length")
	wsPingFrame     = []byte{0x80 | wsOpPing, 0}
	wsSwitchingHead = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
)

func (h *wsNBIO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &wsNBIOStream{}
	gap, ok := h.m.open(w, r, "upgrade", wsCursor, st)
	if !ok {
		return
	}
	accept, status, err := wsAccept(r)
	if err != nil {
		st.sub.Close()
		h.m.group.leave()
		w.Header().Set("Sec-Websocket-Version", "13")
		http.Error(w, err.Error(), status)
		return
	}
	// No extension and no subprotocol is offered: every transport carries
	// the same bytes, uncompressed.
	head := append([]byte(wsSwitchingHead), accept...)
	head = append(head, "\r\n\r\n"...)
	if gap != nil {
		head = appendWSFrame(head, wsOpText, gap.AppendJSON(nil))
	}
	h.m.startTick(st, h.m.o.PingInterval)
	// A client that answers no ping within PongWait of it is dropped:
	// nbio closes the connection at its read deadline, which a pong moves.
	_ = st.conn.SetReadDeadline(time.Now().Add(h.m.o.PingInterval + h.m.o.PongWait)) // fails only on a closed connection
	h.m.start(w, st, head)
}

// wsAccept checks a handshake as gorilla's Upgrader does (the method was
// checked before) and returns its Sec-WebSocket-Accept, or the status and
// reason to refuse it with. Like gorilla's default, it refuses a browser
// whose Origin is not the server's own host.
func wsAccept(r *http.Request) (string, int, error) {
	switch {
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return "", http.StatusBadRequest, errWSNoUpgrade
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return "", http.StatusBadRequest, errWSNoWebSock
	case !headerHasToken(r.Header, "Sec-Websocket-Version", "13"):
		return "", http.StatusBadRequest, errWSVersion
	case !sameOrigin(r):
		return "", http.StatusForbidden, errCrossOrigin
	}
	key := r.Header.Get("Sec-Websocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return "", http.StatusBadRequest, errWSKey
	}
	sum := sha1.Sum([]byte(key + wsGUID)) //nolint:gosec // RFC 6455 says SHA-1
	return base64.StdEncoding.EncodeToString(sum[:]), 0, nil
}

// headerHasToken says whether a comma-separated list in header name holds
// token, in any case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// appendWSFrame appends a final, unmasked frame: what a server sends.
func appendWSFrame(b []byte, op byte, payload []byte) []byte {
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
	return append(b, payload...)
}

func (st *wsNBIOStream) open(b []byte) []byte { return b }

// frame is one event as one text message holding its canonical JSON.
func (st *wsNBIOStream) frame(b []byte, e *Entry) []byte { return appendWSFrame(b, wsOpText, e.JSON) }

func (st *wsNBIOStream) seal(b []byte) []byte { return b }

// step sends what is due: a ping, the events the subscription has, or the
// close frame that ends the stream when the hub dropped it.
func (st *wsNBIOStream) step() {
	s := &st.nbioStream
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.begin() {
		return
	}
	if s.tickDue.Swap(false) {
		// A ping goes out whatever the connection holds, among the events,
		// as the other implementations' does between batches.
		if err := s.write(wsPingFrame, s.m.o.WriteTimeout); err != nil {
			return // the connection is closed: finish follows
		}
		s.tick.Reset(s.m.o.PingInterval)
	}
	if _, err := s.sendEvents(st); err != nil {
		// 1008 for a client cut off as slow, 1001 when the server shuts
		// down; a failed write closed the connection, and finish follows.
		if code, text := wsCloseReason(err); code != 0 {
			s.why = err
			st.closeAndWait(code, text)
		}
	}
}

// sendClose sends a close frame with code and text, under the grace a close
// frame gets; callers hold mu. The stream sends nothing after it.
func (st *wsNBIOStream) sendClose(code int, text string) {
	st.ending = true
	msg := websocket.FormatCloseMessage(code, text)
	msg = msg[:min(len(msg), 125)] // a control frame's payload is at most 125 bytes
	// A failed write closed the connection: finish follows.
	_ = st.write(appendWSFrame(nil, wsOpClose, msg), min(wsCloseGrace, st.m.o.WriteTimeout))
}

// closeAndWait sends a close frame and gives the client wsCloseGrace to
// answer with its own, on which Parse closes the connection, so that the
// frame is read before the connection goes; past the grace nbio closes it
// at the read deadline, which pongs no longer move. Callers hold mu.
func (st *wsNBIOStream) closeAndWait(code int, text string) {
	st.sendClose(code, text)
	_ = st.conn.SetReadDeadline(time.Now().Add(wsCloseGrace)) // fails only on a closed connection
}

// Parse reads what the client sends, as nbio hands it over on its event
// loop: it must not block. Clients send nothing but control frames: pings
// are answered, pongs move the read deadline, a close is answered and ends
// the connection, and data messages are dropped, a text message once it is
// checked to be UTF-8 (1007), any message once it passes ReadLimit (1009).
// A frame that breaks RFC 6455 is answered 1002, as gorilla answers it.
func (st *wsNBIOStream) Parse(data []byte) error {
	s := &st.nbioStream
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done.Load() || st.discard {
		return nil
	}
	if st.in != nil && len(st.in.partial) > 0 {
		data = append(st.in.partial, data...)
		st.in.partial = nil
	}
	for len(data) > 0 && !st.discard {
		if st.in != nil && st.in.remain > 0 {
			data = st.payload(data)
			continue
		}
		n := st.readFrame(data)
		if n == 0 {
			// At most a data frame's header or a whole control frame:
			// 131 bytes.
			st.input().partial = append([]byte(nil), data...)
			break
		}
		data = data[n:]
	}
	if in := st.in; in != nil && len(in.partial) == 0 && in.remain == 0 && !in.open {
		st.in = nil // between messages: nothing to keep
	}
	return nil
}

func (st *wsNBIOStream) input() *wsIn {
	if st.in == nil {
		st.in = new(wsIn)
	}
	return st.in
}

// readFrame reads the frame at the start of b: a control frame whole, a
// data frame's header, whose payload payload reads. It returns how many
// bytes it read, 0 when b holds too little of the frame to go on.
func (st *wsNBIOStream) readFrame(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	op, final := b[0]&0x0f, b[0]&0x80 != 0
	n, length := 2, uint64(b[1]&0x7f)
	switch length {
	case 126:
		if len(b) < 4 {
			return 0
		}
		n, length = 4, uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return 0
		}
		n, length = 10, binary.BigEndian.Uint64(b[2:])
	}
	open := st.in != nil && st.in.open
	if problem := wsFrameProblems(b[0], b[1], length, open); problem != "" {
		st.protocolError(problem)
		return len(b)
	}
	n += 4 // the mask key: a client's frames are masked, as checked
	if len(b) < n {
		return 0
	}
	mask := b[n-4 : n]
	if op >= wsOpClose { // a control frame, at most 125 bytes, as checked
		end := n + int(length)
		if len(b) < end {
			return 0
		}
		p := b[n:end]
		wsUnmask(p, mask, 0)
		st.control(op, p)
		return end
	}
	in := st.input()
	if op != wsOpContinuation { // a message begins
		in.text, in.length, in.msg = op == wsOpText && !st.ending, 0, nil
	}
	in.open, in.final = !final, final
	in.remain, in.pos = length, 0
	copy(in.mask[:], mask)
	if !st.ending {
		if length > math.MaxInt64-uint64(in.length) || in.length+int64(length) > st.m.o.ReadLimit {
			st.tooBig()
			return n
		}
		in.length += int64(length)
	}
	if length == 0 && final {
		st.messageEnd()
	}
	return n
}

// wsFrameProblems lists what is wrong with a client frame's first two
// bytes, in gorilla's words; "" when nothing is. open says whether a
// message is unfinished.
func wsFrameProblems(b0, b1 byte, length uint64, open bool) string {
	var p []string
	for i, name := range [...]string{"RSV1 set", "RSV2 set", "RSV3 set"} {
		if b0&(0x40>>i) != 0 {
			p = append(p, name)
		}
	}
	switch op := b0 & 0x0f; op {
	case wsOpClose, wsOpPing, wsOpPong:
		if length > 125 {
			p = append(p, "len > 125 for control")
		}
		if b0&0x80 == 0 {
			p = append(p, "FIN not set on control")
		}
	case wsOpText, wsOpBinary:
		if open {
			p = append(p, "data before FIN")
		}
	case wsOpContinuation:
		if !open {
			p = append(p, "continuation after FIN")
		}
	default:
		p = append(p, "bad opcode "+strconv.Itoa(int(op)))
	}
	if b1&0x80 == 0 {
		p = append(p, "bad MASK")
	}
	return strings.Join(p, ", ")
}

// payload reads the current data frame's payload from the start of b and
// returns the rest of b.
func (st *wsNBIOStream) payload(b []byte) []byte {
	in := st.in
	k := min(uint64(len(b)), in.remain)
	if in.text {
		p := b[:k]
		wsUnmask(p, in.mask[:], in.pos)
		in.msg = append(in.msg, p...)
	}
	in.pos += k
	in.remain -= k
	if in.remain == 0 && in.final {
		st.messageEnd()
	}
	return b[k:]
}

func wsUnmask(p, mask []byte, pos uint64) {
	for i := range p {
		p[i] ^= mask[(pos+uint64(i))&3]
	}
}

// messageEnd drops a message the client finished, once a text one is
// checked.
func (st *wsNBIOStream) messageEnd() {
	in := st.in
	bad := in.text && !utf8.Valid(in.msg)
	in.text, in.msg, in.length = false, nil, 0
	if bad {
		// The client is told, then given wsCloseGrace to answer; what it
		// sends meanwhile is read only for its close frame.
		st.closeAndWait(websocket.CloseInvalidFramePayloadData, errWSBadUTF8.Error())
	}
}

// control handles a control frame, p its payload, unmasked.
func (st *wsNBIOStream) control(op byte, p []byte) {
	switch {
	case op == wsOpClose:
		st.clientClose(p)
	case st.ending: // a closing stream answers nothing and waits no longer
	case op == wsOpPing:
		// Unanswered while the connection holds batchChunk unwritten: a
		// client that pings and does not read must not make the server
		// hold its pongs without bound (nbio never blocks a write).
		if pong := appendWSFrame(nil, wsOpPong, p); st.room(len(pong)) {
			_ = st.write(pong, st.m.o.WriteTimeout) // a failure closed the connection
		}
	case op == wsOpPong:
		_ = st.conn.SetReadDeadline(time.Now().Add(st.m.o.PingInterval + st.m.o.PongWait))
	}
}

// clientClose handles the client's close frame: the answer to the server's,
// on which the connection closes, or the client's own, which is answered as
// gorilla answers it (its code echoed; 1002 for a 1-byte body, a code a
// peer may not send or a reason that is not UTF-8) before the connection
// closes.
func (st *wsNBIOStream) clientClose(p []byte) {
	st.discard = true
	if st.ending {
		_ = st.conn.Close() // finish follows
		return
	}
	code, text := websocket.CloseNoStatusReceived, ""
	if len(p) >= 2 {
		code = int(binary.BigEndian.Uint16(p))
		switch reason := p[2:]; {
		case !wsReceivedCode(code):
			code, text = websocket.CloseProtocolError, "bad close code "+strconv.Itoa(code)
		case !utf8.Valid(reason):
			code, text = websocket.CloseProtocolError, "invalid utf8 payload in close frame"
		}
	} else if len(p) == 1 {
		code, text = websocket.CloseProtocolError, errWSShortClose.Error()
	}
	st.sendClose(code, text)
	st.closeWhenDrained()
}

// wsReceivedCode says whether a peer may send close code code: gorilla's
// table.
func wsReceivedCode(code int) bool {
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1013) || (code >= 3000 && code <= 4999)
}

// protocolError answers a frame that breaks RFC 6455 with 1002 and closes
// the connection once that is written: what follows cannot be read as
// frames.
func (st *wsNBIOStream) protocolError(problem string) {
	st.discard = true
	if st.ending {
		return // the server's close frame is out already
	}
	st.sendClose(websocket.CloseProtocolError, problem)
	st.closeWhenDrained()
}

// tooBig answers a message over ReadLimit with 1009 and drops the rest of
// what the client sends, which is not read, until it closes or
// wsCloseGrace passes: closing a socket that holds unread input would reset
// the connection, which can destroy the close frame before the client reads
// it.
func (st *wsNBIOStream) tooBig() {
	st.closeAndWait(websocket.CloseMessageTooBig, "")
	st.discard = true
}
