package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// StampUnit is the unit of the send time a message carries in a JSON field
// (EndpointConfig.StampField): a count of seconds, milliseconds,
// microseconds or nanoseconds since the Unix epoch.
type StampUnit int32

// Stamp units. StampAuto detects the unit from the first stamp's magnitude
// (DetectStampUnit) and keeps it for the rest of the run.
const (
	StampAuto StampUnit = iota
	StampS
	StampMS
	StampUS
	StampNS
)

// ErrStampUnit is a unit ParseStampUnit does not know.
var ErrStampUnit = errors.New("loadgen: unknown timestamp unit")

var stampNames = [...]string{"auto", "s", "ms", "us", "ns"}

// stampScale is nanoseconds per unit.
var stampScale = [...]int64{0, 1e9, 1e6, 1e3, 1}

func (u StampUnit) String() string {
	if u < 0 || int(u) >= len(stampNames) {
		return "unknown"
	}
	return stampNames[u]
}

// ParseStampUnit reads a unit as the command line spells it: ns, us (or
// µs), ms, s, or auto ("" too).
func ParseStampUnit(s string) (StampUnit, error) {
	switch s {
	case "", "auto":
		return StampAuto, nil
	case "s":
		return StampS, nil
	case "ms":
		return StampMS, nil
	case "us", "µs":
		return StampUS, nil
	case "ns":
		return StampNS, nil
	}
	return StampAuto, fmt.Errorf("%w %q (want ns, us, ms, s or auto)", ErrStampUnit, s)
}

// DetectStampUnit is the unit a Unix timestamp of magnitude v is most
// likely in. Now is about 1.8e9 s, 1.8e12 ms, 1.8e15 µs and 1.8e18 ns; each
// unit is a thousand times the next, so the bounds sit between them and no
// time from 1973 to the year 5000 is ambiguous. A stamp that does not count
// from the Unix epoch (a process's uptime, say) is misread: name its unit,
// and expect its latency to mean nothing.
func DetectStampUnit(v float64) StampUnit {
	switch a := math.Abs(v); {
	case a < 1e11:
		return StampS
	case a < 1e14:
		return StampMS
	case a < 1e17:
		return StampUS
	default:
		return StampNS
	}
}

// stamp is a number read from a message: exact when it was an integer.
type stamp struct {
	i     int64
	f     float64
	exact bool // i holds it; otherwise f does
}

func (s stamp) float() float64 {
	if s.exact {
		return float64(s.i)
	}
	return s.f
}

// ns is the stamp in Unix nanoseconds, read in unit u (not StampAuto); ok
// is false when that is out of int64's range.
func (s stamp) ns(u StampUnit) (int64, bool) {
	scale := stampScale[u]
	if s.exact {
		if s.i > math.MaxInt64/scale || s.i < math.MinInt64/scale {
			return 0, false
		}
		return s.i * scale, true
	}
	f := s.f * float64(scale)
	if math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}

// scanStamp finds the member named field at the top level of the JSON
// object msg and reads its value, a number or a string holding one. It
// decodes nothing else: other members are skipped over by their brackets
// and quotes, not parsed, so a message costs a pass over its bytes and no
// allocation (a fractional stamp costs strconv's). A member name written
// with escapes is not matched. ok is false for a message that is not an
// object, has no such member, or whose value is not a number.
func scanStamp(msg []byte, field string) (s stamp, ok bool) {
	i := skipSpace(msg, 0)
	if i == len(msg) || msg[i] != '{' {
		return s, false
	}
	i++
	for {
		i = skipSpace(msg, i)
		if i == len(msg) || msg[i] != '"' {
			return s, false // the end of the object, or not JSON
		}
		end, escaped := skipString(msg, i)
		if end < 0 {
			return s, false
		}
		key := msg[i+1 : end-1]
		i = skipSpace(msg, end)
		if i == len(msg) || msg[i] != ':' {
			return s, false
		}
		i = skipSpace(msg, i+1)
		if !escaped && string(key) == field {
			return readStamp(msg[i:])
		}
		if i = skipValue(msg, i); i < 0 {
			return s, false
		}
		i = skipSpace(msg, i)
		if i == len(msg) || msg[i] != ',' {
			return s, false
		}
		i++
	}
}

// readStamp reads the number at the start of b, or inside the string
// there.
func readStamp(b []byte) (s stamp, ok bool) {
	if len(b) > 0 && b[0] == '"' {
		end, escaped := skipString(b, 0)
		if end < 0 || escaped {
			return s, false
		}
		return parseStamp(b[1 : end-1])
	}
	n := 0
	for n < len(b) && isNumberByte(b[n]) {
		n++
	}
	return parseStamp(b[:n])
}

// parseStamp parses a whole JSON number; integers of up to 18 digits
// without allocating.
func parseStamp(b []byte) (s stamp, ok bool) {
	if len(b) == 0 {
		return s, false
	}
	neg := b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) > 0 && len(digits) <= 18 {
		var v int64
		for _, c := range digits {
			if c < '0' || c > '9' {
				v = -1
				break
			}
			v = v*10 + int64(c-'0')
		}
		if v >= 0 {
			if neg {
				v = -v
			}
			return stamp{i: v, exact: true}, true
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return s, false
	}
	return stamp{f: f}, true
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] (a
// quote), or -1 if it does not end, and whether it holds an escape.
func skipString(b []byte, i int) (end int, escaped bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped
		}
	}
	return -1, escaped
}

// skipValue returns the index just past the value starting at b[i], or -1
// if it does not end. Objects and arrays are skipped by counting brackets
// outside strings; anything else runs to the next delimiter.
func skipValue(b []byte, i int) int {
	if i == len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := skipString(b, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, _ := skipString(b, i)
				if end < 0 {
					return -1
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' &&
		b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}
