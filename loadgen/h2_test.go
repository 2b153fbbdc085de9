package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/results"
	"github.com/pushbench/pushbench/servers"
)

// h2Stack is a real pushbench server on an HTTP/2 peer: TLS with ALPN for
// the h2 variants, cleartext with prior knowledge for h2c.
type h2Stack struct {
	*peer
	hub  *servers.Hub
	opts Options // what clients need to reach it: the TLS roots

	mu      sync.Mutex
	protos  map[int]int // requests by ProtoMajor, as the server saw them
	lastIDs []string    // Last-Event-ID of every /sse request
}

func newH2Stack(t *testing.T, tlsOn bool) *h2Stack {
	t.Helper()
	s := &h2Stack{hub: servers.NewHub(nil), protos: map[int]int{}}
	srv, err := servers.New(s.hub, &servers.Options{Retry: 20 * time.Millisecond, Heartbeat: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := startH2C
	if tlsOn {
		start = startH2TLS
	}
	s.peer = newPeerWith(t, "", func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.protos[r.ProtoMajor]++
		if r.URL.Path == "/sse" {
			s.lastIDs = append(s.lastIDs, r.Header.Get("Last-Event-ID"))
		}
		s.mu.Unlock()
		srv.ServeHTTP(w, r)
	}, start)
	if tlsOn {
		roots := x509.NewCertPool()
		roots.AddCert(s.srv.Certificate())
		s.opts.TLSConfig = &tls.Config{RootCAs: roots}
	}
	t.Cleanup(srv.Close) // ends every stream, so the peer can close
	return s
}

func (s *h2Stack) publish(t *testing.T, n int) {
	t.Helper()
	for range n {
		if err := s.hub.Publish(servers.NewEntry(event.New(s.hub.Head()+1, time.Now().UnixNano(), 64))); err != nil {
			t.Fatal(err)
		}
	}
}

// requests returns how many requests came over HTTP/2 and over anything else.
func (s *h2Stack) requests() (h2, other int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for major, n := range s.protos {
		if major == 2 {
			h2 += n
		} else {
			other += n
		}
	}
	return h2, other
}

func TestHTTP2VariantsDeliverAndResume(t *testing.T) {
	const clients, first, second = 4, 30, 30
	for _, tc := range []struct {
		transport contract.Transport
		shared    bool
	}{
		{contract.SSEH2, false}, {contract.SSEH2C, false}, {contract.PollH2, false}, {contract.PollH2C, false},
		{contract.SSEH2, true}, {contract.SSEH2C, true}, {contract.PollH2, true}, {contract.PollH2C, true},
	} {
		transport, name := tc.transport, string(tc.transport)
		if tc.shared {
			name += "/shared"
		}
		t.Run(name, func(t *testing.T) {
			s := newH2Stack(t, transport == contract.SSEH2 || transport == contract.PollH2)
			o := s.opts
			// Each client on a connection of its own, like one browser
			// tab each; or all on one, like one tab's EventSources.
			conns := int64(clients)
			if tc.shared {
				o.H2Share = NewH2Share()
				conns = 1
			}
			o.PollInterval = 5 * time.Millisecond
			o.SSERetry = 20 * time.Millisecond
			o.ReadTimeout = 5 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 2*hangGuard) // a hang guard for every wait below
			defer cancel()
			f, err := StartFleet(ctx, FleetConfig{Transport: transport, Target: s.base, Clients: clients, Options: o})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Stop()
			if err := f.WaitConnected(ctx); err != nil {
				t.Fatal(err)
			}
			s.publish(t, first)
			if err := f.WaitCaughtUp(ctx, s.hub.Head()); err != nil {
				t.Fatalf("before the drop: %v (errors %v)", err, f.Errors())
			}
			if c := f.Conns(); c.Established != uint64(conns) || c.Open != conns {
				t.Errorf("before the drop: %d connections established, %d open; want %d", c.Established, c.Open, conns)
			}

			// The server drops every connection; each client comes back
			// on a new one and resumes where it was.
			s.srv.CloseClientConnections()
			s.publish(t, second)
			if err := f.WaitCaughtUp(ctx, s.hub.Head()); err != nil {
				t.Fatalf("after the drop: %v (errors %v)", err, f.Errors())
			}
			if c := f.Conns(); c.Established < 2*uint64(conns) {
				t.Errorf("after the drop: %d connections established, want at least %d", c.Established, 2*conns)
			}
			f.Stop()
			if errs := f.Errors(); len(errs) > 0 {
				t.Fatalf("clients gave up: %v", errs)
			}
			if c := f.Conns(); c.Open != 0 {
				t.Errorf("%d connections still open after Stop", c.Open)
			}

			c := f.Counts(s.hub.Head())
			want := Counts{Delivery: results.Delivery{Expected: clients * (first + second), Delivered: clients * (first + second)}}
			got := c
			got.Attempts, got.Connects, got.Polls, got.EmptyPolls = 0, 0, 0, 0
			got.Errors = results.Errors{}
			if got != want {
				t.Errorf("account:\n got %+v\nwant %+v", c, want)
			}
			// A poller between polls may not notice the drop; whoever
			// does saw the connection end. net/http reports some ends of a
			// shared connection with errors of its own ("client
			// connection force closed"), which count as protocol errors.
			ended := results.Errors{Closed: c.Errors.Closed, Protocol: c.Errors.Protocol}
			if c.Errors != ended || (transport.Base() == contract.SSE && ended.Total() == 0) {
				t.Errorf("failures %+v, want only connections that ended", c.Errors)
			}
			h2, other := s.requests()
			if h2 == 0 || other != 0 {
				t.Errorf("server saw %d HTTP/2 requests and %d others; want only HTTP/2", h2, other)
			}
			if transport.Base() == contract.SSE {
				if c.Connects < 2*clients {
					t.Errorf("%d streams, want at least %d (one per client, again after the drop)", c.Connects, 2*clients)
				}
				s.mu.Lock()
				ids := s.lastIDs
				s.mu.Unlock()
				resumed := 0
				for _, id := range ids {
					if id != "" {
						resumed++
					}
				}
				if resumed < clients {
					t.Errorf("Last-Event-ID on %d of %d requests %q, want it on at least %d reconnections", resumed, len(ids), ids, clients)
				}
			}
		})
	}
}

// An HTTP/2 variant refuses a server that does not speak HTTP/2 rather than
// measure HTTP/1.1 under its name.
func TestHTTP2VariantsRefuseHTTP1Server(t *testing.T) {
	hub := servers.NewHub(nil)
	srv, err := servers.New(hub, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := newPeer(t, "", func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) { srv.ServeHTTP(w, r) }) // HTTP/1.1 only
	t.Cleanup(srv.Close)                                                                                       // ends every stream, so the peer can close
	for _, transport := range []contract.Transport{contract.SSEH2C, contract.PollH2C} {
		t.Run(string(transport), func(t *testing.T) {
			tr := NewTracker(0, NewLatency(), 0)
			c := newTestClient(t, transport, p.base, tr, Options{SSERetry: 10 * time.Millisecond, PollInterval: 10 * time.Millisecond})
			// The prior-knowledge preface is no HTTP/1.1 request: the
			// server refuses it, and the client keeps trying until ctx
			// ends without ever counting a stream or a poll. (A poller
			// counts connections, as over HTTP/1.1, so its Connects may
			// grow.)
			r := start(t, c)
			waitFor(t, "3 attempts", func() bool { return tr.attempts.Load() >= 3 })
			err = r.stop(t)
			n := tr.Counts(0)
			if err != nil || n.Attempts == 0 || n.Polls != 0 || (transport.Base() == contract.SSE && n.Connects != 0) {
				t.Errorf("Run: %v; account %+v, want attempts and no stream or poll", err, n)
			}
		})
	}
}

func TestHTTP2VariantsCheckBase(t *testing.T) {
	for _, tc := range []struct {
		transport contract.Transport
		base      string
	}{
		{contract.SSEH2, "http://127.0.0.1:1"},
		{contract.PollH2, "http://127.0.0.1:1"},
		{contract.SSEH2C, "https://127.0.0.1:1"},
		{contract.PollH2C, "ws://127.0.0.1:1"},
	} {
		if _, err := New(tc.transport, tc.base, NewTracker(0, NewLatency(), 0), nil); err == nil {
			t.Errorf("New(%s, %s): no error", tc.transport, tc.base)
		}
	}
}

// A stream silent for ReadTimeout is dead: the client reconnects, as the
// EventSource does over HTTP/1.1, with Last-Event-ID.
func TestHTTP2SSEReadTimeout(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	p := newPeerWith(t, "", func(n int, _ uint64, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		if r.ProtoMajor != 2 {
			t.Errorf("request over %s", r.Proto)
		}
		if n == 0 {
			sseSend(w, sseFrame(1)) // then silence
		} else {
			sseSend(w, sseFrame(2))
		}
		<-r.Context().Done()
	}, startH2C)
	tr := NewTracker(0, NewLatency(), 0)
	r := start(t, newTestClient(t, contract.SSEH2C, p.base, tr, Options{ReadTimeout: 100 * time.Millisecond, SSERetry: 10 * time.Millisecond}))
	waitFor(t, "event 2 after a reconnection", func() bool { return tr.Delivered() == 2 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) < 2 || ids[0] != "" || ids[1] != "1" {
		t.Errorf("Last-Event-ID by request %q, want \"\" then \"1\"", ids)
	}
}

// The HTTP/2 variants bound the response header list as the HTTP/1.1
// clients bound the header: a longer one fails the attempt, which is
// counted (net/http reports it with an error of its own, so as a protocol
// error), and the client goes on.
func TestHTTP2VariantsBoundResponseHeaders(t *testing.T) {
	p := newPeerWith(t, "", func(_ int, _ uint64, w http.ResponseWriter, r *http.Request) {
		// Four times the bound: within net/http's own default of 10 MiB.
		w.Header().Set("X-Big", strings.Repeat("a", 4*MaxResponseHeaderBytes))
		if sseSend(w, ": open\n") {
			<-r.Context().Done()
		}
	}, startH2C)
	for _, transport := range []contract.Transport{contract.SSEH2C, contract.PollH2C} {
		t.Run(string(transport), func(t *testing.T) {
			tr := NewTracker(0, nil, 0)
			r := start(t, newTestClient(t, transport, p.base, tr, Options{SSERetry: time.Hour, PollInterval: time.Hour}))
			waitFor(t, "a failure", func() bool { return tr.failed[FailProtocol].Load() == 1 })
			if err := r.stop(t); err != nil {
				t.Fatalf("Run = %v, want nil: the client goes on", err)
			}
			if n := tr.Counts(0); n.Polls != 0 || (transport == contract.SSEH2C && n.Connects != 0) || n.Errors != (results.Errors{Protocol: 1}) {
				t.Fatalf("counts %+v, want one failed attempt and no stream or poll", n)
			}
		})
	}
}
