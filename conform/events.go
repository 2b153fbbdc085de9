package conform

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// Event-content check names, one line each per transport.
const (
	checkCanonical = `events are in the canonical encoding {"seq":N,"at_us":MICROS,"type":T,"data":D}`
	checkTypes     = "event types alternate quote (odd seq) and tick (even seq)"
	checkPayload   = "event data is the generated payload"
	checkSchedule  = "at_us follows the schedule: start + floor(k/burst)·burst/rate"
)

// item is one thing a stream delivered after a cursor: a gap signal or an
// event.
type item struct {
	gap *event.Gap
	raw []byte // the event's JSON as sent
	seq uint64 // the event's seq, 0 when raw is not an event
	id  string // SSE: the frame's id field
}

// String names the item for a failure.
func (it item) String() string {
	if it.gap != nil {
		return fmt.Sprintf("gap %d..%d", it.gap.From, it.gap.To)
	}
	if it.seq > 0 {
		return "event " + strconv.FormatUint(it.seq, 10)
	}
	return quote(it.raw)
}

// newItem reads a message that is an event or a gap signal.
func newItem(msg []byte) item {
	if g, ok, err := event.DecodeGap(msg); ok && err == nil {
		return item{gap: &g}
	}
	it := item{raw: bytes.Clone(msg)}
	if h, err := event.DecodeHeader(msg); err == nil {
		it.seq = h.Seq
	}
	return it
}

// problem is one kind of fault in a transport's events: how often, and the
// first example.
type problem struct {
	n     int
	first string
}

func (p *problem) add(format string, args ...any) {
	if p.n == 0 {
		p.first = fmt.Sprintf(format, args...)
	}
	p.n++
}

// why is the problem as a failure reason, or "" without one.
func (p problem) why(of int) string {
	switch p.n {
	case 0:
		return ""
	case 1:
		return p.first
	}
	return fmt.Sprintf("%s (and %d more of %d events)", p.first, p.n-1, of)
}

// content accounts for the events one transport delivered: their encoding,
// types and payloads, and for one schedule their times. The load
// generator's clients call observe from their own goroutines.
type content struct {
	payloadOf func(seq uint64) (int, bool)

	mu                  sync.Mutex
	events              int
	canon, typ, payload problem
	sched               *scheduleLog
}

// scheduleLog collects the times of one schedule's events.
type scheduleLog struct {
	s     contract.Schedule
	first uint64
	at    map[uint64]int64 // seq -> at, in ns
}

// contentOf is transport t's account.
func (r *run) contentOf(t contract.Transport) *content {
	c, ok := r.content[t]
	if !ok {
		c = &content{payloadOf: r.payloadOf}
		r.content[t] = c
	}
	return c
}

// observe checks one event as sent.
func (c *content) observe(raw []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events++
	var e event.Event
	if err := event.Decode(raw, &e); err != nil {
		c.canon.add("%s is not an event: %v", quote(raw), err)
		c.typ.add("%s is not an event", quote(raw))
		c.payload.add("%s is not an event", quote(raw))
		return
	}
	if want := e.AppendJSON(nil); !bytes.Equal(raw, want) {
		if bytes.Contains(raw, []byte(`"at":`)) && !bytes.Contains(raw, []byte(`"at_us":`)) {
			c.canon.add(`event %d gives its time as "at" (ns, pushbench 0.x), where contract %d's canonical encoding has "at_us" (µs): got %s, want %s`,
				e.Seq, contract.Version, quote(raw), quote(want))
		} else {
			c.canon.add("event %d: got %s, want %s", e.Seq, quote(raw), quote(want))
		}
	}
	if want := event.TypeOf(e.Seq); e.Type != want {
		c.typ.add("event %d has type %q, want %q", e.Seq, e.Type, want)
	}
	// The payload is a function of (seq, size): the size is the schedule's
	// when Check ran it, and otherwise the data's own length.
	size, ok := c.payloadOf(e.Seq)
	if !ok {
		size = len(e.Data)
	}
	if want := event.Payload(e.Seq, size); e.Data != want {
		c.payload.add("event %d has data %s, want %s (%d bytes from index %d of a…zA…Z0…9)", e.Seq, quote([]byte(e.Data)), quote([]byte(want)), size, e.Seq%62)
	}
	if l := c.sched; l != nil && e.Seq >= l.first && e.Seq < l.first+l.s.Count {
		if _, seen := l.at[e.Seq]; !seen {
			if h, err := event.DecodeHeader(raw); err == nil {
				l.at[e.Seq] = h.At
			}
		}
	}
}

// watch makes observe collect the times of schedule s, whose first event is
// first.
func (c *content) watch(s contract.Schedule, first uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sched = &scheduleLog{s: s, first: first, at: map[uint64]int64{}}
}

// reportContent records the content checks of transport t.
func (r *run) reportContent(t contract.Transport) {
	c := r.contentOf(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	checks := []struct {
		name string
		p    problem
	}{{checkCanonical, c.canon}, {checkTypes, c.typ}, {checkPayload, c.payload}}
	for _, ch := range checks {
		switch {
		case c.events == 0:
			r.skip(string(t), ch.name, "no events seen")
		case ch.p.n > 0:
			r.fail(string(t), ch.name, ch.p.why(c.events))
		default:
			r.pass(string(t), ch.name, fmt.Sprintf("%d events seen", c.events))
		}
	}
	if c.sched == nil {
		r.skip(string(t), checkSchedule, "no schedule run on this transport")
		return
	}
	if why := c.sched.check(); why != "" {
		r.fail(string(t), checkSchedule, why)
	} else {
		r.pass(string(t), checkSchedule, "")
	}
}

// scheduleSlack is how far an event's time may be from its place in the
// schedule: each side rounds the start and the offset to whole µs.
const scheduleSlack = 2 * time.Microsecond

// check compares the times seen with the schedule, from its first event:
// event k is floor(k/burst)·burst/rate after event 0.
func (l *scheduleLog) check() string {
	at0, ok := l.at[l.first]
	if !ok {
		return fmt.Sprintf("event %d, the schedule's first, was not seen", l.first)
	}
	for k := uint64(1); k < l.s.Count; k++ {
		at, ok := l.at[l.first+k]
		if !ok {
			continue // the delivery check says what went missing
		}
		b := uint64(max(l.s.Burst, 1))
		want := time.Duration(float64(k/b*b) / l.s.Rate * float64(time.Second))
		if got := time.Duration(at - at0); got < want-scheduleSlack || got > want+scheduleSlack {
			return fmt.Sprintf("event %d (k=%d of rate=%g burst=%d) is %v after the first, want %v", l.first+k, k, l.s.Rate, l.s.Burst, got, want)
		}
	}
	return ""
}

// describe lists items for a failure.
func describe(items []item) string {
	if len(items) == 0 {
		return "nothing"
	}
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = it.String()
	}
	return strings.Join(s, ", ")
}
