package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/loadgen"
)

func init() {
	commands["tail"] = command{"print every event one client receives, one JSON line each", tailCmd}
}

func tailCmd(ctx context.Context, args []string) error { return tail(ctx, args, os.Stdout, os.Stderr) }

// errTailDone stops a tail that has printed --count events; tail then
// returns nil.
var errTailDone = errors.New("tail: count reached")

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
// reconnecting", ends the tail without an error. For ws, each message is
// {"type":"message","data":…}; like a browser's WebSocket the tail does not
// reconnect, and ends without an error when the server closes normally or
// goes away. For poll, each event of our /poll protocol is printed as SSE
// would carry it: its type, its seq as the id, and its canonical JSON as the
// data; a gap is the "gap" event. The clients are loadgen's EventSource,
// WebSocket and Poller.
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
	if afterSet && contract.Transport(*transport) != contract.Poll { // a poller's first cursor instead
		if rawURL, err = tailWithAfter(rawURL, *after); err != nil {
			return err
		}
	}
	switch contract.Transport(*transport) {
	case contract.SSE:
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
		ws := &loadgen.WebSocket{
			URL:       rawURL,
			Options:   &loadgen.Options{ReadTimeout: *readTimeout},
			OnMessage: out.ws,
		}
		err = ws.Run(ctx)
	case contract.Poll:
		p := &loadgen.Poller{
			URL:     rawURL,
			After:   *after,
			Options: &loadgen.Options{PollInterval: *pollInterval, ReadTimeout: *readTimeout},
			OnGap:   out.gap,
			OnEvent: out.poll,
			OnRetry: func(err error, delay time.Duration) {
				fmt.Fprintf(diag, "pushbench tail: poll: %v; retrying in %v\n", err, delay)
			},
		}
		err = p.Run(ctx)
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

// ws prints a WebSocket message, text or binary, as the data of a
// "message" line without an id.
func (o *tailOut) ws(_ int, data []byte) error {
	return o.print(tailLine{Type: "message", Data: string(data)})
}

// gap prints a poll answer's gap signal as SSE carries it: the "gap" event,
// with the last seq it stands for as its id.
func (o *tailOut) gap(g event.Gap) error {
	id := strconv.FormatUint(g.To, 10)
	return o.print(tailLine{Type: event.GapType, ID: &id, Data: string(g.AppendJSON(nil))})
}

// poll prints an event of a poll answer as SSE carries it: its type, its seq
// as the id, and its canonical JSON as the data.
func (o *tailOut) poll(e event.Event, raw []byte) error {
	id := strconv.FormatUint(e.Seq, 10)
	return o.print(tailLine{Type: e.Type, ID: &id, Data: string(raw)})
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
