package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/pushbench/pushbench/event"
)

// sseEv is a dispatched event copied out of the parser.
type sseEv struct {
	Type, Data, ID string
	Retry          time.Duration
	HasRetry       bool
}

// sseMsg is a dispatched event with no retry field before it.
func sseMsg(typ, data, id string) sseEv { return sseEv{Type: typ, Data: data, ID: id} }

// sseResult is everything a stream leaves behind.
type sseResult struct {
	Events   []sseEv
	LastID   string
	Retry    time.Duration
	HasRetry bool
}

// parseAllSSE runs a parser over r to the end.
func parseAllSSE(t testing.TB, r io.Reader, bufSize int) sseResult {
	t.Helper()
	p := NewSSEParser(r, bufSize)
	var res sseResult
	for {
		e, err := p.Next()
		if err != nil {
			if err != io.EOF {
				t.Fatalf("Next: %v", err)
			}
			break
		}
		res.Events = append(res.Events, sseEv{string(e.Type), string(e.Data), string(e.ID), e.Retry, e.HasRetry})
	}
	res.LastID = string(p.LastEventID())
	res.Retry, res.HasRetry = p.Retry()
	return res
}

// refParseSSE is the standard's algorithm transcribed as literally as
// possible, on the whole input at once, for the fuzz target to compare
// against. Only the clamping of huge retry values is the parser's own
// choice.
func refParseSSE(in string) sseResult {
	var res sseResult
	// "One leading U+FEFF BYTE ORDER MARK character must be ignored if any
	// are present."
	in = strings.TrimPrefix(in, "\uFEFF")
	var typ, idBuf string
	var data []byte // a string with += would make long inputs quadratic
	newRetry := false
	for {
		// Lines end with CRLF, a lone LF or a lone CR. Text after the last
		// line ending is not a line, and is discarded at the end of file.
		i := strings.IndexAny(in, "\r\n")
		if i < 0 {
			break
		}
		line := in[:i]
		if strings.HasPrefix(in[i:], "\r\n") {
			in = in[i+2:]
		} else {
			in = in[i+1:]
		}
		switch {
		case line == "": // dispatch the event
			res.LastID = idBuf
			if len(data) == 0 {
				typ = ""
				continue
			}
			data = bytes.TrimSuffix(data, []byte("\n"))
			e := sseEv{Type: "message", Data: string(data), ID: res.LastID, Retry: res.Retry, HasRetry: newRetry}
			if typ != "" {
				e.Type = typ
			}
			res.Events = append(res.Events, e)
			data, typ, newRetry = nil, "", false
		case line[0] == ':': // comment
		default:
			field, value, found := strings.Cut(line, ":")
			if found {
				value = strings.TrimPrefix(value, " ")
			}
			switch field {
			case "event":
				typ = value
			case "data":
				data = append(append(data, value...), '\n')
			case "id":
				if !strings.Contains(value, "\x00") {
					idBuf = value
				}
			case "retry":
				if value != "" && strings.Trim(value, "0123456789") == "" {
					const maxMS = math.MaxInt64 / int64(time.Millisecond)
					ms, err := strconv.ParseInt(value, 10, 64)
					if err != nil || ms > maxMS { // only ErrRange is possible
						ms = maxMS
					}
					res.Retry, res.HasRetry, newRetry = time.Duration(ms)*time.Millisecond, true, true
				}
			}
		}
	}
	return res
}

// sseChunkReader returns data in chunks of pseudo-random sizes from 1 to max.
type sseChunkReader struct {
	data []byte
	rnd  *rand.Rand
	max  int
}

func newSSEChunkReader(data []byte, seed uint64, max int) *sseChunkReader {
	return &sseChunkReader{data: data, rnd: rand.New(rand.NewPCG(seed, 1)), max: max}
}

func (r *sseChunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data[:min(len(r.data), 1+r.rnd.IntN(r.max))])
	r.data = r.data[n:]
	return n, nil
}

// sseReaders are the ways a stream can arrive, each of which must parse the
// same.
var sseReaders = []struct {
	name string
	new  func(in []byte, seed uint64) io.Reader
}{
	{"whole", func(in []byte, _ uint64) io.Reader { return bytes.NewReader(in) }},
	{"data+EOF", func(in []byte, _ uint64) io.Reader { return iotest.DataErrReader(bytes.NewReader(in)) }},
	{"1-byte", func(in []byte, _ uint64) io.Reader { return iotest.OneByteReader(bytes.NewReader(in)) }},
	{"chunks", func(in []byte, seed uint64) io.Reader { return newSSEChunkReader(in, seed, 7) }},
}

// sseBufSizes are parser buffer sizes: the smallest, which sends most lines
// through the long-line path, and the default.
var sseBufSizes = []int{minSSEBuffer, DefaultReadBuffer}

const sseLongLine = 100_000

var sseParseCases = []struct {
	name     string
	in       string
	want     []sseEv
	lastID   string
	retry    time.Duration
	hasRetry bool
}{
	// Byte order mark.
	{name: "BOM dropped", in: "\uFEFFdata: a\n\n", want: []sseEv{sseMsg("message", "a", "")}},
	{name: "second BOM is part of the field name", in: "\uFEFF\uFEFFdata: a\n\n"},
	{name: "BOM not at start is data", in: "data: \uFEFFa\n\n", want: []sseEv{sseMsg("message", "\uFEFFa", "")}},
	{name: "BOM then BOM in data", in: "\uFEFFdata: \uFEFFa\n\n", want: []sseEv{sseMsg("message", "\uFEFFa", "")}},
	{name: "half a BOM is not one", in: "\xEF\xBBdata: a\n\ndata: b\n\n", want: []sseEv{sseMsg("message", "b", "")}},

	// Line endings.
	{name: "LF", in: "data: a\n\ndata: b\n\n", want: []sseEv{sseMsg("message", "a", ""), sseMsg("message", "b", "")}},
	{name: "CR", in: "data: a\r\rdata: b\r\r", want: []sseEv{sseMsg("message", "a", ""), sseMsg("message", "b", "")}},
	{name: "CRLF", in: "data: a\r\n\r\ndata: b\r\n\r\n", want: []sseEv{sseMsg("message", "a", ""), sseMsg("message", "b", "")}},
	{name: "mixed", in: "data: a\r\ndata: b\rdata: c\n\r\n", want: []sseEv{sseMsg("message", "a\nb\nc", "")}},
	{name: "LF CR is two endings", in: "data: a\n\rdata: b\n\n", want: []sseEv{sseMsg("message", "a", ""), sseMsg("message", "b", "")}},
	{name: "CRLF CR", in: "data: a\r\n\rdata: b\r\n\r", want: []sseEv{sseMsg("message", "a", ""), sseMsg("message", "b", "")}},
	{name: "CR CR LF", in: "data: a\r\r\ndata: b\n\n", want: []sseEv{sseMsg("message", "a", ""), sseMsg("message", "b", "")}},

	// Comments and fields.
	{name: "comments", in: ":x\ndata: a\n: hb\n:\n\n", want: []sseEv{sseMsg("message", "a", "")}},
	{name: "comment alone dispatches nothing", in: ": hb\n\n: hb\n\n"},
	{name: "data without colon", in: "data\n\n", want: []sseEv{sseMsg("message", "", "")}},
	{name: "data without colon twice", in: "data\ndata\n\n", want: []sseEv{sseMsg("message", "\n", "")}},
	{name: "data: empty", in: "data:\n\n", want: []sseEv{sseMsg("message", "", "")}},
	{name: "data: space only", in: "data: \n\n", want: []sseEv{sseMsg("message", "", "")}},
	{name: "no space", in: "data:x\n\n", want: []sseEv{sseMsg("message", "x", "")}},
	{name: "one space removed", in: "data: x\n\n", want: []sseEv{sseMsg("message", "x", "")}},
	{name: "only one space removed", in: "data:  x\n\n", want: []sseEv{sseMsg("message", " x", "")}},
	{name: "tab kept", in: "data:\tx\n\n", want: []sseEv{sseMsg("message", "\tx", "")}},
	{name: "colon in value", in: "data: a:b: c\n\n", want: []sseEv{sseMsg("message", "a:b: c", "")}},
	{name: "multi-line data", in: "data: a\ndata:b\ndata\ndata:  c\n\n", want: []sseEv{sseMsg("message", "a\nb\n\n c", "")}},
	{name: "NUL in data kept", in: "data: a\x00b\n\n", want: []sseEv{sseMsg("message", "a\x00b", "")}},
	{name: "unknown fields ignored", in: "foo: bar\nDATA: x\n data: y\ndata : z\ndata: a\n\n", want: []sseEv{sseMsg("message", "a", "")}},

	// event.
	{name: "event type", in: "event: add\ndata: a\n\n", want: []sseEv{sseMsg("add", "a", "")}},
	{name: "last event field wins", in: "event: x\nevent: y\ndata: a\n\n", want: []sseEv{sseMsg("y", "a", "")}},
	{name: "empty event type is message", in: "event\ndata: a\n\nevent:\ndata: b\n\n", want: []sseEv{sseMsg("message", "a", ""), sseMsg("message", "b", "")}},
	{name: "event type reset after dispatch", in: "event: add\ndata: a\n\ndata: b\n\n", want: []sseEv{sseMsg("add", "a", ""), sseMsg("message", "b", "")}},
	{name: "event without data not dispatched, type reset", in: "event: add\n\ndata: b\n\n", want: []sseEv{sseMsg("message", "b", "")}},

	// id.
	{name: "id", in: "id: 1\ndata: a\n\n", want: []sseEv{sseMsg("message", "a", "1")}, lastID: "1"},
	{name: "id persists", in: "id: 1\ndata: a\n\ndata: b\n\n", want: []sseEv{sseMsg("message", "a", "1"), sseMsg("message", "b", "1")}, lastID: "1"},
	{name: "id with NUL ignored", in: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", want: []sseEv{sseMsg("message", "a", "1"), sseMsg("message", "b", "1")}, lastID: "1"},
	{name: "id reset by empty value", in: "id: 1\ndata: a\n\nid\ndata: b\n\nid: 2\ndata: c\n\nid:\ndata: d\n\n",
		want: []sseEv{sseMsg("message", "a", "1"), sseMsg("message", "b", ""), sseMsg("message", "c", "2"), sseMsg("message", "d", "")}},
	{name: "id after data in same event", in: "data: a\nid: 9\n\n", want: []sseEv{sseMsg("message", "a", "9")}, lastID: "9"},
	{name: "id without data moves last id", in: "id: 7\n\n", lastID: "7"},
	{name: "id of unfinished event not committed", in: "id: 1\ndata: a\n\nid: 2\ndata: b\n", want: []sseEv{sseMsg("message", "a", "1")}, lastID: "1"},
	{name: "id keeps spaces but one", in: "id:  1 \ndata: a\n\n", want: []sseEv{sseMsg("message", "a", " 1 ")}, lastID: " 1 "},

	// retry.
	{name: "retry", in: "retry: 1500\ndata: a\n\ndata: b\n\n",
		want:  []sseEv{{Type: "message", Data: "a", Retry: 1500 * time.Millisecond, HasRetry: true}, {Type: "message", Data: "b", Retry: 1500 * time.Millisecond}},
		retry: 1500 * time.Millisecond, hasRetry: true},
	{name: "retry zero", in: "retry:0\n", retry: 0, hasRetry: true},
	{name: "retry without event applies and is reported with the next", in: "retry: 10\n\ndata: a\n\n",
		want: []sseEv{{Type: "message", Data: "a", Retry: 10 * time.Millisecond, HasRetry: true}}, retry: 10 * time.Millisecond, hasRetry: true},
	{name: "retry of unfinished event applies", in: "data: a\nretry: 20\n", retry: 20 * time.Millisecond, hasRetry: true},
	{name: "retry non-digits ignored", in: "retry: 15a\nretry: -1\nretry: 1.5\nretry: +3\nretry: 1e3\nretry: ١\ndata: a\n\n", want: []sseEv{sseMsg("message", "a", "")}},
	{name: "retry empty ignored", in: "retry:\nretry\nretry: \ndata: a\n\n", want: []sseEv{sseMsg("message", "a", "")}},
	{name: "retry with spaces ignored", in: "retry:  100\nretry: 100 \nretry: 1 0\ndata: a\n\n", want: []sseEv{sseMsg("message", "a", "")}},
	{name: "retry last valid wins", in: "retry: 5\nretry: x\ndata: a\n\n",
		want: []sseEv{{Type: "message", Data: "a", Retry: 5 * time.Millisecond, HasRetry: true}}, retry: 5 * time.Millisecond, hasRetry: true},
	{name: "retry huge clamped", in: "retry: 99999999999999999999999\n",
		retry: time.Duration(math.MaxInt64/int64(time.Millisecond)) * time.Millisecond, hasRetry: true},

	// End of input.
	{name: "unfinished event discarded", in: "data: a\n\ndata: b\n", want: []sseEv{sseMsg("message", "a", "")}},
	{name: "unterminated last line discarded", in: "data: a\n\ndata: b", want: []sseEv{sseMsg("message", "a", "")}},
	{name: "unterminated retry line discarded", in: "retry: 10"},
	{name: "empty", in: ""},
	{name: "blank lines only", in: "\n\n\r\n\r"},

	// Our own stream.
	{name: "pushbench stream", in: "retry: 1000\n\n: hb\n\nid: 1\nevent: tick\ndata: {\"seq\":1}\n\nid: 2\nevent: gap\ndata: {\"gap\":{\"from\":2,\"to\":2}}\n\n",
		want: []sseEv{
			{Type: "tick", Data: `{"seq":1}`, ID: "1", Retry: time.Second, HasRetry: true},
			{Type: "gap", Data: `{"gap":{"from":2,"to":2}}`, ID: "2", Retry: time.Second},
		}, lastID: "2", retry: time.Second, hasRetry: true},

	// Lines far longer than the buffer.
	{name: "long line", in: "id: 1\ndata: " + strings.Repeat("x", sseLongLine) + "\r\n\r\n",
		want: []sseEv{sseMsg("message", strings.Repeat("x", sseLongLine), "1")}, lastID: "1"},
	{name: "long comment then event", in: ":" + strings.Repeat("c", sseLongLine) + "\rdata: a\r\r", want: []sseEv{sseMsg("message", "a", "")}},
	{name: "long lines joined", in: "data: " + strings.Repeat("a", sseLongLine) + "\ndata: " + strings.Repeat("b", sseLongLine) + "\n\n",
		want: []sseEv{sseMsg("message", strings.Repeat("a", sseLongLine)+"\n"+strings.Repeat("b", sseLongLine), "")}},
}

func TestSSEParse(t *testing.T) {
	for _, tc := range sseParseCases {
		t.Run(tc.name, func(t *testing.T) {
			want := sseResult{Events: tc.want, LastID: tc.lastID, Retry: tc.retry, HasRetry: tc.hasRetry}
			// The reference parser must agree with the table, or the fuzz
			// target would compare against the wrong thing.
			if got := refParseSSE(tc.in); !reflect.DeepEqual(got, want) {
				t.Fatalf("reference parser:\n got %s\nwant %s", fmtSSE(got), fmtSSE(want))
			}
			for _, rd := range sseReaders {
				for _, size := range sseBufSizes {
					got := parseAllSSE(t, rd.new([]byte(tc.in), 1), size)
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s, buffer %d:\n got %s\nwant %s", rd.name, size, fmtSSE(got), fmtSSE(want))
					}
				}
			}
		})
	}
}

// fmtSSE prints a result readably, shortening long strings.
func fmtSSE(r sseResult) string {
	short := func(s string) string {
		if len(s) > 40 {
			return fmt.Sprintf("%q…(%d bytes)", s[:40], len(s))
		}
		return strconv.Quote(s)
	}
	var b strings.Builder
	for _, e := range r.Events {
		fmt.Fprintf(&b, "{%s %s id=%s retry=%v/%v} ", short(e.Type), short(e.Data), short(e.ID), e.Retry, e.HasRetry)
	}
	fmt.Fprintf(&b, "lastID=%q retry=%v/%v", r.LastID, r.Retry, r.HasRetry)
	return b.String()
}

// sseScriptReader returns its chunks one per Read, then fails the test if read
// again: it proves the parser does not read further than it must.
type sseScriptReader struct {
	t      testing.TB
	chunks []string
}

var errSSEReadTooFar = errors.New("read past the script")

func (r *sseScriptReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, errSSEReadTooFar
	}
	n := copy(p, r.chunks[0])
	if n < len(r.chunks[0]) {
		r.t.Fatalf("chunk of %d bytes does not fit a read of %d", len(r.chunks[0]), len(p))
	}
	r.chunks = r.chunks[1:]
	return n, nil
}

func TestSSEParseCRLFSplitAcrossReads(t *testing.T) {
	// A wrong parser sees "data: a\r" + "\n" as two line endings and
	// dispatches "a" alone.
	r := &sseScriptReader{t: t, chunks: []string{"data: a\r", "\n", "data: b\r", "\n\r", "\n", "data: c\r\n", "\r", "\n"}}
	p := NewSSEParser(r, 64)
	for _, want := range []string{"a\nb", "c"} {
		e, err := p.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if string(e.Data) != want {
			t.Fatalf("data %q, want %q", e.Data, want)
		}
	}
	// The last chunk's LF belongs to the CR before it: no blank line, and
	// the next read hits the end of the script.
	if _, err := p.Next(); !errors.Is(err, errSSEReadTooFar) {
		t.Fatalf("Next after the script = %v, want %v", err, errSSEReadTooFar)
	}
}

func TestSSEParseDispatchesWithoutWaitingForLF(t *testing.T) {
	// An event whose blank line ends with a CR at the end of a read is
	// dispatched at once, not when the next byte shows whether an LF
	// follows: on a live stream that byte may be a heartbeat away.
	for _, chunks := range [][]string{
		{"data: a\r\r"},
		{"data: a\r", "\r"},
		{"\xEF\xBB\xBFdata: a\n\r"},
		{"\xEF", "\xBB", "\xBF", "data: a\n\n"},
	} {
		p := NewSSEParser(&sseScriptReader{t: t, chunks: chunks}, 64)
		e, err := p.Next()
		if err != nil || string(e.Data) != "a" {
			t.Errorf("%q: Next = %q, %v; want \"a\", nil", chunks, e.Data, err)
		}
	}
}

func TestSSEParseTooLong(t *testing.T) {
	for name, in := range map[string]string{
		"line":        "data: " + strings.Repeat("x", 2000) + "\n\n",
		"event":       strings.Repeat("data: "+strings.Repeat("x", 100)+"\n", 20) + "\n",
		"comment":     ":" + strings.Repeat("x", 2000) + "\n",
		"no line end": strings.Repeat("x", 2000),
	} {
		t.Run(name, func(t *testing.T) {
			p := NewSSEParser(strings.NewReader("data: ok\n\n"+in+"data: after\n\n"), 64)
			p.MaxSize = 1000
			if e, err := p.Next(); err != nil || string(e.Data) != "ok" {
				t.Fatalf("first Next = %q, %v", e.Data, err)
			}
			for range 2 { // the error sticks: the rest cannot be framed
				if _, err := p.Next(); !errors.Is(err, ErrSSETooLong) {
					t.Fatalf("Next = %v, want %v", err, ErrSSETooLong)
				}
			}
		})
	}
}

func TestSSEParseReset(t *testing.T) {
	p := NewSSEParser(strings.NewReader("retry: 50\nid: 1\ndata: a\n\nid: 2\nevent: x\ndata: half"), 64)
	if e, err := p.Next(); err != nil || string(e.Data) != "a" {
		t.Fatalf("Next = %q, %v", e.Data, err)
	}
	if _, err := p.Next(); err != io.EOF {
		t.Fatalf("Next at end = %v, want EOF", err)
	}
	// A new connection: the half event and its id are gone, the committed
	// id and the reconnection time stay, and a BOM is dropped again.
	p.Reset(strings.NewReader("\uFEFFdata: b\n\n"))
	e, err := p.Next()
	if err != nil {
		t.Fatal(err)
	}
	got := sseEv{string(e.Type), string(e.Data), string(e.ID), e.Retry, e.HasRetry}
	if want := (sseEv{Type: "message", Data: "b", ID: "1", Retry: 50 * time.Millisecond}); got != want {
		t.Fatalf("after Reset got %+v, want %+v", got, want)
	}
	// Input buffered from the old stream is dropped too.
	p = NewSSEParser(strings.NewReader("data: a\n\ndata: stale\n\n"), 64)
	if _, err := p.Next(); err != nil {
		t.Fatal(err)
	}
	p.Reset(strings.NewReader("data: fresh\n\n"))
	if e, err := p.Next(); err != nil || string(e.Data) != "fresh" {
		t.Fatalf("after Reset Next = %q, %v; want fresh", e.Data, err)
	}
}

func TestSSEParseSetLastEventID(t *testing.T) {
	p := NewSSEParser(strings.NewReader("data: a\n\nid\n\n"), 64)
	p.SetLastEventID([]byte("41"))
	if got := string(p.LastEventID()); got != "41" {
		t.Fatalf("LastEventID = %q", got)
	}
	if e, err := p.Next(); err != nil || string(e.ID) != "41" {
		t.Fatalf("Next = id %q, %v; want 41", e.ID, err)
	}
	if _, err := p.Next(); err != io.EOF {
		t.Fatal(err)
	}
	if got := string(p.LastEventID()); got != "" {
		t.Fatalf("LastEventID after empty id = %q", got)
	}
}

// sseRepeatReader returns block over and over, a chunk of at most chunk bytes
// per Read, as a live stream does.
type sseRepeatReader struct {
	block []byte
	off   int
	chunk int
}

func (r *sseRepeatReader) Read(p []byte) (int, error) {
	p = p[:min(len(p), r.chunk)]
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.block[r.off:])
		n += c
		r.off = (r.off + c) % len(r.block)
	}
	return n, nil
}

// sseBenchStream is n events as the SSE server writes them, with payloads
// of about payload bytes, and the size of one event.
func sseBenchStream(n, payload int, eol string) (block []byte, perEvent int) {
	var b []byte
	for i := 1; i <= n; i++ {
		e := event.Event{Seq: uint64(1000 + i), At: 1_700_000_000_000_000_000, Type: "tick", Data: strings.Repeat("p", payload)}
		b = fmt.Appendf(b, "id: %d%sevent: tick%sdata: ", e.Seq, eol, eol)
		b = append(e.AppendJSON(b), eol+eol...)
	}
	return b, len(b) / n
}

func TestSSEParseAllocsNothingPerEvent(t *testing.T) {
	for _, bufSize := range []int{512, DefaultReadBuffer} { // 512: events span reads
		block, _ := sseBenchStream(16, 1024, "\n")
		p := NewSSEParser(&sseRepeatReader{block: block, chunk: 1500}, bufSize)
		for range 64 { // let the buffers grow
			if _, err := p.Next(); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := p.Next(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("buffer %d: %v allocations per event, want 0", bufSize, allocs)
		}
	}
}

func BenchmarkSSEParser(b *testing.B) {
	for _, bc := range []struct {
		name    string
		bufSize int
		eol     string
	}{
		{"buf=4096/LF", 4096, "\n"},
		{"buf=4096/CRLF", 4096, "\r\n"},
		{"buf=512/LF", 512, "\n"}, // every event is longer than the buffer
	} {
		b.Run(bc.name, func(b *testing.B) {
			block, perEvent := sseBenchStream(64, 1024, bc.eol)
			p := NewSSEParser(&sseRepeatReader{block: block, chunk: 16 << 10}, bc.bufSize)
			b.ReportAllocs()
			b.SetBytes(int64(perEvent))
			for b.Loop() {
				if _, err := p.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzSSEParser(f *testing.F) {
	for i, tc := range sseParseCases {
		if len(tc.in) < 1000 {
			f.Add([]byte(tc.in), uint64(i))
		}
	}
	for _, s := range []string{
		"\r\n\r\n\r\r\n\n",
		"\xEF\xBB\xBF\xEF\xBB\xBF\r\n",
		"data:\xff\xfe\r\n\r\n",
		"id:\x00\r\rid: \r\rdata\r\r",
		"retry:18446744073709551616\ndata:x\n\n",
		"event:a\rdata:b\r\n\revent:c\n\n",
		":\r\n:\n:\r\r",
	} {
		f.Add([]byte(s), uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		if len(in) > DefaultSSEMaxSize/2 {
			t.Skip("beyond the parser's limit")
		}
		want := refParseSSE(string(in))
		for _, rd := range sseReaders {
			for _, size := range sseBufSizes {
				if got := parseAllSSE(t, rd.new(in, seed), size); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s, buffer %d, input %q:\n got %s\nwant %s", rd.name, size, in, fmtSSE(got), fmtSSE(want))
				}
			}
		}
	})
}
