package contract

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
)

// Paths of the control and health endpoints.
const (
	PathHealth = "/healthz"
	PathStats  = "/stats"
	PathStart  = "/control/start"
	PathStop   = "/control/stop"
)

// ListenPrefix starts each line a server process prints on standard output
// for an address it listens on ("pushbench: listening on http://…"); the
// http line comes last and means the server is ready.
const ListenPrefix = "pushbench: listening on "

// The control token: a server listening beyond loopback requires it on
// /control/* as "Authorization: Bearer TOKEN".
const (
	TokenEnv    = "PUSHBENCH_CONTROL_TOKEN"
	TokenScheme = "Bearer"
)

// ErrRunning is a start refused because a schedule is already publishing:
// 409 Conflict on the wire.
var ErrRunning = errors.New("generator already running")

// ErrUnauthorized is a control request without the server's token: 401 on
// the wire.
var ErrUnauthorized = errors.New("control token missing or wrong")

// Defaults of a Schedule's parameters when /control/start leaves them out.
const (
	DefaultRate    = 10.0
	DefaultBurst   = 1
	DefaultPayload = 64
	// MaxPayload bounds the payload a server accepts: it keeps its history
	// of events, each encoded once and held.
	MaxPayload = 1 << 20
)

// Schedule is what POST /control/start asks for: Rate events per second in
// bursts of Burst events sharing one scheduled instant, Payload bytes of
// data each (0: empty), stopping after Count events (0: never). Event k
// (0-based) is scheduled at start + floor(k/Burst)·Burst/Rate.
type Schedule struct {
	Rate    float64
	Burst   int
	Payload int
	Count   uint64
}

// Query encodes the schedule as /control/start's query.
func (s Schedule) Query() string {
	q := url.Values{
		"rate":    {strconv.FormatFloat(s.Rate, 'g', -1, 64)},
		"burst":   {strconv.Itoa(max(s.Burst, 1))},
		"payload": {strconv.Itoa(s.Payload)},
	}
	if s.Count > 0 {
		q.Set("count", strconv.FormatUint(s.Count, 10))
	}
	return q.Encode()
}

// ParseSchedule reads /control/start's query strictly: a typo must not
// silently run a different benchmark. A missing parameter takes its default.
func ParseSchedule(rawQuery string) (Schedule, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Schedule{}, fmt.Errorf("bad query: %w", err)
	}
	s := Schedule{Rate: DefaultRate, Burst: DefaultBurst, Payload: DefaultPayload}
	for k, vs := range q {
		if len(vs) != 1 {
			return Schedule{}, fmt.Errorf("parameter %s given %d times", clip(k), len(vs))
		}
		v := vs[0]
		switch k {
		case "rate":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
				return Schedule{}, fmt.Errorf("bad rate %q: want events per second > 0", clip(v))
			}
			s.Rate = f
		case "burst":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return Schedule{}, fmt.Errorf("bad burst %q: want an integer >= 1", clip(v))
			}
			s.Burst = n
		case "payload":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > MaxPayload {
				return Schedule{}, fmt.Errorf("bad payload %q: want bytes from 0 to %d", clip(v), MaxPayload)
			}
			s.Payload = n
		case "count":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return Schedule{}, fmt.Errorf("bad count %q: want a non-negative integer (0: unbounded)", clip(v))
			}
			s.Count = n
		default:
			return Schedule{}, fmt.Errorf("unknown parameter %q: want rate, burst, payload, count", clip(k))
		}
	}
	return s, nil
}

// Started is /control/start's answer: the seq of the first event the
// schedule publishes.
type Started struct {
	First uint64 `json:"first"`
}

// Stopped is /control/stop's answer: the newest event published.
type Stopped struct {
	Head uint64 `json:"head"`
}

// clip shortens what a client sent before it is echoed in an error.
func clip(s string) string {
	const n = 40
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
