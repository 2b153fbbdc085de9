package servers

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// pollHandler is the short-polling transport: GET /poll?after=SEQ answers
// with the events after SEQ, at most PollBatch of them, as the package
// documentation describes. It answers polls straight from the hub's history: a poll never
// subscribes, so an idle polling client costs the server nothing between
// requests.
type pollHandler struct {
	hub   *Hub
	o     Options
	stats *pollCounters
	// long makes it the long-polling transport: with nothing newer than
	// the cursor, the request waits for the next event, up to
	// LongPollWait, before it is answered 204.
	long bool
}

func newPoll(m mount) http.Handler {
	return &pollHandler{hub: m.hub, o: m.o, stats: m.polls}
}

// newLongPoll is the long-polling transport: GET /longpoll?after=SEQ
// answers as /poll does, except that with nothing newer than the cursor it
// holds the request until the next event is published, up to LongPollWait,
// and only then answers 204.
func newLongPoll(m mount) http.Handler {
	return &pollHandler{hub: m.hub, o: m.o, stats: m.polls, long: true}
}

// pollScratch is one request's working memory, pooled: a poll answer is
// built by appending the events' pre-encoded JSON, never by json.Marshal.
type pollScratch struct {
	entries []*Entry
	body    []byte
}

var pollScratchPool = sync.Pool{New: func() any { return new(pollScratch) }}

// maxPooledBody keeps an answer for a client far behind with large payloads
// from pinning its buffer in the pool for everyone after it.
const maxPooledBody = 1 << 20

// Header values are shared rather than built per request; net/http only
// reads them.
var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
	hdrAllowGH = []string{"GET, HEAD"}
)

func (h *pollHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()["Allow"] = hdrAllowGH
		http.Error(w, "method not allowed: poll with GET", http.StatusMethodNotAllowed)
		return
	}
	h.stats.requests.Add(1)
	after, err := queryCursor(r.URL.RawQuery)
	if err != nil {
		refuse(w, err)
		return
	}
	sc := pollScratchPool.Get().(*pollScratch)
	defer putPollScratch(sc)
	entries, gap, err := h.hub.Read(after, sc.entries[:0], h.o.PollBatch)
	if err == nil && h.long && len(entries) == 0 && gap == nil && h.await(r, after) {
		entries, gap, err = h.hub.Read(after, entries, h.o.PollBatch)
	}
	sc.entries = entries
	if err != nil {
		refuse(w, err)
		return
	}
	hdr := w.Header()
	hdr["Cache-Control"] = hdrNoStore
	if len(entries) == 0 && gap == nil {
		h.stats.empty.Add(1)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	next := after
	if len(entries) > 0 {
		next = entries[len(entries)-1].Seq
	}
	// Events published since Read are waiting too, so a racing publish
	// can only make "more" true, never hide an event.
	more := next < h.hub.Head()

	b := append(sc.body[:0], `{"events":[`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.JSON...)
	}
	b = append(b, `],"next":`...)
	b = strconv.AppendUint(b, next, 10)
	b = append(b, `,"more":`...)
	b = strconv.AppendBool(b, more)
	if gap != nil {
		b = append(b, `,"gap":{"from":`...)
		b = strconv.AppendUint(b, gap.From, 10)
		b = append(b, `,"to":`...)
		b = strconv.AppendUint(b, gap.To, 10)
		b = append(b, '}')
	}
	b = append(b, '}')
	sc.body = b

	hdr["Content-Type"] = hdrJSON
	hdr["Content-Length"] = []string{strconv.Itoa(len(b))}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	// The deadline must not outlive this answer: without a server-wide
	// WriteTimeout nothing resets it, and the next request on this
	// keep-alive connection may be one that sets none.
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Now().Add(h.o.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return // the connection is already gone
	}
	defer clearWriteDeadline(rc)
	// Flush here, under the deadline: left to net/http, an answer that fits
	// its buffer would be sent after the handler returns, with no deadline.
	// An error means the client left or stalled past the deadline; net/http
	// then closes the connection and there is nobody left to tell.
	if _, err := w.Write(b); err != nil {
		return
	}
	_ = rc.Flush() // see above: nothing to do on failure
}

// await holds a long poll until an event after the cursor is published,
// LongPollWait passes, the client leaves or the server closes. It reports
// whether an event may have come.
func (h *pollHandler) await(r *http.Request, after uint64) bool {
	sub, _, err := h.hub.Subscribe(after)
	if err != nil {
		return false // closed, or the cursor went bad meanwhile: Read says so
	}
	defer sub.Close()
	t := time.NewTimer(h.o.LongPollWait)
	defer t.Stop()
	select {
	case <-sub.Ready():
		return true
	case <-sub.Done():
	case <-t.C:
	case <-r.Context().Done():
	}
	return false
}

func putPollScratch(sc *pollScratch) {
	clear(sc.entries) // do not keep published entries alive from the pool
	sc.entries = sc.entries[:0]
	if cap(sc.body) > maxPooledBody {
		sc.body = nil
	}
	pollScratchPool.Put(sc)
}

// clearWriteDeadline lifts a handler's write deadline from its connection, so
// that it does not fire on a later response on the same connection. It fails
// only on a connection that is closed or takes no deadlines, where no later
// response can trip over it.
func clearWriteDeadline(rc *http.ResponseController) {
	_ = rc.SetWriteDeadline(time.Time{}) // fails only when it no longer matters
}
