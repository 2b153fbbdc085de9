package loadgen

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// Dialer opens the load generator's connections and counts them: attempts,
// successes, failures, connect time, connections open now and at peak, and
// every byte each way at the client's socket (HTTP headers, handshakes,
// framing and heartbeats included).
//
// Sources, if set, are local addresses that connections rotate over. Each
// source address has its own ~28k ephemeral ports towards one server address,
// so several 127.0.0.x sources let one generator hold more connections than
// one address could. A source is bound with IP_BIND_ADDRESS_NO_PORT, so the
// kernel picks the port at connect time, unique per 4-tuple: a port in
// TIME_WAIT towards an earlier server stays usable towards the next one.
type Dialer struct {
	Sources []net.IP
	Timeout time.Duration // per connect; 0 means 10 s
	// Base, if set, opens the underlying connections instead of a
	// net.Dialer (Sources and Timeout then do not apply): a test or fault
	// scenario wraps connections while the Dialer still counts them.
	Base func(ctx context.Context, network, addr string) (net.Conn, error)

	next        atomic.Uint64
	attempted   atomic.Uint64
	established atomic.Uint64
	failed      atomic.Uint64
	open        atomic.Int64
	peak        atomic.Int64
	bytesRead   atomic.Uint64
	bytesWrit   atomic.Uint64
	connect     *Latency
}

// NewDialer returns a Dialer that rotates over sources (none: the system's
// choice).
func NewDialer(sources ...net.IP) *Dialer {
	return &Dialer{Sources: sources, connect: NewLatency()}
}

// DialContext opens a counted connection.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.Timeout}
	if nd.Timeout == 0 {
		nd.Timeout = 10 * time.Second
	}
	n := d.next.Add(1)
	if len(d.Sources) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: d.Sources[n%uint64(len(d.Sources))]}
		nd.Control = bindNoPort
	}
	d.attempted.Add(1)
	start := time.Now()
	dial := nd.DialContext
	if d.Base != nil {
		dial = d.Base
	}
	c, err := dial(ctx, network, addr)
	if err != nil {
		d.failed.Add(1)
		return nil, err
	}
	if d.connect != nil {
		d.connect.Record(int(n), int64(time.Since(start)))
	}
	d.established.Add(1)
	open := d.open.Add(1)
	for p := d.peak.Load(); open > p && !d.peak.CompareAndSwap(p, open); p = d.peak.Load() {
	}
	return &countingConn{Conn: c, d: d}, nil
}

// bindNoPort defers the choice of local port from bind to connect. Without
// it, binding a source address reserves a port for that address whatever the
// destination, and one address runs out after ~28k connections in all, TIME_WAIT
// included. Failing to set it is not fatal: the dial goes on as before.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
}

// countingConn counts bytes into its Dialer.
type countingConn struct {
	net.Conn
	d      *Dialer
	closed atomic.Bool
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.d.bytesRead.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.d.bytesWrit.Add(uint64(n))
	return n, err
}

func (c *countingConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.d.open.Add(-1)
	}
	return c.Conn.Close()
}

// ConnStats is a snapshot of a Dialer's counters.
type ConnStats struct {
	Attempted    uint64 `json:"attempted"`
	Established  uint64 `json:"established"`
	Failed       uint64 `json:"failed"`
	Open         int64  `json:"open"`
	Peak         int64  `json:"peak_concurrent"`
	BytesRead    uint64 `json:"bytes_read"`
	BytesWritten uint64 `json:"bytes_written"`
	// ConnectP50NS and ConnectP99NS are TCP connect times.
	ConnectP50NS int64 `json:"connect_p50_ns"`
	ConnectP99NS int64 `json:"connect_p99_ns"`
	// Connect is the connect-time histogram (nil when not recorded), so
	// shards' connect times merge exactly.
	Connect *hdrhistogram.Histogram `json:"-"`
}

// Stats returns the counters now.
func (d *Dialer) Stats() ConnStats {
	s := ConnStats{
		Attempted:    d.attempted.Load(),
		Established:  d.established.Load(),
		Failed:       d.failed.Load(),
		Open:         d.open.Load(),
		Peak:         d.peak.Load(),
		BytesRead:    d.bytesRead.Load(),
		BytesWritten: d.bytesWrit.Load(),
	}
	if d.connect != nil {
		h := d.connect.Snapshot()
		s.ConnectP50NS, s.ConnectP99NS = h.ValueAtQuantile(50), h.ValueAtQuantile(99)
		s.Connect = h
	}
	return s
}
