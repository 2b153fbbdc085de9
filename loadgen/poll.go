package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// Errors the polling client gives up with. A 5xx, a timeout or a dropped
// connection is transient: the client tries again after PollInterval.
var (
	// ErrPollRejected is a poll answered with a 4xx, or with any status the
	// protocol never sends (not 200, 204 or 5xx): the request itself is
	// wrong, so repeating it cannot help.
	ErrPollRejected = errors.New("loadgen: poll rejected")
	// ErrPollTooLong is a poll answer longer than MaxPollBody.
	ErrPollTooLong = errors.New("loadgen: poll answer too long")
	// ErrPollURL is a Poller URL that is not http or https.
	ErrPollURL = errors.New("loadgen: poll: not an http or https URL")

	// errBadAnswer is a 200 answer that is not the protocol's JSON object.
	// The polling client counts it as malformed and polls again after
	// PollInterval; a Poller gives up.
	errBadAnswer = errors.New("loadgen: malformed poll answer")
)

// MaxPollBody is the longest poll answer the client reads, in bytes. It only
// stops a broken server from making a client buffer without bound.
const MaxPollBody = 64 << 20

// pollClient is a page running a fetch loop against /poll:
//
//	for (;;) { const r = await fetch(`/poll?after=${cursor}`); …; if (!more) await sleep(interval) }
//
// The pause is a setTimeout after each response, not a fixed-rate timer, so
// a slow server lowers the request rate as it would for a browser, and a
// response with "more" is followed at once. Like a browser it keeps its one
// keep-alive connection between polls.
//
// It speaks HTTP/1.1 on a connection of its own rather than through an
// http.Transport, which would add two goroutines and a write buffer per
// connection: the load generator must stay cheaper than the servers it
// measures.
type pollClient struct {
	t    *Tracker
	o    Options
	addr string        // host:port to dial
	req  *http.Request // reused; only the query changes
	wbuf bytes.Buffer  // the encoded request, written in one call

	conn net.Conn      // nil between connections
	stop func() bool   // conn's ctx guard, from watchCtx
	hc   headerConn    // conn, its reads bounded while a header is read
	br   *bufio.Reader // reads hc; kept across connections
	body []byte        // the one body buffer, reused across polls
	ans  pollAnswer
	// long makes it a long-polling client: it asks /longpoll, which holds
	// the request until there is news, and asks again as soon as an answer
	// arrives; it pauses PollInterval only after a failed request.
	long bool
}

// newPollClient returns a polling client of the server at base
// (http://host:port), which it polls at /poll.
func newPollClient(base string, t *Tracker, o Options) (Client, error) {
	return newRequestClient(base, t, o, false)
}

// newLongPollClient returns a long-polling client of the server at base,
// which it asks at /longpoll. Its ReadTimeout must exceed the server's hold.
func newLongPollClient(base string, t *Tracker, o Options) (Client, error) {
	return newRequestClient(base, t, o, true)
}

func newRequestClient(base string, t *Tracker, o Options, long bool) (Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("loadgen: poll client: base %q: %w", base, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("loadgen: poll client: base %q: want http://host:port", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	path := contract.Poll.Path()
	if long {
		path = contract.LongPoll.Path()
	}
	return &pollClient{
		t:    t,
		o:    o,
		addr: addr,
		long: long,
		req: &http.Request{
			Method:     http.MethodGet,
			URL:        &url.URL{Path: strings.TrimSuffix(u.Path, "/") + path},
			Host:       u.Host,
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     http.Header{},
		},
	}, nil
}

// Run polls until ctx ends. It returns nil when ctx ends, or an
// ErrPollRejected or ErrPollTooLong error when the server leaves nothing to
// retry.
func (c *pollClient) Run(ctx context.Context) error {
	defer c.hangUp()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		more, err := c.poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.t.Fail(err)
		}
		if errors.Is(err, ErrPollRejected) || errors.Is(err, ErrPollTooLong) {
			return err
		}
		if err != nil {
			// Whatever state the connection is in, start the next poll
			// on a fresh one.
			c.t.Disconnected()
			c.hangUp()
		}
		if err == nil && (more || c.long) {
			continue
		}
		if !pauseCtx(ctx, timer, c.o.PollInterval) {
			return nil
		}
	}
}

// poll makes one request and accounts for its answer. more reports the
// answer's "more" flag.
func (c *pollClient) poll(ctx context.Context) (more bool, err error) {
	c.req.URL.RawQuery = "after=" + strconv.FormatUint(c.t.Cursor(), 10)
	c.wbuf.Reset()
	// Request.Write into a bytes.Buffer, not the conn: given a writer that is
	// not an io.ByteWriter it allocates a 4 KiB bufio.Writer per request, and
	// the buffer also lets a stale connection's request be resent.
	if err := c.req.Write(&c.wbuf); err != nil {
		return false, err
	}
	if err := c.send(ctx); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(c.br, c.req)
	if err != nil {
		return false, c.hc.headerErr(err)
	}
	c.hc.lift() // the body has a limit of its own, MaxPollBody
	if c.body, err = readPollBody(c.body, resp); err != nil {
		return false, err
	}
	now := time.Now().UnixNano()
	defer c.release()
	if resp.Close {
		c.hangUp() // the server said Connection: close
	}

	switch code := resp.StatusCode; {
	case code == http.StatusNoContent:
		c.t.Poll(true)
		return false, nil
	case code == http.StatusOK:
		if err := c.ans.parse(c.body); err != nil {
			c.t.Malformed()
			return false, nil
		}
		c.t.Poll(len(c.ans.events) == 0)
		if c.ans.hasGap {
			c.t.Gap(c.ans.gap)
		}
		for _, e := range c.ans.events {
			accountEvent(c.t, &c.o, e, now)
		}
		// The client resumes from its own cursor, like every transport,
		// so accounts compare. A "next" that disagrees with it would have
		// made a next-following page skip or repeat events: a protocol
		// error worth reporting.
		if c.ans.next != c.t.Cursor() {
			c.t.Malformed()
		}
		return c.ans.more, nil
	case code >= 500:
		return false, fmt.Errorf("loadgen: poll: %w: %s", errServerStatus, resp.Status)
	default:
		return false, fmt.Errorf("%w: %s: %q", ErrPollRejected, resp.Status, bytes.TrimSpace(c.body[:min(len(c.body), 512)]))
	}
}

// send writes the encoded request and waits for the first byte of the answer,
// dialling first if there is no connection, with the whole exchange under one
// ReadTimeout deadline. The answer's header is read through a limit of
// MaxResponseHeaderBytes, armed here and lifted by poll once it is read.
//
// A kept-alive connection may have been closed by the server while idle, and
// that shows only when the request gets no answer. Then, as browsers and
// http.Transport do for idempotent requests, the request is sent once more on
// a fresh connection at once, rather than failing the poll and waiting a
// whole interval. It counts as another attempt.
func (c *pollClient) send(ctx context.Context) error {
	for retried := false; ; retried = true {
		c.t.Attempt()
		reused := c.conn != nil
		if !reused {
			if err := c.dial(ctx); err != nil {
				return err
			}
		}
		c.hc.arm()
		err := c.conn.SetDeadline(time.Now().Add(c.o.ReadTimeout))
		if err == nil {
			_, err = c.conn.Write(c.wbuf.Bytes())
		}
		if err == nil {
			_, err = c.br.Peek(1)
		}
		if err == nil {
			return nil
		}
		var ne net.Error
		if !reused || retried || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
			return err
		}
		c.t.Fail(err)
		c.t.Disconnected() // the kept-alive connection was gone
		c.hangUp()
	}
}

// dial opens a connection and arms its ctx guard, which closes it when ctx
// ends so that a blocked read returns.
func (c *pollClient) dial(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, c.o.ReadTimeout)
	defer cancel()
	conn, err := c.o.Dial(dctx, "tcp", c.addr)
	if err != nil {
		return dialError{err}
	}
	c.conn = conn
	c.stop = watchCtx(ctx, func() {
		_ = conn.Close() // only to unblock the reader; Run is ending
	})
	c.hc = headerConn{Conn: conn, left: noHeaderLimit}
	if c.br == nil {
		c.br = bufio.NewReaderSize(&c.hc, c.o.ReadBuffer)
	} else {
		c.br.Reset(&c.hc)
	}
	c.t.Connected()
	return nil
}

// hangUp closes the connection, if any.
func (c *pollClient) hangUp() {
	if c.conn == nil {
		return
	}
	if c.stop() {
		// The connection is being discarded; a close error changes nothing.
		_ = c.conn.Close()
	}
	c.conn, c.stop = nil, nil
}

// release drops the answer's references into the body, and the body itself if
// a big batch grew it past retainBuf.
func (c *pollClient) release() {
	clear(c.ans.events)
	if cap(c.body) > retainBuf {
		c.body = nil
	}
}

// pollAnswer is a parsed 200 poll answer,
//
//	{"events":[EVENT,…],"next":SEQ,"more":BOOL,"gap":{"from":F,"to":T}}
//
// in any key order and layout. The events are sub-slices of the body: parsing
// copies none of them, and finding their ends is one pass over the body that
// jumps through strings with bytes.IndexByte. Each event is then checked as
// WebSocket messages are, by event.DecodeHeader. encoding/json would validate
// every byte twice and copy every event, making the client dearer per event
// than the server that merely appends pre-encoded events.
type pollAnswer struct {
	events [][]byte
	next   uint64
	more   bool
	gap    event.Gap
	hasGap bool
}

// parse fills a from b, reusing a's event slice.
func (a *pollAnswer) parse(b []byte) error {
	*a = pollAnswer{events: a.events[:0]}
	s := jsonScanner{b: b}
	if !s.eat('{') {
		return errBadAnswer
	}
	if !s.eat('}') {
		for {
			key, ok := s.str()
			if !ok || !s.eat(':') {
				return errBadAnswer
			}
			switch string(key) {
			case "events":
				ok = a.parseEvents(&s)
			case "next":
				a.next, ok = s.uint()
			case "more":
				a.more, ok = s.bool()
			case "gap":
				var raw []byte
				if raw, ok = s.value(); ok {
					ok = json.Unmarshal(raw, &a.gap) == nil && a.gap.From > 0 && a.gap.To >= a.gap.From
					a.hasGap = true
				}
			default:
				_, ok = s.value()
			}
			if !ok {
				return errBadAnswer
			}
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return errBadAnswer
		}
	}
	s.space()
	if s.i != len(b) {
		return errBadAnswer
	}
	return nil
}

func (a *pollAnswer) parseEvents(s *jsonScanner) bool {
	if !s.eat('[') {
		return false
	}
	if s.eat(']') {
		return true
	}
	for {
		v, ok := s.value()
		if !ok {
			return false
		}
		a.events = append(a.events, v)
		if s.eat(',') {
			continue
		}
		return s.eat(']')
	}
}

// jsonScanner finds the extent of JSON values without decoding them. Every method
// skips whitespace first. It accepts all valid JSON; on invalid input it may
// return a value that is not JSON, which the caller's checks then reject.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// eat consumes c if it comes next.
func (s *jsonScanner) eat(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string and returns its raw contents, escapes undecoded.
func (s *jsonScanner) str() ([]byte, bool) {
	s.space()
	start := s.i
	if !s.skipString() {
		return nil, false
	}
	return s.b[start+1 : s.i-1], true
}

// skipString moves past the string starting at s.i.
func (s *jsonScanner) skipString() bool {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false
	}
	start := s.i
	s.i++
	for {
		k := bytes.IndexByte(s.b[s.i:], '"')
		if k < 0 {
			return false
		}
		s.i += k
		// The quote ends the string unless an odd run of backslashes
		// escapes it.
		n := 0
		for j := s.i - 1; j > start && s.b[j] == '\\'; j-- {
			n++
		}
		s.i++
		if n%2 == 0 {
			return true
		}
	}
}

// value consumes any value and returns its bytes.
func (s *jsonScanner) value() ([]byte, bool) {
	s.space()
	if s.i >= len(s.b) {
		return nil, false
	}
	start := s.i
	switch s.b[s.i] {
	case '"':
		if !s.skipString() {
			return nil, false
		}
	case '{', '[':
		depth := 0
		for {
			if s.i >= len(s.b) {
				return nil, false
			}
			switch s.b[s.i] {
			case '"':
				if !s.skipString() {
					return nil, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				break
			}
		}
	default: // number, true, false, null
		for s.i < len(s.b) && isLiteralByte(s.b[s.i]) {
			s.i++
		}
		if s.i == start {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

func isLiteralByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// uint consumes a non-negative integer that fits a uint64.
func (s *jsonScanner) uint() (uint64, bool) {
	s.space()
	var v uint64
	start := s.i
	for ; s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9'; s.i++ {
		d := uint64(s.b[s.i] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, s.i > start
}

// bool consumes true or false.
func (s *jsonScanner) bool() (bool, bool) {
	s.space()
	switch rest := s.b[s.i:]; {
	case bytes.HasPrefix(rest, []byte("true")):
		s.i += 4
		return true, true
	case bytes.HasPrefix(rest, []byte("false")):
		s.i += 5
		return false, true
	}
	return false, false
}

// readPollBody reads and closes a poll answer's body into buf, refusing one
// longer than MaxPollBody; both polling clients, HTTP/1.1 and HTTP/2, use it.
func readPollBody(buf []byte, resp *http.Response) ([]byte, error) {
	buf, err := readInto(buf, resp.Body, MaxPollBody)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, errTooLong) {
		return buf, fmt.Errorf("%w: more than %d bytes", ErrPollTooLong, MaxPollBody)
	}
	return buf, err
}
