package servers

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
	"unsafe"

	sse "github.com/tmaxmax/go-sse"

	"github.com/pushbench/pushbench/event"
)

// gosseHandler is the Server-Sent Events transport over
// github.com/tmaxmax/go-sse's Session, as its documentation shows:
// sse.Upgrade, then Session.Send for every frame, a sse.Message each, and
// Session.Flush once per batch. The frames are the std handler's byte for
// byte: go-sse writes a message's fields in the same order (id, event,
// retry, data, comments). The strict cursor (sseCursor) is read before the
// upgrade; go-sse's own reading of Last-Event-ID, which takes any single
// line, is not used.
//
// go-sse writes no retry field for a delay under 1 ms, so a RetryJitter
// draw below it is sent as 1 ms; and its first Send writes the headers on
// their own before the first frame.
type gosseHandler struct{ mount }

func newGoSSE(m mount) http.Handler { return &gosseHandler{m} }

// gosseHeartbeat is the heartbeat, ": hb" and a blank line (sseHeartbeat);
// a Message is only read when it is sent, so every stream shares it.
var gosseHeartbeat = func() *sse.Message {
	m := new(sse.Message)
	m.AppendComment("hb")
	return m
}()

func (h *gosseHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sub, gap, ok := h.openStream(w, r, "subscribe", sseCursor)
	if !ok {
		return
	}
	defer h.group.leave()
	defer sub.Close()
	s, err := sse.Upgrade(w, r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError) // w cannot flush
		return
	}
	// The headers go out with the first Send, which adds Content-Type.
	hdr := w.Header()
	hdr["Cache-Control"] = hdrNoCache
	hdr["Connection"] = hdrKeepAlive
	if !h.o.NoAccelHeader {
		hdr["X-Accel-Buffering"] = hdrNo // nginx would otherwise buffer the stream
	}
	st := &gosseStream{o: &h.o, s: s, rc: http.NewResponseController(w)}
	h.streams.opened()
	why := st.run(sub, gap, r.Context().Done())
	h.streams.closed(why)
	if errors.Is(why, ErrSlow) {
		// Cut the connection, as the std handler does: the client resumes
		// from its cursor, and no closing chunk waits on a slow client.
		panic(http.ErrAbortHandler)
	}
	// Bound the closing chunk net/http writes after we return; it fails
	// only on a connection that is gone or takes no deadlines.
	_ = st.rc.SetWriteDeadline(time.Now().Add(h.o.WriteTimeout))
}

// gosseStream is one stream's session.
type gosseStream struct {
	o  *Options // the handler's
	s  *sse.Session
	rc *http.ResponseController // for write deadlines, which go-sse has none of
}

// run sends the first frames (retry:, then the gap signal), then batches and
// heartbeats until the subscription ends, a write fails or the client goes
// (end).
func (st *gosseStream) run(sub *Subscription, gap *event.Gap, end <-chan struct{}) error {
	err := st.within(func() error {
		if err := st.s.Send(&sse.Message{Retry: st.retry()}); err != nil || gap == nil {
			return err
		}
		// The gap goes first, so the client knows what it missed before it
		// sees an event; its id lets a reconnect skip the missing events.
		m := &sse.Message{ID: sse.ID(strconv.FormatUint(gap.To, 10)), Type: sse.Type(event.GapType)}
		m.AppendData(string(gap.AppendJSON(nil)))
		return st.s.Send(m)
	})
	if err != nil {
		return err
	}
	return pump(sub, st, st.o.Heartbeat, true, end)
}

// retry is the delay the stream asks its client for (Options.Retry,
// RetryJitter), at least the 1 ms go-sse can send.
func (st *gosseStream) retry() time.Duration {
	d := st.o.Retry
	if st.o.RetryJitter {
		d = time.Duration(rand.Int64N(int64(2*d) + 1))
	}
	return max(d, time.Millisecond)
}

// within runs send, which sends frames, under a fresh write deadline, and
// flushes them.
func (st *gosseStream) within(send func() error) error {
	if err := st.rc.SetWriteDeadline(time.Now().Add(st.o.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if err := send(); err != nil {
		return err
	}
	return st.s.Flush()
}

// writeBatch sends one message per event and flushes once. Sends go through
// net/http's response buffer, which writes to the connection whenever it
// fills, so the stream never holds more than that buffer unwritten.
func (st *gosseStream) writeBatch(entries []*Entry) error {
	return st.within(func() error {
		for _, e := range entries {
			t, err := sse.NewType(e.Type)
			if err != nil {
				return err
			}
			m := &sse.Message{ID: sse.ID(strconv.FormatUint(e.Seq, 10)), Type: t}
			// Message data is a string: this one shares the canonical
			// bytes, which nobody writes after NewEntry, instead of copying
			// them for every event and every client.
			m.AppendData(unsafe.String(unsafe.SliceData(e.JSON), len(e.JSON)))
			if err := st.s.Send(m); err != nil {
				return err
			}
		}
		return nil
	})
}

func (st *gosseStream) tick() error {
	return st.within(func() error { return st.s.Send(gosseHeartbeat) })
}
