package conform

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/pushbench/pushbench/contract"
)

const checkBadCursors = "bad cursors are answered 400"

// badCursor is a cursor the contract refuses, as a query and, for SSE, as
// a Last-Event-ID header.
type badCursor struct {
	query, lastEventID string
}

func (b badCursor) String() string {
	if b.lastEventID != "" {
		return "Last-Event-ID: " + b.lastEventID
	}
	return b.query
}

// badCursors are the cursors every transport must answer 400: not digits,
// negative, more than 20 digits, and (with a head) one beyond the newest
// event.
func (r *run) badCursors(t contract.Transport) (bad []badCursor, note string) {
	bad = []badCursor{{query: "after=abc"}, {query: "after=-1"}, {query: "after=1" + strings.Repeat("0", 20)}}
	switch {
	case r.haveHead && r.head < math.MaxUint64:
		bad = append(bad, badCursor{query: after(r.head + 1)})
	case r.haveHead:
		note = "no cursor beyond the head " + strconv.FormatUint(r.head, 10)
	default:
		note = "one beyond the head not tried: no /stats hub.head"
	}
	if t == contract.SSE {
		bad = append(bad, badCursor{lastEventID: "x1"})
	}
	return bad, note
}

// refuseBadCursors checks that an HTTP transport answers every bad cursor
// 400, before any event.
func (r *run) refuseBadCursors(ctx context.Context, t contract.Transport) {
	bad, note := r.badCursors(t)
	var whys []string
	for _, b := range bad {
		var hdr http.Header
		if b.lastEventID != "" {
			hdr = http.Header{"Last-Event-ID": {b.lastEventID}}
		}
		a, err := r.get(ctx, t.Path(), b.query, hdr, r.o.Timeout)
		switch {
		case err != nil:
			whys = append(whys, fmt.Sprintf("%s: %v", b, err))
		case a.status != http.StatusBadRequest:
			whys = append(whys, fmt.Sprintf("%s: got %s", b, a))
		}
	}
	r.cursorVerdict(t, checkBadCursors, len(bad), whys, note)
}

func (r *run) cursorVerdict(t contract.Transport, check string, n int, whys []string, note string) {
	if len(whys) > 0 {
		r.fail(string(t), check, strings.Join(whys, "; "))
		return
	}
	why := strconv.Itoa(n) + " tried"
	if note != "" {
		why += "; " + note
	}
	r.pass(string(t), check, why)
}
