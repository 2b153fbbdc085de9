package loadgen

import (
	"sync/atomic"
	"time"

	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/results"
)

// Tracker is one client's account of the stream: which events it got, how
// late, and what was duplicated, reordered, skipped or signalled as a gap.
//
// It keeps the highest sequence number seen (the cursor a client resumes from,
// as a browser's EventSource resumes from the last id it saw) and the spans it
// skipped over without a gap signal. In a correct stream that list stays
// empty, so the account is exact in constant memory. Methods are for the
// client's one goroutine; Cursor and Delivered may be read from any.
type Tracker struct {
	lat   *Latency
	shard int
	start uint64 // cursor the client started from
	// measureFrom excludes events scheduled before it (Unix ns) from the
	// latency histogram: warm-up. They are still accounted.
	measureFrom atomic.Int64

	last      atomic.Uint64 // highest seq delivered or signalled
	delivered atomic.Uint64
	dups      atomic.Uint64
	reordered atomic.Uint64
	gaps      atomic.Uint64
	gapMissed atomic.Uint64
	holes     []span // skipped without a gap signal; may still arrive late

	attempts  atomic.Uint64
	connects  atomic.Uint64
	polls     atomic.Uint64
	empty     atomic.Uint64
	malformed atomic.Uint64
	failed    failures

	// Recovery account (see recovery.go), kept by the client's goroutine.
	// up may be read from any goroutine, for timelines.
	up        atomic.Bool
	recovered atomic.Uint64 // breaks closed by catching up
	lastAt    int64         // arrival of the last event, Unix ns
	catching  bool          // breaks' last entry is reconnected, not caught up
	breaks    []Break       // connections that ended while the client ran
}

// span is an inclusive range of sequence numbers.
type span struct{ from, to uint64 }

// NewTracker returns a tracker for a client starting after seq after,
// recording latencies into lat under the given shard (any int; clients spread
// over shards to avoid contention).
func NewTracker(after uint64, lat *Latency, shard int) *Tracker {
	t := &Tracker{lat: lat, shard: shard, start: after}
	t.last.Store(after)
	return t
}

// Cursor is the sequence number to resume after.
func (t *Tracker) Cursor() uint64 { return t.last.Load() }

// Delivered is the number of distinct events received so far.
func (t *Tracker) Delivered() uint64 { return t.delivered.Load() }

// Event accounts for an event that arrived at now (Unix ns).
func (t *Tracker) Event(h event.Header, now int64) {
	last := t.last.Load()
	switch {
	case h.Seq == last+1:
		t.last.Store(h.Seq)
	case h.Seq > last+1:
		// Events were skipped without a gap signal: remember them, they may
		// still arrive out of order.
		t.holes = append(t.holes, span{last + 1, h.Seq - 1})
		t.last.Store(h.Seq)
	case h.Seq <= t.start || !t.fill(h.Seq):
		t.dups.Add(1)
		return
	default:
		t.reordered.Add(1)
	}
	t.delivered.Add(1)
	if t.lat != nil && h.At >= t.measureFrom.Load() {
		t.lat.Record(t.shard, now-h.At)
	}
	// Two plain writes and a branch: the whole cost of recovery figures on
	// the hot path.
	t.lastAt = now
	if t.catching {
		t.catchUp(h, now)
	}
}

// fill removes seq from the holes, reporting whether it was missing.
func (t *Tracker) fill(seq uint64) bool {
	for i, s := range t.holes {
		if seq < s.from || seq > s.to {
			continue
		}
		switch {
		case s.from == s.to:
			t.holes = append(t.holes[:i], t.holes[i+1:]...)
		case seq == s.from:
			t.holes[i].from++
		case seq == s.to:
			t.holes[i].to--
		default:
			t.holes = append(t.holes[:i+1], t.holes[i:]...)
			t.holes[i].to = seq - 1
			t.holes[i+1].from = seq + 1
		}
		return true
	}
	return false
}

// Gap accounts for a gap signal: the events it names are gone and will not
// come. Only those not already received or signalled count as missed.
func (t *Tracker) Gap(g event.Gap) {
	t.gaps.Add(1)
	last := t.last.Load()
	if g.To <= last {
		return
	}
	from := max(g.From, last+1)
	t.gapMissed.Add(g.To - from + 1)
	t.last.Store(g.To)
}

// Attempt counts a connection attempt (or, for polling, a request).
func (t *Tracker) Attempt() { t.attempts.Add(1) }

// Connected counts an attempt that became a working stream: a 200 SSE
// response, a completed WebSocket handshake, or a polling connection opened.
// After a Disconnected it closes the break as reconnected.
func (t *Tracker) Connected() {
	t.connects.Add(1)
	if t.up.Swap(true) || len(t.breaks) == 0 {
		return
	}
	b := &t.breaks[len(t.breaks)-1]
	b.Reconnected = time.Now().UnixNano()
	b.Attempts = t.attempts.Load() - b.Attempts
	t.catching = true
}

// Disconnected records that the client noticed its connection end, by an
// error, a read timeout or the end of the stream, while it still meant to
// run: a break, which the next Connected closes. A client calls it once per
// connection that was Connected, and not when its context ended; a call
// while no connection is up is ignored.
func (t *Tracker) Disconnected() {
	if !t.up.Swap(false) {
		return
	}
	t.catching = false
	t.breaks = append(t.breaks, Break{
		LastEvent: t.lastAt,
		Detected:  time.Now().UnixNano(),
		Attempts:  t.attempts.Load(), // made relative by Connected
	})
}

// Up reports whether the client has a connection it believes is working.
// Any goroutine may call it.
func (t *Tracker) Up() bool { return t.up.Load() }

// SetMeasureFrom excludes events scheduled before ns (Unix ns) from the
// latency histogram from now on. Any goroutine may call it.
func (t *Tracker) SetMeasureFrom(ns int64) { t.measureFrom.Store(ns) }

// Recovered is the number of breaks the client has caught up after (see
// Break.CaughtUp). Any goroutine may call it.
func (t *Tracker) Recovered() uint64 { return t.recovered.Load() }

// Poll counts a poll answered, and whether it was empty.
func (t *Tracker) Poll(empty bool) {
	t.polls.Add(1)
	if empty {
		t.empty.Add(1)
	}
}

// Malformed counts a message that was not a valid event or gap signal. It is
// a protocol error and is reported, never silently ignored.
func (t *Tracker) Malformed() { t.malformed.Add(1) }

// Fail counts a connection attempt that failed, or a connection that
// ended, while the client still meant to run, as the kind of failure err
// is. A client calls it once per such attempt or connection, never when its
// context ended.
func (t *Tracker) Fail(err error) { t.failed[classify(err)].Add(1) }

// Counts is the account of one client, or the sum over many: its delivery
// account, the one results.Run carries, and how it connected.
type Counts struct {
	results.Delivery
	// Attempts and Connects count connection attempts and the ones that
	// streamed; Connects beyond one per client are reconnects.
	Attempts uint64 `json:"attempts"`
	Connects uint64 `json:"connects"`
	// Polls and EmptyPolls count answered polls and those with no events.
	Polls      uint64 `json:"polls"`
	EmptyPolls uint64 `json:"empty_polls"`
	// Errors counts failed attempts and ended connections by kind (see
	// Tracker.Fail).
	Errors results.Errors `json:"errors,omitzero"`
}

// Add sums c and o.
func (c Counts) Add(o Counts) Counts {
	return Counts{
		Delivery:   c.Delivery.Add(o.Delivery),
		Attempts:   c.Attempts + o.Attempts,
		Connects:   c.Connects + o.Connects,
		Polls:      c.Polls + o.Polls,
		EmptyPolls: c.EmptyPolls + o.EmptyPolls,
		Errors:     c.Errors.Add(o.Errors),
	}
}

// Counts closes the account against head, the last event published: every
// event after the client's start up to head was expected. Call it once the
// client has stopped.
func (t *Tracker) Counts(head uint64) Counts {
	c := Counts{
		Delivery: results.Delivery{
			Delivered:  t.delivered.Load(),
			Duplicates: t.dups.Load(),
			Reordered:  t.reordered.Load(),
			Gaps:       t.gaps.Load(),
			GapMissed:  t.gapMissed.Load(),
			Malformed:  t.malformed.Load(),
		},
		Attempts:   t.attempts.Load(),
		Connects:   t.connects.Load(),
		Polls:      t.polls.Load(),
		EmptyPolls: t.empty.Load(),
		Errors:     t.failed.errors(),
	}
	if head > t.start {
		c.Expected = head - t.start
	}
	for _, s := range t.holes {
		c.Lost += min(s.to, head) - min(s.from-1, head)
	}
	if last := t.last.Load(); head > last {
		c.Lost += head - last
	}
	return c
}
