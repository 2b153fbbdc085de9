package servers

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// sseNBIO is the Server-Sent Events transport on nbio's engine (Engine
// NBIO): the same bytes as the standard handler, from the same checks, but
// no goroutine per stream. Its handler checks the request and subscribes as
// the standard one does, then takes the connection over from nbio and
// returns; from then on the stream is stepped by the handler's pump
// (nbioPump) whenever the hub, its heartbeat timer or nbio's writing wakes
// it. It writes the response itself: the head, then each batch as one HTTP
// chunk (or, for an HTTP/1.0 client, raw until the connection closes).
type sseNBIO struct {
	wire *sseHandler // the standard handler, for its retry frame
	m    *nbioMount
}

func newSSENBIO(m mount) http.Handler {
	return &sseNBIO{wire: newSSE(m).(*sseHandler), m: newNBIOMount(m)}
}

// sseNBIOStream is one SSE stream on nbio.
type sseNBIOStream struct {
	nbioStream
	chunked bool      // HTTP/1.1: each write is one chunk
	last    time.Time // when anything was last handed to the connection; the pump's
}

var (
	_ nbioStepper = (*sseNBIOStream)(nil)
	_ nbioFramer  = (*sseNBIOStream)(nil)
)

// The chunked encoding's pieces: room for a chunk's size line (8 hex
// digits and CRLF), the heartbeat as a chunk, and the last chunk, which
// ends the response.
const sseChunkRoom = 10

var (
	sseHeartbeatChunk = []byte("6\r\n: hb\n\n\r\n")
	sseLastChunk      = []byte("0\r\n\r\n")
)

func (h *sseNBIO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &sseNBIOStream{chunked: r.ProtoAtLeast(1, 1)}
	gap, ok := h.m.open(w, r, "subscribe", sseCursor, st)
	if !ok {
		return
	}
	h.m.startTick(st, h.m.o.Heartbeat)
	first := append(st.open(nil), h.wire.retryFrame()...)
	if gap != nil {
		// The gap goes first, as on every transport.
		first = appendGapFrame(first, *gap)
	}
	st.last = time.Now()
	h.m.start(w, st, append(h.head(w, st.chunked), st.seal(first)...))
}

// head is the response's status line and headers: the standard handler's,
// and whatever a handler wrapping this one set.
func (h *sseNBIO) head(w http.ResponseWriter, chunked bool) []byte {
	hdr := w.Header()
	hdr["Content-Type"] = hdrEventStream
	hdr["Cache-Control"] = hdrNoCache
	hdr["Connection"] = hdrKeepAlive
	if !h.m.o.NoAccelHeader {
		hdr["X-Accel-Buffering"] = hdrNo // nginx would otherwise buffer the stream
	}
	var b bytes.Buffer
	if chunked {
		b.WriteString("HTTP/1.1 200 OK\r\n")
		hdr["Transfer-Encoding"] = hdrChunked
	} else {
		// An HTTP/1.0 response ends when its connection closes.
		b.WriteString("HTTP/1.0 200 OK\r\n")
		hdr["Connection"] = hdrClose
	}
	if _, ok := hdr["Date"]; !ok {
		hdr["Date"] = []string{time.Now().UTC().Format(http.TimeFormat)}
	}
	_ = hdr.Write(&b) // a bytes.Buffer does not fail
	b.WriteString("\r\n")
	return b.Bytes()
}

var hdrChunked = []string{"chunked"}

// open leaves room for a chunk's size line.
func (st *sseNBIOStream) open(b []byte) []byte {
	if st.chunked {
		return append(b, make([]byte, sseChunkRoom)...)
	}
	return b
}

func (st *sseNBIOStream) frame(b []byte, e *Entry) []byte { return appendEventFrame(b, e) }

// seal writes the size line of the chunk open began into its room and
// returns the chunk, from its size line to its closing CRLF.
func (st *sseNBIOStream) seal(b []byte) []byte {
	if !st.chunked {
		return b
	}
	var size [sseChunkRoom]byte
	line := append(strconv.AppendInt(size[:0], int64(len(b)-sseChunkRoom), 16), '\r', '\n')
	at := sseChunkRoom - len(line)
	copy(b[at:], line)
	return append(b, '\r', '\n')[at:]
}

// Parse takes what the client sends, as nbio hands it over: an SSE client
// sends nothing after its request, and anything it does send is dropped,
// as net/http would not read it before the stream ends either.
func (st *sseNBIOStream) Parse([]byte) error { return nil }

// step sends what is due: the events the subscription has, a heartbeat
// once the stream has been silent for Heartbeat, or the stream's end.
func (st *sseNBIOStream) step() {
	s := &st.nbioStream
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.begin() {
		return
	}
	n, err := s.sendEvents(st)
	if err != nil {
		st.end(err)
		return
	}
	now := time.Now()
	if n > 0 {
		st.last = now
	}
	if !s.tickDue.Swap(false) {
		return
	}
	hb := s.m.o.Heartbeat
	silent := now.Sub(st.last)
	if silent >= hb {
		// Heartbeats are for silent streams; one whose connection still
		// holds unwritten bytes is not silent, only stuck.
		if s.pending.Load() <= 0 {
			beat := sseHeartbeat
			if st.chunked {
				beat = sseHeartbeatChunk
			}
			if err := s.write(beat, s.m.o.WriteTimeout); err != nil {
				return // the connection is closed: finish follows
			}
			st.last = now
		}
		silent = 0
	}
	s.tick.Reset(hb - silent)
}

// end ends the stream because of why; callers hold mu. When the server
// closes (ErrClosed) the response ends, and the connection closes once its
// last chunk is written. A subscriber cut off as slow (ErrSlow) has its
// connection cut at once, as the standard handler's is: the client sees an
// interrupted stream and resumes from its cursor, and nothing waits on a
// client known to be slow.
func (st *sseNBIOStream) end(why error) {
	s := &st.nbioStream
	s.why = why
	if errors.Is(why, ErrClosed) {
		if st.chunked {
			if err := s.write(sseLastChunk, s.m.o.WriteTimeout); err != nil {
				return // closed already: finish follows
			}
		}
		s.closeWhenDrained()
		return
	}
	s.ending = true
	_ = s.conn.Close() // finish follows; closing twice is harmless
}
