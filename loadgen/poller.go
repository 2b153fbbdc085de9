package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pushbench/pushbench/event"
)

// Poller follows the /poll protocol (see package servers) from a cursor, as a
// page's fetch loop does, and hands every gap signal and event to its
// callbacks. It asks for the events after its cursor; an answer that says more
// are waiting is followed at once, any other (a 204 No Content included)
// after Options.PollInterval. The cursor moves to each answer's "next".
//
// It is one follower, for a person to watch (pushbench tail), not one of
// thousands: where the load generator's polling client checks a server and
// counts what it gets wrong, a Poller trusts the answers it can read and gives
// up on one it cannot, and it goes through net/http, proxies from the
// environment included.
type Poller struct {
	// URL is the http or https URL polled. Every poll sets its after
	// parameter to the cursor and keeps the rest of the query.
	URL string
	// After is the first cursor: the first poll asks for the events after it.
	After uint64
	// Options supplies PollInterval, ReadTimeout (the bound of one poll, its
	// answer read in full) and Dial; nil means defaults.
	Options *Options
	// TLSConfig is used for https URLs; nil means the system's roots.
	TLSConfig *tls.Config
	// OnGap, if set, is called with an answer's gap signal, before its
	// events. An error ends Run, which returns it.
	OnGap func(g event.Gap) error
	// OnEvent, if set, is called with every event, decoded and as it came
	// (raw, valid only during the call). An error ends Run, which returns it.
	OnEvent func(e event.Event, raw []byte) error
	// OnRetry, if set, is called when a poll fails in a way the Poller
	// retries (a network error, a header over MaxResponseHeaderBytes, a 5xx
	// answer), with what failed and the delay before the next poll.
	OnRetry func(err error, delay time.Duration)
}

// Run polls until ctx ends, and then returns nil. It returns an error,
// without polling again, for a URL that is not http or https (ErrPollURL),
// an answer with a 4xx or any status the protocol never sends
// (ErrPollRejected), one longer than MaxPollBody (ErrPollTooLong), a 200
// answer that is not the protocol's or holds something that is not an event,
// or an error from OnGap or OnEvent. No goroutine it starts outlives it.
func (p *Poller) Run(ctx context.Context) error {
	base, err := url.Parse(p.URL)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPollURL, err)
	}
	if (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("%w: %q", ErrPollURL, base.Redacted())
	}
	o := p.Options.WithDefaults()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = o.Dial
	tr.MaxResponseHeaderBytes = MaxResponseHeaderBytes
	if p.TLSConfig != nil {
		tr.TLSClientConfig = p.TLSConfig
	}
	defer tr.CloseIdleConnections()
	f := pollFollower{p: p, client: &http.Client{Transport: tr, Timeout: o.ReadTimeout}}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	cursor := p.After
	for {
		u := *base
		q := u.Query()
		q.Set("after", strconv.FormatUint(cursor, 10))
		u.RawQuery = q.Encode()
		more, next, err := f.poll(ctx, &u)
		var retry pollRetry
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &retry):
			if p.OnRetry != nil {
				p.OnRetry(retry.err, o.PollInterval)
			}
		case err != nil:
			return err
		default:
			cursor = max(cursor, next)
			if more {
				continue
			}
		}
		if !pauseCtx(ctx, timer, o.PollInterval) {
			return nil
		}
	}
}

// pollRetry marks a failed poll that a later one may not meet.
type pollRetry struct{ err error }

func (e pollRetry) Error() string { return e.err.Error() }
func (e pollRetry) Unwrap() error { return e.err }

// pollFollower is a Poller's state while it runs.
type pollFollower struct {
	p      *Poller
	client *http.Client
	body   []byte // the one body buffer, reused across polls
	ans    pollAnswer
}

// poll makes one request and hands over what its answer brings. more and next
// are the answer's; a 204 has neither.
func (f *pollFollower) poll(ctx context.Context, u *url.URL) (more bool, next uint64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, 0, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return false, 0, pollRetry{err}
	}
	f.body, err = readPollBody(f.body, resp)
	if errors.Is(err, ErrPollTooLong) {
		return false, 0, fmt.Errorf("%w (from %s)", err, u.Redacted())
	}
	if err != nil {
		return false, 0, pollRetry{fmt.Errorf("read answer from %s: %w", u.Redacted(), err)}
	}
	switch code := resp.StatusCode; {
	case code == http.StatusNoContent:
		return false, 0, nil
	case code == http.StatusOK:
	case code >= 500:
		return false, 0, pollRetry{fmt.Errorf("%w: %s from %s", errServerStatus, resp.Status, u.Redacted())}
	default:
		return false, 0, fmt.Errorf("%w: %s from %s: %q", ErrPollRejected, resp.Status, u.Redacted(), bytes.TrimSpace(f.body[:min(len(f.body), 512)]))
	}
	a := &f.ans
	defer clear(a.events) // sub-slices of the body, which the next poll reuses
	if err := a.parse(f.body); err != nil {
		return false, 0, fmt.Errorf("%w from %s", err, u.Redacted())
	}
	if a.hasGap && f.p.OnGap != nil {
		if err := f.p.OnGap(a.gap); err != nil {
			return false, 0, err
		}
	}
	for _, raw := range a.events {
		var e event.Event
		if err := event.Decode(raw, &e); err != nil {
			return false, 0, fmt.Errorf("%w from %s: %w", errBadAnswer, u.Redacted(), err)
		}
		if f.p.OnEvent != nil {
			if err := f.p.OnEvent(e, raw); err != nil {
				return false, 0, err
			}
		}
	}
	return a.more, a.next, nil
}
