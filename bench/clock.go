package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/pushbench/pushbench/results"
)

// Clock estimation. Events carry the server's clock and arrivals the load
// generator's, so on two hosts latency includes their offset. Every Go HTTP
// answer carries a Date header: the server's clock, in whole seconds, read
// while the request was in flight. A probe that sees the second change has
// caught the server's clock at a round second between two requests, so the
// offset lies in a known interval; aiming the next probes at the next round
// second narrows it to about one round trip. No server change is needed, and
// the error bound is strict, not statistical.

// Defaults for EstimateClock.
const (
	// DefaultClockRounds is how many second boundaries are caught; each
	// costs a second, and their intervals are intersected.
	DefaultClockRounds = 3
	// clockSpacing is the pause between probes while the boundary is not
	// yet located.
	clockSpacing = 10 * time.Millisecond
)

// ErrClockStepped is a clock estimate whose intervals do not intersect: one
// of the clocks stepped while it ran, or the server stamps its Date outside
// the request.
var ErrClockStepped = errors.New("loadgen: clock intervals disagree")

// clockProbe is one request: when it left, when its answer arrived (this
// host's clock) and the server's Date.
type clockProbe struct {
	sent, recv time.Time
	date       time.Time
}

func probeDate(ctx context.Context, client *http.Client, url string) (clockProbe, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return clockProbe{}, err
	}
	p := clockProbe{sent: time.Now()}
	resp, err := client.Do(req)
	if err != nil {
		return clockProbe{}, err
	}
	p.recv = time.Now()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if err != nil {
		return clockProbe{}, err
	}
	if p.date, err = http.ParseTime(resp.Header.Get("Date")); err != nil {
		return clockProbe{}, fmt.Errorf("server's Date header: %w", err)
	}
	return p, nil
}

// EstimateClock estimates how far the clock of the pushbench server at base
// is ahead of this host's, from its /healthz answers' Date headers. A nil
// client means http.DefaultClient. It takes about DefaultClockRounds
// seconds.
func EstimateClock(ctx context.Context, base string, client *http.Client) (results.Clock, error) {
	if client == nil {
		client = http.DefaultClient
	}
	url := base + "/healthz"
	ctx, cancel := context.WithTimeout(ctx, time.Duration(DefaultClockRounds+3)*time.Second)
	defer cancel()
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64) // offset interval, ns
	prev, err := probeDate(ctx, client, url)
	if err != nil {
		return results.Clock{}, err
	}
	for rounds := 0; rounds < DefaultClockRounds; {
		cur, err := probeDate(ctx, client, url)
		if err != nil {
			return results.Clock{}, err
		}
		if cur.date.After(prev.date) {
			// The server's clock read cur.date (a round second) after it
			// stamped prev and before it stamped cur: in this host's time,
			// somewhere in [prev.sent, cur.recv].
			edge := cur.date.UnixNano()
			lo = max(lo, edge-cur.recv.UnixNano())
			hi = min(hi, edge-prev.sent.UnixNano())
			if lo > hi {
				return results.Clock{}, fmt.Errorf("%w: [%d, %d] ns", ErrClockStepped, lo, hi)
			}
			rounds++
		}
		prev = cur
		if rounds == DefaultClockRounds {
			break
		}
		wait := clockSpacing // still looking for the first boundary
		if rounds > 0 {
			// Aim at the next round second: sleep until just before the
			// earliest this host could see it, then probe back to back.
			next := time.Unix(0, prev.date.Add(time.Second).UnixNano()-hi)
			margin := time.Duration(hi-lo) + 2*cur.recv.Sub(cur.sent) + time.Millisecond
			wait = time.Until(next) - margin
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return results.Clock{}, err
		}
	}
	return results.Clock{
		OffsetNS: lo + (hi-lo)/2,
		ErrorNS:  (hi - lo + 1) / 2,
		Method: fmt.Sprintf("the server's HTTP Date header caught at %d round seconds, each between two requests whose send and receive times bound it; their intervals intersected",
			DefaultClockRounds),
	}, nil
}
