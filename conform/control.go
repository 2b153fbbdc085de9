package conform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
)

// Control-endpoint check names.
const (
	checkHealth     = "GET /healthz answers 200"
	checkStats      = "GET /stats answers 200 JSON with hub.head"
	checkSays       = "/stats says what it is (informational)"
	checkToken      = "/control without the token answers 401 with WWW-Authenticate: Bearer"
	checkUnknown    = "POST /control/start refuses an unknown parameter with 400"
	checkBadValues  = "POST /control/start refuses bad and repeated values with 400"
	checkStart      = `POST /control/start answers {"first": head+1}`
	checkConflict   = "POST /control/start while a schedule runs answers 409"
	checkStop       = `POST /control/stop answers {"head": N}`
	checkHistory    = "history found by publishing until cursor 0 gets a gap"
	noControlPrefix = "needs /control/start and /control/stop"
)

// server checks /healthz, /stats and /control, and learns whether Check can
// publish. It stops any schedule already running first, so that the checks
// that want a silent stream get one. It reports false for a server that
// cannot be reached.
func (r *run) server(ctx context.Context) bool {
	if !r.health(ctx) {
		return false
	}
	r.stats(ctx)
	if r.token(ctx) {
		r.strictStart(ctx)
		r.startStop(ctx)
	}
	return true
}

// health checks /healthz, and reports false when the server cannot be
// reached at all: nothing else could be checked.
func (r *run) health(ctx context.Context) bool {
	a, err := r.get(ctx, contract.PathHealth, "", nil, r.o.Timeout)
	var oe *net.OpError
	switch {
	case err != nil && errors.As(err, &oe) && oe.Op == "dial":
		r.fail(Server, checkHealth, "the server cannot be reached: "+err.Error())
		return false
	case err != nil:
		r.fail(Server, checkHealth, err.Error())
	case a.status != http.StatusOK:
		r.fail(Server, checkHealth, "got "+a.String())
	default:
		r.pass(Server, checkHealth, "")
	}
	return true
}

// statsAnswer is what /stats must say, with the required field a pointer so
// that its absence shows. The optional parts are contract.Stats's.
type statsAnswer struct {
	Contract       int                           `json:"contract"`
	Implementation map[contract.Transport]string `json:"implementation"`
	Hub            struct {
		Head *uint64 `json:"head"`
	} `json:"hub"`
}

// readHead reads hub.head from /stats.
func (r *run) readHead(ctx context.Context) (uint64, statsAnswer, error) {
	var s statsAnswer
	a, err := r.get(ctx, contract.PathStats, "", nil, r.o.Timeout)
	if err != nil {
		return 0, s, err
	}
	if a.status != http.StatusOK {
		return 0, s, fmt.Errorf("got %s", a)
	}
	if mt := a.mediaType(); mt != "application/json" {
		return 0, s, fmt.Errorf("Content-Type %q, want application/json", mt)
	}
	if err := json.Unmarshal(a.body, &s); err != nil {
		return 0, s, fmt.Errorf("not JSON: %v", err)
	}
	if s.Hub.Head == nil {
		return 0, s, fmt.Errorf("no hub.head (required) in %s", quote(a.body))
	}
	return *s.Hub.Head, s, nil
}

// refreshHead reads the head again; it has been read once already.
func (r *run) refreshHead(ctx context.Context) error {
	h, _, err := r.readHead(ctx)
	if err != nil {
		return fmt.Errorf("GET /stats: %w", err)
	}
	r.head = h
	return nil
}

func (r *run) stats(ctx context.Context) {
	head, s, err := r.readHead(ctx)
	if err != nil {
		r.fail(Server, checkStats, err.Error())
		r.skip(Server, checkSays, "no /stats")
		return
	}
	r.haveHead, r.head = true, head
	r.pass(Server, checkStats, "head "+strconv.FormatUint(head, 10))
	var says []string
	if s.Contract != 0 {
		says = append(says, "contract "+strconv.Itoa(s.Contract))
	}
	if len(s.Implementation) > 0 {
		var impls []string
		for _, t := range slices.SortedFunc(maps.Keys(s.Implementation), contract.Order) {
			impls = append(impls, string(t)+"="+s.Implementation[t])
		}
		says = append(says, "implementation "+strings.Join(impls, " "))
	}
	if len(says) == 0 {
		r.skip(Server, checkSays, "optional: neither contract nor implementation given")
		return
	}
	r.pass(Server, checkSays, strings.Join(says, ", "))
}

// token checks the control token and stops any running schedule. It
// reports whether /control can be used at all.
func (r *run) token(ctx context.Context) bool {
	if r.o.Token != "" {
		var whys []string
		for _, h := range []struct{ name, value string }{{"no token", ""}, {"a wrong token", contract.TokenScheme + " conform-wrong-" + r.o.Token}} {
			var hdr http.Header
			if h.value != "" {
				hdr = http.Header{"Authorization": {h.value}}
			}
			// Stop is the probe: a server that wrongly accepts it only
			// stops a schedule, which the checks below do anyway.
			a, err := r.request(ctx, http.MethodPost, contract.PathStop, "", hdr, r.o.Timeout)
			scheme, _, _ := strings.Cut(strings.TrimSpace(a.header.Get("WWW-Authenticate")), " ")
			switch {
			case err != nil:
				whys = append(whys, fmt.Sprintf("with %s: %v", h.name, err))
			case a.status != http.StatusUnauthorized:
				whys = append(whys, fmt.Sprintf("POST /control/stop with %s: got %s, want 401", h.name, a))
			case !strings.EqualFold(scheme, contract.TokenScheme):
				whys = append(whys, fmt.Sprintf("POST /control/stop with %s: 401 with WWW-Authenticate %q, want %s", h.name, a.header.Get("WWW-Authenticate"), contract.TokenScheme))
			}
		}
		r.verdict(Server, checkToken, whys)
	}
	// The stop also leaves the server silent for the checks that want it so.
	a, err := r.control(ctx, contract.PathStop, "", true)
	var why string
	switch {
	case err != nil:
		why = err.Error()
	case a.status == http.StatusUnauthorized && r.o.Token == "":
		r.fail(Server, checkToken, "POST /control/stop answered 401: the server requires a control token; give --control-token or $"+contract.TokenEnv)
		r.noControl = noControlPrefix + ", which want a control token"
		for _, c := range controlChecks {
			r.skip(Server, c, r.noControl)
		}
		return false
	case a.status == http.StatusUnauthorized:
		why = "the server refuses the token given: " + a.String()
	case a.status != http.StatusOK:
		why = "no working /control (required): POST /control/stop answered " + a.String()
	default:
		if r.o.Token == "" {
			r.skip(Server, checkToken, "no token given, and the server asks for none (it must beyond loopback)")
		}
		return true
	}
	r.noControl = noControlPrefix + "; " + why
	for _, c := range controlChecks {
		r.fail(Server, c, why)
	}
	return false
}

// controlChecks are the checks that need a working /control.
var controlChecks = []string{checkUnknown, checkBadValues, checkStart, checkConflict, checkStop}

// strictStart checks that /control/start refuses what it does not
// understand. A start it wrongly accepts is stopped at once.
func (r *run) strictStart(ctx context.Context) {
	refused := func(query string) string {
		a, err := r.control(ctx, contract.PathStart, query, true)
		if err != nil {
			return fmt.Sprintf("%s: %v", query, err)
		}
		if a.status == http.StatusOK {
			if _, err := r.control(ctx, contract.PathStop, "", true); err != nil {
				return fmt.Sprintf("%s: started a schedule (%s), and the stop that followed failed: %v", query, a, err)
			}
		}
		if a.status != http.StatusBadRequest {
			return fmt.Sprintf("%s: got %s, want 400", query, a)
		}
		return ""
	}
	if why := refused("colour=red"); why != "" {
		r.fail(Server, checkUnknown, why)
	} else {
		r.pass(Server, checkUnknown, "")
	}
	var whys []string
	for _, q := range []string{"rate=0", "rate=fast", "burst=0", "payload=-1", "payload=1048577", "count=-1", "rate=1&rate=2"} {
		if why := refused(q); why != "" {
			whys = append(whys, why)
		}
	}
	r.verdict(Server, checkBadValues, whys)
}

// startStop checks start, 409 and stop on a slow schedule, and decides
// whether Check can publish.
func (r *run) startStop(ctx context.Context) {
	before, _, err := r.readHead(ctx)
	if err != nil {
		r.haveHead = false
		r.noControl = noControlPrefix + " and /stats hub.head"
		for _, c := range []string{checkStart, checkConflict, checkStop} {
			r.skip(Server, c, r.noControl)
		}
		return
	}
	sch := contract.Schedule{Rate: 1, Burst: 1, Payload: 16}
	first, err := r.start(ctx, sch)
	if err != nil {
		r.noControl = noControlPrefix + "; POST /control/start failed"
		r.fail(Server, checkStart, err.Error())
		r.skip(Server, checkConflict, "no schedule started")
		r.skip(Server, checkStop, "no schedule started")
		return
	}
	if first != before+1 {
		r.fail(Server, checkStart, fmt.Sprintf("first %d with head %d, want %d", first, before, before+1))
	} else {
		r.pass(Server, checkStart, "")
	}
	a, err := r.control(ctx, contract.PathStart, sch.Query(), true)
	switch {
	case err != nil:
		r.fail(Server, checkConflict, err.Error())
	case a.status != http.StatusConflict:
		r.fail(Server, checkConflict, "got "+a.String())
	default:
		r.pass(Server, checkConflict, "")
	}
	head, err := r.stop(ctx)
	if err != nil {
		r.noControl = noControlPrefix + "; POST /control/stop failed"
		r.fail(Server, checkStop, err.Error())
		return
	}
	after, _, err := r.readHead(ctx)
	switch {
	case err != nil:
		r.fail(Server, checkStop, "GET /stats after the stop: "+err.Error())
	case head != after:
		r.fail(Server, checkStop, fmt.Sprintf("head %d, but /stats says %d after the stop", head, after))
	case head < before:
		r.fail(Server, checkStop, fmt.Sprintf("head %d, below the %d before the start", head, before))
	default:
		r.pass(Server, checkStop, "")
	}
	if head >= first {
		r.notePayload(first, head-first+1, sch.Payload)
	}
	r.head = after
	r.canPublish = err == nil && first == before+1
	if !r.canPublish {
		r.noControl = noControlPrefix + " to answer as the contract says"
	}
}

// start starts a schedule and returns the first event it publishes.
func (r *run) start(ctx context.Context, s contract.Schedule) (uint64, error) {
	a, err := r.control(ctx, contract.PathStart, s.Query(), true)
	if err != nil {
		return 0, err
	}
	if a.status != http.StatusOK {
		return 0, fmt.Errorf("POST /control/start?%s: got %s", s.Query(), a)
	}
	var v struct {
		First *uint64 `json:"first"`
	}
	if err := json.Unmarshal(a.body, &v); err != nil || v.First == nil {
		return 0, fmt.Errorf(`POST /control/start: answer %s, want {"first":SEQ}`, quote(a.body))
	}
	return *v.First, nil
}

// stop stops the schedule and returns the head.
func (r *run) stop(ctx context.Context) (uint64, error) {
	a, err := r.control(ctx, contract.PathStop, "", true)
	if err != nil {
		return 0, err
	}
	if a.status != http.StatusOK {
		return 0, fmt.Errorf("POST /control/stop: got %s", a)
	}
	var v struct {
		Head *uint64 `json:"head"`
	}
	if err := json.Unmarshal(a.body, &v); err != nil || v.Head == nil {
		return 0, fmt.Errorf(`POST /control/stop: answer %s, want {"head":SEQ}`, quote(a.body))
	}
	return *v.Head, nil
}

// errStalled is a schedule that did not publish all its events in time.
var errStalled = errors.New("schedule stalled")

// publish runs a schedule of s.Count events to its end and returns the
// first and last seq published; r.head follows.
func (r *run) publish(ctx context.Context, s contract.Schedule) (first, last uint64, err error) {
	first, err = r.start(ctx, s)
	if err != nil {
		return 0, 0, err
	}
	r.notePayload(first, s.Count, s.Payload)
	want := first + s.Count - 1
	// The schedule's own length, twice, and a request timeout on top.
	bound := 2*time.Duration(float64(s.Count)/s.Rate*float64(time.Second)) + r.o.Timeout
	deadline := time.Now().Add(bound)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		h, _, err := r.readHead(ctx)
		if err != nil {
			err = fmt.Errorf("GET /stats while publishing: %w", err)
			_, serr := r.stop(ctx)
			return first, 0, errors.Join(err, serr)
		}
		if h >= want || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return first, 0, ctx.Err()
		case <-tick.C:
		}
	}
	last, err = r.stop(ctx)
	if err != nil {
		return first, 0, err
	}
	r.head = last
	if last < want {
		return first, last, fmt.Errorf("%w: %d events published by %d, want %d (up to %d) within %v", errStalled, last-first+1, last, s.Count, want, bound)
	}
	return first, last, nil
}

// payloadSpan is the payload size of the events from..to of one schedule;
// to 0 means it ran until stopped.
type payloadSpan struct {
	from, to uint64
	size     int
}

func (r *run) notePayload(first, count uint64, size int) {
	to := uint64(0)
	if count > 0 {
		to = first + count - 1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.payloads = append(r.payloads, payloadSpan{first, to, size})
}

// payloadOf is the payload size of event seq, if Check published it.
func (r *run) payloadOf(seq uint64) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range slices.Backward(r.payloads) {
		if seq >= p.from && (p.to == 0 || seq <= p.to) {
			return p.size, true
		}
	}
	return 0, false
}
