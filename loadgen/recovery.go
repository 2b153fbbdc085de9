package loadgen

import (
	"context"
	"time"

	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/results"
)

// Break is one connection a client lost while it meant to run, from the
// client's side: when it last heard an event, when it noticed, when it was
// connected again and when it had caught up. Times are Unix ns; zero means
// "not (yet)".
type Break struct {
	// LastEvent is when the last event before the break arrived.
	LastEvent int64 `json:"last_event"`
	// Detected is when the client noticed the connection was gone: an
	// error, a reset, the end of the stream or its read timeout.
	Detected int64 `json:"detected"`
	// Reconnected is when the next connection was up (Tracker.Connected).
	Reconnected int64 `json:"reconnected"`
	// FirstEvent is when the first event after Reconnected arrived.
	FirstEvent int64 `json:"first_event"`
	// CaughtUp is when the client received the first event scheduled at or
	// after Reconnected: every event published before it reconnected, the
	// head at that moment included, had then arrived in order. It therefore
	// includes the wait for the next event, at most one publishing interval.
	CaughtUp int64 `json:"caught_up"`
	// Replayed is the events received after Reconnected that were scheduled
	// before it: the backlog the server sent again from the cursor.
	Replayed uint64 `json:"replayed"`
	// Attempts is the connection attempts (polling: requests) made from
	// Detected up to and including the one that reconnected.
	Attempts uint64 `json:"attempts"`
}

// catchUp updates the open break for an event that arrived at now after a
// reconnect. Kept out of Event so that its inlined fast path stays small.
func (t *Tracker) catchUp(h event.Header, now int64) {
	b := &t.breaks[len(t.breaks)-1]
	if b.FirstEvent == 0 {
		b.FirstEvent = now
	}
	if h.At >= b.Reconnected {
		b.CaughtUp = now
		t.catching = false
		t.recovered.Add(1)
		return
	}
	b.Replayed++
}

// Breaks returns the client's breaks in order. Call it once the client has
// stopped.
func (t *Tracker) Breaks() []Break {
	out := make([]Break, len(t.breaks))
	copy(out, t.breaks)
	if n := len(out); n > 0 && out[n-1].Reconnected == 0 {
		out[n-1].Attempts = t.attempts.Load() - out[n-1].Attempts
	}
	return out
}

// Recover summarises each client's recovery from the first break it detected
// in [from, to), with detection measured from fault (zero: from the client's
// last event before the break). Clients must have stopped.
func Recover(trackers []*Tracker, fault, from, to time.Time) results.Recovery {
	r := results.Recovery{Clients: len(trackers)}
	detect, reconn, catch := NewHistogram(), NewHistogram(), NewHistogram()
	rec := func(h interface{ RecordValue(int64) error }, ns int64) {
		_ = h.RecordValue(min(max(ns, 1), MaxLatency)) // clamped into range
	}
	for _, t := range trackers {
		bs := t.Breaks()
		i := 0
		for i < len(bs) && bs[i].Detected < from.UnixNano() {
			i++
		}
		if i == len(bs) || bs[i].Detected >= to.UnixNano() {
			continue
		}
		first := bs[i]
		r.Broken++
		switch {
		case !fault.IsZero():
			rec(detect, first.Detected-fault.UnixNano())
		case first.LastEvent != 0:
			rec(detect, first.Detected-first.LastEvent)
		}
		// Follow the chain to the first connection that delivered.
		var attempts uint64
		for ; i < len(bs); i++ {
			attempts += bs[i].Attempts
			if bs[i].FirstEvent != 0 {
				break
			}
		}
		r.Attempts += attempts
		if i == len(bs) {
			r.FailedAttempts += attempts
			continue
		}
		b := bs[i]
		r.Reconnected++
		r.FailedAttempts += attempts - 1
		r.Replayed += b.Replayed
		rec(reconn, b.Reconnected-first.Detected)
		if b.CaughtUp != 0 {
			r.CaughtUp++
			rec(catch, b.CaughtUp-b.Reconnected)
		}
	}
	r.Detect, r.Reconnect, r.CatchUp = results.LatencyOf(detect), results.LatencyOf(reconn), results.LatencyOf(catch)
	return r
}

// Timeline samples trackers every interval until ctx ends and returns the
// samples. Each sample reads every tracker once (two atomic loads), so a
// timeline of thousands of clients at 100 ms costs the clients nothing.
func Timeline(ctx context.Context, trackers []*Tracker, every time.Duration) []results.Sample {
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var prev uint64
	sample := func(now time.Time) results.Sample {
		s := results.Sample{At: now.Sub(start).Milliseconds()}
		var d uint64
		for _, t := range trackers {
			if t.Up() {
				s.Connected++
			}
			d += t.Delivered()
		}
		s.Delivered, prev = d-prev, d
		return s
	}
	out := []results.Sample{sample(start)}
	out[0].Delivered = 0 // what came before the timeline is not a rate
	for {
		select {
		case <-ctx.Done():
			return out
		case now := <-tick.C:
			out = append(out, sample(now))
		}
	}
}
