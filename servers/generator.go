package servers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pushbench/pushbench/event"
)

// Defaults for Schedule.
const (
	DefaultRate    = 10.0
	DefaultPayload = 64
)

// maxBatch bounds how many due events one Publish call carries, so a
// generator that fell far behind still lets subscribers read between batches.
const maxBatch = 1024

// Publisher is what Generate publishes into: a *Hub, or a *Log that writes
// every batch ahead of publishing it to its hub.
type Publisher interface {
	// Head is the newest seq published, 0 before any.
	Head() uint64
	// Publish appends entries, which must continue the sequence.
	Publish(entries ...*Entry) error
}

var (
	_ Publisher = (*Hub)(nil)
	_ Publisher = (*Log)(nil)
)

// Schedule says when events exist. Event k (0-based, seq = First+k) is
// scheduled at start + floor(k/Burst)*Burst/Rate: bursts of Burst events share
// one instant, and the long-run rate is Rate either way.
type Schedule struct {
	// Rate is events per second. Defaults to DefaultRate.
	Rate float64 `json:"rate"`
	// Burst is how many events share each scheduled instant. Defaults to 1.
	Burst int `json:"burst"`
	// Payload is the size of each event's data in bytes. Defaults to DefaultPayload.
	Payload int `json:"payload"`
	// Count stops the schedule after this many events; 0 means unbounded.
	Count uint64 `json:"count"`
	// First is the seq of event 0. Zero means the seq after the publisher's
	// head when Generate begins. A schedule resumed after a restart keeps the
	// First it started with, so that Generate continues it rather than
	// starting it over.
	First uint64 `json:"first,omitempty"`
}

func (s Schedule) withDefaults() Schedule {
	if s.Rate <= 0 {
		s.Rate = DefaultRate
	}
	if s.Burst <= 0 {
		s.Burst = 1
	}
	if s.Payload < 0 {
		s.Payload = 0
	} else if s.Payload == 0 {
		s.Payload = DefaultPayload
	}
	return s
}

// offset is when event k is scheduled, relative to the start.
func (s Schedule) offset(k uint64) time.Duration {
	b := uint64(s.Burst)
	return time.Duration(float64(k/b*b) / s.Rate * float64(time.Second))
}

// Generate publishes events into pub on schedule s from start until ctx ends
// or the schedule's Count is reached.
//
// Each event carries its scheduled time, not the time it was published: if the
// generator or the hub falls behind, the events are published late and every
// client's latency shows it. Nothing is skipped to catch up, so there is no
// coordinated omission.
//
// A schedule whose First is at or below pub's head is resumed: the events up
// to the head count as published, and Generate goes on from event
// Head()+1-First of the same schedule, from the same start. After a restart,
// the events whose time came while no server ran are therefore published at
// once, carrying their scheduled times, and the outage shows in every
// client's latency too. A First beyond Head()+1 would leave a hole in the
// sequence and fails with ErrNotNext.
func Generate(ctx context.Context, pub Publisher, s Schedule, start time.Time) error {
	s = s.withDefaults()
	head := pub.Head()
	if s.First == 0 {
		s.First = head + 1
	}
	if head+1 < s.First {
		return fmt.Errorf("generate: %w: schedule starts at seq %d, head is %d", ErrNotNext, s.First, head)
	}
	first := s.First
	base := start.UnixNano()
	batch := make([]*Entry, 0, maxBatch)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := head + 1 - first; s.Count == 0 || k < s.Count; {
		// Publish everything that is due, in bounded batches.
		now := time.Since(start)
		for len(batch) < maxBatch && (s.Count == 0 || k < s.Count) && s.offset(k) <= now {
			// Whole microseconds, as the canonical encoding carries
			// them: an event decoded from its JSON (a restored log) is
			// the event that was published.
			at := base + int64(s.offset(k))
			at -= at % int64(time.Microsecond)
			batch = append(batch, NewEntry(event.New(first+k, at, s.Payload)))
			k++
		}
		if len(batch) > 0 {
			if err := pub.Publish(batch...); err != nil {
				if errors.Is(err, ErrClosed) {
					return nil
				}
				return err
			}
			clear(batch)
			batch = batch[:0]
			// A generator far behind its schedule stays in this branch;
			// it must still stop when asked.
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		timer.Reset(s.offset(k) - now)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
	return nil
}
