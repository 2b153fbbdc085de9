package faults

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo serves an echo server on loopback for the test's duration.
func echo(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(c, c) })
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

func proxyTo(t *testing.T, upstream string) *Proxy {
	t.Helper()
	p, err := Listen(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg and reads it back within d.
func roundTrip(c net.Conn, msg string, d time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo mismatch: " + string(buf))
	}
	return nil
}

func TestPartitionIsSilentThenHeals(t *testing.T) {
	p := proxyTo(t, echo(t))
	c := dial(t, p.Addr())
	if err := roundTrip(c, "hello", time.Second); err != nil {
		t.Fatal(err)
	}
	heal, err := p.Partition()
	if err != nil {
		t.Fatal(err)
	}
	// Silent: neither data nor a close arrives, only our own deadline.
	err = roundTrip(c, "lost", 300*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("during partition: %v, want a read timeout (no FIN, no RST)", err)
	}
	// A new connection is accepted but just as silent.
	c2 := dial(t, p.Addr())
	if err := roundTrip(c2, "new", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection during partition: %v, want a read timeout", err)
	}
	if err := heal(); err != nil {
		t.Fatal(err)
	}
	c3 := dial(t, p.Addr())
	if err := roundTrip(c3, "after", time.Second); err != nil {
		t.Fatalf("after healing: %v", err)
	}
}

func TestResetAllResets(t *testing.T) {
	p := proxyTo(t, echo(t))
	c := dial(t, p.Addr())
	if err := roundTrip(c, "hello", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.ResetAll(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after ResetAll: %v, want ECONNRESET", err)
	}
	c2 := dial(t, p.Addr())
	if err := roundTrip(c2, "again", time.Second); err != nil {
		t.Fatalf("after ResetAll: %v", err)
	}
}

// TestDegradeAddsLatency compares round trips through the proxy with a
// control measured in the same test: degraded, a round trip takes at least
// the added latency (a lower bound the toxic guarantees); healed, it is
// faster than the degraded one again.
func TestDegradeAddsLatency(t *testing.T) {
	const added = 200 * time.Millisecond
	p := proxyTo(t, echo(t))
	heal, err := p.Degrade(added, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	start := time.Now()
	if err := roundTrip(c, "slow", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	degraded := time.Since(start)
	if degraded < added {
		t.Fatalf("round trip %v with %v latency", degraded, added)
	}
	if err := heal(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := roundTrip(c, "fast", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if healed := time.Since(start); healed >= degraded {
		t.Fatalf("round trip %v after healing, %v degraded: healing changed nothing", healed, degraded)
	}
}
