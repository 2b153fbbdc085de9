package bench

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
)

// plainEndpoint is an SSE or WebSocket server that knows nothing of
// pushbench: every connection gets messages first after it is asked for and
// then every gap, each a JSON object stamped with the time it was sent
// (SSE: Unix ms in "ts", WebSocket: Unix ns), n to a client in all. It
// keeps its own record of when it sent what, which the tests compare the
// load generator's figures with.
//
// With dropAfter > 0 it drops each client's first connection after that
// many messages and serves the rest on the next: SSE resumes from the
// Last-Event-ID the client sends; WebSocket, which has no such thing, waits
// until every client's first connection is in, so that any connection
// after those is a reconnection.
type plainEndpoint struct {
	n, dropAfter, clients int
	first, gap            time.Duration

	srv *httptest.Server
	wg  sync.WaitGroup // WebSocket handlers: hijacked, so the server does not wait for them
	// firstWave closes once every client's first WebSocket connection is
	// in.
	firstWave chan struct{}

	mu    sync.Mutex
	conns []*connLog
}

// connLog is the server's record of one connection.
type connLog struct {
	asked  time.Time // the request was read
	lastID string    // its Last-Event-ID (SSE)
	sent   []time.Time
}

func newPlainEndpoint(t *testing.T, transport contract.Transport, clients, n, dropAfter int, first, gap time.Duration) *plainEndpoint {
	t.Helper()
	e := &plainEndpoint{n: n, dropAfter: dropAfter, clients: clients, first: first, gap: gap, firstWave: make(chan struct{})}
	h := http.HandlerFunc(e.sse)
	if transport == contract.WS {
		h = e.ws
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		e.srv.Close()
		e.wg.Wait()
	})
	return e
}

// url is where the clients connect.
func (e *plainEndpoint) url(transport contract.Transport) string {
	if transport == contract.WS {
		return "ws" + e.srv.URL[len("http"):] + "/stream"
	}
	return e.srv.URL + "/stream"
}

// begin records a new connection; k is its number from 1.
func (e *plainEndpoint) begin(lastID string) (c *connLog, k int) {
	c = &connLog{asked: time.Now(), lastID: lastID}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.conns = append(e.conns, c)
	if len(e.conns) == e.clients {
		close(e.firstWave)
	}
	return c, len(e.conns)
}

// send waits for message i's instant on c, then records the time and hands
// it to write; false means the client has gone.
func (e *plainEndpoint) send(ctx context.Context, c *connLog, i int, write func(at time.Time) bool) bool {
	at := c.asked.Add(e.first + time.Duration(i)*e.gap)
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	now := time.Now()
	e.mu.Lock()
	c.sent = append(c.sent, now)
	e.mu.Unlock()
	return write(now)
}

func (e *plainEndpoint) sse(w http.ResponseWriter, r *http.Request) {
	c, _ := e.begin(r.Header.Get("Last-Event-ID"))
	from, last := 1, e.n
	if c.lastID != "" {
		id, err := strconv.Atoi(c.lastID)
		if err != nil {
			http.Error(w, "bad Last-Event-ID", http.StatusBadRequest)
			return
		}
		from = id + 1
	} else if e.dropAfter > 0 {
		last = e.dropAfter
	}
	if !sseSend(w, "retry: 10", "") {
		return
	}
	for seq := from; seq <= last; seq++ {
		ok := e.send(r.Context(), c, seq-from, func(at time.Time) bool {
			return sseSend(w, "id: "+strconv.Itoa(seq), fmt.Sprintf(`data: {"seq":%d,"ts":%d}`, seq, at.UnixMilli()), "")
		})
		if !ok {
			return
		}
	}
	if last < e.n {
		return // drop: the end of the stream, which the client resumes from
	}
	<-r.Context().Done() // hold the stream open until the client goes
}

func (e *plainEndpoint) ws(w http.ResponseWriter, r *http.Request) {
	e.wg.Add(1)
	defer e.wg.Done()
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	read := make(chan struct{})
	go func() { // until the client closes: the server sends, and listens only for that
		defer close(read)
		defer cancel()
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	defer func() { <-read }()
	c, k := e.begin("")
	count := e.n
	if e.dropAfter > 0 {
		count = e.n - e.dropAfter
		if k <= e.clients {
			count = e.dropAfter
			select { // every first connection is in before any is dropped
			case <-e.firstWave:
			case <-ctx.Done():
				return
			}
		}
	}
	for i := range count {
		ok := e.send(ctx, c, i, func(at time.Time) bool {
			// "ts" inside "meta" is not the top-level member the load
			// generator is told to read.
			msg := fmt.Sprintf(`{"meta": {"ts": 1}, "seq": %d, "ts": %d}`, i+1, at.UnixNano())
			return conn.WriteMessage(websocket.TextMessage, []byte(msg)) == nil
		})
		if !ok {
			return
		}
	}
	if e.dropAfter > 0 && k <= e.clients {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "drop"), time.Now().Add(time.Second))
		return
	}
	<-ctx.Done()
}

// log returns the server's record so far.
func (e *plainEndpoint) log() []connLog {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]connLog, len(e.conns))
	for i, c := range e.conns {
		out[i] = *c
		out[i].sent = slices.Clone(c.sent)
	}
	return out
}

// sentAll is how many messages the server has sent, all connections.
func (e *plainEndpoint) sentAll() int {
	n := 0
	for _, c := range e.log() {
		n += len(c.sent)
	}
	return n
}

// measureUntil runs plan until the clients have received want messages (or
// the hang guard passes), and returns the figures.
func measureUntil(t *testing.T, p EndpointPlan, want uint64) (results.LoadRun, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	p.Duration, p.Count = hangGuard, want
	run, err := MeasureEndpoint(ctx, p)
	if run.EventsReceived < want {
		t.Fatalf("received %d messages within %v, want %d (err %v)", run.EventsReceived, hangGuard, want, err)
	}
	return run, err
}

// spreadOf is the least and greatest of ds.
func spreadOf(ds []time.Duration) (lo, hi time.Duration) {
	return slices.Min(ds), slices.Max(ds)
}

// hdrSlack is the HDR histograms' resolution (three significant digits): a
// percentile may read this much above or below the value recorded.
func hdrSlack(v time.Duration) time.Duration { return v/1000 + 1 }

// TestMeasureEndpoint runs `load` against plain SSE and WebSocket servers
// written here and compares its figures with the servers' own record: every
// message counted once per client, first-event times and inter-arrival
// percentiles within the spacing the server measured, latency from the
// stamps, and, when the server drops each client's first connection, the
// reconnections, with every message still received once.
func TestMeasureEndpoint(t *testing.T) {
	const (
		clients = 3
		n       = 6
		first   = 150 * time.Millisecond
		gap     = 100 * time.Millisecond
		ramp    = 300 * time.Millisecond
	)
	for _, tc := range []struct {
		transport contract.Transport
		unit      loadgen.StampUnit // as told; the SSE server's ms are detected
		wantUnit  string
		from      string
	}{
		{contract.SSE, loadgen.StampAuto, "ms", "detected"},
		{contract.WS, loadgen.StampNS, "ns", "given"},
	} {
		t.Run(string(tc.transport)+"/steady", func(t *testing.T) {
			e := newPlainEndpoint(t, tc.transport, clients, n, 0, first, gap)
			run, err := measureUntil(t, EndpointPlan{
				EndpointConfig: loadgen.EndpointConfig{
					URL: e.url(tc.transport), Transport: tc.transport, StampField: "ts", StampUnit: tc.unit,
				},
				Clients: clients, Ramp: ramp,
			}, clients*n)
			if err != nil {
				t.Fatal(err)
			}
			log := e.log()
			if len(log) != clients {
				t.Fatalf("the server saw %d connections, want %d: one per client", len(log), clients)
			}

			// Counts: exactly what the server sent, to every client.
			if got, want := run.EventsReceived, uint64(clients*n); got != want || e.sentAll() != int(want) {
				t.Errorf("events_received %d, server sent %d, want %d", got, e.sentAll(), want)
			}
			if run.EventsPerClient != (results.MinMax{Min: n, Max: n}) {
				t.Errorf("events_per_client %+v, want %d each", run.EventsPerClient, n)
			}
			if run.FirstEventNS.Count != clients || run.InterArrivalNS.Count != clients*(n-1) {
				t.Errorf("first_event count %d (want %d), inter_arrival count %d (want %d)",
					run.FirstEventNS.Count, clients, run.InterArrivalNS.Count, clients*(n-1))
			}
			if run.ConnectNS.Count != clients || run.Reconnects != 0 || run.Errors.Total() != 0 || run.GaveUp != 0 {
				t.Errorf("connect count %d, reconnects %d, errors %v, gave up %d; want %d connections and nothing else",
					run.ConnectNS.Count, run.Reconnects, run.Errors, run.GaveUp, clients)
			}

			// The server's own spacing: from each request to its first
			// message, and between consecutive messages.
			var firsts, gaps []time.Duration
			asked := make([]time.Time, len(log))
			for i, c := range log {
				asked[i] = c.asked
				firsts = append(firsts, c.sent[0].Sub(c.asked))
				for j := 1; j < len(c.sent); j++ {
					gaps = append(gaps, c.sent[j].Sub(c.sent[j-1]))
				}
			}
			slices.Sort(gaps)
			spacing := gaps[len(gaps)/2]
			tol := spacing / 4 // a quarter of what the server measured between sends
			firstLo, firstHi := spreadOf(firsts)
			gapLo, gapHi := spreadOf(gaps)

			// A connection's first message cannot arrive sooner after
			// the client began connecting than the server took to send it
			// after reading the request: one clock, so that is exact.
			fe := run.FirstEventNS
			if got := time.Duration(fe.P50); got < firstLo-hdrSlack(firstLo) || got > firstHi+tol {
				t.Errorf("first_event p50 %v, want within the server's %v–%v (+%v)", got, firstLo, firstHi, tol)
			}
			if got := time.Duration(fe.Max); got > firstHi+tol {
				t.Errorf("first_event max %v, want at most the server's %v (+%v)", got, firstHi, tol)
			}
			ia := run.InterArrivalNS
			for _, q := range []struct {
				name string
				v    int64
			}{{"p50", ia.P50}, {"p90", ia.P90}} {
				if got := time.Duration(q.v); got < gapLo-tol || got > gapHi+tol {
					t.Errorf("inter_arrival %s %v, want within the server's send gaps %v–%v (±%v)", q.name, got, gapLo, gapHi, tol)
				}
			}

			// Latency from the stamps: every message stamped, read in
			// the right unit (misread by a factor of 1,000 it would be
			// years or negative), and small next to the spacing.
			l := run.LatencyNS
			if l == nil {
				t.Fatal("no latency_ns with a timestamp field")
			}
			if l.Count != clients*n || l.Missing != 0 || l.Negative != 0 {
				t.Errorf("latency count %d missing %d negative %d, want %d stamped messages", l.Count, l.Missing, l.Negative, clients*n)
			}
			if l.Field != "ts" || l.Unit != tc.wantUnit || l.UnitFrom != tc.from || l.Clock == "" {
				t.Errorf("latency field %q unit %q (%s) clock %q, want ts, %s (%s) and a clock note", l.Field, l.Unit, l.UnitFrom, l.Clock, tc.wantUnit, tc.from)
			}
			if got := time.Duration(l.P99); got > tol {
				t.Errorf("latency p99 %v, want under %v", got, tol)
			}

			// The ramp: clients began evenly over it, not at once.
			slices.SortFunc(asked, func(a, b time.Time) int { return a.Compare(b) })
			if spread := asked[len(asked)-1].Sub(asked[0]); spread < ramp*(clients-1)/clients/2 {
				t.Errorf("requests spread over %v, want about %v: the ramp", spread, ramp*(clients-1)/clients)
			}
			if run.Bytes.In == 0 || run.Bytes.Out == 0 || run.Connections.Established != clients {
				t.Errorf("bytes %+v, connections %+v", run.Bytes, run.Connections)
			}
		})

		t.Run(string(tc.transport)+"/reconnects", func(t *testing.T) {
			const dropAfter = 2
			e := newPlainEndpoint(t, tc.transport, clients, n, dropAfter, 20*time.Millisecond, 20*time.Millisecond)
			run, err := measureUntil(t, EndpointPlan{
				EndpointConfig: loadgen.EndpointConfig{
					URL: e.url(tc.transport), Transport: tc.transport,
					Options: loadgen.Options{BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond},
				},
				Clients: clients,
			}, clients*n)
			if err != nil {
				t.Fatal(err)
			}
			log := e.log()
			if len(log) != 2*clients {
				t.Fatalf("the server saw %d connections, want %d: two per client", len(log), 2*clients)
			}
			if got, want := run.EventsReceived, uint64(clients*n); got != want || e.sentAll() != int(want) {
				t.Errorf("events_received %d, server sent %d, want %d", got, e.sentAll(), want)
			}
			if run.EventsPerClient != (results.MinMax{Min: n, Max: n}) {
				t.Errorf("events_per_client %+v, want %d each", run.EventsPerClient, n)
			}
			if run.Reconnects != clients || run.Errors != (results.Errors{Closed: clients}) {
				t.Errorf("reconnects %d, errors %v; want %d and %d closed", run.Reconnects, run.Errors, clients, clients)
			}
			if run.FirstEventNS.Count != 2*clients || run.InterArrivalNS.Count != clients*(n-1) {
				t.Errorf("first_event count %d (want %d: per connection), inter_arrival count %d (want %d: per client)",
					run.FirstEventNS.Count, 2*clients, run.InterArrivalNS.Count, clients*(n-1))
			}
			if run.LatencyNS != nil {
				t.Errorf("latency_ns %+v without a timestamp field", run.LatencyNS)
			}
			if tc.transport == contract.SSE {
				for _, c := range log[clients:] {
					if c.lastID != strconv.Itoa(dropAfter) {
						t.Errorf("a reconnection sent Last-Event-ID %q, want %d", c.lastID, dropAfter)
					}
				}
			}
		})
	}
}

// TestMeasureEndpointRefusal: an endpoint that is not one (a 404) ends the
// run at once with every client giving up, as a browser's EventSource or a
// page's WebSocket would, and says why.
func TestMeasureEndpointRefusal(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	for _, transport := range []contract.Transport{contract.SSE, contract.WS} {
		t.Run(string(transport), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			run, err := MeasureEndpoint(ctx, EndpointPlan{
				EndpointConfig: loadgen.EndpointConfig{URL: srv.URL, Transport: transport},
				Clients:        2, Duration: hangGuard,
			})
			if !errors.Is(err, ErrAllGaveUp) || ctx.Err() != nil {
				t.Fatalf("err %v, want ErrAllGaveUp before the hang guard", err)
			}
			if run.GaveUp != 2 || run.Errors != (results.Errors{Status: 2}) || run.GaveUpError == "" {
				t.Fatalf("gave up %d (%q), errors %v; want 2 and 2 status", run.GaveUp, run.GaveUpError, run.Errors)
			}
		})
	}
}

// hostileEndpoint answers every request with prefix and then junk without a
// line end, up to total bytes per connection.
type hostileEndpoint struct {
	l          net.Listener
	prefix     func(req *http.Request) []byte
	total      int64
	wg         sync.WaitGroup
	hungUp     atomic.Int64 // connections the client closed before total
	asked      atomic.Int64 // connections that sent a request
	done       chan struct{}
	doneOnce   sync.Once
	frameStart bool // after the prefix, junk is WebSocket continuation frames
}

func newHostileEndpoint(t *testing.T, total int64, ws bool, prefix func(*http.Request) []byte) *hostileEndpoint {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostileEndpoint{l: l, prefix: prefix, total: total, done: make(chan struct{}), frameStart: ws}
	h.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.wg.Go(func() { h.serve(c) })
		}
	})
	t.Cleanup(func() {
		h.doneOnce.Do(func() { close(h.done) })
		_ = l.Close()
		h.wg.Wait()
	})
	return h
}

func (h *hostileEndpoint) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return // closed before it asked: the run ended as it connected
	}
	h.asked.Add(1)
	h.wg.Go(func() { _, _ = io.Copy(io.Discard, br) }) // ends when c closes
	buf := h.prefix(req)
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = 'a'
	}
	if h.frameStart {
		// A text frame that never ends: FIN clear, then continuation
		// frames, each 64 KiB, forever.
		frame := append([]byte{0x01, 127}, binary.BigEndian.AppendUint64(nil, uint64(len(junk)))...)
		buf = append(buf, append(frame, junk...)...)
		frame[0] = 0x00
		junk = append(frame, junk...)
	}
	n, err := c.Write(buf)
	written := int64(n)
	for err == nil && written < h.total {
		n, err = c.Write(junk)
		written += int64(n)
	}
	if err != nil {
		h.hungUp.Add(1)
		return
	}
	<-h.done
}

func (h *hostileEndpoint) url(scheme string) string {
	return scheme + "://" + h.l.Addr().String() + "/"
}

// wsAccept answers a WebSocket handshake.
func wsAccept(req *http.Request) []byte {
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
}

// liveHeap is the live heap after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// idleHeap is the heap an endpoint of this many clients holds before any
// connects: the control the hostile runs are compared with.
func idleHeap(t *testing.T, cfg loadgen.EndpointConfig, clients int) int64 {
	t.Helper()
	before := liveHeap()
	ep, err := loadgen.NewEndpoint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range clients {
		ep.NewClient()
	}
	grew := liveHeap() - before
	runtime.KeepAlive(ep)
	return grew
}

// TestMeasureEndpointHostile points `load` at endpoints that never end
// what they send: a response header, an SSE line, a WebSocket frame. The
// clients must stop reading at their bounds, so the heap stays far below
// what the endpoint streams; count the failure by kind; and the run must
// end: an endless header is retried (as a network error is) and the run
// says nothing arrived, an endless line or frame is given up on and the
// run ends at once.
func TestMeasureEndpointHostile(t *testing.T) {
	const (
		clients = 3
		// perClient is the heap growth allowed per client beyond what the
		// same clients hold idle (their histograms, mostly): the longest
		// message or line a client accepts (1 MiB), what growing a buffer
		// to it leaves behind, and what the clients allocate between the
		// collection and the reading of the heap, which is sampled while
		// they read. A thirtieth of what the endpoint streams.
		perClient = 8 * loadgen.WSReadLimit
		total     = 256 << 20 // what the endpoint streams on each connection
	)
	header := func(status string) func(*http.Request) []byte {
		return func(*http.Request) []byte { return []byte("HTTP/1.1 " + status + "\r\nX-Junk: ") }
	}
	for _, tc := range []struct {
		name      string
		transport contract.Transport
		ws        bool // junk as WebSocket frames
		prefix    func(*http.Request) []byte
		want      error
		kind      func(results.Errors) uint64
	}{
		{"sse/endless-header", contract.SSE, false, header("200 OK"), ErrNothingReceived,
			func(e results.Errors) uint64 { return e.HeaderTooLarge }},
		{"ws/endless-header", contract.WS, false, header("101 Switching Protocols"), ErrNothingReceived,
			func(e results.Errors) uint64 { return e.HeaderTooLarge }},
		{"sse/endless-line", contract.SSE, false, func(*http.Request) []byte {
			return []byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: ")
		}, ErrAllGaveUp, func(e results.Errors) uint64 { return e.TooLong }},
		{"ws/endless-frame", contract.WS, true, wsAccept, ErrAllGaveUp,
			func(e results.Errors) uint64 { return e.TooLong }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostileEndpoint(t, total, tc.ws, tc.prefix)
			scheme := "http"
			if tc.transport == contract.WS {
				scheme = "ws"
			}
			cfg := loadgen.EndpointConfig{
				URL: h.url(scheme), Transport: tc.transport,
				// Fast retries: an endless header is met again and
				// again until the test has seen enough and ends the run.
				Options: loadgen.Options{SSERetry: time.Millisecond, BackoffMin: time.Millisecond, BackoffMax: time.Millisecond},
			}
			idle := idleHeap(t, cfg, clients)
			heapLimit := idle + clients*perClient
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			before := liveHeap()
			var grew atomic.Int64
			run, err := MeasureEndpoint(ctx, EndpointPlan{
				EndpointConfig: cfg, Clients: clients, Duration: hangGuard,
				Progress: func(time.Duration, uint64) {
					grew.Store(max(grew.Load(), liveHeap()-before))
					if h.hungUp.Load() >= 2*clients {
						cancel()
					}
				},
			})
			if ctx.Err() == context.DeadlineExceeded {
				t.Fatalf("the run did not end within %v", hangGuard)
			}
			grew.Store(max(grew.Load(), liveHeap()-before))
			if g := grew.Load(); g > heapLimit {
				t.Errorf("heap grew %d KiB while the endpoint streamed %d MiB a connection; limit %d KiB (%d KiB idle + %d KiB a client)",
					g>>10, total>>20, heapLimit>>10, idle>>10, perClient>>10)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			// The clients have closed every connection; the endpoint
			// notices as its writes fail.
			for end := time.Now().Add(hangGuard); h.hungUp.Load() != h.asked.Load() && time.Now().Before(end); {
				time.Sleep(5 * time.Millisecond)
			}
			if h.hungUp.Load() == 0 || h.hungUp.Load() != h.asked.Load() {
				t.Errorf("the clients hung up on %d of %d connections, want all", h.hungUp.Load(), h.asked.Load())
			}
			if got := tc.kind(run.Errors); got < clients || got != run.Errors.Total() {
				t.Errorf("errors %v, want at least %d of this kind and no other", run.Errors, clients)
			}
			if run.EventsReceived != 0 {
				t.Errorf("events_received %d from an endpoint that sent none", run.EventsReceived)
			}
			t.Logf("%v; heap grew %d KiB at most (idle clients: %d KiB); %d connections", err, grew.Load()>>10, idle>>10, h.asked.Load())
		})
	}
}
