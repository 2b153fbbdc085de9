package loadgen

import (
	"runtime"
	"sync"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: latencies are recorded in nanoseconds from 1 ns to
// MaxLatency with three significant digits (0.1% resolution).
const (
	MaxLatency = int64(10 * 60 * 1e9) // 10 minutes: outages in fault scenarios fit
	SigFigs    = 3
)

// NewHistogram returns an empty latency histogram with the suite's bounds, so
// histograms from any client, run or shard merge exactly.
func NewHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, MaxLatency, SigFigs) }

// Latency records delivery latencies from many clients into a few shared HDR
// histograms. One histogram per client would cost ~200 KiB each, far more than
// a connection; one shared histogram would serialise every client on a lock.
// Shards, each with its own lock, split the difference, and merging them is
// exact: percentiles come from the merged counts, never from averaging.
type Latency struct {
	shards []latencyShard
}

type latencyShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep neighbouring locks off one cache line
}

// NewLatency returns a recorder with a few shards per CPU.
func NewLatency() *Latency {
	l := &Latency{shards: make([]latencyShard, 4*runtime.GOMAXPROCS(0))}
	for i := range l.shards {
		l.shards[i].h = NewHistogram()
	}
	return l
}

// Record adds one latency in ns to the given shard (any int). A value outside
// the histogram's range is clamped to it, so an outlier is counted, not lost.
func (l *Latency) Record(shard int, ns int64) {
	ns = min(max(ns, 1), MaxLatency)
	s := &l.shards[uint(shard)%uint(len(l.shards))]
	s.mu.Lock()
	_ = s.h.RecordValue(ns) // in range by the clamp above
	s.mu.Unlock()
}

// Snapshot merges every shard into a new histogram.
func (l *Latency) Snapshot() *hdrhistogram.Histogram {
	out := NewHistogram()
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		out.Merge(s.h)
		s.mu.Unlock()
	}
	return out
}
