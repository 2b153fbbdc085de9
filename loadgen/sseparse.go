package loadgen

import (
	"bytes"
	"errors"
	"io"
	"math"
	"time"
)

// Defaults for SSEParser.
const (
	// DefaultSSEMaxSize bounds one line and one event's data: far above any
	// event the suite sends, far below what would hurt a generator holding
	// thousands of connections.
	DefaultSSEMaxSize = 1 << 20
	// minSSEBuffer keeps a leading byte order mark inside one buffer.
	minSSEBuffer = 16
)

// Errors returned by SSEParser.
var (
	// ErrSSETooLong is returned for a line, or an event's data, longer than
	// the parser's MaxSize. A peer that never ends a line or an event would
	// otherwise grow the parser's buffers without bound.
	ErrSSETooLong = errors.New("loadgen: sse line or event longer than the parser's limit")

	errSSEBadRead = errors.New("loadgen: sse: reader returned an invalid count")
)

// sseBOM is U+FEFF encoded as UTF-8.
const sseBOM = "\xEF\xBB\xBF"

// SSEEvent is one event an SSEParser dispatched, as a browser's EventSource
// would fire it. The slices belong to the parser and are valid only until
// the next call to Next or Reset.
type SSEEvent struct {
	// Type is the event type: the last "event" field, or "message".
	Type []byte
	// Data is the data fields joined with LF.
	Data []byte
	// ID is the last event ID at dispatch: it persists across events until
	// an "id" field changes it, as MessageEvent.lastEventId does.
	ID []byte
	// Retry is the reconnection time the stream set, meaningful only if
	// HasRetry.
	Retry time.Duration
	// HasRetry reports whether a valid "retry" field was seen since the
	// previous dispatched event.
	HasRetry bool
}

// SSEParser reads a text/event-stream and dispatches its events following
// the WHATWG HTML "Interpreting an event stream" rules exactly.
//
// It works on bytes, not decoded text: every byte the rules look at (CR,
// LF, ':', ' ', NUL, digits) is ASCII, and the standard's UTF-8 decoder
// never makes an ASCII byte part of a multi-byte sequence or of a replaced
// subpart (a sequence cut short by one ends before it), so decoding commutes
// with splitting at ASCII bytes: decoding each field's bytes with DecodeUTF8
// gives exactly the strings a browser dispatches, invalid UTF-8 included.
// Whoever presents a field as text decodes it (tail, and the Last-Event-ID
// an EventSource sends); the load generator's accounting reads the data as
// ASCII JSON and never pays for decoding.
//
// It allocates nothing per line or per event once its buffers have grown to
// the stream's sizes: lines are parsed in place in the read buffer, and only
// a line longer than the buffer is copied, into a line buffer kept for reuse.
//
// One parser can serve every connection of an EventSource: Reset starts a
// new stream and keeps the last event ID and reconnection time, as browsers
// do.
type SSEParser struct {
	// MaxSize bounds one line, and one event's data, in bytes. Zero means
	// DefaultSSEMaxSize.
	MaxSize int

	r        io.Reader
	buf      []byte
	r0, w    int   // unread bytes are buf[r0:w]
	err      error // sticky: from r, or ErrSSETooLong
	line     []byte
	bomDone  bool // the leading byte order mark was looked for
	skipLF   bool // the last line ended with a CR that was the last byte read
	data     []byte
	typ      []byte
	id       []byte // last event ID buffer
	lastID   []byte // last event ID string: the buffer as of the last blank line
	retry    time.Duration
	hasRetry bool // the stream set a reconnection time
	newRetry bool // ... since the last dispatched event
}

// NewSSEParser returns a parser reading r through its own buffer of bufSize
// bytes (at least 16; zero or less means DefaultReadBuffer).
func NewSSEParser(r io.Reader, bufSize int) *SSEParser {
	if bufSize <= 0 {
		bufSize = DefaultReadBuffer
	}
	return &SSEParser{r: r, buf: make([]byte, max(bufSize, minSSEBuffer))}
}

// Reset starts parsing a new stream from r, discarding buffered input and
// any half-received event. The last event ID and the reconnection time
// survive: they belong to the EventSource, not to one connection, and a
// browser keeps them across reconnections.
func (p *SSEParser) Reset(r io.Reader) {
	p.r, p.r0, p.w, p.err = r, 0, 0, nil
	p.bomDone, p.skipLF = false, false
	p.data, p.typ = p.data[:0], p.typ[:0]
	p.id = append(p.id[:0], p.lastID...)
}

// LastEventID is the last event ID string: what a browser sends as
// Last-Event-ID on reconnection. It is the ID buffer as of the last blank
// line, so an id field of an event cut off by the connection's end does not
// count, and the event it belonged to is asked for again. The slice is valid
// until the next call to Next, Reset or SetLastEventID.
func (p *SSEParser) LastEventID() []byte { return p.lastID }

// SetLastEventID sets the last event ID, as if a stream had dispatched an
// event with that id: the tail command resumes with it.
func (p *SSEParser) SetLastEventID(id []byte) {
	p.lastID = append(p.lastID[:0], id...)
	p.id = append(p.id[:0], id...)
}

// Retry is the reconnection time the stream set with a "retry" field, and
// whether it set one at all.
func (p *SSEParser) Retry() (time.Duration, bool) { return p.retry, p.hasRetry }

// Next reads until it can dispatch an event and returns it. At the end of the
// stream it returns the reader's error (io.EOF for a clean end) and discards
// a half-received event, as the standard says.
func (p *SSEParser) Next() (SSEEvent, error) {
	if p.err == ErrSSETooLong {
		return SSEEvent{}, p.err // the rest of the stream cannot be framed
	}
	for {
		line, err := p.readLine()
		if err != nil {
			p.data, p.typ = p.data[:0], p.typ[:0]
			return SSEEvent{}, err
		}
		if len(line) == 0 {
			if ev, ok := p.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if err := p.field(line); err != nil {
			p.err = err
			p.data, p.typ = p.data[:0], p.typ[:0]
			return SSEEvent{}, err
		}
	}
}

// dispatch handles a blank line. Whether or not there is an event to fire,
// the last event ID string takes the buffer's value first (step 1 of
// "dispatch the event"), so "id: 7" followed by a blank line moves the
// resume point without firing anything.
func (p *SSEParser) dispatch() (SSEEvent, bool) {
	p.lastID = append(p.lastID[:0], p.id...)
	if len(p.data) == 0 {
		p.typ = p.typ[:0]
		return SSEEvent{}, false
	}
	if len(p.typ) == 0 {
		p.typ = append(p.typ, "message"...)
	}
	ev := SSEEvent{
		Type:     p.typ,
		Data:     p.data[:len(p.data)-1], // every data field appended an LF
		ID:       p.lastID,
		Retry:    p.retry,
		HasRetry: p.newRetry,
	}
	// The returned slices keep pointing at the arrays; the next event
	// overwrites them, which is why they are valid only until then.
	p.data, p.typ, p.newRetry = p.data[:0], p.typ[:0], false
	return ev, true
}

// field processes one non-blank line.
func (p *SSEParser) field(line []byte) error {
	if line[0] == ':' {
		return nil // comment
	}
	name, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) { // the compiler does not allocate for this conversion
	case "event":
		p.typ = append(p.typ[:0], value...)
	case "data":
		if len(p.data)+len(value) >= p.maxSize() {
			return ErrSSETooLong
		}
		p.data = append(append(p.data, value...), '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.id = append(p.id[:0], value...)
		}
	case "retry":
		if d, ok := parseSSERetry(value); ok {
			p.retry, p.hasRetry, p.newRetry = d, true, true
		}
	}
	return nil
}

func (p *SSEParser) maxSize() int {
	if p.MaxSize > 0 {
		return p.MaxSize
	}
	return DefaultSSEMaxSize
}

// parseSSERetry reads a retry value: ASCII digits only, in milliseconds. An
// empty value has no digits and is ignored. A value too large for a
// time.Duration is clamped to the largest one rather than ignored: the
// server asked for a very long wait, not for the default.
func parseSSERetry(v []byte) (time.Duration, bool) {
	const maxMS = math.MaxInt64 / int64(time.Millisecond)
	if len(v) == 0 {
		return 0, false
	}
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms <= maxMS { // ms*10+9 still fits an int64 here
			ms = ms*10 + int64(c-'0')
		}
	}
	return time.Duration(min(ms, maxMS)) * time.Millisecond, true
}

// readLine returns the next line without its line ending. The slice is
// valid until the next call. A final line with no line ending is not a line:
// at the end of input readLine returns the reader's error instead.
func (p *SSEParser) readLine() ([]byte, error) {
	if !p.bomDone {
		if err := p.dropBOM(); err != nil {
			return nil, err
		}
	}
	p.line = p.line[:0]
	long := false // the line so far is in p.line
	for {
		if p.skipLF && p.r0 < p.w {
			// CR LF split across reads is one line ending.
			if p.buf[p.r0] == '\n' {
				p.r0++
			}
			p.skipLF = false
		}
		s := p.buf[p.r0:p.w]
		// The line ends at the first CR or LF. Two IndexByte calls are
		// vectorised; a byte loop or IndexAny is several times slower.
		i := bytes.IndexByte(s, '\n')
		before := s
		if i >= 0 {
			before = s[:i]
		}
		if j := bytes.IndexByte(before, '\r'); j >= 0 {
			i = j
		}
		if i >= 0 {
			line := s[:i]
			p.r0 += i + 1
			if s[i] == '\r' {
				if p.r0 < p.w {
					if p.buf[p.r0] == '\n' {
						p.r0++
					}
				} else {
					// Do not wait for the next byte to see whether it is an
					// LF: the line (perhaps the blank line that dispatches an
					// event) is complete now.
					p.skipLF = true
				}
			}
			if long {
				line = append(p.line, line...)
				p.line = line
			}
			if len(line) > p.maxSize() {
				p.err = ErrSSETooLong
				return nil, p.err
			}
			return line, nil
		}
		if p.err != nil {
			return nil, p.err
		}
		// No line ending buffered: make room and read more.
		if p.r0 > 0 {
			p.w = copy(p.buf, s)
			p.r0 = 0
		}
		if p.w == len(p.buf) {
			// The line is longer than the buffer: keep it aside.
			if len(p.line)+p.w > p.maxSize() {
				p.err = ErrSSETooLong
				return nil, p.err
			}
			p.line = append(p.line, p.buf[:p.w]...)
			p.w, long = 0, true
		}
		p.fill()
	}
}

// dropBOM skips one byte order mark at the very start of the stream. It
// reads only while what it has could still be the start of one.
func (p *SSEParser) dropBOM() error {
	for {
		s := p.buf[p.r0:p.w]
		if len(s) >= len(sseBOM) || !bytes.HasPrefix([]byte(sseBOM), s) {
			if bytes.HasPrefix(s, []byte(sseBOM)) {
				p.r0 += len(sseBOM)
			}
			p.bomDone = true
			return nil
		}
		if p.err != nil {
			return p.err
		}
		p.fill()
	}
}

// fill reads once into the free end of the buffer, recording any error. A
// reader that keeps returning nothing and no error is broken; give up on it
// as bufio does rather than spin.
func (p *SSEParser) fill() {
	for range 100 {
		n, err := p.r.Read(p.buf[p.w:])
		if n < 0 || n > len(p.buf)-p.w {
			p.err = errSSEBadRead
			return
		}
		p.w += n
		if err != nil {
			p.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	p.err = io.ErrNoProgress
}
