// Package event defines the one stream every pushbench transport carries: the
// event, its canonical JSON encoding, and the gap signal.
//
// The encoding is produced once, when the hub publishes an event, and every
// transport sends those same bytes (an SSE data line, a WebSocket text message,
// an element of a poll response), so a comparison between transports compares
// protocols, never payloads.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Event is one published event.
type Event struct {
	// Seq numbers events 1, 2, 3, … with no holes.
	Seq uint64 `json:"seq"`
	// At is the scheduled publish time in Unix nanoseconds: the instant the
	// schedule says the event exists, not the instant the server got round to
	// sending it. Latency is measured from here, so server lag is not hidden.
	// The canonical encoding carries it in whole microseconds (AppendJSON).
	At int64 `json:"-"`
	// Type is the event's name, as SSE's "event:" field carries it.
	Type string `json:"type"`
	// Data is the payload.
	Data string `json:"data"`
}

// Gap tells a client that events From through To (inclusive) are no longer in
// the server's history: the client asked to resume from a cursor older than the
// history holds. It is sent instead of silently skipping ahead.
type Gap struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// Missed is the number of events the gap stands for.
func (g Gap) Missed() uint64 { return g.To - g.From + 1 }

// GapType is the SSE event name of the gap signal. Streams never use it for
// ordinary events.
const GapType = "gap"

// Errors returned by the decoders.
var (
	ErrMalformed = errors.New("event: malformed message")
)

// AppendJSON appends the canonical encoding of e to b (docs/contract.md):
//
//	{"seq":1,"at_us":1700000000000000,"type":"tick","data":"…"}
//
// Fields always appear in this order, so decoders can take a fast path. The
// time is in whole microseconds, dropping any part below one: microseconds
// stay below 2^53 until the year 2255, so JavaScript, Python and Go all write
// and read the number exactly with their standard JSON, where nanoseconds
// (about 1.8e18) lose digits in a float64.
func (e Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"at_us":`...)
	b = strconv.AppendInt(b, e.At/1000, 10)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"data":`...)
	b = appendString(b, e.Data)
	return append(b, '}')
}

// AppendJSON appends the gap signal's encoding to b: {"gap":{"from":F,"to":T}}.
func (g Gap) AppendJSON(b []byte) []byte {
	b = append(b, `{"gap":{"from":`...)
	b = strconv.AppendUint(b, g.From, 10)
	b = append(b, `,"to":`...)
	b = strconv.AppendUint(b, g.To, 10)
	return append(b, "}}"...)
}

// appendString appends s as a JSON string. Generated payloads are plain
// printable ASCII and take the copy loop; anything else goes through
// encoding/json so the result is always valid JSON.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil { // cannot happen for a string
				panic(err)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Header is what a client needs of an event to account for it: its sequence
// number and scheduled time. Decoding only the header keeps the load generator
// cheaper per event than the server it measures.
type Header struct {
	Seq uint64
	At  int64
}

// DecodeHeader reads seq and at from an encoded event without allocating.
// It takes a fast path for the canonical layout, with the time as at_us
// (microseconds) or, as pushbench 0.x servers sent it, at (nanoseconds), and
// falls back to encoding/json for any other valid encoding of an event.
func DecodeHeader(b []byte) (Header, error) {
	const pSeq = `{"seq":`
	if len(b) > len(pSeq) && string(b[:len(pSeq)]) == pSeq {
		seq, n, ok := parseUint(b[len(pSeq):])
		rest := b[len(pSeq)+n:]
		if ok && seq > 0 && b[len(b)-1] == '}' {
			for _, f := range stampFields {
				if len(rest) > len(f.prefix) && string(rest[:len(f.prefix)]) == f.prefix {
					at, m, ok := parseInt(rest[len(f.prefix):])
					next := rest[len(f.prefix)+m:]
					if ok && len(next) > 0 && (next[0] == '}' || bytes.HasPrefix(next, []byte(f.then))) {
						if ns, ok := f.toNS(at); ok {
							return Header{Seq: seq, At: ns}, nil
						}
					}
					break
				}
			}
		}
	}
	var e Event
	if err := Decode(b, &e); err != nil {
		return Header{}, err
	}
	return Header{Seq: e.Seq, At: e.At}, nil
}

// stampFields are the encodings of an event's time the fast path knows.
// The legacy at must be followed by the canonical type field, so that a
// message carrying both times takes the slow path, where at_us wins.
var stampFields = []struct {
	prefix, then string
	toNS         func(int64) (int64, bool)
}{
	{`,"at_us":`, `,`, microsToNanos},
	{`,"at":`, `,"type":`, func(ns int64) (int64, bool) { return ns, true }},
}

// microsToNanos converts a time in µs to ns, refusing one that overflows.
func microsToNanos(us int64) (int64, bool) {
	if us > math.MaxInt64/1000 || us < math.MinInt64/1000 {
		return 0, false
	}
	return us * 1000, true
}

// Decode parses a whole encoded event. It rejects a message without a
// positive seq, since no valid event has seq 0. The time may be given as
// at_us (µs, the canonical encoding) or at (ns, pushbench 0.x); at_us wins.
func Decode(b []byte, e *Event) error {
	var v struct {
		Seq  *uint64 `json:"seq"`
		At   int64   `json:"at"`
		AtUS *int64  `json:"at_us"`
		Type string  `json:"type"`
		Data string  `json:"data"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if v.Seq == nil || *v.Seq == 0 {
		return fmt.Errorf("%w: no seq", ErrMalformed)
	}
	at := v.At
	if v.AtUS != nil {
		ns, ok := microsToNanos(*v.AtUS)
		if !ok {
			return fmt.Errorf("%w: at_us %d out of range", ErrMalformed, *v.AtUS)
		}
		at = ns
	}
	*e = Event{Seq: *v.Seq, At: at, Type: v.Type, Data: v.Data}
	return nil
}

// DecodeGap parses a gap signal. ok is false when b is not one, so a client can
// try it on any message: a gap signal always starts with {"gap".
func DecodeGap(b []byte) (g Gap, ok bool, err error) {
	const p = `{"gap"`
	if len(b) < len(p) || string(b[:len(p)]) != p {
		return Gap{}, false, nil
	}
	var v struct {
		Gap *Gap `json:"gap"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Gap == nil || v.Gap.From == 0 || v.Gap.To < v.Gap.From {
		return Gap{}, true, fmt.Errorf("%w: bad gap signal %q", ErrMalformed, b)
	}
	return *v.Gap, true, nil
}

func parseUint(b []byte) (v uint64, n int, ok bool) {
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		d := uint64(b[n] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, 0, false
		}
		v = v*10 + d
		n++
	}
	return v, n, n > 0 && !(n > 1 && b[0] == '0')
}

func parseInt(b []byte) (v int64, n int, ok bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, n, ok := parseUint(b)
	if !ok || u > 1<<63-1 {
		return 0, 0, false
	}
	if neg {
		return -int64(u), n + 1, true
	}
	return int64(u), n, true
}
