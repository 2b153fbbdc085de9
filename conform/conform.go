// Package conform checks a server against pushbench's contract
// (docs/contract.md) from the outside, as `pushbench conform URL` does: the
// health, stats and control endpoints, then every transport the server offers
// (short polling, long polling, Server-Sent Events, WebSocket), each with its
// framing, cursors, resumption, liveness signals, close codes, the gap signal,
// and an exactly-once run of a few of the load generator's clients.
//
// Check returns the results as values, one per check, and a check that
// cannot be made says why as a skip; the renderers (Report.Text and
// Report.JSON) print them. Every request is bounded in time (Options.Timeout,
// or Options.Liveness for what waits on the server's timers) and in size (the
// load generator's header and message bounds), so a hostile or broken
// endpoint makes Check fail, never hang or grow without bound.
package conform

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
)

// Defaults for Options.
const (
	// DefaultLiveness is how long Check waits for an SSE heartbeat, a
	// WebSocket ping or a long poll's 204: longer than pushbench's own 15 s
	// intervals.
	DefaultLiveness = 20 * time.Second
	// DefaultTimeout bounds each request that should be answered at once.
	DefaultTimeout = 10 * time.Second
	// DefaultHistoryCap is the most events Check publishes to find where the
	// server's history ends (pushbench keeps 16,384).
	DefaultHistoryCap = 100_000
)

// Transports are the transports Check knows, in the order it checks them:
// the HTTP paths of docs/contract.md. The TCP floor is not HTTP and is
// pushbench's own (optional), so it is not checked.
var Transports = []contract.Transport{contract.Poll, contract.LongPoll, contract.SSE, contract.WS}

// Server is the Transport of the results about the server as a whole:
// /healthz, /stats, /control and the history.
const Server = "server"

// Errors Check returns for options it cannot use.
var (
	ErrURL       = errors.New("conform: want the server's http:// or https:// base URL")
	ErrTransport = errors.New("conform: unknown transport")
)

// Options says what to check and how long to wait. Zero fields take their
// defaults.
type Options struct {
	// URL is the server's HTTP base, e.g. http://127.0.0.1:8080.
	URL string
	// Token is the control token, sent as "Authorization: Bearer TOKEN" on
	// /control/*. With one, Check also checks that the server refuses
	// /control without it.
	Token string
	// Liveness is how long to wait for an SSE heartbeat, a WebSocket ping
	// or a long poll's 204 after its hold. Defaults to DefaultLiveness.
	Liveness time.Duration
	// Timeout bounds each request that should be answered at once.
	// Defaults to DefaultTimeout.
	Timeout time.Duration
	// Transports limits the transports checked; nil means all of
	// Transports that the server offers.
	Transports []contract.Transport
	// HistoryCap is the most events published to find where the server's
	// history ends; a longer history skips the gap checks. Defaults to
	// DefaultHistoryCap.
	HistoryCap int
	// OnResult, if set, is called with every result as soon as it is known,
	// in the order of Report.Results, from the goroutine that called Check.
	OnResult func(Result)
}

func (o Options) withDefaults() (Options, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("%w, got %q", ErrURL, o.URL)
	}
	o.URL = strings.TrimSuffix(o.URL, "/")
	if o.Liveness <= 0 {
		o.Liveness = DefaultLiveness
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.HistoryCap <= 0 {
		o.HistoryCap = DefaultHistoryCap
	}
	for _, t := range o.Transports {
		if !slices.Contains(Transports, t) {
			return o, fmt.Errorf("%w %q (want %s)", ErrTransport, t, contract.Names(Transports))
		}
	}
	if o.Transports == nil {
		o.Transports = Transports
	}
	// Checked in Transports' order, whatever the order asked.
	o.Transports = slices.DeleteFunc(slices.Clone(Transports), func(t contract.Transport) bool { return !slices.Contains(o.Transports, t) })
	return o, nil
}

// Check runs every check against the server at o.URL and returns the
// results. It fails only for options it cannot use; what is wrong with the
// server is in the report. When ctx ends, Check returns what it has checked
// so far. Check publishes events on the server (a few
// short schedules, and up to HistoryCap events to find its history), and
// first stops any schedule the server is running.
func Check(ctx context.Context, o Options) (Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Report{}, err
	}
	r := newRun(o)
	defer r.close()
	if !r.server(ctx) {
		return r.report, nil
	}
	offered := r.discover(ctx)
	r.findHistory(ctx, offered)
	for _, t := range offered {
		if ctx.Err() != nil {
			// Interrupted: what was checked stands, the rest would only
			// fail for want of time.
			break
		}
		switch t {
		case contract.Poll, contract.LongPoll:
			r.poll(ctx, t)
		case contract.SSE:
			r.sse(ctx)
		case contract.WS:
			r.ws(ctx)
		}
		r.gap(ctx, t)
	}
	return r.report, nil
}

// run is one Check: its options, its HTTP client and what it has learnt of
// the server so far.
type run struct {
	o      Options
	client *http.Client
	tr     *http.Transport
	report Report

	// haveHead says /stats answered with hub.head; head is the newest event
	// as last read. canPublish says /control/start and /control/stop work.
	haveHead, canPublish bool
	head                 uint64
	// noControl says why canPublish is false, for the checks it skips.
	noControl string
	// history is the gap a fresh cursor 0 got once enough events were
	// published; historyWhy says why there is none, for the gap checks.
	history    uint64 // the last missing event at the time; 0: not found
	historyWhy string

	// payloads remembers the payload size of every schedule Check ran, so
	// that the events' data can be checked.
	mu       sync.Mutex
	payloads []payloadSpan
	// content accounts for the events each transport delivered.
	content map[contract.Transport]*content
}

func newRun(o Options) *run {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = loadgen.MaxResponseHeaderBytes
	tr.Proxy = nil // the server is checked as it answers, not through a proxy
	return &run{
		o:       o,
		tr:      tr,
		client:  &http.Client{Transport: tr, CheckRedirect: noRedirects},
		report:  Report{URL: o.URL},
		content: map[contract.Transport]*content{},
		// Until the control checks have run.
		noControl: noControlPrefix,
	}
}

// noRedirects makes a redirect an answer like any other: the contract has
// none, and a check names what it got.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (r *run) close() { r.tr.CloseIdleConnections() }

// add records a result.
func (r *run) add(t, check string, s Status, why string) {
	res := Result{Transport: t, Check: check, Status: s, Why: why}
	r.report.Results = append(r.report.Results, res)
	if r.o.OnResult != nil {
		r.o.OnResult(res)
	}
}

func (r *run) pass(t, check, why string) { r.add(t, check, Pass, why) }
func (r *run) fail(t, check, why string) { r.add(t, check, Fail, why) }
func (r *run) skip(t, check, why string) { r.add(t, check, Skip, why) }

// verdict records a check that passes when why is empty.
func (r *run) verdict(t, check string, whys []string) {
	if len(whys) == 0 {
		r.pass(t, check, "")
		return
	}
	r.fail(t, check, strings.Join(whys, "; "))
}

// needPublish records check as skipped, and reports false, when Check cannot
// publish events.
func (r *run) needPublish(t, check string) bool {
	if !r.canPublish {
		r.skip(t, check, r.noControl)
	}
	return r.canPublish
}

// needHead records check as skipped, and reports false, without /stats'
// hub.head.
func (r *run) needHead(t, check string) bool {
	if !r.haveHead {
		r.skip(t, check, "needs /stats hub.head, which the server does not give")
	}
	return r.haveHead
}

// discover finds the transports the server offers among those asked for: a
// path answered 404 is not offered. The probe carries a bad cursor, which a
// transport answers at once, where a good one may hold (long polling) or
// stream.
func (r *run) discover(ctx context.Context) []contract.Transport {
	var offered []contract.Transport
	for _, t := range r.o.Transports {
		a, err := r.get(ctx, t.Path(), "after=abc", nil, r.o.Timeout)
		switch {
		case err != nil:
			r.fail(string(t), "offered", err.Error())
		case a.status == http.StatusNotFound:
			r.skip(string(t), "offered", fmt.Sprintf("GET %s answered 404: not offered, not checked", t.Path()))
		default:
			offered = append(offered, t)
		}
	}
	return offered
}
