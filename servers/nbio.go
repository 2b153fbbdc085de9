package servers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"

	"github.com/pushbench/pushbench/event"
)

// The nbio engine (Engine NBIO) serves a Server's handler on
// github.com/lesismal/nbio's HTTP server: connections sit on an event loop
// (epoll) instead of a goroutine each, a handler runs on a goroutine of its
// own only while it answers a request, and the SSE and WebSocket
// implementations written for it (sse_nbio.go, ws_nbio.go) take their
// connection over from nbio and feed it from a few pump goroutines shared
// by every stream (nbioPump). An idle stream holds no goroutine, no read
// buffer (nbio reads into one buffer per event loop) and no write buffer
// (frames are built in pooled buffers and nbio keeps only what the socket
// did not take).
//
// nbio's HTTP server speaks HTTP/1.1 only, over connections Serve accepts
// from the listener it is given (one made by Server.Listener, so the
// connection cap holds), and calls an ordinary http.Handler, so /healthz,
// /stats, /control and the polling transports run under it unchanged. The
// handlers that hold their request for the life of a stream do not: the
// standard SSE handler would hold a goroutine per stream and learns nothing
// of a client that leaves, and gorilla/websocket needs the buffered reader
// net/http's Hijack returns. New leaves such a transport out of a server on
// the nbio engine (see New).

// nbioNotes is what both nbio implementations do differently (Impl.Notes).
const nbioNotes = "no goroutine per connection: a few pump goroutines write every stream; " +
	"HTTP/1.1 only, no TLS or HTTP/2; only the polling transports run beside it, and a long poll does not see its client leave; " +
	"one read deadline (IdleTimeout from accept or the last answer) for net/http's header, read and idle timeouts; " +
	"a request body is read, up to 16 KiB (more closes the connection), before it is refused; " +
	"headers are bounded (16 KiB) only when they come in several reads, by closing the connection unanswered; " +
	"a connection the server closes off nbio's event loop while another is accepted can take the new one down with it (its descriptor number is reused before the loop's pending event for it), so a refusal at the limit asks its client to close"

// nbioServing serves a Server's handler on one nbio engine, started by the
// first Serve and stopped by Shutdown.
type nbioServing struct {
	engine *nbhttp.Engine

	// jobs are the goroutines execute started: handlers and nbio's close
	// callbacks, which Shutdown waits for.
	jobs sync.WaitGroup

	mu        sync.Mutex
	started   bool // engine running
	shut      bool // Shutdown called: Serve refuses
	listeners map[net.Listener]struct{}
	accepting sync.WaitGroup // Serve loops
	// gated holds every connection on the engine that came from a listener
	// made by Server.Listener, so that its count is given back when nbio
	// closes it and the guard can tell a connection beyond the limit.
	gated map[*nbio.Conn]*gatedConn

	// addMu serializes handing connections to the engine, so that onOpen,
	// which nbio calls inside AddConnNonTLSNonBlocking with the new
	// *nbio.Conn, knows which gatedConn it is (adding).
	addMu  sync.Mutex
	adding *gatedConn
}

var _ Serving = (*nbioServing)(nil)

// nbioLogging sends nbio's own log to stderr, errors only: by default it
// writes every engine start and stop to stdout, where the serve command
// tells its parent its address.
var nbioLogging sync.Once

// nbioServing serves h on nbio's event loop. Beyond what h does it bounds
// what a client can hold as far as nbio allows (guard): a request with a
// body is refused and its connection closed, beyond Options.MaxConns
// streams and polls are answered 503 and the connection closed, a
// connection must deliver each request within Options.IdleTimeout of
// being accepted or of its last answer (nbio has one read deadline where
// net/http has three), and headers are bounded as HTTPServer's are.
func (s *Server) nbioServing(h http.Handler) Serving {
	nbioLogging.Do(func() {
		logging.Output = os.Stderr
		logging.SetLevel(logging.LevelError)
	})
	n := &nbioServing{listeners: map[net.Listener]struct{}{}, gated: map[*nbio.Conn]*gatedConn{}}
	n.engine = nbhttp.NewEngine(nbhttp.Config{
		Name: "pushbench",
		// What nbio holds of a request it has not finished reading, headers
		// and all, and of a body, which the guard then refuses.
		ReadLimit:       maxHeaderBytes,
		MaxHTTPBodySize: maxHeaderBytes,
		KeepaliveTime:   s.o.IdleTimeout,
		ServerExecutor:  n.execute,
		// No client side: nbio would otherwise start a goroutine pool for
		// it.
		SupportServerOnly: true,
		Handler:           n.guard(h),
	})
	n.engine.OnOpen(n.onOpen)
	n.engine.OnClose(func(c net.Conn, _ error) { n.forget(c) })
	n.engine.OnWrittenSize(nbioWritten)
	return n
}

// execute is the engine's executor: what nbio runs for a connection (a
// handler, then its answer; a close callback) runs on a goroutine of its
// own, as a handler does under net/http. nbio's default, a pool of a fixed
// number of goroutines, would queue every request behind enough long polls
// waiting in their handlers; the streams return from theirs at once.
func (n *nbioServing) execute(f func()) {
	n.jobs.Add(1)
	go func() {
		defer n.jobs.Done()
		f()
	}()
}

// Serve accepts connections from l and hands them to the engine until
// Shutdown, after which it returns http.ErrServerClosed, as net/http's
// does. It serves plain TCP connections only: nbio's event loop takes the
// socket itself, so TLS (a *tls.Conn) cannot be handed over.
func (n *nbioServing) Serve(l net.Listener) error {
	n.mu.Lock()
	if n.shut {
		n.mu.Unlock()
		return http.ErrServerClosed
	}
	if !n.started {
		if err := n.engine.Start(); err != nil {
			n.mu.Unlock()
			return err
		}
		n.started = true
	}
	n.listeners[l] = struct{}{}
	n.accepting.Add(1)
	n.mu.Unlock()
	defer n.accepting.Done()
	var pause time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if n.closed() {
				return http.ErrServerClosed
			}
			if !acceptRetryable(err) {
				return err
			}
			// A shortage that passes: back off and go on, as the TCP floor
			// and net/http do.
			pause = min(max(2*pause, tcpAcceptRetryMin), tcpAcceptRetryMax)
			time.Sleep(pause)
			continue
		}
		pause = 0
		n.add(c)
	}
}

func (n *nbioServing) closed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.shut
}

// add hands c to the engine. nbio takes a duplicate of the socket and
// closes c's own descriptor; a gatedConn's count is given back when nbio
// closes the duplicate (forget).
func (n *nbioServing) add(c net.Conn) {
	gc, _ := c.(*gatedConn)
	raw := c
	if gc != nil {
		raw = gc.Conn
	}
	nbc, err := nbio.NBConn(raw) // fails on a connection that is not a socket's, TLS's
	if err != nil {
		_ = c.Close() // its client sees the connection end unanswered; counted out if gated
		return
	}
	hc := &nbhttp.Conn{Conn: nbc}
	// nbio's event loop reads hc, and the addresses Accept wrote, only once
	// epoll reports the socket, which the race detector cannot see; it sees
	// this lock, which the loop takes before it reads anything.
	nbc.Lock()
	nbc.Unlock()
	n.addMu.Lock()
	n.adding = gc
	// nbio calls the last argument when it fails to take the connection,
	// and closes it itself.
	n.engine.AddConnNonTLSNonBlocking(hc, nil, func() {
		if gc != nil {
			_ = gc.Close() // its descriptor is closed already: this gives its count back
		}
	})
	n.adding = nil
	n.addMu.Unlock()
	// nbio closes a socket it cannot poll without telling OnClose.
	if closed, _ := nbc.IsClosed(); closed {
		n.forget(nbc)
	}
}

// onOpen is the engine's OnOpen: it runs inside add, before nbio polls
// the connection, so no close can come before it.
func (n *nbioServing) onOpen(c net.Conn) {
	nbc, ok := c.(*nbio.Conn)
	if !ok || n.adding == nil {
		return
	}
	n.mu.Lock()
	n.gated[nbc] = n.adding
	n.mu.Unlock()
}

// forget gives a closed connection's count back; it may run twice for one.
func (n *nbioServing) forget(c net.Conn) {
	nbc, ok := c.(*nbio.Conn)
	if !ok {
		return
	}
	n.mu.Lock()
	gc := n.gated[nbc]
	delete(n.gated, nbc)
	n.mu.Unlock()
	if gc != nil {
		_ = gc.Close() // counted out once, however often it is called
	}
}

// overLimit is the gatedConn of c when c was accepted beyond the limit.
func (n *nbioServing) overLimit(c *nbio.Conn) *gatedConn {
	if c == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if gc := n.gated[c]; gc != nil && gc.over {
		return gc
	}
	return nil
}

// Shutdown stops accepting, closes every connection and stops the engine,
// waiting for its event loops within ctx. Call Server.Close first: streams
// end by their connections closing, and nbio runs nothing after it stops.
func (n *nbioServing) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	if n.shut {
		n.mu.Unlock()
		return nil
	}
	n.shut = true
	var err error
	for l := range n.listeners {
		if cerr := l.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = errors.Join(err, cerr)
		}
	}
	started := n.started
	n.mu.Unlock()
	n.accepting.Wait() // no connection is handed over while the engine stops
	if !started {
		return err
	}
	if serr := n.engine.Shutdown(ctx); serr != nil {
		return errors.Join(err, serr)
	}
	// A stopped engine executes nothing more (nbio drops what it is given
	// then), so no job is added while this waits for the last ones: close
	// callbacks, and handlers, which the engine's context, canceled, ends.
	jobs := make(chan struct{})
	go func() {
		defer close(jobs)
		n.jobs.Wait()
	}()
	select {
	case <-jobs:
		return err
	case <-ctx.Done():
		return errors.Join(err, ctx.Err()) // the waiter ends with the last job
	}
}

// guard is the engine's handler: what HTTPServer's guard does, with what
// nbio offers.
func (n *nbioServing) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := nbioConnOf(w)
		if c != nil {
			// nbio's read deadline runs from accept or the last answer and
			// stays set while a handler runs; net/http lifts its own once
			// the request is read. Lifted here, so that a long poll or a
			// stream is not cut by it; nbio sets it again after the answer.
			_ = c.SetReadDeadline(time.Time{}) // fails only on a closed connection
		}
		// nbio reads a body whole before it calls the handler, and sets
		// ContentLength -1 when there is none.
		if r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
			r.Close = true // nbio answers "Connection: close" and closes after the answer
			refuseBody(w, r)
			return
		}
		if gc := n.overLimit(c); gc != nil {
			// The answer asks the client to close rather than closing
			// here: nbio closes a connection from whichever goroutine
			// asks, and the connection accepted next takes the closed
			// descriptor's number at once, so an event the loop already
			// holds for the old one (its client's close) is applied to
			// the new one, which is closed unanswered. At the limit every
			// connection is refused and the next one accepted at once, so
			// it happened there in one run in three. Closed by its client,
			// the connection ends on the event loop, which applies its
			// events in order; one that ignores the header is closed after
			// Options.IdleTimeout, and the refusing budget bounds those.
			w.Header().Set("Connection", "close")
			if !answeredAtLimit(r.URL.Path) {
				gc.refuse()
				http.Error(w, ErrConnLimit.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// nbioResponse finds nbio's response under w and wrappers that Unwrap.
func nbioResponse(w http.ResponseWriter) *nbhttp.Response {
	for {
		if res, ok := w.(*nbhttp.Response); ok {
			return res
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
}

// nbioConnOf is the connection on nbio's event loop that w answers on; nil
// when w is not nbio's.
func nbioConnOf(w http.ResponseWriter) *nbio.Conn {
	res := nbioResponse(w)
	if res == nil || res.Parser == nil {
		return nil
	}
	if hc, ok := res.Parser.Conn.(*nbhttp.Conn); ok {
		if nbc, ok := hc.Conn.(*nbio.Conn); ok {
			return nbc
		}
	}
	return nil
}

// errNotNBIO refuses a stream whose implementation needs nbio's engine on
// another server (500): New never mounts it so, but a handler can be
// served by anything.
var errNotNBIO = errors.New("this implementation runs on nbio's engine only (Server.Serving)")

// nbioMount is what a stream handler on nbio shares with its streams: the
// mount, and the pump that steps them.
type nbioMount struct {
	mount
	pump *nbioPump
}

func newNBIOMount(m mount) *nbioMount {
	p := newNBIOPump()
	m.group.waitAlso(p.waitIdle) // Server.Close waits for the streams' last steps too
	return &nbioMount{mount: m, pump: p}
}

// open checks a stream's request and subscribes it as the other
// implementations do (openStream), on nbio's engine only: it answers what
// it refuses. The subscription then wakes st through the pump.
func (m *nbioMount) open(w http.ResponseWriter, r *http.Request, verb string, cursor func(*http.Request) (uint64, error), st nbioStepper) (*event.Gap, bool) {
	s := st.base()
	if s.conn = nbioConnOf(w); s.conn == nil {
		http.Error(w, errNotNBIO.Error(), http.StatusInternalServerError)
		return nil, false
	}
	sub, gap, ok := m.openStream(w, r, verb, cursor)
	if !ok {
		return nil, false
	}
	s.m, s.sub = m, sub
	s.sched.Store(nbioRunning) // the handler steps it first
	sub.Notify(func() { m.pump.wake(st) })
	return gap, true
}

// The states of a stream for the pump (nbioStream.sched).
const (
	nbioIdle    int32 = iota // waiting for a wake-up
	nbioQueued               // in the pump's queue
	nbioRunning              // a step runs
	nbioRerun                // a step runs, and the stream was woken meanwhile
)

// nbioStepper is a stream the pump steps: an SSE or WebSocket stream on
// nbio.
type nbioStepper interface {
	base() *nbioStream
	// step does whatever is due: events, a heartbeat or ping, the end of
	// the stream. It never blocks: nbio buffers what the socket does not
	// take, and a stream whose connection holds batchChunk unwritten bytes
	// waits to be woken when nbio has written them.
	step()
}

// nbioPump runs the steps of many streams on at most GOMAXPROCS goroutines,
// which exist only while a step is due: a subscription's notify, a timer or
// nbio having written what held a stream back queues the stream (wake),
// and a worker started for the queue takes streams from it until it is
// empty. A stream is stepped by one worker at a time, and one woken while
// its step runs is queued again behind the others, so that a busy stream
// takes its turn like the rest. Nothing here waits on a client: a wake is a
// few atomic operations and a short lock, safe under the hub's lock.
type nbioPump struct {
	max int // workers at most: GOMAXPROCS when made

	mu      sync.Mutex
	queue   []nbioStepper // queue[head:] wait for a worker
	head    int
	workers int
	idle    sync.Cond // signalled when the last worker exits; L is &mu
}

func newNBIOPump() *nbioPump {
	p := &nbioPump{max: runtime.GOMAXPROCS(0)}
	p.idle.L = &p.mu
	return p
}

// waitIdle waits until no worker runs. A wake may start one again later,
// for a stream that has ended, which it leaves at once.
func (p *nbioPump) waitIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.workers > 0 {
		p.idle.Wait()
	}
}

// wake makes st's step run soon: queued unless queued already, or once
// more after the step that runs now.
func (p *nbioPump) wake(st nbioStepper) {
	s := &st.base().sched
	for {
		switch s.Load() {
		case nbioIdle:
			if s.CompareAndSwap(nbioIdle, nbioQueued) {
				p.enqueue(st)
				return
			}
		case nbioRunning:
			if s.CompareAndSwap(nbioRunning, nbioRerun) {
				return
			}
		default:
			return // its step comes
		}
	}
}

func (p *nbioPump) enqueue(st nbioStepper) {
	p.mu.Lock()
	p.queue = append(p.queue, st)
	start := p.workers < p.max
	if start {
		p.workers++
	}
	p.mu.Unlock()
	if start {
		go p.work()
	}
}

// work steps queued streams until the queue is empty.
func (p *nbioPump) work() {
	for {
		p.mu.Lock()
		if p.head == len(p.queue) {
			if p.workers--; p.workers == 0 {
				p.idle.Broadcast()
			}
			p.mu.Unlock()
			return
		}
		st := p.queue[p.head]
		p.queue[p.head] = nil
		p.head++
		if p.head == len(p.queue) {
			p.queue, p.head = p.queue[:0], 0
		}
		p.mu.Unlock()
		st.base().sched.Store(nbioRunning)
		st.step()
		p.release(st)
	}
}

// release ends the step of st that the caller ran (a worker, or the handler
// that made st, which holds it running from the start): idle, or queued
// again if it was woken meanwhile.
func (p *nbioPump) release(st nbioStepper) {
	s := &st.base().sched
	if s.CompareAndSwap(nbioRunning, nbioIdle) {
		return
	}
	s.Store(nbioQueued) // it was nbioRerun: only the stepper leaves that
	p.enqueue(st)
}

// nbioStream is the part of an SSE or WebSocket stream on nbio that does
// not depend on the protocol: its connection, its subscription, what nbio
// has not written of it yet, its timer and its end. Between steps it holds
// no buffer: frames are built in a pooled buffer and handed to nbio, which
// copies what the socket does not take.
type nbioStream struct {
	m    *nbioMount
	conn *nbio.Conn
	sub  *Subscription

	sched   atomic.Int32 // nbioIdle…nbioRerun: the pump's
	pending atomic.Int64 // bytes handed to conn that nbio has not written yet
	armed   atomic.Bool  // conn has a write deadline (pending was above 0 after a write)
	tickDue atomic.Bool  // tick fired: a heartbeat or ping may be due
	done    atomic.Bool  // the connection closed: finish ran

	mu sync.Mutex // serializes steps, the reader (WebSocket) and finish; guards the rest
	// tick is the heartbeat (SSE) or ping (WebSocket) timer.
	tick *time.Timer
	// carry holds events taken from the subscription but not yet handed to
	// conn because it holds batchChunk unwritten bytes: at most one batch,
	// pointers to the hub's entries.
	carry []*Entry
	// ending: the stream has ended its side (its last chunk or close frame
	// is written); closeOnDrain: conn closes once nbio has written the rest.
	ending, closeOnDrain bool
	// why is what the stream ended with, for the counters: ErrSlow,
	// ErrClosed, os.ErrDeadlineExceeded; nil when the client went.
	why error
}

func (s *nbioStream) base() *nbioStream { return s }

// UnderlayerConn, with Parse and CloseAndClean, makes a stream the
// connection's nbhttp.ParserCloser once its handler took the connection
// over: nbio then hands it what the client sends and tells it when the
// connection closes.
func (s *nbioStream) UnderlayerConn() net.Conn { return s.conn }

// CloseAndClean is called once nbio has closed the connection, whoever
// closed it: the stream is over.
func (s *nbioStream) CloseAndClean(err error) { s.finish(err) }

// nbioWritten is the engine's OnWrittenSize: nbio wrote n bytes of c. It
// runs under c's lock, so it only counts and wakes.
func nbioWritten(c *nbio.Conn, _ []byte, n int) {
	if st, ok := c.Session().(nbioStepper); ok {
		s := st.base()
		left := s.pending.Add(-int64(n))
		// Wake it when what held it back is written, and when nothing is
		// left, so that its step lifts the write deadline or closes.
		if (left < batchChunk && left+int64(n) >= batchChunk) || (left == 0 && s.armed.Load()) {
			s.m.pump.wake(st)
		}
	}
}

// write hands b to conn; callers hold mu. nbio writes what the socket takes
// at once and keeps the rest, which must then be written within within
// (WriteTimeout for events): nbio closes conn past it.
func (s *nbioStream) write(b []byte, within time.Duration) error {
	s.pending.Add(int64(len(b)))
	if _, err := s.conn.Write(b); err != nil {
		return err
	}
	if s.pending.Load() > 0 {
		// Armed before the deadline is set, so that nbioWritten, seeing it,
		// wakes the stream to lift the deadline once nothing is left.
		s.armed.Store(true)
		_ = s.conn.SetWriteDeadline(time.Now().Add(within)) // fails only on a closed connection
		if s.pending.Load() == 0 {
			s.disarm() // written meanwhile, perhaps before armed was set
		}
	}
	return nil
}

// begin starts a step; callers hold mu. It says whether the transport has
// anything to do: not once the connection is closed, nor once the stream
// has ended its side, when it only closes the connection if nbio has
// written the rest and it is to (closeWhenDrained).
func (s *nbioStream) begin() bool {
	if s.done.Load() {
		return false
	}
	s.disarm()
	if s.ending {
		if s.closeOnDrain && s.pending.Load() <= 0 {
			_ = s.conn.Close() // finish follows
		}
		return false
	}
	return true
}

// room says whether n more bytes may be handed to conn: while it holds
// less than batchChunk unwritten, up to batchChunk, and when it holds
// nothing, anything (one frame larger than batchChunk goes alone).
func (s *nbioStream) room(n int) bool {
	p := s.pending.Load()
	return p <= 0 || p+int64(n) <= batchChunk
}

// disarm lifts conn's write deadline once nbio has written everything:
// nbio clears it only when a Write leaves nothing behind, not when it
// writes the rest later. Callers hold mu.
func (s *nbioStream) disarm() {
	if s.armed.Load() && s.pending.Load() <= 0 {
		s.armed.Store(false)
		_ = s.conn.SetWriteDeadline(time.Time{})
	}
}

// closeWhenDrained closes conn once nbio has written what it holds, within
// the write deadline already set; callers hold mu.
func (s *nbioStream) closeWhenDrained() {
	s.ending, s.closeOnDrain = true, true
	if s.pending.Load() <= 0 {
		_ = s.conn.Close() // closing twice is harmless
	}
}

// nbioFramer frames events for one protocol.
type nbioFramer interface {
	// open starts the bytes of one write in b (empty): SSE's chunked
	// encoding leaves room for the chunk's size.
	open(b []byte) []byte
	// frame appends e's frame.
	frame(b []byte, e *Entry) []byte
	// seal finishes a write begun with open and returns what to write.
	seal(b []byte) []byte
}

// nbioScratch is one step's working memory, pooled like the other
// transports' scratch.
type nbioScratch struct {
	entries []*Entry
	frames  []byte
}

var nbioScratchPool = sync.Pool{New: func() any { return new(nbioScratch) }}

// sendEvents hands conn the events the subscription has, batch by batch,
// each written in pieces of at most batchChunk bytes, while conn holds
// less than batchChunk unwritten: the bound every streaming transport
// keeps on what a connection whose client stops reading holds. Events
// taken but not handed stay in carry for the next step. It returns how
// many events it handed, and ErrSlow or ErrClosed once the hub dropped the
// subscription. Callers hold mu.
func (s *nbioStream) sendEvents(f nbioFramer) (int, error) {
	sc := nbioScratchPool.Get().(*nbioScratch)
	defer func() {
		clear(sc.entries) // do not keep published entries alive from the pool
		sc.entries = sc.entries[:0]
		if cap(sc.frames) > 2*batchChunk {
			sc.frames = nil // one huge event must not pin a huge buffer
		}
		nbioScratchPool.Put(sc)
	}()
	if err := s.sub.Err(); err != nil {
		return 0, err // cut off or closed, whatever conn holds
	}
	sent := 0
	for s.pending.Load() < batchChunk {
		entries := sc.entries[:0]
		if len(s.carry) > 0 {
			entries = append(entries, s.carry...)
			s.carry = nil
		} else {
			var err error
			if entries, err = s.sub.Take(entries, streamBatch); err != nil {
				sc.entries = entries
				return sent, err
			}
		}
		sc.entries = entries
		if len(entries) == 0 {
			return sent, nil
		}
		n, err := s.handOver(f, sc, entries)
		sent += n
		if err != nil {
			return sent, err
		}
		if n < len(entries) {
			s.carry = append([]*Entry(nil), entries[n:]...)
			return sent, nil
		}
	}
	return sent, nil
}

// handOver writes entries' frames in pieces of at most batchChunk while
// room allows, and returns how many events it wrote.
func (s *nbioStream) handOver(f nbioFramer, sc *nbioScratch, entries []*Entry) (int, error) {
	b := f.open(sc.frames[:0])
	first := 0 // the first entry in b
	flush := func(upTo int) (bool, error) {
		out := f.seal(b)
		if !s.room(len(out)) {
			return false, nil
		}
		if err := s.write(out, s.m.o.WriteTimeout); err != nil {
			return false, err
		}
		first = upTo
		b = f.open(b[:0])
		return true, nil
	}
	for i, e := range entries {
		b = f.frame(b, e)
		if len(b) >= batchChunk {
			ok, err := flush(i + 1)
			if !ok || err != nil {
				sc.frames = b[:0]
				return first, err
			}
		}
	}
	if first < len(entries) {
		if _, err := flush(len(entries)); err != nil {
			sc.frames = b[:0]
			return first, err
		}
	}
	sc.frames = b[:0]
	return first, nil
}

// finish ends the stream once nbio has closed its connection: it stops the
// timer, unsubscribes, counts the stream closed and lets Server.Close go
// on. A write nbio could not finish within its deadline counts as slow, as
// a write past its deadline does under net/http.
func (s *nbioStream) finish(err error) {
	s.mu.Lock()
	if s.done.Swap(true) {
		s.mu.Unlock()
		return
	}
	if s.tick != nil {
		s.tick.Stop()
	}
	clear(s.carry)
	s.carry = nil
	why := s.why
	if why == nil && errors.Is(err, nbio.ErrWriteTimeout) {
		why = os.ErrDeadlineExceeded
	}
	s.mu.Unlock()
	s.sub.Close()
	s.m.streams.closed(why)
	s.m.group.leave()
}

// startTick starts st's timer, its heartbeat (SSE) or ping (WebSocket):
// it fires after d and wakes st with tickDue set; the step that sees it
// arms it again.
func (m *nbioMount) startTick(st nbioStepper, d time.Duration) {
	s := st.base()
	s.tick = time.AfterFunc(d, func() {
		s.tickDue.Store(true)
		m.pump.wake(st)
	})
}

// start takes w's connection, st's, over for st, whose subscription is
// made (open): st becomes what nbio hands the client's bytes to and tells
// of the close (nbio's session), it is counted open, its first batch is
// taken and its first bytes (head) are written; from here on finish ends
// it. Then the handler steps it once, sending that batch as the other
// implementations' first batch goes, and leaves it to the pump.
func (m *nbioMount) start(w http.ResponseWriter, st nbioStepper, head []byte) {
	// nbio's Hijack fails only on a response without a connection, which
	// open ruled out; it hands back what st holds already.
	_, _, _ = nbioResponse(w).Hijack()
	s := st.base()
	s.mu.Lock()
	// Before anything is written: the client's first bytes after the head
	// must reach st, and a close from now on reaches finish (nbio runs its
	// close after this handler returns).
	s.conn.SetSession(st)
	m.streams.opened()
	// The first batch is taken before the client can see anything: a
	// client that has its answer has its place in the stream, and a publish
	// it then sees happen does not find it lagging the history it asked
	// for. A dropped subscription is found by the step.
	if first, err := s.sub.Take(nil, streamBatch); err == nil && len(first) > 0 {
		s.carry = first
	}
	// A failed write closed the connection: finish follows.
	_ = s.write(head, m.o.WriteTimeout)
	s.mu.Unlock()
	st.step()
	m.pump.release(st)
}
