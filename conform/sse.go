package conform

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/loadgen"
)

// SSE check names.
const (
	checkStream      = "a stream is 200 text/event-stream with Cache-Control: no-cache"
	checkAccel       = "X-Accel-Buffering: no (optional: without it nginx buffers the stream)"
	checkRetry       = "retry: frame first"
	checkFrames      = `every event is exactly "id: SEQ", "event: TYPE", "data: EVENT" and a blank line, LF-terminated`
	checkHeartbeat   = "a silent stream gets a heartbeat comment"
	checkResumeAfter = "after=C resumes with event C+1"
	checkResumeID    = "Last-Event-ID: C resumes with event C+1"
	checkIDWins      = "Last-Event-ID wins over after"
)

// maxFrameLines bounds the lines of one frame (an event has three), and
// the frame's bytes are bounded as one line's are.
const maxFrameLines = 64

// sseStream is one SSE response being read frame by frame, in full lines
// of at most loadgen.DefaultSSEMaxSize bytes.
type sseStream struct {
	header http.Header
	body   io.ReadCloser
	br     *bufio.Reader
	line   []byte
	// cr says a line ended in CR LF: the contract's frames end in LF.
	cr bool
}

// openSSE requests an event stream; ctx bounds the whole stream. It fails
// for an answer that is not 200 text/event-stream, saying what it was.
func (r *run) openSSE(ctx context.Context, query, lastEventID string) (*sseStream, error) {
	u := r.o.URL + contract.SSE.Path()
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, unwrapURL(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	if a.status != http.StatusOK || a.mediaType() != "text/event-stream" {
		a.body, _ = io.ReadAll(io.LimitReader(resp.Body, 512)) // only to say what it was
		resp.Body.Close()
		if a.status == http.StatusOK {
			return nil, fmt.Errorf("200 with Content-Type %q, want text/event-stream", resp.Header.Get("Content-Type"))
		}
		return nil, fmt.Errorf("got %s", a)
	}
	return &sseStream{header: resp.Header, body: resp.Body, br: bufio.NewReaderSize(resp.Body, loadgen.DefaultReadBuffer)}, nil
}

func (s *sseStream) Close() error { return s.body.Close() }

// readLine returns the next line without its ending.
func (s *sseStream) readLine() (string, error) {
	s.line = s.line[:0]
	for {
		frag, err := s.br.ReadSlice('\n')
		s.line = append(s.line, frag...)
		if len(s.line) > loadgen.DefaultSSEMaxSize {
			return "", fmt.Errorf("a line longer than %d bytes", loadgen.DefaultSSEMaxSize)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
	l := s.line[:len(s.line)-1]
	if n := len(l); n > 0 && l[n-1] == '\r' {
		s.cr = true
		l = l[:n-1]
	}
	return string(l), nil
}

// frame returns the lines of the next frame, up to its blank line. Blank
// lines between frames are skipped.
func (s *sseStream) frame() ([]string, error) {
	var lines []string
	size := 0
	for {
		l, err := s.readLine()
		if err != nil {
			return nil, err
		}
		if l == "" {
			if len(lines) == 0 {
				continue
			}
			return lines, nil
		}
		if size += len(l); len(lines) == maxFrameLines || size > loadgen.DefaultSSEMaxSize {
			return nil, fmt.Errorf("a frame of more than %d lines or %d bytes", maxFrameLines, loadgen.DefaultSSEMaxSize)
		}
		lines = append(lines, l)
	}
}

// frameKind classifies a frame.
type frameKind int

const (
	commentFrame frameKind = iota // only comment lines: a heartbeat
	retryFrame                    // only a retry field
	dataFrame                     // anything else: an event, the gap signal, or not the contract's
)

func kindOf(lines []string) frameKind {
	comments := 0
	for _, l := range lines {
		if strings.HasPrefix(l, ":") {
			comments++
		}
	}
	switch {
	case comments == len(lines):
		return commentFrame
	case len(lines) == 1 && strings.HasPrefix(lines[0], "retry:"):
		return retryFrame
	}
	return dataFrame
}

// field splits a line into its field name and value as the SSE standard
// does: one space after the colon is dropped.
func field(l string) (name, value string) {
	name, value, ok := strings.Cut(l, ":")
	if !ok {
		return l, ""
	}
	return name, strings.TrimPrefix(value, " ")
}

// sseItem reads a data frame as an EventSource would and says what is
// wrong with its layout.
func sseItem(lines []string) (it item, layout string) {
	var id, typ string
	var data []string
	has := map[string]bool{}
	for _, l := range lines {
		if strings.HasPrefix(l, ":") {
			continue
		}
		name, value := field(l)
		has[name] = true
		switch name {
		case "id":
			id = value
		case "event":
			typ = value
		case "data":
			data = append(data, value)
		}
	}
	msg := []byte(strings.Join(data, "\n"))
	it = newItem(msg)
	it.id = id
	frame := quote([]byte(strings.Join(lines, `\n`)))
	switch {
	case typ == event.GapType && it.gap == nil:
		return it, fmt.Sprintf("frame %s: event: gap, but the data is not a gap signal", frame)
	case typ != event.GapType && it.gap != nil:
		return it, fmt.Sprintf("frame %s: a gap signal with event: %q, want gap", frame, typ)
	}
	var missing []string
	for _, f := range []string{"id", "event", "data"} {
		if !has[f] {
			missing = append(missing, f+":")
		}
	}
	switch {
	case len(missing) > 0:
		return it, fmt.Sprintf("frame %s has no %s line", frame, strings.Join(missing, " or "))
	case len(lines) != 3 || !strings.HasPrefix(lines[0], "id: ") || !strings.HasPrefix(lines[1], "event: ") || !strings.HasPrefix(lines[2], "data: "):
		return it, fmt.Sprintf(`frame %s: want exactly "id: SEQ", "event: TYPE", "data: EVENT" in that order`, frame)
	case it.gap != nil:
		if id != strconv.FormatUint(it.gap.To, 10) {
			return it, fmt.Sprintf("gap frame %s: id %q, want the last missing event %d", frame, id, it.gap.To)
		}
	case it.seq == 0:
		return it, fmt.Sprintf("frame %s: data is not an event", frame)
	case id != strconv.FormatUint(it.seq, 10):
		return it, fmt.Sprintf("frame %s: id %q for event %d", frame, id, it.seq)
	default:
		var e event.Event
		if err := event.Decode(it.raw, &e); err == nil && typ != e.Type {
			return it, fmt.Sprintf("frame %s: event: %q for an event of type %q", frame, typ, e.Type)
		}
	}
	return it, ""
}

// sseRead is what one stream delivered: its first frame, and the events
// and gap signals it carried. Other frames are not kept: a stream of
// comments must not grow it.
type sseRead struct {
	header http.Header
	first  []string // nil: no frame came
	items  []item
	layout []string // what is wrong with the data frames' layout
	cr     bool
}

// readSSE reads the stream for query (and Last-Event-ID) until it has
// delivered its first frame and n events or gap signals, or for o.Timeout.
// A stream that ends early or runs out of time returns what it delivered
// with the error; one that did not open has no header.
func (r *run) readSSE(ctx context.Context, query, lastEventID string, n int) (sseRead, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	s, err := r.openSSE(ctx, query, lastEventID)
	if err != nil {
		return sseRead{}, sseErr(query, lastEventID, err)
	}
	defer s.Close()
	res := sseRead{header: s.header}
	c := r.contentOf(contract.SSE)
	for res.first == nil || len(res.items) < n {
		lines, err := s.frame()
		if err != nil {
			res.cr = s.cr
			return res, sseErr(query, lastEventID, streamErr(ctx, err, len(res.items), n))
		}
		if res.first == nil {
			res.first = lines
		}
		if kindOf(lines) != dataFrame {
			continue
		}
		it, layout := sseItem(lines)
		if layout != "" {
			res.layout = append(res.layout, layout)
		}
		if it.gap == nil {
			c.observe(it.raw)
		}
		res.items = append(res.items, it)
	}
	res.cr = s.cr
	return res, nil
}

// errTimedOut is a stream that gave fewer events than asked within its
// time.
var errTimedOut = errors.New("not within the timeout")

// streamErr says why a stream gave fewer than n items.
func streamErr(ctx context.Context, err error, got, n int) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%d of %d events: %w", got, n, errTimedOut)
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("the stream ended after %d of %d events", got, n)
	}
	return err
}

func sseErr(query, lastEventID string, err error) error {
	return fmt.Errorf("%s: %w", sseWhere(query, lastEventID), err)
}

// sseWhere names a stream's request.
func sseWhere(query, lastEventID string) string {
	where := "GET /sse"
	if query != "" {
		where += "?" + query
	}
	if lastEventID != "" {
		where += " with Last-Event-ID: " + lastEventID
	}
	return where
}

// sse checks Server-Sent Events.
func (r *run) sse(ctx context.Context) {
	const t = contract.SSE
	r.refuseBadCursors(ctx, t)
	r.sseSample(ctx)
	r.heartbeat(ctx)
	r.resumeByID(ctx)
	r.idWins(ctx)
	r.delivery(ctx, t)
	r.reportContent(t)
}

// sseSample reads a stream from a few events behind the head (without a
// head, from wherever the server starts it) and checks its header and
// frames.
func (r *run) sseSample(ctx context.Context) {
	const t = string(contract.SSE)
	query, n := "", 3
	var cursor uint64
	if r.haveHead {
		if err := r.refreshHead(ctx); err != nil {
			for _, c := range []string{checkStream, checkAccel, checkRetry, checkFrames, checkResumeAfter} {
				r.fail(t, c, err.Error())
			}
			return
		}
		cursor = r.head - min(answerEvents, r.head)
		query, n = after(cursor), int(r.head-cursor)
	}
	res, err := r.readSSE(ctx, query, "", n)
	if res.header == nil {
		for _, c := range []string{checkStream, checkAccel, checkRetry, checkFrames, checkResumeAfter} {
			r.fail(t, c, err.Error())
		}
		return
	}
	if cc := res.header.Get("Cache-Control"); !hasDirective(cc, "no-cache") {
		r.fail(t, checkStream, fmt.Sprintf("Cache-Control %q, want no-cache", cc))
	} else {
		r.pass(t, checkStream, "")
	}
	if v := res.header.Get("X-Accel-Buffering"); !strings.EqualFold(v, "no") {
		r.skip(t, checkAccel, fmt.Sprintf("optional, not sent (got %q)", v))
	} else {
		r.pass(t, checkAccel, "")
	}
	switch {
	case res.first == nil:
		r.fail(t, checkRetry, fmt.Sprintf("no frame: %v", err))
	case kindOf(res.first) != retryFrame:
		r.fail(t, checkRetry, fmt.Sprintf("first frame is %s, want \"retry: MS\"", quote([]byte(strings.Join(res.first, `\n`)))))
	default:
		if _, v := field(res.first[0]); v == "" || strings.Trim(v, "0123456789") != "" {
			r.fail(t, checkRetry, fmt.Sprintf("first frame %q: want milliseconds in digits", res.first[0]))
		} else {
			r.pass(t, checkRetry, "")
		}
	}
	layout := res.layout
	if res.cr {
		layout = append([]string{"lines end in CR LF, want LF"}, layout...)
	}
	switch {
	case len(layout) > 0:
		r.fail(t, checkFrames, problemList(layout))
	case err != nil && !errors.Is(err, errTimedOut):
		r.fail(t, checkFrames, err.Error())
	case len(res.items) == 0:
		r.skip(t, checkFrames, "no events on the server, and none published")
	default:
		r.pass(t, checkFrames, fmt.Sprintf("%d events", len(res.items)))
	}
	if !r.haveHead {
		r.skip(t, checkResumeAfter, "needs /stats hub.head, which the server does not give")
		return
	}
	if n == 0 {
		r.skip(t, checkResumeAfter, "no events on the server, and none published")
		return
	}
	why := ""
	if err != nil {
		why = err.Error()
	} else {
		why = consecutive(res.items, cursor, r.head)
	}
	if why != "" {
		r.fail(t, checkResumeAfter, why)
	} else {
		r.pass(t, checkResumeAfter, "")
	}
}

// problemList joins the first few distinct problems of a list, each with
// how often it came.
func problemList(p []string) string {
	const n = 3
	var distinct []string
	count := map[string]int{}
	for _, s := range p {
		if count[s] == 0 {
			distinct = append(distinct, s)
		}
		count[s]++
	}
	var out []string
	for _, s := range distinct[:min(n, len(distinct))] {
		if c := count[s]; c > 1 {
			s = fmt.Sprintf("%s (%d times)", s, c)
		}
		out = append(out, s)
	}
	if len(distinct) > n {
		out = append(out, fmt.Sprintf("and %d more", len(distinct)-n))
	}
	return strings.Join(out, "; ")
}

// heartbeat waits up to Liveness for a comment on a stream with nothing
// to send.
func (r *run) heartbeat(ctx context.Context) {
	const t = string(contract.SSE)
	query := ""
	if r.haveHead {
		if err := r.refreshHead(ctx); err != nil {
			r.fail(t, checkHeartbeat, err.Error())
			return
		}
		query = after(r.head)
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.Liveness)
	defer cancel()
	s, err := r.openSSE(ctx, query, "")
	if err != nil {
		r.fail(t, checkHeartbeat, sseErr(query, "", err).Error())
		return
	}
	defer s.Close()
	events := 0
	for {
		lines, err := s.frame()
		switch {
		case err != nil && ctx.Err() != nil && events > 0:
			r.skip(t, checkHeartbeat, fmt.Sprintf("the stream was never silent: %d events within --liveness %v, published by someone other than conform", events, r.o.Liveness))
			return
		case err != nil && ctx.Err() != nil:
			r.fail(t, checkHeartbeat, fmt.Sprintf("no comment line within --liveness %v", r.o.Liveness))
			return
		case err != nil:
			r.fail(t, checkHeartbeat, sseErr(query, "", err).Error())
			return
		}
		if kindOf(lines) == dataFrame {
			events++
		}
		for _, l := range lines {
			if strings.HasPrefix(l, ":") {
				r.pass(t, checkHeartbeat, "")
				return
			}
		}
	}
}

// resumeByID checks a reconnect's Last-Event-ID.
func (r *run) resumeByID(ctx context.Context) {
	const t = string(contract.SSE)
	cursor, ok := r.recentCursor(ctx, t, checkResumeID)
	if !ok {
		return
	}
	r.firstAfter(ctx, checkResumeID, "", strconv.FormatUint(cursor, 10), cursor)
}

// idWins checks that Last-Event-ID wins over after when both are given.
func (r *run) idWins(ctx context.Context) {
	const t = string(contract.SSE)
	cursor, ok := r.recentCursor(ctx, t, checkIDWins)
	if !ok {
		return
	}
	if r.head-cursor < 2 {
		r.skip(t, checkIDWins, "needs two events on the server")
		return
	}
	id := r.head - 1
	r.firstAfter(ctx, checkIDWins, after(cursor), strconv.FormatUint(id, 10), id)
}

// firstAfter checks that the stream for query and lastEventID starts with
// event want+1.
func (r *run) firstAfter(ctx context.Context, check, query, lastEventID string, want uint64) {
	const t = string(contract.SSE)
	res, err := r.readSSE(ctx, query, lastEventID, 1)
	switch {
	case err != nil:
		r.fail(t, check, err.Error())
	case res.items[0].seq != want+1:
		r.fail(t, check, fmt.Sprintf("%s: first got %s, want event %d", sseWhere(query, lastEventID), res.items[0], want+1))
	default:
		r.pass(t, check, "")
	}
}
