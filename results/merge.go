package results

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Sentinel errors of merging.
var (
	// ErrNotShard is a run without shard information given to MergeRuns.
	ErrNotShard = errors.New("not a shard's run")
	// ErrShardsDiffer is shards that did not measure the same thing: other
	// settings, another start instant, or other events.
	ErrShardsDiffer = errors.New("shards differ")
	// ErrShardsMissing is a shard set with an index missing or repeated.
	ErrShardsMissing = errors.New("shards missing")
)

// shardKey is what shards of one run share.
func shardKey(r *Run) string {
	return fmt.Sprintf("%s|%s|%d|%g|%d|%d|%g|%g|%d|%s", r.Scenario, r.Transport, r.Shard.Count, r.Rate, r.Burst,
		r.Payload, r.PollIntervalS, r.DurationS, r.EventsPublished, r.Shard.StartAt.UTC().Format(time.RFC3339Nano))
}

// MergeRuns merges the shards of one run into the run one load generator
// holding every client would have recorded. Merging is exact where the
// figure allows it: counts add, latency and connect-time histograms merge and
// their percentiles are read off the merged histogram, never averaged.
// Figures of the one server every shard watched (its CPU, memory, slow
// disconnects) are the largest any shard saw; server memory per connection is
// the growth from the lowest "before" to the highest "at start" over every
// client. Load-generator figures add up, per connection weighted by clients.
func MergeRuns(shards []Run) (Run, error) {
	if len(shards) == 0 {
		return Run{}, fmt.Errorf("%w: no runs", ErrShardsMissing)
	}
	runs := slices.Clone(shards)
	for i := range runs {
		if runs[i].Shard == nil {
			return Run{}, fmt.Errorf("run %d (%s): %w", i, runs[i].Transport, ErrNotShard)
		}
	}
	slices.SortFunc(runs, func(a, b Run) int { return cmp.Compare(a.Shard.Index, b.Shard.Index) })
	key := shardKey(&runs[0])
	for i := range runs {
		r := &runs[i]
		if r.Shard.Index != i || r.Shard.Count != len(runs) {
			return Run{}, fmt.Errorf("%w: have shard %d/%d at position %d of %d", ErrShardsMissing, r.Shard.Index, r.Shard.Count, i, len(runs))
		}
		if k := shardKey(r); k != key {
			return Run{}, fmt.Errorf("%w: shard %d measured %s, shard 0 %s", ErrShardsDiffer, i, k, key)
		}
	}

	m := runs[0]
	m.Shard = nil
	m.Clock = nil
	m.Shards = make([]Shard, len(runs))
	m.Clients = 0
	m.Expected, m.Delivered, m.Lost, m.Duplicates, m.Reordered = 0, 0, 0, 0, 0
	m.Gaps, m.GapMissed, m.Malformed = 0, 0, 0
	m.Errors = Errors{}
	m.DeliveriesPerSec = 0
	m.Connections = Connections{}
	m.Wire = Wire{}
	m.Server, m.Loadgen = Process{}, Process{}
	m.Idle = nil
	if m.Polls != nil {
		m.Polls = &Polls{}
	}
	var lat, connect *hdrhistogram.Histogram
	connectExact := true
	var before, atStart Memory
	var lgRSS, lgHeap float64
	for i := range runs {
		r := &runs[i]
		sh := *r.Shard
		if r.Clock != nil {
			c := *r.Clock
			sh.Clock = &c
		}
		m.Shards[i] = sh
		m.Clients += r.Clients
		m.Delivery = m.Delivery.Add(r.Delivery)
		m.Errors = m.Errors.Add(r.Errors)
		m.SlowDisconnects = max(m.SlowDisconnects, r.SlowDisconnects)
		m.DeliveriesPerSec += r.DeliveriesPerSec

		h, err := r.DecodeHistogram()
		if err != nil {
			return Run{}, fmt.Errorf("shard %d: %w", i, err)
		}
		if i == 0 {
			lat = h
		} else {
			lat.Merge(h)
		}

		c := &m.Connections
		c.Attempted += r.Connections.Attempted
		c.Established += r.Connections.Established
		c.Failed += r.Connections.Failed
		c.PeakConcurrent += r.Connections.PeakConcurrent
		c.Reconnects += r.Connections.Reconnects
		c.ConnectRate += r.Connections.ConnectRate
		c.ConnectP99NS = max(c.ConnectP99NS, r.Connections.ConnectP99NS)
		if r.Connections.ConnectHistogram == "" {
			connectExact = false
		} else if ch, err := hdrhistogram.Decode([]byte(r.Connections.ConnectHistogram)); err != nil {
			return Run{}, fmt.Errorf("shard %d connect histogram: %w", i, err)
		} else if connect == nil {
			connect = ch
		} else {
			connect.Merge(ch)
		}

		m.Wire.BytesIn += r.Wire.BytesIn
		m.Wire.BytesOut += r.Wire.BytesOut
		if r.Polls != nil && m.Polls != nil {
			m.Polls.Requests += r.Polls.Requests
			m.Polls.Empty += r.Polls.Empty
			m.Polls.RequestsPerSec += r.Polls.RequestsPerSec
		}
		if r.Idle != nil {
			if m.Idle == nil {
				m.Idle = &Idle{}
			}
			m.Idle.Seconds = max(m.Idle.Seconds, r.Idle.Seconds)
			m.Idle.BytesIn += r.Idle.BytesIn
			m.Idle.BytesOut += r.Idle.BytesOut
		}

		s := &m.Server
		s.CPUSeconds = max(s.CPUSeconds, r.Server.CPUSeconds)
		s.RSSBytes = max(s.RSSBytes, r.Server.RSSBytes)
		s.HeapBytes = max(s.HeapBytes, r.Server.HeapBytes)
		s.Goroutines = max(s.Goroutines, r.Server.Goroutines)
		s.OpenFiles = max(s.OpenFiles, r.Server.OpenFiles)
		if i == 0 || sh.ServerBefore.RSSBytes < before.RSSBytes {
			before.RSSBytes = sh.ServerBefore.RSSBytes
		}
		if i == 0 || sh.ServerBefore.HeapBytes < before.HeapBytes {
			before.HeapBytes = sh.ServerBefore.HeapBytes
		}
		atStart.RSSBytes = max(atStart.RSSBytes, sh.ServerAtStart.RSSBytes)
		atStart.HeapBytes = max(atStart.HeapBytes, sh.ServerAtStart.HeapBytes)

		g := &m.Loadgen
		g.CPUSeconds += r.Loadgen.CPUSeconds
		g.RSSBytes += r.Loadgen.RSSBytes
		g.HeapBytes += r.Loadgen.HeapBytes
		g.Goroutines += r.Loadgen.Goroutines
		g.OpenFiles += r.Loadgen.OpenFiles
		lgRSS += r.Loadgen.BytesPerConn * float64(r.Clients)
		lgHeap += r.Loadgen.HeapPerConn * float64(r.Clients)
	}

	m.LatencyNS = LatencyOf(lat)
	enc, err := EncodeHistogram(lat)
	if err != nil {
		return Run{}, err
	}
	m.Histogram = enc
	if connect != nil && connectExact {
		m.Connections.ConnectP50NS = connect.ValueAtQuantile(50)
		m.Connections.ConnectP99NS = connect.ValueAtQuantile(99)
		if m.Connections.ConnectHistogram, err = EncodeHistogram(connect); err != nil {
			return Run{}, err
		}
	} else {
		// Without every histogram only an upper bound on p99 is honest.
		m.Connections.ConnectP50NS = 0
	}
	if d := m.Delivered; d > 0 {
		m.Wire.BytesPerEvent = float64(m.Wire.BytesIn+m.Wire.BytesOut) / float64(d)
		m.Server.CPUPer1kDeliveries = m.Server.CPUSeconds / float64(d) * 1000
		m.Loadgen.CPUPer1kDeliveries = m.Loadgen.CPUSeconds / float64(d) * 1000
	}
	if m.Polls != nil && m.Polls.Requests > 0 {
		m.Polls.EmptyShare = float64(m.Polls.Empty) / float64(m.Polls.Requests)
	}
	if m.Idle != nil && m.Idle.Seconds > 0 && m.Clients > 0 {
		m.Idle.BytesPerSecPerConn = float64(m.Idle.BytesIn+m.Idle.BytesOut) / m.Idle.Seconds / float64(m.Clients)
	}
	if n := float64(m.Clients); n > 0 {
		if atStart.RSSBytes > before.RSSBytes {
			m.Server.BytesPerConn = float64(atStart.RSSBytes-before.RSSBytes) / n
		}
		if atStart.HeapBytes > before.HeapBytes {
			m.Server.HeapPerConn = float64(atStart.HeapBytes-before.HeapBytes) / n
		}
		m.Loadgen.BytesPerConn = lgRSS / n
		m.Loadgen.HeapPerConn = lgHeap / n
	}
	return m, nil
}

// MergeReports merges the reports that shards of the same runs wrote (one
// results.json per shard, in any order) into one report. Runs are matched by
// their settings and agreed start instant; a run that is not a shard's is
// kept as it is. The environment and settings are the first report's, with
// every shard's host recorded.
func MergeReports(reps []*Report) (*Report, error) {
	if len(reps) == 0 {
		return nil, errors.New("merge: no reports")
	}
	out := *reps[0]
	out.Runs, out.Notes, out.Capacity, out.Scenarios = nil, nil, nil, nil
	out.Settings.Extra = make(map[string]string, len(reps[0].Settings.Extra)+1)
	for k, v := range reps[0].Settings.Extra {
		out.Settings.Extra[k] = v
	}
	groups := map[string][]Run{}
	var order []string
	seenScenario := map[string]bool{}
	var hosts []string
	for i, r := range reps {
		for _, s := range r.Scenarios {
			if !seenScenario[s.Name] {
				seenScenario[s.Name] = true
				out.Scenarios = append(out.Scenarios, s)
			}
		}
		for _, n := range r.Notes {
			out.Notes = append(out.Notes, fmt.Sprintf("report %d: %s", i+1, n))
		}
		out.Capacity = append(out.Capacity, r.Capacity...)
		if h := r.Env.Hostname; h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
		for _, run := range r.Runs {
			if run.Shard == nil {
				out.Runs = append(out.Runs, run)
				continue
			}
			k := shardKey(&run)
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], run)
		}
	}
	for _, k := range order {
		m, err := MergeRuns(groups[k])
		if err != nil {
			return nil, err
		}
		out.Runs = append(out.Runs, m)
	}
	out.Settings.Extra["shards"] = fmt.Sprintf("%d reports merged, hosts %s", len(reps), strings.Join(hosts, ", "))
	if len(out.Runs) == 0 && len(out.Capacity) == 0 {
		return nil, ErrNoRuns
	}
	return &out, nil
}
