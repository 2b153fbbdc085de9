package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/loadgen"
)

func init() {
	commands["tail"] = command{"print every event one client receives, one JSON line each", tailCmd}
}

func tailCmd(ctx context.Context, args []string) error { return tail(ctx, args, os.Stdout, os.Stderr) }

// Errors that end a tail.
var (
	// errTailDone stops a tail that has printed --count events; tail then
	// returns nil.
	errTailDone = errors.New("tail: count reached")
	// errTailPoll marks a poll answer that retrying cannot fix.
	errTailPoll = errors.New("tail: poll")
)

// tail connects one client to the URL in args and writes every event it
// dispatches to w as one JSON line, until ctx ends or --count lines are
// written:
//
//	{"type":"tick","id":"42","data":"…","retry":3000}
//
// For SSE the URL is requested as given (any conformant stream works, not
// only ours) and the client reconnects like a browser's EventSource; "retry"
// appears when a retry field came since the previous event. Type, id and
// data are decoded from UTF-8 as a browser decodes them (loadgen.DecodeUTF8),
// so what is printed is what an EventSource dispatches, invalid bytes
// included. A 204 No Content answer, the standard's way of saying "stop
// reconnecting", ends the tail without an error. For ws, each text message
// is {"type":"message","data":…}. For poll, each event of our /poll protocol
// is printed as SSE would carry it: its type, its seq as the id, and its
// canonical JSON as the data; a gap is the "gap" event.
//
// What is not an event goes to diag, one line each: every retry (what
// failed, and when the next attempt is), and why the tail ended.
func tail(ctx context.Context, args []string, w, diag io.Writer) error {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: pushbench tail [flags] URL\n\nflags:\n")
		fs.PrintDefaults()
	}
	transport := fs.String("transport", string(contract.SSE), "sse, ws or poll")
	after := fs.Uint64("after", 0, "ask for the events after this seq (adds after=N to the URL; poll: the first cursor)")
	lastID := fs.String("last-event-id", "", "sse: send this Last-Event-ID from the first connection on")
	count := fs.Uint64("count", 0, "stop after printing this many events (0: until interrupted)")
	pollInterval := fs.Duration("poll-interval", loadgen.DefaultPollInterval, "poll: pause after an answer with nothing more waiting")
	readTimeout := fs.Duration("read-timeout", loadgen.DefaultReadTimeout, "reconnect after this long without a byte (sse), or give up on a request or handshake (poll, ws)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("want one URL, got %d arguments", fs.NArg())
	}
	var afterSet, lastIDSet bool
	fs.Visit(func(f *flag.Flag) {
		afterSet = afterSet || f.Name == "after"
		lastIDSet = lastIDSet || f.Name == "last-event-id"
	})
	if lastIDSet && contract.Transport(*transport) != contract.SSE {
		return fmt.Errorf("--last-event-id is for --transport sse only")
	}
	if *pollInterval <= 0 {
		return fmt.Errorf("bad --poll-interval %v: want > 0", *pollInterval)
	}
	if *readTimeout <= 0 {
		return fmt.Errorf("bad --read-timeout %v: want > 0", *readTimeout)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // print data as sent: <, > and & need no escaping outside HTML
	out := &tailOut{enc: enc, count: *count}

	rawURL := fs.Arg(0)
	var err error
	switch contract.Transport(*transport) {
	case contract.SSE:
		if afterSet {
			if rawURL, err = tailWithAfter(rawURL, *after); err != nil {
				return err
			}
		}
		es := &loadgen.EventSource{
			URL:         rawURL,
			LastEventID: *lastID,
			Options:     &loadgen.Options{ReadTimeout: *readTimeout},
			OnEvent:     out.sse,
			OnRetry: func(err error, delay time.Duration) {
				fmt.Fprintf(diag, "pushbench tail: %v; reconnecting in %v\n", err, delay)
			},
		}
		err = es.Run(ctx)
		if errors.Is(err, loadgen.ErrSSENoContent) {
			fmt.Fprintf(diag, "pushbench tail: %s answered 204 No Content, which the SSE standard defines as \"stop reconnecting\"; done\n", rawURL)
			return nil
		}
	case contract.WS:
		err = tailWS(ctx, rawURL, afterSet, *after, *readTimeout, out)
	case contract.Poll:
		err = tailPoll(ctx, rawURL, *after, *pollInterval, *readTimeout, out, diag)
	default:
		return fmt.Errorf("%w %q (want sse, ws or poll)", loadgen.ErrUnknownTransport, *transport)
	}
	if errors.Is(err, errTailDone) {
		return nil
	}
	return err
}

// tailLine is one line of output. ID is absent for WebSocket messages, which
// have none; Retry is in milliseconds, as the stream sends it.
type tailLine struct {
	Type  string  `json:"type"`
	ID    *string `json:"id,omitempty"`
	Data  string  `json:"data"`
	Retry *int64  `json:"retry,omitempty"`
}

// tailOut writes lines and stops the tail after count of them.
type tailOut struct {
	enc     *json.Encoder
	count   uint64 // 0: no limit
	printed uint64
}

func (o *tailOut) print(l tailLine) error {
	if err := o.enc.Encode(l); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	o.printed++
	if o.count > 0 && o.printed >= o.count {
		return errTailDone
	}
	return nil
}

func (o *tailOut) sse(ev loadgen.SSEEvent) error {
	id := loadgen.DecodeUTF8(ev.ID)
	l := tailLine{Type: loadgen.DecodeUTF8(ev.Type), ID: &id, Data: loadgen.DecodeUTF8(ev.Data)}
	if ev.HasRetry {
		ms := ev.Retry.Milliseconds()
		l.Retry = &ms
	}
	return o.print(l)
}

// tailWithAfter adds after=N to a URL's query, keeping the rest of it as given.
func tailWithAfter(rawURL string, after uint64) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += "after=" + strconv.FormatUint(after, 10)
	return u.String(), nil
}

// tailWS prints the text messages of one WebSocket connection. Like a
// browser's WebSocket it does not reconnect: the tail ends with the
// connection, successfully if the server closed it normally or went away.
// The handshake's header and every message are bounded as the load
// generator's are (loadgen.DialWS): past either, the tail fails.
func tailWS(ctx context.Context, rawURL string, afterSet bool, after uint64, timeout time.Duration, out *tailOut) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return fmt.Errorf("want a ws, wss, http or https URL, got %q", rawURL)
	}
	target := u.String()
	if afterSet {
		if target, err = tailWithAfter(target, after); err != nil {
			return err
		}
	}
	conn, resp, err := loadgen.DialWS(ctx, target, timeout)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("dial %s: %w (%s)", target, err, resp.Status)
		}
		return fmt.Errorf("dial %s: %w", target, err)
	}
	// Closing the connection unblocks ReadMessage when ctx ends; wait for
	// the AfterFunc's goroutine if it has started.
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		tailClose(conn)
		close(closed)
	})
	defer func() {
		if stop() {
			tailClose(conn)
		} else {
			<-closed
		}
	}()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil || websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				return nil
			}
			if errors.Is(err, websocket.ErrReadLimit) {
				return fmt.Errorf("read %s: a message longer than %d bytes: %w", target, loadgen.WSReadLimit, err)
			}
			return fmt.Errorf("read %s: %w", target, err)
		}
		if err := out.print(tailLine{Type: "message", Data: string(msg)}); err != nil {
			return err
		}
	}
}

// tailClose closes a connection the tail only reads from: no data can be
// lost, so the error says nothing worth reporting.
func tailClose(c io.Closer) { _ = c.Close() }

// tailPollAnswer is a 200 answer of our /poll protocol (see package servers).
type tailPollAnswer struct {
	Events []json.RawMessage `json:"events"`
	Next   uint64            `json:"next"`
	More   bool              `json:"more"`
	Gap    *event.Gap        `json:"gap"`
}

// tailPoll polls like the load generator's polling client, from cursor
// after: at once while the server says more is waiting, else after
// interval. A network error (a header over loadgen.MaxResponseHeaderBytes
// included) is retried after interval, saying so on diag; an answer other
// than 200 or 204 ends the tail.
func tailPoll(ctx context.Context, rawURL string, after uint64, interval, timeout time.Duration, out *tailOut, diag io.Writer) error {
	base, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = loadgen.MaxResponseHeaderBytes
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: timeout}
	cursor := after
	for {
		u := *base
		q := u.Query()
		q.Set("after", strconv.FormatUint(cursor, 10))
		u.RawQuery = q.Encode()
		more, next, err := tailPollOnce(ctx, client, u.String(), out)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errTailPoll) || errors.Is(err, errTailDone):
			return err
		case err == nil:
			cursor = max(cursor, next)
			if more {
				continue
			}
		default:
			fmt.Fprintf(diag, "pushbench tail: poll: %v; retrying in %v\n", err, interval)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// tailPollOnce makes one poll and prints what it brings.
func tailPollOnce(ctx context.Context, client *http.Client, target string, out *tailOut) (more bool, next uint64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, 0, fmt.Errorf("%w: %v", errTailPoll, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, 0, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, loadgen.MaxPollBody+1))
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, 0, err
	}
	if len(body) > loadgen.MaxPollBody {
		return false, 0, fmt.Errorf("%w: answer from %s longer than %d bytes", errTailPoll, target, loadgen.MaxPollBody)
	}
	switch resp.StatusCode {
	case http.StatusNoContent:
		return false, 0, nil
	case http.StatusOK:
	default:
		return false, 0, fmt.Errorf("%w: %s from %s: %.200s", errTailPoll, resp.Status, target, body)
	}
	var a tailPollAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return false, 0, fmt.Errorf("%w: bad answer from %s: %v", errTailPoll, target, err)
	}
	if g := a.Gap; g != nil {
		id := strconv.FormatUint(g.To, 10)
		if err := out.print(tailLine{Type: event.GapType, ID: &id, Data: string(g.AppendJSON(nil))}); err != nil {
			return false, 0, err
		}
	}
	for _, raw := range a.Events {
		var e event.Event
		if err := event.Decode(raw, &e); err != nil {
			return false, 0, fmt.Errorf("%w: event from %s: %v", errTailPoll, target, err)
		}
		id := strconv.FormatUint(e.Seq, 10)
		if err := out.print(tailLine{Type: e.Type, ID: &id, Data: string(raw)}); err != nil {
			return false, 0, err
		}
	}
	return a.More, a.Next, nil
}
