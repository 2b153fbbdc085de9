package conform

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/loadgen"
)

// Polling check names.
const (
	checkNoContent = "nothing new is answered 204 with an empty body"
	checkAnswer    = `after=C is answered 200 application/json, no-store, {"events":[C+1…],"next":last seq,"more":false}`
	checkHead      = "HEAD is answered as GET (200, 204)"
	checkHeld      = "nothing new is held, and answered with the event published meanwhile"
	checkHold      = "nothing new is answered 204 after the hold"
)

// heldProbe is how long a long poll with nothing new must stay unanswered
// before Check publishes: it shows that the request is held rather than
// answered at once. Not a measurement: the check is about order.
const heldProbe = 100 * time.Millisecond

// answerEvents is how many events the answer and resume checks ask for.
const answerEvents = 5

// poll checks short or long polling.
func (r *run) poll(ctx context.Context, t contract.Transport) {
	r.refuseBadCursors(ctx, t)
	if t == contract.Poll {
		r.noContent(ctx)
	} else {
		r.held(ctx)
		r.hold(ctx)
	}
	r.delivery(ctx, t)
	r.answer(ctx, t)
	if t == contract.Poll {
		r.headMethod(ctx)
	}
	r.reportContent(t)
}

// pollBody is a 200 poll answer. The fields the contract requires are
// pointers, so that their absence shows.
type pollBody struct {
	Events *[]json.RawMessage `json:"events"`
	Next   *uint64            `json:"next"`
	More   *bool              `json:"more"`
	Gap    *event.Gap         `json:"gap"`
}

// parse reads a 200 poll answer into items, gap first.
func (p *pollBody) parse(body []byte) ([]item, error) {
	if err := json.Unmarshal(body, p); err != nil {
		return nil, fmt.Errorf("answer %s is not JSON: %v", quote(body), err)
	}
	if p.Events == nil || p.Next == nil || p.More == nil {
		return nil, fmt.Errorf(`answer %s lacks events, next or more`, quote(body))
	}
	var items []item
	if p.Gap != nil {
		items = append(items, item{gap: p.Gap})
	}
	for _, e := range *p.Events {
		items = append(items, newItem(e))
	}
	return items, nil
}

// pollRead asks transport t for the events after cursor, which must be
// older than the head (a long poll would hold otherwise), and feeds them to
// the transport's content checks.
func (r *run) pollRead(ctx context.Context, t contract.Transport, cursor uint64) ([]item, pollBody, answer, error) {
	var p pollBody
	a, err := r.get(ctx, t.Path(), after(cursor), nil, r.o.Timeout)
	if err != nil {
		return nil, p, a, err
	}
	if a.status != http.StatusOK {
		return nil, p, a, fmt.Errorf("GET %s?%s: got %s", t.Path(), after(cursor), a)
	}
	items, err := p.parse(a.body)
	if err != nil {
		return nil, p, a, fmt.Errorf("GET %s?%s: %w", t.Path(), after(cursor), err)
	}
	c := r.contentOf(t)
	for _, it := range items {
		if it.gap == nil {
			c.observe(it.raw)
		}
	}
	return items, p, a, nil
}

// noContent checks the short poll's 204.
func (r *run) noContent(ctx context.Context) {
	const t = contract.Poll
	if !r.needHead(string(t), checkNoContent) {
		return
	}
	if err := r.refreshHead(ctx); err != nil {
		r.fail(string(t), checkNoContent, err.Error())
		return
	}
	a, err := r.get(ctx, t.Path(), after(r.head), nil, r.o.Timeout)
	switch {
	case err != nil:
		r.fail(string(t), checkNoContent, err.Error())
	case a.status == http.StatusOK && !r.canPublish:
		r.skip(string(t), checkNoContent, fmt.Sprintf("%s with head %d: got %s: the server publishes on its own, and /control could not stop it", after(r.head), r.head, a))
	case a.status != http.StatusNoContent || len(a.body) > 0:
		r.fail(string(t), checkNoContent, fmt.Sprintf("%s with head %d: got %s", after(r.head), r.head, a))
	default:
		r.pass(string(t), checkNoContent, "")
	}
}

// answer checks a 200 answer from a cursor a few events behind the head.
func (r *run) answer(ctx context.Context, t contract.Transport) {
	cursor, ok := r.recentCursor(ctx, string(t), checkAnswer)
	if !ok {
		return
	}
	items, p, a, err := r.pollRead(ctx, t, cursor)
	if err != nil {
		r.fail(string(t), checkAnswer, err.Error())
		return
	}
	var whys []string
	if mt := a.mediaType(); mt != "application/json" {
		whys = append(whys, fmt.Sprintf("Content-Type %q", mt))
	}
	if cc := a.header.Get("Cache-Control"); !hasDirective(cc, "no-store") {
		whys = append(whys, fmt.Sprintf("Cache-Control %q, want no-store", cc))
	}
	if why := consecutive(items, cursor, r.head); why != "" {
		whys = append(whys, fmt.Sprintf("%s: %s", after(cursor), why))
	}
	if *p.Next != r.head {
		whys = append(whys, fmt.Sprintf("%s: next %d, want %d (the last event's seq)", after(cursor), *p.Next, r.head))
	}
	if *p.More {
		whys = append(whys, fmt.Sprintf("%s: more is true with every event up to the head %d given", after(cursor), r.head))
	}
	r.verdict(string(t), checkAnswer, whys)
}

// recentCursor is a cursor answerEvents behind the head (fewer if the
// history is shorter), or false, having said why, without one.
func (r *run) recentCursor(ctx context.Context, t, check string) (uint64, bool) {
	if !r.needHead(t, check) {
		return 0, false
	}
	if err := r.refreshHead(ctx); err != nil {
		r.fail(t, check, err.Error())
		return 0, false
	}
	if r.head == 0 {
		r.skip(t, check, "no events on the server, and none published")
		return 0, false
	}
	return r.head - min(answerEvents, r.head), true
}

// consecutive checks that items are the events cursor+1..head, in order,
// without a gap signal.
func consecutive(items []item, cursor, head uint64) string {
	if uint64(len(items)) != head-cursor {
		return fmt.Sprintf("got %s, want events %d..%d", describe(items), cursor+1, head)
	}
	for i, it := range items {
		if it.seq != cursor+1+uint64(i) {
			return fmt.Sprintf("got %s, want events %d..%d", describe(items), cursor+1, head)
		}
	}
	return ""
}

// headMethod checks HEAD /poll.
func (r *run) headMethod(ctx context.Context) {
	const t = contract.Poll
	if !r.needHead(string(t), checkHead) {
		return
	}
	if r.head == 0 {
		r.skip(string(t), checkHead, "no events on the server, and none published")
		return
	}
	var whys []string
	for _, c := range []struct {
		cursor uint64
		want   int
	}{{r.head - 1, http.StatusOK}, {r.head, http.StatusNoContent}} {
		a, err := r.request(ctx, http.MethodHead, t.Path(), after(c.cursor), nil, r.o.Timeout)
		switch {
		case err != nil:
			whys = append(whys, fmt.Sprintf("HEAD %s?%s: %v", t.Path(), after(c.cursor), err))
		case a.status != c.want:
			whys = append(whys, fmt.Sprintf("HEAD %s?%s: got %s, want %d", t.Path(), after(c.cursor), a, c.want))
		}
	}
	r.verdict(string(t), checkHead, whys)
}

// held checks that a long poll with nothing new waits for the next event:
// the request is sent, seen unanswered for heldProbe, and only then is an
// event published, which the answer must carry.
func (r *run) held(ctx context.Context) {
	const t = contract.LongPoll
	if !r.needPublish(string(t), checkHeld) {
		return
	}
	if err := r.refreshHead(ctx); err != nil {
		r.fail(string(t), checkHeld, err.Error())
		return
	}
	want := r.head + 1
	conn, br, req, err := r.rawGet(ctx, t.Path(), after(r.head))
	if err != nil {
		r.fail(string(t), checkHeld, err.Error())
		return
	}
	defer conn.Close()
	probe := min(heldProbe, r.o.Liveness/2)
	if err := conn.SetReadDeadline(time.Now().Add(probe)); err != nil {
		r.fail(string(t), checkHeld, err.Error())
		return
	}
	if _, err := br.Peek(1); err == nil {
		why := "answered at once"
		if err := conn.SetReadDeadline(time.Now().Add(r.o.Timeout)); err == nil {
			if a, err := readAnswer(br, req); err == nil {
				why += ": " + a.String()
			}
		}
		r.fail(string(t), checkHeld, fmt.Sprintf("%s with head %d: %s, before any event was published", after(want-1), want-1, why))
		return
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		r.fail(string(t), checkHeld, fmt.Sprintf("%s: connection ended while held: %v", after(want-1), err))
		return
	}
	if _, _, err := r.publish(ctx, contract.Schedule{Rate: 1000, Burst: 1, Payload: deliveryPayload, Count: 1}); err != nil {
		r.fail(string(t), checkHeld, err.Error())
		return
	}
	if err := conn.SetReadDeadline(time.Now().Add(r.o.Timeout)); err != nil {
		r.fail(string(t), checkHeld, err.Error())
		return
	}
	a, err := readAnswer(br, req)
	if err != nil {
		r.fail(string(t), checkHeld, fmt.Sprintf("%s: after event %d was published: %v", after(want-1), want, err))
		return
	}
	if a.status != http.StatusOK {
		r.fail(string(t), checkHeld, fmt.Sprintf("%s: after event %d was published: got %s (a hold shorter than %v?)", after(want-1), want, a, probe))
		return
	}
	var p pollBody
	items, err := p.parse(a.body)
	if err == nil {
		if why := consecutive(items, want-1, want); why != "" {
			err = errors.New(why)
		}
	}
	if err != nil {
		r.fail(string(t), checkHeld, fmt.Sprintf("%s: after event %d was published: %v", after(want-1), want, err))
		return
	}
	r.contentOf(t).observe(items[0].raw)
	r.pass(string(t), checkHeld, "")
}

// hold checks the long poll's 204 once its hold has passed, if that is
// within Liveness.
func (r *run) hold(ctx context.Context) {
	const t = contract.LongPoll
	if !r.needHead(string(t), checkHold) {
		return
	}
	if err := r.refreshHead(ctx); err != nil {
		r.fail(string(t), checkHold, err.Error())
		return
	}
	a, err := r.get(ctx, t.Path(), after(r.head), nil, r.o.Liveness)
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(err, errNoAnswer):
		r.skip(string(t), checkHold, fmt.Sprintf("no answer within --liveness %v: the server's hold is longer (pushbench's is 25 s)", r.o.Liveness))
	case err != nil:
		r.fail(string(t), checkHold, err.Error())
	case a.status == http.StatusOK && !r.canPublish:
		r.skip(string(t), checkHold, fmt.Sprintf("%s with head %d: got %s: the server publishes on its own, and /control could not stop it", after(r.head), r.head, a))
	case a.status != http.StatusNoContent || len(a.body) > 0:
		r.fail(string(t), checkHold, fmt.Sprintf("%s with head %d and nothing published: got %s", after(r.head), r.head, a))
	default:
		r.pass(string(t), checkHold, "")
	}
}

// rawGet sends a GET on a connection of its own, so that the wait for its
// answer can be watched. The connection reads at most a header and a poll
// answer's worth of bytes.
func (r *run) rawGet(ctx context.Context, path, query string) (net.Conn, *bufio.Reader, *http.Request, error) {
	u, err := url.Parse(r.o.URL + path + "?" + query)
	if err != nil {
		return nil, nil, nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	dctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, nil, nil, err
	}
	if u.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(dctx); err != nil {
			conn.Close()
			return nil, nil, nil, err
		}
		conn = tc
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err == nil {
		err = conn.SetWriteDeadline(time.Now().Add(r.o.Timeout))
	}
	if err == nil {
		err = req.Write(conn)
	}
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	br := bufio.NewReader(io.LimitReader(conn, loadgen.MaxResponseHeaderBytes+maxBody+1))
	return conn, br, req, nil
}

// readAnswer reads a response from br in full, up to maxBody.
func readAnswer(br *bufio.Reader, req *http.Request) (answer, error) {
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	a.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err == nil && len(a.body) > maxBody {
		err = fmt.Errorf("answer longer than %d bytes", maxBody)
	}
	return a, err
}
