package servers

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pushbench/pushbench/event"
)

// sseHandler is the Server-Sent Events transport: GET /sse?after=SEQ, or a
// reconnect with Last-Event-ID, streams every event after the cursor as the
// package documentation describes, as text/event-stream. Each stream is one
// handler goroutine: it takes everything the hub has for it as one batch,
// writes the batch's frames and flushes once, so a burst costs one write to
// the socket, not one per event.
type sseHandler struct {
	hub   *Hub
	o     Options
	stats *streamCounters
	group *streamGroup
	retry []byte // the stream's first bytes: "retry: MS\n\n"; nil with RetryJitter
}

func newSSE(m mount) http.Handler {
	h := &sseHandler{hub: m.hub, o: m.o, stats: m.streams, group: m.group}
	if !m.o.RetryJitter {
		h.retry = appendRetry(nil, m.o.Retry)
	}
	return h
}

// appendRetry appends the retry: frame asking for delay d.
func appendRetry(b []byte, d time.Duration) []byte {
	b = strconv.AppendInt(append(b, "retry: "...), d.Milliseconds(), 10)
	return append(b, "\n\n"...)
}

// retryFrame is the first frame of a new stream: the fixed one, or with
// RetryJitter a delay of the stream's own in [0, 2·Retry].
func (h *sseHandler) retryFrame() []byte {
	if h.retry != nil {
		return h.retry
	}
	return appendRetry(make([]byte, 0, 24), time.Duration(rand.Int64N(int64(2*h.o.Retry)+1)))
}

// sseHeartbeat is a comment line: clients ignore it, but it keeps proxies
// from timing the stream out and tells a client the server is alive.
var sseHeartbeat = []byte(": hb\n\n")

// sseScratch is one batch's working memory. It is pooled and held only while
// a batch is being written, so an idle stream holds no buffer of its own.
type sseScratch struct {
	entries []*Entry
	frames  []byte
}

var sseScratchPool = sync.Pool{New: func() any { return new(sseScratch) }}

var (
	hdrEventStream = []string{"text/event-stream"}
	hdrNoCache     = []string{"no-cache"}
	hdrKeepAlive   = []string{"keep-alive"}
	hdrNo          = []string{"no"}
	hdrAllowGet    = []string{"GET"}
)

func (h *sseHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header()["Allow"] = hdrAllowGet
		http.Error(w, "method not allowed: subscribe with GET", http.StatusMethodNotAllowed)
		return
	}
	after, err := sseCursor(r)
	if err != nil {
		refuse(w, err)
		return
	}
	if !h.group.enter() {
		refuse(w, ErrClosed)
		return
	}
	defer h.group.leave()
	// Subscribe before the headers go out, so that a cursor the hub refuses
	// is still an ordinary 400.
	sub, gap, err := h.hub.Subscribe(after)
	if err != nil {
		refuse(w, err)
		return
	}
	defer sub.Close()

	hdr := w.Header()
	hdr["Content-Type"] = hdrEventStream
	hdr["Cache-Control"] = hdrNoCache
	hdr["Connection"] = hdrKeepAlive
	if !h.o.NoAccelHeader {
		hdr["X-Accel-Buffering"] = hdrNo // nginx would otherwise buffer the stream
	}
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	h.stats.opened()
	why := h.stream(r.Context(), w, rc, sub, gap)
	h.stats.closed(why)
	if errors.Is(why, ErrSlow) {
		// Cut the connection rather than end the response: the client sees
		// an interrupted stream and resumes from its cursor, and no closing
		// chunk waits on a client that is known to be slow.
		panic(http.ErrAbortHandler)
	}
	// net/http writes the closing chunk after we return; keep it under a
	// deadline too. This deadline outlives the response only on connections
	// that are broken, closed by the client or shutting down.
	// It fails only on a connection that is gone or takes no deadlines.
	_ = rc.SetWriteDeadline(time.Now().Add(h.o.WriteTimeout))
}

// stream writes the stream until the subscription ends, the client leaves or
// a write fails, and returns why it stopped.
func (h *sseHandler) stream(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, sub *Subscription, gap *event.Gap) error {
	first := h.retryFrame()
	if gap != nil {
		// The gap goes first, so the client knows what it missed before it
		// sees an event; its id lets a reconnect skip the missing events.
		first = appendGapFrame(append([]byte(nil), first...), *gap)
	}
	if err := h.send(w, rc, first); err != nil {
		return err
	}
	hb := time.NewTicker(h.o.Heartbeat)
	defer hb.Stop()
	for {
		n, err := h.sendBatch(w, rc, sub)
		if err != nil {
			return err
		}
		if n > 0 {
			hb.Reset(h.o.Heartbeat) // heartbeats are for silent streams only
			continue
		}
		select {
		case <-sub.Ready():
		case <-sub.Done(): // the next Take says why
		case <-hb.C:
			if err := h.send(w, rc, sseHeartbeat); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sendBatch takes what the subscription has waiting, writes it and flushes
// once. It returns how many events it sent.
func (h *sseHandler) sendBatch(w http.ResponseWriter, rc *http.ResponseController, sub *Subscription) (int, error) {
	sc := sseScratchPool.Get().(*sseScratch)
	defer putSSEScratch(sc)
	entries, err := sub.Take(sc.entries[:0], streamBatch)
	sc.entries = entries
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	if err := rc.SetWriteDeadline(time.Now().Add(h.o.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	b := sc.frames[:0]
	for _, e := range entries {
		b = appendEventFrame(b, e)
		if len(b) >= batchChunk {
			if _, err := w.Write(b); err != nil {
				return 0, err
			}
			b = b[:0]
		}
	}
	sc.frames = b
	if _, err := w.Write(b); err != nil {
		return 0, err
	}
	return len(entries), rc.Flush()
}

// send writes b and flushes it under a fresh write deadline.
func (h *sseHandler) send(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	if err := rc.SetWriteDeadline(time.Now().Add(h.o.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return rc.Flush()
}

func putSSEScratch(sc *sseScratch) {
	clear(sc.entries) // do not keep published entries alive from the pool
	sc.entries = sc.entries[:0]
	if cap(sc.frames) > 2*batchChunk {
		sc.frames = nil // one huge event must not pin a huge buffer
	}
	sseScratchPool.Put(sc)
}

// appendEventFrame appends one event's frame. The encoded event never holds a
// newline (JSON escapes control characters), so it is always one data line.
func appendEventFrame(b []byte, e *Entry) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, "\nevent: "...)
	b = append(b, e.Type...)
	b = append(b, "\ndata: "...)
	b = append(b, e.JSON...)
	return append(b, "\n\n"...)
}

// appendGapFrame appends the gap signal's frame: its id is the last missing
// event, so a client that reconnects after it does not ask for them again.
func appendGapFrame(b []byte, g event.Gap) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, g.To, 10)
	b = append(b, "\nevent: "+event.GapType+"\ndata: "...)
	b = g.AppendJSON(b)
	return append(b, "\n\n"...)
}
