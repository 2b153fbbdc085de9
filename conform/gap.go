package conform

import (
	"context"
	"fmt"
	"strings"

	"github.com/pushbench/pushbench/contract"
)

const checkGap = "a cursor older than the history gets the gap signal first, naming exactly the missing events"

// The bulk schedule that fills the history: fast, small events, in rounds
// that double from firstRound.
const (
	bulkRate    = 50_000
	bulkBurst   = 500
	bulkPayload = 8
	firstRound  = 1000
)

// findHistory publishes in rounds until a fresh cursor 0 gets a gap signal
// on the first transport offered, up to HistoryCap events: the server's
// history is read from its behaviour, not from what it says.
func (r *run) findHistory(ctx context.Context, offered []contract.Transport) {
	if len(offered) == 0 {
		r.historyWhy = "no transport offered"
		return
	}
	if !r.canPublish {
		r.historyWhy = r.noControl
		r.skip(Server, checkHistory, r.noControl)
		return
	}
	probe := offered[0]
	published, round := 0, firstRound
	for {
		if err := r.refreshHead(ctx); err != nil {
			r.historyLost(err.Error())
			return
		}
		if r.head > 0 {
			items, _, err := r.readFrom(ctx, probe, 0, 1)
			if err != nil {
				r.historyLost(fmt.Sprintf("%s after=0: %v", probe, err))
				return
			}
			if g := items[0].gap; g != nil {
				r.history = g.To
				r.pass(Server, checkHistory, fmt.Sprintf("%s after=0 gets gap %d..%d at head %d, %d events published", probe, g.From, g.To, r.head, published))
				return
			}
			if seq := items[0].seq; seq > 1 {
				// Gone, and not signalled: the gap checks say so on
				// every transport.
				r.history = seq - 1
				r.fail(Server, checkHistory, fmt.Sprintf("%s after=0 gets event %d first, with no gap signal for events 1..%d (head %d, %d events published)", probe, seq, seq-1, r.head, published))
				return
			}
		}
		if published >= r.o.HistoryCap {
			r.historyWhy = fmt.Sprintf("no gap for cursor 0 after %d events published (head %d): the history is longer than the cap (--history-cap)", published, r.head)
			r.skip(Server, checkHistory, r.historyWhy)
			return
		}
		n := min(round, r.o.HistoryCap-published)
		s := contract.Schedule{Rate: bulkRate, Burst: bulkBurst, Payload: bulkPayload, Count: uint64(n)}
		if _, _, err := r.publish(ctx, s); err != nil {
			r.historyLost(err.Error())
			return
		}
		published += n
		round *= 2
	}
}

func (r *run) historyLost(why string) {
	r.historyWhy = "the history was not found"
	r.fail(Server, checkHistory, why)
}

// readFrom reads the first n events and gap signals transport t delivers
// after cursor, which must be older than the head. For SSE, layout says
// what is wrong with the frames' layout.
func (r *run) readFrom(ctx context.Context, t contract.Transport, cursor uint64, n int) (items []item, layout []string, err error) {
	switch t {
	case contract.SSE:
		res, err := r.readSSE(ctx, after(cursor), "", n)
		return res.items, res.layout, err
	case contract.WS:
		items, err := r.readWS(ctx, cursor, n)
		return items, nil, err
	default:
		items, _, _, err := r.pollRead(ctx, t, cursor)
		if err == nil && len(items) < n {
			err = fmt.Errorf("%s?%s: got %s, want %d events or gap signals", t.Path(), after(cursor), describe(items), n)
		}
		return items, nil, err
	}
}

// gap checks the gap signal on transport t: from cursor 0 it must come
// first and name events 1..T, T+1 must follow; from T-1 it must name T
// alone; from T there must be none.
func (r *run) gap(ctx context.Context, t contract.Transport) {
	if r.history == 0 {
		r.skip(string(t), checkGap, r.historyWhy)
		return
	}
	var whys []string
	items, layout, err := r.readFrom(ctx, t, 0, 2)
	if err != nil {
		r.fail(string(t), checkGap, err.Error())
		return
	}
	g := items[0].gap
	if g == nil || g.From != 1 || g.To < r.history || items[1].gap != nil || items[1].seq != g.To+1 {
		r.fail(string(t), checkGap, fmt.Sprintf("after=0: got %s, want a gap 1..T (T ≥ %d, as the history moves on) first, then event T+1", describe(items), r.history))
		return
	}
	last := g.To
	if t == contract.SSE {
		whys = append(whys, layout...)
	}
	if last >= 2 {
		items, layout, err := r.readFrom(ctx, t, last-1, 2)
		switch {
		case err != nil:
			whys = append(whys, err.Error())
		case items[0].gap == nil || items[0].gap.From != last || items[0].gap.To != last || items[1].seq != last+1:
			whys = append(whys, fmt.Sprintf("after=%d: got %s, want gap %d..%d, then event %d", last-1, describe(items), last, last, last+1))
		case t == contract.SSE:
			whys = append(whys, layout...)
		}
	}
	items, _, err = r.readFrom(ctx, t, last, 1)
	switch {
	case err != nil:
		whys = append(whys, err.Error())
	case items[0].gap != nil || items[0].seq != last+1:
		whys = append(whys, fmt.Sprintf("after=%d: got %s, want event %d and no gap", last, describe(items), last+1))
	}
	if len(whys) > 0 {
		r.fail(string(t), checkGap, strings.Join(whys, "; "))
		return
	}
	r.pass(string(t), checkGap, fmt.Sprintf("after=0 gets gap 1..%d, then event %d", last, last+1))
}
