package pushbench_test

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/pushbench/pushbench/bench"
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/testbin"
	"github.com/pushbench/pushbench/loadgen"
)

// TestNothingLostAcrossACrash kills a server with SIGKILL mid-stream and
// restarts it on the same ports and data directory: every client of every
// transport must end with every event exactly once, in order, and the events
// due during the outage must carry it in their latency.
func TestNothingLostAcrossACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server as a separate process")
	}
	const (
		clients = 3
		rate    = 200.0 // events/s
		before  = 100   // events published before the kill
		after   = 100   // events published live after the restart
		outage  = 500 * time.Millisecond
	)
	bin := testbin.Pushbench(t)
	httpAddr, tcpAddr := freeAddr(t), freeAddr(t)
	// The restarted server listens where the first one did, so clients
	// reconnect to it as they would to a restarted production server.
	spec := bench.ServerSpec{Command: []string{bin, "serve"}, Addr: httpAddr, TCPAddr: tcpAddr, Data: t.TempDir(),
		Retry: 20 * time.Millisecond, Heartbeat: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	srv := startRecoveryServer(t, ctx, spec)
	ctl := srv.Control()
	tcpURL := srv.TCP
	fleets := map[contract.Transport]*loadgen.Fleet{}
	for _, tr := range faultTransports {
		target := srv.URL
		if tr == contract.TCP {
			target = tcpURL
		}
		f, err := loadgen.StartFleet(ctx, loadgen.FleetConfig{
			Transport: tr, Target: target, Clients: clients, Options: clientOptions(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(f.Stop)
		if err := f.WaitConnected(ctx); err != nil {
			t.Fatalf("%s: %v", tr, err)
		}
		fleets[tr] = f
	}

	started := time.Now() // a little before the schedule's start
	if _, err := ctl.Start(ctx, contract.Schedule{Rate: rate, Burst: 1, Payload: 64}); err != nil {
		t.Fatal(err)
	}
	waitHead(t, ctx, ctl, before)
	srv.Kill()
	killed := time.Now() // every event scheduled from here on waits for the restart
	time.Sleep(outage)
	restarting := time.Now() // no event is delivered before this
	srv = startRecoveryServer(t, ctx, spec)
	if srv.URL != "http://"+httpAddr {
		t.Fatalf("restarted server listens on %s, want %s", srv.URL, httpAddr)
	}
	// Everything due so far, the outage's events included, and then some
	// published live by the restarted server.
	due := uint64(time.Since(started).Seconds() * rate)
	waitHead(t, ctx, ctl, due+after)
	head, err := ctl.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	downtime := restarting.Sub(killed)

	for _, tr := range faultTransports {
		t.Run(string(tr), func(t *testing.T) {
			f := fleets[tr]
			wctx, wcancel := context.WithTimeout(ctx, time.Minute)
			defer wcancel()
			if err := f.WaitCaughtUp(wctx, head); err != nil {
				t.Errorf("%d clients did not reach event %d: %v", f.Behind(head), head, err)
			}
			f.Stop()
			if errs := f.Errors(); len(errs) > 0 {
				t.Errorf("clients gave up: %v", errs)
			}
			c := f.Counts(head)
			exact(t, c, clients, head, 0)
			if c.Connects < 2*clients {
				t.Errorf("%d connects for %d clients: the crash did not force reconnects", c.Connects, clients)
			}
			// The events due in the outage were published late, and their
			// latency, from the scheduled time, says so.
			if lat := time.Duration(f.Latency().Snapshot().Max()); lat < downtime-time.Duration(float64(time.Second)/rate) {
				t.Errorf("max latency %v, but the server was down for %v", lat, downtime)
			}
		})
	}
}

// startRecoveryServer starts the server argv describes and stops it, if it
// is still running, when t ends.
func startRecoveryServer(t testing.TB, ctx context.Context, spec bench.ServerSpec) *bench.Server {
	t.Helper()
	srv, err := bench.StartServer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(10 * time.Second); err != nil && !isKilled(err) {
			t.Errorf("stopping server: %v", err)
		}
	})
	return srv
}

// isKilled says whether err is the exit of a process the test killed.
func isKilled(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && !ee.Exited()
}

// waitHead polls the server until it has published event n.
func waitHead(t testing.TB, ctx context.Context, ctl bench.Control, n uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		st, err := ctl.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Hub.Head >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("head %d, waiting for %d: %v", st.Hub.Head, n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for a server that must listen on the same port twice.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
