package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// pollerLog keeps what a Poller's callbacks hand over, to be read once Run
// has returned, and counts events as they come. Every event must be the one
// testEvent encodes.
type pollerLog struct {
	t      *testing.T
	lines  []string
	events atomic.Int64
}

// follow runs po with the log's callbacks until it has handed over n events,
// stops it and returns what it handed over.
func (l *pollerLog) follow(po *Poller, n int64) string {
	l.t.Helper()
	po.OnGap, po.OnEvent = l.gap, l.event
	r := start(l.t, po)
	waitFor(l.t, fmt.Sprint(n, " events"), func() bool { return l.events.Load() == n })
	if err := r.stop(l.t); err != nil {
		l.t.Fatalf("Run = %v, want nil after cancel", err)
	}
	return strings.Join(l.lines, ", ")
}

func (l *pollerLog) gap(g event.Gap) error {
	l.lines = append(l.lines, fmt.Sprintf("gap %d…%d", g.From, g.To))
	return nil
}

func (l *pollerLog) event(e event.Event, raw []byte) error {
	if !bytes.Equal(raw, testEvent(e.Seq)) || e.Type != event.TypeOf(e.Seq) {
		l.t.Errorf("event %d: %+v as %q", e.Seq, e, raw)
	}
	l.lines = append(l.lines, fmt.Sprint("event ", e.Seq))
	l.events.Add(1)
	return nil
}

// TestPollerFollows follows events 3…10 in batches of 4 from cursor 2 with an
// hour's interval: only "more" can fetch the second batch within the test,
// and the cursor moves to each answer's next.
func TestPollerFollows(t *testing.T) {
	p := newPollPeer(t, 10, 4, nil)
	log := &pollerLog{t: t}
	po := &Poller{URL: p.base + "/poll?token=a", After: 2, Options: &Options{PollInterval: time.Hour}}
	if s := log.follow(po, 8); s != "event 3, event 4, event 5, event 6, event 7, event 8, event 9, event 10" {
		t.Fatalf("callbacks %s, want events 3…10", s)
	}
	if q := strings.Join(p.requests(), " "); q != "after=2&token=a after=6&token=a" {
		t.Fatalf("queries %q, want after=2&token=a after=6&token=a and then a pause", q)
	}
}

// A gap comes before the answer's events; a 204 is an answer with nothing
// new, after which the Poller asks again from the same cursor.
func TestPollerGapAndNoContent(t *testing.T) {
	answers := []string{
		`{"gap":{"from":1,"to":3},"events":[` + string(testEvent(4)) + `],"next":4,"more":false}`,
		"",
		`{"events":[` + string(testEvent(5)) + `],"next":5,"more":false}`,
	}
	p := newPeer(t, contract.Poll.Path(), func(n int, _ uint64, w http.ResponseWriter, _ *http.Request) {
		if n >= len(answers) || answers[n] == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, _ = io.WriteString(w, answers[n])
	})
	log := &pollerLog{t: t}
	po := &Poller{URL: p.base + "/poll", Options: &Options{PollInterval: time.Millisecond}}
	if s := log.follow(po, 2); s != "gap 1…3, event 4, event 5" {
		t.Fatalf("callbacks %s, want gap 1…3, event 4, event 5", s)
	}
	if q := p.requests(); strings.Join(q[:3], " ") != "after=0 after=4 after=4" {
		t.Fatalf("queries %q, want after=0, after=4, after=4 (after the 204), …", q)
	}
}

// A network error and a 5xx are retried after the interval, and OnRetry
// hears of each.
func TestPollerRetries(t *testing.T) {
	p := newPollPeer(t, 2, 2, func(n int, w http.ResponseWriter, _ *http.Request) bool {
		switch n {
		case 0: // no answer at all
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = c.Close()
			}
		case 1:
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		}
		return n < 2
	})
	type retry struct {
		err   error
		delay time.Duration
	}
	var retries []retry
	po := &Poller{
		URL:     p.base + "/poll",
		Options: &Options{PollInterval: time.Millisecond},
		OnRetry: func(err error, d time.Duration) { retries = append(retries, retry{err, d}) },
	}
	if s := (&pollerLog{t: t}).follow(po, 2); s != "event 1, event 2" {
		t.Fatalf("callbacks %s, want event 1, event 2", s)
	}
	if len(retries) != 2 || classify(retries[0].err) != FailClosed || classify(retries[1].err) != FailStatus ||
		retries[0].delay != time.Millisecond || retries[1].delay != time.Millisecond {
		t.Fatalf("retries %+v, want the dropped request and the 503, each followed by 1ms", retries)
	}
}

// TestPollerGivesUp checks the answers a Poller cannot follow: Run returns
// after one request.
func TestPollerGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name, path, answer string
		status             int
		want               error
	}{
		{"400", "/poll", "cursor ahead of the stream", http.StatusBadRequest, ErrPollRejected},
		{"404", "/wrong", "", 0, ErrPollRejected},
		{"not json", "/poll", "not json", http.StatusOK, errBadAnswer},
		{"not an event", "/poll", `{"events":["garbage"],"next":1,"more":false}`, http.StatusOK, errBadAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t, contract.Poll.Path(), func(_ int, _ uint64, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.answer)
			})
			retried := 0
			po := &Poller{URL: p.base + tc.path, Options: &Options{PollInterval: time.Millisecond},
				OnRetry: func(error, time.Duration) { retried++ }}
			if err := start(t, po).wait(t); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), p.base+tc.path) {
				t.Fatalf("Run = %v, want %v naming the URL", err, tc.want)
			}
			if n := len(p.requests()); n > 1 || retried != 0 {
				t.Fatalf("%d requests, %d retries; want one request and no retry", n, retried)
			}
		})
	}
}

func TestPollerStopsOnCallbackError(t *testing.T) {
	p := newPollPeer(t, 5, 5, nil)
	errEnough := errors.New("enough")
	po := &Poller{URL: p.base + "/poll", OnEvent: func(event.Event, []byte) error { return errEnough }}
	if err := start(t, po).wait(t); err != errEnough {
		t.Fatalf("Run = %v, want OnEvent's error as it is", err)
	}
}
