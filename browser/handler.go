package browser

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"sync"
)

// Paths Handler serves itself; it passes every other path on.
const (
	// PagePath is the page that consumes the stream.
	PagePath = "/browser/"
	// LastEventIDsPath answers {"last_event_ids":[…]}: the Last-Event-ID
	// headers of the latest SSE requests that carried one, oldest first.
	LastEventIDsPath = "/browser/last-event-ids"
)

// keptLastEventIDs is how many Last-Event-ID headers Handler remembers. A
// ring, so a benchmark with thousands of reconnecting clients costs no
// memory; the browser scenario needs only the newest few.
const keptLastEventIDs = 64

// maxLastEventID clips a recorded header: a valid cursor has at most 20
// digits, and anything longer was refused by the SSE handler anyway.
const maxLastEventID = 32

//go:embed page/index.html
var page []byte

// Handler serves the page at PagePath and the record of received
// Last-Event-ID headers at LastEventIDsPath, and passes every other request
// to stream, a pushbench server (servers.New). Serving the page from the
// stream's handler keeps it on the stream's origin, so the page's
// EventSource, WebSocket and fetch need no CORS and share the browser's
// per-host connection pool, which is what the scenario measures.
//
// The record exists because a reconnecting EventSource sends Last-Event-ID
// on its own: the page cannot see the header, and the SSE handler acts on
// it without keeping it. Handler notes the header of each request to /sse
// before passing it on, so the scenario can check what the server actually
// received after a restart. It costs a path comparison per request and a
// mutex per reconnect.
func Handler(stream http.Handler) http.Handler {
	h := &handler{stream: stream}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PagePath+"{$}", servePage)
	mux.HandleFunc("GET "+LastEventIDsPath, h.serveLastEventIDs)
	mux.HandleFunc("/", h.pass)
	return mux
}

type handler struct {
	stream http.Handler
	ids    idRing
}

func servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header()["Content-Type"] = []string{"text/html; charset=utf-8"}
	w.Header()["Cache-Control"] = []string{"no-store"}
	_, _ = w.Write(page) // a failed write has nobody to tell
}

func (h *handler) pass(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/sse" {
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			h.ids.add(id)
		}
	}
	h.stream.ServeHTTP(w, r)
}

// lastEventIDs is LastEventIDsPath's answer.
type lastEventIDs struct {
	IDs []string `json:"last_event_ids"`
}

func (h *handler) serveLastEventIDs(w http.ResponseWriter, _ *http.Request) {
	b, err := json.Marshal(lastEventIDs{IDs: h.ids.list()})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header()["Content-Type"] = []string{"application/json"}
	w.Header()["Cache-Control"] = []string{"no-store"}
	_, _ = w.Write(append(b, '\n')) // a failed write has nobody to tell
}

// idRing keeps the newest keptLastEventIDs headers.
type idRing struct {
	mu  sync.Mutex
	ids [keptLastEventIDs]string
	n   int // headers ever added
}

func (r *idRing) add(id string) {
	if len(id) > maxLastEventID {
		id = id[:maxLastEventID]
	}
	r.mu.Lock()
	r.ids[r.n%len(r.ids)] = id
	r.n++
	r.mu.Unlock()
}

// list returns the kept headers, oldest first; never nil, so the JSON is a
// list.
func (r *idRing) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := min(r.n, len(r.ids))
	out := make([]string, 0, kept)
	for i := r.n - kept; i < r.n; i++ {
		out = append(out, r.ids[i%len(r.ids)])
	}
	return out
}
