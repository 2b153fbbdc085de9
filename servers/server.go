package servers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushbench/pushbench/contract"
)

// HTTPTransports are the transports a Server serves over HTTP, every one
// unless New is told otherwise. The TCP floor is a TCPServer of its own.
var HTTPTransports = []contract.Transport{contract.Poll, contract.LongPoll, contract.SSE, contract.WS}

// ErrGeneratorRunning refuses a Start while the generator is publishing
// (409 on the wire).
var ErrGeneratorRunning = contract.ErrRunning

// streamBatch is the most events a streaming transport takes from its
// subscription at once. The hub measures lag at the cursor, which advances
// when events are taken, not when they are written, so a bounded batch keeps
// a stalled connection from hiding its lag in its own buffer.
const streamBatch = 64

// batchChunk is the most bytes of frames an SSE or WebSocket connection
// gathers before writing them out; a batch is still flushed once, at its
// end. It bounds what a connection holds while its client does not read: a
// batch gathered whole would hold streamBatch times the payload (4 MiB at
// 64 KiB events), stuck until the write deadline.
const batchChunk = 32 << 10

// Server serves the transports over one hub, plus health, statistics and the
// control of a generator it owns. It is a convenience wrapper: each transport
// is also usable on its own (NewPoll, NewSSE, NewWS).
type Server struct {
	hub            *Hub
	mux            *http.ServeMux
	poll, longpoll pollCounters
	sse, ws        streamCounters
	// impls and libraries name each mounted transport's implementation and
	// what it is built on, for /stats; engine is the HTTP server they run
	// on.
	impls, libraries map[contract.Transport]string
	engine           Engine
	streams          streamGroup
	o                Options
	gate             connGate
	h2               h2Counters
	token            *[sha256.Size]byte // the ControlToken's hash; nil without one

	mu     sync.Mutex // guards gen, closed, log and tcp; never held while waiting for a generator
	gen    *generatorRun
	closed bool
	log    *Log       // nil: the history lives in memory only
	tcp    *TCPServer // nil: no TCP floor is counted in /stats
}

var _ http.Handler = (*Server)(nil)

// generatorRun is one Generate goroutine the Server started.
type generatorRun struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Generate returns
	err    error         // what Generate returned; read after done
}

// New serves hub over the named transports (every HTTP transport when none
// is named), each by the implementation o.Impl names (see Impls), at its
// path (/poll, /longpoll, /sse, /ws), with /healthz, /stats, POST
// /control/start and POST /control/stop. A nil o means defaults. New fails
// on a transport or implementation it does not know, or one that runs as a
// process of its own.
//
// One server runs on one engine (Engine, Serving): nbio's when an
// implementation needs it, else net/http's. The polling transports run on
// either; a stream's implementation runs on its own engine only. When
// transports are named, New fails on one that cannot run on the server's
// engine; when none are, it leaves such a transport out (Stats then names
// no implementation for it), so that naming one nbio implementation serves
// what can be served beside it.
func New(hub *Hub, o *Options, transports ...contract.Transport) (*Server, error) {
	opts := o.withDefaults()
	named := len(transports) > 0
	if !named {
		transports = HTTPTransports
	}
	s := &Server{hub: hub, mux: http.NewServeMux(), o: opts,
		impls: map[contract.Transport]string{}, libraries: map[contract.Transport]string{}}
	s.gate.limit = int64(opts.MaxConns)
	if opts.ControlToken != "" {
		sum := sha256.Sum256([]byte(opts.ControlToken))
		s.token = &sum
	}
	chosen := make([]Impl, len(transports))
	for i, t := range transports {
		impl, err := LookupImpl(t, opts.Impl[t])
		if err != nil {
			return nil, err
		}
		if impl.handler == nil {
			return nil, fmt.Errorf("%s/%s runs as a process of its own: %s", t, impl.Name, strings.Join(impl.Command, " "))
		}
		if impl.Engine != NetHTTP {
			if s.engine != NetHTTP && s.engine != impl.Engine {
				return nil, fmt.Errorf("%s/%s runs on %s, another transport on %s: one server has one engine", t, impl.Name, impl.Engine, s.engine)
			}
			s.engine = impl.Engine
		}
		chosen[i] = impl
	}
	for i, t := range transports {
		impl := chosen[i]
		if !impl.runsOn(s.engine) {
			if named {
				return nil, fmt.Errorf("%s/%s runs on %s, not on %s, which another transport's implementation needs: one server has one engine",
					t, impl.Name, impl.Engine, s.engine)
			}
			continue
		}
		m := mount{hub: hub, o: opts, group: &s.streams}
		switch t {
		case contract.Poll:
			m.polls = &s.poll
		case contract.LongPoll:
			m.polls = &s.longpoll
		case contract.SSE:
			m.streams = &s.sse
		case contract.WS:
			m.streams = &s.ws
		}
		s.mux.Handle(t.Path(), impl.handler(m))
		s.impls[t], s.libraries[t] = impl.Name, impl.Library()
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain; charset=utf-8"}
		_, _ = w.Write([]byte("ok")) // a failed write has nobody to tell
	})
	s.mux.HandleFunc("GET /stats", s.serveStats)
	s.mux.HandleFunc("POST /control/start", s.serveStart)
	s.mux.HandleFunc("POST /control/stop", s.serveStop)
	return s, nil
}

// ServeHTTP routes a request: 404 for a path New did not mount, 405 with an
// Allow header for a method the path does not take.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// SetLog makes the server durable: its generator writes every batch to l
// before publishing it, and Start saves the running schedule in l until Stop,
// so that a server restarted on the same log can Resume it. l must be the log
// the server's hub was restored from (Log.Restore); SetLog panics otherwise.
// Call it before Start. The caller closes l after Close.
func (s *Server) SetLog(l *Log) {
	l.mu.Lock()
	ok := l.hub == s.hub
	l.mu.Unlock()
	if !ok {
		panic("servers: SetLog with a log the server's hub was not restored from")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = l
}

// SetTCP counts t, a TCP floor serving the server's hub on a listener of its
// own, in Stats, so that /stats reports the floor's connections as it does
// the HTTP transports'. The Server does not serve or close t.
func (s *Server) SetTCP(t *TCPServer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tcp = t
}

// Start publishes events on schedule sch, from now, in a goroutine the Server
// owns, until Stop, Close or the schedule's Count. It returns the seq of the
// first event it will publish, ErrGeneratorRunning if a generator is still
// publishing, or ErrClosed after Close. sch.First is ignored: the schedule
// continues the stream. With a log (SetLog), the schedule is saved in it
// before the first event is published.
func (s *Server) Start(sch Schedule) (first uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.startable(); err != nil {
		return 0, err
	}
	// Nothing else publishes, so Generate starts here too.
	sch.First = s.hub.Head() + 1
	start := time.Now()
	if s.log != nil {
		if err := s.log.SaveSchedule(RunningSchedule{Schedule: sch, Start: start}); err != nil {
			return 0, err
		}
	}
	s.launch(sch, start)
	return sch.First, nil
}

// Resume goes on with the schedule the server's log held when it was opened,
// if any, from the event after the head: the events whose time came while no
// server ran are published at once, carrying their scheduled times, so the
// outage shows in every client's latency. ok is false, and nothing starts,
// without a log or a saved schedule. It fails like Start.
func (s *Server) Resume() (rs RunningSchedule, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return RunningSchedule{}, false, nil
	}
	if rs, ok = s.log.Schedule(); !ok {
		return RunningSchedule{}, false, nil
	}
	if err := s.startable(); err != nil {
		return RunningSchedule{}, false, err
	}
	s.launch(rs.Schedule, rs.Start)
	return rs, true, nil
}

// startable says whether a generator may start; callers hold mu.
func (s *Server) startable() error {
	if s.closed {
		return ErrClosed
	}
	if g := s.gen; g != nil {
		select {
		case <-g.done: // finished its Count: a new run may follow
			g.cancel()
		default:
			return ErrGeneratorRunning
		}
	}
	return nil
}

// launch starts a generator publishing sch from start, through the log if
// there is one; callers hold mu and have checked startable.
func (s *Server) launch(sch Schedule, start time.Time) {
	var pub Publisher = s.hub
	if s.log != nil {
		pub = s.log
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &generatorRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		g.err = Generate(ctx, pub, sch, start)
	}()
	s.gen = g
}

// Stop stops the generator, if one runs, and waits for it, and removes the
// schedule from the log, if there is one, so that a restart does not resume
// it. It returns the newest seq published and the error the generator failed
// with, if any.
func (s *Server) Stop() (head uint64, err error) {
	s.mu.Lock()
	g, l := s.gen, s.log
	s.mu.Unlock()
	// Wait without the lock, so that Close can still close the hub under a
	// generator too busy to look at its context.
	if g != nil {
		g.cancel()
		<-g.done
		err = g.err
		s.mu.Lock()
		if s.gen == g { // Start refused to replace it until now
			s.gen = nil
		}
		s.mu.Unlock()
	}
	// Forgotten only once the generator has stopped: a crash before this
	// resumes a schedule whose stop was never acknowledged.
	if l != nil {
		err = errors.Join(err, l.ClearSchedule())
	}
	return s.hub.Head(), err
}

// Close stops the generator and closes the hub, which ends every stream, and
// waits for the stream handlers to return: http.Server.Shutdown waits for
// SSE responses but not for hijacked WebSocket connections. A stream stuck in
// a write to a client that stopped reading holds Close up to its
// WriteTimeout. Call it before Shutdown. Close may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	g := s.gen
	s.mu.Unlock()
	if g != nil {
		g.cancel()
	}
	// Closing the hub also stops a generator that is too far behind to look
	// at its context: its next Publish fails.
	s.hub.Close()
	if g != nil {
		<-g.done
	}
	s.streams.closeAndWait()
}

// Stats returns the hub's, the transports' and the process's figures.
func (s *Server) Stats() contract.Stats {
	st := contract.Stats{
		Contract:       contract.Version,
		Implementation: s.impls,
		Library:        s.libraries,
		Hub:            s.hub.Stats(),
		Transports: contract.TransportStats{
			SSE:      s.sse.snapshot(),
			WS:       s.ws.snapshot(),
			Poll:     s.poll.snapshot(),
			LongPoll: s.longpoll.snapshot(),
			Refused:  s.gate.refused.Load(),
		},
		Process: processStats(),
		Conns: contract.ConnStats{
			Open:          s.gate.open.Load(),
			Limit:         s.gate.limit,
			H2EarlyResets: s.h2.early.Load(),
			H2ResetFloods: s.h2.floods.Load(),
		},
	}
	s.mu.Lock()
	l, tcp := s.log, s.tcp
	s.mu.Unlock()
	if tcp != nil {
		st.Transports.TCP = tcp.Stats()
	}
	if l != nil {
		ls := l.Stats()
		st.Log = &ls
	}
	return st
}

func (s *Server) serveStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.Stats())
}

// serveStart answers POST /control/start?rate=R&burst=B&payload=P&count=N.
// A missing parameter takes Schedule's default; payload=0 means empty data.
func (s *Server) serveStart(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	cs, err := contract.ParseSchedule(r.URL.RawQuery)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	first, err := s.Start(scheduleOf(cs))
	switch {
	case errors.Is(err, ErrGeneratorRunning):
		http.Error(w, "generator already running: POST /control/stop first", http.StatusConflict)
	case err != nil:
		refuse(w, err)
	default:
		writeJSON(w, contract.Started{First: first})
	}
}

// serveStop answers POST /control/stop with {"head":N}.
func (s *Server) serveStop(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	head, err := s.Stop()
	if err != nil {
		http.Error(w, "generator failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, contract.Stopped{Head: head})
}

// authorized says whether r may use /control, and answers it 401 if not:
// with a ControlToken, only "Authorization: Bearer TOKEN" may. The token is
// compared by hash in constant time, so neither its bytes nor its length
// show in how long a refusal takes.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.token == nil {
		return true
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare(sum[:], s.token[:]) == 1 {
		return true
	}
	w.Header().Set("WWW-Authenticate", "Bearer")
	http.Error(w, "control token missing or wrong: send Authorization: Bearer TOKEN", http.StatusUnauthorized)
	return false
}

// scheduleOf is the generator's schedule for what /control/start asked:
// there a payload of 0 means empty data, where Schedule reads 0 as the
// default and below 0 as empty.
func scheduleOf(cs contract.Schedule) Schedule {
	sch := Schedule{Rate: cs.Rate, Burst: cs.Burst, Payload: cs.Payload, Count: cs.Count}
	if cs.Payload == 0 {
		sch.Payload = -1
	}
	return sch
}

// writeJSON answers 200 with v encoded.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header()["Content-Type"] = hdrJSON
	w.Header()["Cache-Control"] = hdrNoStore
	_, _ = w.Write(append(b, '\n')) // a failed write has nobody to tell
}

// pollCounters counts the polling transport's requests.
type pollCounters struct {
	requests, empty atomic.Uint64
}

func (c *pollCounters) snapshot() contract.PollStats {
	return contract.PollStats{Requests: c.requests.Load(), Empty: c.empty.Load()}
}

// streamCounters counts a streaming transport's connections. Handlers update
// it with atomics, so /stats never waits on a stream.
type streamCounters struct {
	active      atomic.Int64
	total, slow atomic.Uint64
}

// opened counts a stream that has started.
func (c *streamCounters) opened() {
	c.total.Add(1)
	c.active.Add(1)
}

// closed counts a stream that ended because of why.
func (c *streamCounters) closed(why error) {
	if isSlow(why) {
		c.slow.Add(1)
	}
	c.active.Add(-1)
}

func (c *streamCounters) snapshot() contract.StreamStats {
	return contract.StreamStats{Active: c.active.Load(), Total: c.total.Load(), SlowDisconnects: c.slow.Load()}
}

// isSlow says whether a stream ended because its client did not keep up:
// the hub cut it off, or a write to it missed its deadline.
func isSlow(err error) bool {
	var ne net.Error
	return errors.Is(err, ErrSlow) || (errors.As(err, &ne) && ne.Timeout())
}

// streamGroup tracks running stream handlers so that Close can wait for
// them. Unlike a bare WaitGroup it refuses new members once closing, so no
// Add can race with the Wait.
type streamGroup struct {
	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
	// idle are waited for once the handlers have returned: what steps
	// streams on goroutines of its own (the nbio implementations' pumps)
	// settling down.
	idle []func()
}

// waitAlso makes closeAndWait wait for idle too, after the handlers.
func (g *streamGroup) waitAlso(idle func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.idle = append(g.idle, idle)
}

// enter registers a stream handler; false means the server is closing.
func (g *streamGroup) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.wg.Add(1)
	return true
}

// leave unregisters a handler that entered.
func (g *streamGroup) leave() { g.wg.Done() }

// closeAndWait refuses new handlers and waits for the running ones.
func (g *streamGroup) closeAndWait() {
	g.mu.Lock()
	g.closing = true
	idle := g.idle
	g.mu.Unlock()
	g.wg.Wait()
	for _, f := range idle {
		f()
	}
}
