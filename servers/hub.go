package servers

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// Defaults for HubOptions.
const (
	DefaultHistory = 16384
	DefaultMaxLag  = 4096
)

// Errors a subscription ends with, and Subscribe's refusals.
var (
	// ErrSlow ends a subscription whose transport fell more than MaxLag events
	// behind the head. Its client resumes from its cursor on reconnect.
	ErrSlow = errors.New("hub: subscriber too slow, disconnected")
	// ErrClosed ends every subscription when the hub shuts down.
	ErrClosed = errors.New("hub: closed")
	// ErrCursorAhead refuses a cursor beyond the newest event: no client can
	// have seen it, so it is a bad request, not a gap.
	ErrCursorAhead = errors.New("hub: cursor is ahead of the stream")
	// ErrNotNext refuses a publish that would leave a hole in the sequence.
	ErrNotNext = errors.New("hub: published events must continue the sequence")
)

// Entry is a published event with its canonical encoding, made once at publish
// time and shared, read-only, by every transport and subscriber.
type Entry struct {
	event.Event
	JSON []byte
}

// NewEntry encodes e for publishing.
func NewEntry(e event.Event) *Entry { return &Entry{Event: e, JSON: e.AppendJSON(nil)} }

// HubOptions configures a Hub. The zero value means defaults.
type HubOptions struct {
	// History is how many of the newest events the hub keeps for resuming
	// clients. Defaults to DefaultHistory.
	History int
	// MaxLag is the bound on each subscriber's queue: how many events it may
	// be behind the head when more are published before the hub cuts it off.
	// It is clamped to half the History, leaving room for a burst, so a
	// cut-off client can resume without a gap. Defaults to DefaultMaxLag.
	MaxLag int
}

// Hub is the one event stream behind every transport: a bounded history ring
// and a set of subscribers.
//
// Subscribers do not own queues of events. Each holds a cursor into the shared
// ring and a one-slot wake-up channel, so a subscriber's memory does not grow
// with the rate, publishing costs one non-blocking send per subscriber, and a
// transport takes everything it has not yet sent as one batch. A subscriber's
// queue is the distance from its cursor to the head; when that exceeds MaxLag
// the publisher cuts it off rather than wait for it.
type Hub struct {
	maxLag uint64

	mu     sync.RWMutex
	ring   []*Entry // ring[seq % len(ring)]
	head   uint64   // newest seq published; 0 before the first
	first  uint64   // oldest seq this hub ever held (1, or a restored log's first)
	subs   map[*Subscription]struct{}
	closed bool

	slow atomic.Uint64 // subscribers cut off for lagging
}

// NewHub returns an empty hub whose next event is seq 1.
func NewHub(opts *HubOptions) *Hub {
	var o HubOptions
	if opts != nil {
		o = *opts
	}
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	if o.MaxLag <= 0 {
		o.MaxLag = DefaultMaxLag
	}
	o.MaxLag = max(1, min(o.MaxLag, o.History/2))
	return &Hub{
		maxLag: uint64(o.MaxLag),
		ring:   make([]*Entry, o.History),
		first:  1,
		subs:   make(map[*Subscription]struct{}),
	}
}

// NewHubFrom returns a hub that continues a stream whose newest events are
// entries (contiguous, oldest first; the newest History of them are kept):
// its head is the last entry's seq, and a cursor older than the first entry
// gets a gap signal. A server restarting from its event log starts here.
func NewHubFrom(opts *HubOptions, entries []*Entry) (*Hub, error) {
	h := NewHub(opts)
	entries = entries[max(0, len(entries)-len(h.ring)):]
	for i, e := range entries {
		if i > 0 && e.Seq != entries[i-1].Seq+1 {
			return nil, fmt.Errorf("%w: seq %d follows %d", ErrNotNext, e.Seq, entries[i-1].Seq)
		}
		h.ring[e.Seq%uint64(len(h.ring))] = e
	}
	if len(entries) > 0 {
		h.first, h.head = entries[0].Seq, entries[len(entries)-1].Seq
	}
	return h, nil
}

// Head is the newest published sequence number (0 before any).
func (h *Hub) Head() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.head
}

// oldest is the smallest seq still in history; callers hold mu.
func (h *Hub) oldest() uint64 {
	if n := uint64(len(h.ring)); h.head >= h.first+n {
		return h.head - n + 1
	}
	return h.first
}

// Publish appends entries, which must continue the sequence, and wakes every
// subscriber. It never blocks on a subscriber: one that lags more than MaxLag
// is cut off with ErrSlow and counted.
func (h *Hub) Publish(entries ...*Entry) error {
	if len(entries) == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	for i, e := range entries {
		if e.Seq != h.head+1+uint64(i) {
			return fmt.Errorf("%w: head %d, got seq %d", ErrNotNext, h.head, e.Seq)
		}
	}
	// Lag is measured against the head before this publish: a subscriber
	// that had taken everything is never cut off because one burst is larger
	// than MaxLag, only one that was already MaxLag behind when more came.
	prev := h.head
	for _, e := range entries {
		h.ring[e.Seq%uint64(len(h.ring))] = e
	}
	h.head += uint64(len(entries))
	for s := range h.subs {
		if prev-s.cursor.Load() > h.maxLag {
			h.drop(s, ErrSlow)
			h.slow.Add(1)
			continue
		}
		s.signal()
	}
	return nil
}

// Subscribe registers a subscriber for the events after seq after.
//
// If after is older than the history, the returned gap names the events that
// are gone and the subscription starts at the oldest event still held: the
// transport must send the gap signal before any event. A cursor beyond the
// head is refused with ErrCursorAhead.
func (h *Hub) Subscribe(after uint64) (*Subscription, *event.Gap, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, ErrClosed
	}
	if after > h.head {
		return nil, nil, fmt.Errorf("%w: cursor %d, head %d", ErrCursorAhead, after, h.head)
	}
	var gap *event.Gap
	if oldest := h.oldest(); after+1 < oldest {
		gap = &event.Gap{From: after + 1, To: oldest - 1}
		after = oldest - 1
	}
	s := &Subscription{
		hub:  h,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	s.cursor.Store(after)
	h.subs[s] = struct{}{}
	return s, gap, nil
}

// Read appends to buf the events after seq after, at most max, without
// subscribing: the polling transport's view of the stream. A closed hub
// refuses with ErrClosed, as Subscribe does: the server is going away. A cursor older
// than the history yields a gap and the events from the oldest one held.
func (h *Hub) Read(after uint64, buf []*Entry, max int) ([]*Entry, *event.Gap, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return buf, nil, ErrClosed
	}
	if after > h.head {
		return buf, nil, fmt.Errorf("%w: cursor %d, head %d", ErrCursorAhead, after, h.head)
	}
	var gap *event.Gap
	if oldest := h.oldest(); after+1 < oldest {
		gap = &event.Gap{From: after + 1, To: oldest - 1}
		after = oldest - 1
	}
	return h.appendRange(buf, after, max), gap, nil
}

// appendRange appends the events after seq after, at most max; callers hold
// mu and have checked that after+1 is still in history.
func (h *Hub) appendRange(buf []*Entry, after uint64, max int) []*Entry {
	n := uint64(len(h.ring))
	for seq := after + 1; seq <= h.head && max > 0; seq++ {
		buf = append(buf, h.ring[seq%n])
		max--
	}
	return buf
}

// Stats returns the hub's counters.
func (h *Hub) Stats() contract.HubStats {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return contract.HubStats{Head: h.head, Subscribers: len(h.subs), SlowDropped: h.slow.Load()}
}

// Close ends every subscription with ErrClosed and refuses new ones, so that
// streaming handlers return and a server can shut down.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.drop(s, ErrClosed)
	}
}

// drop removes s and tells it why; callers hold mu.
func (h *Hub) drop(s *Subscription, why error) {
	delete(h.subs, s)
	s.err = why
	close(s.done)
	if s.notify != nil {
		s.notify() // its writer learns the reason from Take or Err
	}
}

// Subscription is one subscriber's place in the stream. Its methods are for
// the one goroutine that writes to the subscriber's connection.
type Subscription struct {
	hub    *Hub
	wake   chan struct{} // one slot: a publish never blocks on it; nil after Notify
	notify func()        // Notify's callback, in place of wake
	done   chan struct{} // closed when the hub drops the subscriber
	err    error         // why done was closed; written before the close
	cursor atomic.Uint64 // last seq handed out by Take
}

// signal tells the subscriber that events may be waiting; callers hold the
// hub's lock. Neither way blocks: a publish never waits on a subscriber.
func (s *Subscription) signal() {
	if s.notify != nil {
		s.notify()
		return
	}
	select {
	case s.wake <- struct{}{}:
	default: // already awake: it will see the new head when it looks
	}
}

// Take appends to buf the events after the cursor, at most max, and advances
// the cursor past them. It does not block; an empty result means wait on
// Ready. Once the hub has dropped the subscription, Take returns its reason.
func (s *Subscription) Take(buf []*Entry, max int) ([]*Entry, error) {
	select {
	case <-s.done:
		return buf, s.err
	default:
	}
	h := s.hub
	h.mu.RLock()
	cur := s.cursor.Load()
	if cur+1 < h.oldest() { // cannot happen while MaxLag <= History, but never skip silently
		h.mu.RUnlock()
		return buf, ErrSlow
	}
	n := len(buf)
	buf = h.appendRange(buf, cur, max)
	h.mu.RUnlock()
	s.cursor.Store(cur + uint64(len(buf)-n))
	return buf, nil
}

// Notify is for a transport that serves many subscribers from a few
// goroutines instead of one goroutine each: from now on the subscription
// calls notify, in place of signalling Ready, whenever events may be
// waiting for Take, and once when the hub drops it (Err then says why); and
// now, if either happened already. notify runs with the hub locked, from
// Publish and Close, so it must return at once: it must not block, take a
// lock that is held while the hub is called, or call the hub. Queueing the
// subscriber for a writer goroutine is what it is for: a broadcast then
// still costs one call per subscriber and never waits on any of them. Call
// it once, from the goroutine that owns the subscription, before waiting on
// Ready, which is then nil.
func (s *Subscription) Notify(notify func()) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	s.notify = notify
	due := false
	select {
	case <-s.wake:
		due = true
	case <-s.done:
		due = true
	default:
	}
	s.wake = nil
	if due {
		notify()
	}
}

// Cursor is the last seq handed out by Take.
func (s *Subscription) Cursor() uint64 { return s.cursor.Load() }

// Ready is signalled when events may be waiting for Take, until Notify.
func (s *Subscription) Ready() <-chan struct{} { return s.wake }

// Done is closed when the hub has dropped the subscription; Err says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err is ErrSlow or ErrClosed once Done is closed, nil before.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close unsubscribes. It is safe to call more than once and after the hub
// dropped the subscription.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
	}
}
