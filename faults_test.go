package pushbench_test

import (
	"context"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/faults"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
	"github.com/pushbench/pushbench/servers"
)

// Timings of the fault tests: the server proves liveness every
// faultHeartbeat (SSE comments, WebSocket pings; the TCP floor has none, the
// events themselves are its proof), and clients call a connection dead after
// faultReadTimeout of silence (polling: a request unanswered for it).
const (
	faultHeartbeat   = 200 * time.Millisecond
	faultReadTimeout = time.Second
	faultEventEvery  = 10 * time.Millisecond
	faultClients     = 3
)

// faultTransports are the transports the fault tests break, each by its
// default implementation.
var faultTransports = []contract.Transport{contract.Poll, contract.LongPoll, contract.SSE, contract.WS, contract.TCP}

func faultClientOptions() loadgen.Options {
	return loadgen.Options{
		PollInterval: 20 * time.Millisecond,
		SSERetry:     20 * time.Millisecond,
		BackoffMin:   5 * time.Millisecond,
		BackoffMax:   50 * time.Millisecond,
		ReadTimeout:  faultReadTimeout,
	}
}

// faultStack is one transport's server behind a fault proxy, with a
// publisher and a few clients that connect through the proxy.
type faultStack struct {
	hub      *servers.Hub
	proxy    *faults.Proxy
	trackers []*loadgen.Tracker
	stopPub  func()
	stopCli  func() []error
}

// newFaultStack serves transport on a fresh hub, puts a proxy in front,
// starts publishing one event per faultEventEvery and connects clients
// through the proxy. Everything is stopped in t.Cleanup, clients first.
func newFaultStack(t *testing.T, transport contract.Transport, hubOpts *servers.HubOptions) *faultStack {
	t.Helper()
	hub := servers.NewHub(hubOpts)
	opts := &servers.Options{Retry: 20 * time.Millisecond, Heartbeat: faultHeartbeat, PingInterval: faultHeartbeat}
	var upstream, scheme string
	if transport == loadgen.TCP {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- servers.NewTCP(hub, opts).Serve(ctx, l) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("tcp floor: %v", err)
			}
		})
		upstream, scheme = l.Addr().String(), "tcp://"
	} else {
		srv, err := servers.New(hub, opts)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		t.Cleanup(func() {
			srv.Close() // ends every stream, so the test server can close
			ts.Close()
		})
		upstream, scheme = ts.Listener.Addr().String(), "http://"
	}
	p, err := faults.Listen(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	s := &faultStack{hub: hub, proxy: p}

	pubCtx, stopPub := context.WithCancel(context.Background())
	var pubWG sync.WaitGroup
	pubWG.Go(func() {
		tick := time.NewTicker(faultEventEvery)
		defer tick.Stop()
		for {
			select {
			case <-pubCtx.Done():
				return
			case <-tick.C:
			}
			e := event.New(hub.Head()+1, time.Now().UnixNano(), 64)
			if err := hub.Publish(servers.NewEntry(e)); err != nil {
				t.Errorf("publish: %v", err)
				return
			}
		}
	})
	s.stopPub = func() { stopPub(); pubWG.Wait() }
	t.Cleanup(s.stopPub)

	cliCtx, stopCli := context.WithCancel(context.Background())
	var cliWG sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	o := faultClientOptions()
	for i := range faultClients {
		tr := loadgen.NewTracker(0, nil, i)
		c, err := loadgen.New(transport, scheme+p.Addr(), tr, &o)
		if err != nil {
			t.Fatal(err)
		}
		s.trackers = append(s.trackers, tr)
		cliWG.Go(func() {
			if err := c.Run(cliCtx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	s.stopCli = func() []error {
		stopCli()
		cliWG.Wait()
		return errs
	}
	t.Cleanup(func() { s.stopCli() })
	return s
}

// streaming waits until every client is connected and has received events.
func (s *faultStack) streaming(t *testing.T) {
	t.Helper()
	s.await(t, "stream", func(tr *loadgen.Tracker) bool { return tr.Up() && tr.Delivered() > 5 })
}

// awaitGuard bounds every wait of the fault tests. It is a hang guard, not a
// measurement: on a busy machine under -race a step may take seconds.
const awaitGuard = time.Minute

// await polls until ok holds for every client, or fails the test after
// awaitGuard.
func (s *faultStack) await(t *testing.T, what string, ok func(*loadgen.Tracker) bool) {
	t.Helper()
	deadline := time.Now().Add(awaitGuard)
	for {
		all := true
		for _, tr := range s.trackers {
			all = all && ok(tr)
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("clients did not %s within %v (hang guard)", what, awaitGuard)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// finish stops publishing, waits for every client to reach the head, stops
// the clients and checks that nothing was lost, duplicated or reordered, and
// that no gap was signalled.
func (s *faultStack) finish(t *testing.T) {
	t.Helper()
	for _, c := range s.settle(t) {
		if c.Gaps != 0 {
			t.Fatalf("gap signalled: %+v", c)
		}
	}
}

// settle stops publishing, waits for every client to reach the head, stops
// the clients and checks each client's account: every event either delivered
// once, in order, or named by a gap signal; none lost. It returns the
// accounts.
func (s *faultStack) settle(t *testing.T) []loadgen.Counts {
	t.Helper()
	s.stopPub()
	head := s.hub.Head()
	s.await(t, "reach the head", func(tr *loadgen.Tracker) bool { return tr.Cursor() >= head })
	if errs := s.stopCli(); len(errs) > 0 {
		t.Fatalf("clients gave up: %v", errs)
	}
	var out []loadgen.Counts
	for _, tr := range s.trackers {
		c := tr.Counts(head)
		if c.Lost != 0 || c.Duplicates != 0 || c.Reordered != 0 || c.Malformed != 0 ||
			c.Expected != head || c.Delivered+c.GapMissed != head {
			t.Fatalf("head %d, account %+v", head, c)
		}
		out = append(out, c)
	}
	return out
}

// checkRecovery asserts that every client noticed the fault at fault,
// reconnected and caught up, and logs the figures. Nothing is timed against a
// bound: the callers compare the figures with what the test itself did.
func (s *faultStack) checkRecovery(t *testing.T, fault, end time.Time) results.Recovery {
	t.Helper()
	r := loadgen.Recover(s.trackers, fault, fault, end)
	d := func(ns int64) time.Duration { return time.Duration(ns) }
	t.Logf("detect p50 %v max %v, reconnect p50 %v max %v, catch-up p50 %v max %v, replayed %d, attempts %d (failed %d)",
		d(r.Detect.P50), d(r.Detect.Max), d(r.Reconnect.P50), d(r.Reconnect.Max), d(r.CatchUp.P50), d(r.CatchUp.Max),
		r.Replayed, r.Attempts, r.FailedAttempts)
	n := len(s.trackers)
	if r.Broken != n || r.Reconnected != n || r.CaughtUp != n {
		t.Fatalf("of %d clients %d noticed, %d reconnected, %d caught up", n, r.Broken, r.Reconnected, r.CaughtUp)
	}
	return r
}

// TestFaultConnectionReset resets every connection while the server stays
// up, refusing new ones for a moment: every client notices at once (an RST,
// or for polling its next request), reconnects by its policy, resumes from
// its cursor and loses nothing.
func TestFaultConnectionReset(t *testing.T) {
	const down = 200 * time.Millisecond
	for _, tr := range faultTransports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			s := newFaultStack(t, tr, nil)
			s.streaming(t)
			fault := time.Now()
			if err := s.proxy.ResetAll(context.Background(), down); err != nil {
				t.Fatal(err)
			}
			s.await(t, "catch up", recoveredOnce)
			s.finish(t)
			// Every client noticed: the push transports by the reset
			// itself, polling at its next request.
			s.checkRecovery(t, fault, time.Now())
		})
	}
}

// TestFaultSilentPartition stops every byte for several times the clients'
// read timeout, closing nothing: each transport must notice by its own
// liveness check (SSE heartbeat comments, WebSocket pings, the floor's events,
// the polling request timeout), so no client notices sooner than its read
// timeout allows, and every one notices before the partition heals (healing
// closes the connections, which would be noticed by anyone). It then
// reconnects and catches up with nothing lost.
func TestFaultSilentPartition(t *testing.T) {
	const partition = 4 * faultReadTimeout
	for _, tr := range faultTransports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			s := newFaultStack(t, tr, nil)
			s.streaming(t)
			fault := time.Now()
			heal, err := s.proxy.Partition()
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(partition)
			if err := heal(); err != nil {
				t.Fatal(err)
			}
			healed := time.Now()
			s.await(t, "catch up", recoveredOnce)
			s.finish(t)
			r := s.checkRecovery(t, fault, healed)
			// The last byte before the partition came at most one event
			// interval before it; a deadline never fires early.
			if least := faultReadTimeout - faultEventEvery - faultHeartbeat; time.Duration(r.Detect.P50) < least {
				t.Errorf("median client noticed after %v, sooner than its %v read timeout allows: not by silence", time.Duration(r.Detect.P50), faultReadTimeout)
			}
			if time.Duration(r.Detect.Max) >= healed.Sub(fault) {
				t.Errorf("slowest client noticed after %v, only when the partition healed after %v: its liveness check never fired", time.Duration(r.Detect.Max), healed.Sub(fault))
			}
		})
	}
}

// TestFaultPartitionBeyondHistory partitions clients for longer than the
// server keeps history: on reconnecting, each resumes from a cursor the
// server no longer holds, gets the gap signal, counts exactly the events it
// names as missed, and goes on with the live stream.
func TestFaultPartitionBeyondHistory(t *testing.T) {
	const (
		history   = 64                      // events: 0.64 s at faultEventEvery
		partition = 2500 * time.Millisecond // ~250 events
	)
	for _, tr := range faultTransports {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			s := newFaultStack(t, tr, &servers.HubOptions{History: history})
			s.streaming(t)
			heal, err := s.proxy.Partition()
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(partition)
			if err := heal(); err != nil {
				t.Fatal(err)
			}
			s.await(t, "catch up", recoveredOnce)
			for _, c := range s.settle(t) {
				// settle checked Delivered+GapMissed == head with nothing
				// lost: the gap counted exactly the missing events.
				// A second gap is legitimate: a client cut off for lagging
				// while it replays may find history moved on again.
				if c.Gaps == 0 || c.GapMissed < uint64(partition/faultEventEvery)/2-history {
					t.Fatalf("want a gap signal for the events evicted during the partition: %+v", c)
				}
			}
		})
	}
}

// recoveredOnce reports whether a client has caught up after a break since
// the stack started; each stack sees one fault.
func recoveredOnce(tr *loadgen.Tracker) bool { return tr.Recovered() > 0 }
