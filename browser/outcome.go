package browser

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/jsonfile"
	"github.com/pushbench/pushbench/report"
)

// FileName is the outcome's file inside a report directory.
const FileName = "browser.json"

// Outcome is what the browser scenario found, check by check. A check that
// could not run says why in its Error or Skipped; the others still ran.
type Outcome struct {
	// Browser is the browser's product and version as it reports them
	// ("HeadlessChrome/156.0.8078.79").
	Browser string `json:"browser"`
	// Flags are the command-line switches it ran with, besides the fresh
	// --user-data-dir and the DevTools pipe chromedp adds.
	Flags     []string  `json:"flags"`
	Started   time.Time `json:"started"`
	DurationS float64   `json:"duration_s"`

	Delivery DeliveryCheck `json:"delivery"`
	Resume   ResumeCheck   `json:"resume"`
	// Limit holds the connection-limit check over HTTP/1.1, then HTTP/2.
	Limit []LimitCheck `json:"connection_limit"`
}

// DeliveryCheck is the page consuming one stream with every transport at
// once, over HTTP/1.1 from the stream's origin.
type DeliveryCheck struct {
	// Events were published at Rate events/s with Payload-byte data.
	Events  int     `json:"events"`
	Rate    float64 `json:"rate"`
	Payload int     `json:"payload"`
	// PollIntervalS is the pause of the page's fetch loop after an answer
	// with nothing more waiting, in seconds.
	PollIntervalS float64    `json:"poll_interval_s"`
	Transports    []Delivery `json:"transports"`
	Error         string     `json:"error,omitempty"`
}

// Delivery is one transport's account, as the page kept it.
type Delivery struct {
	// Transport is poll, sse or ws.
	Transport string `json:"transport"`
	Expected  int    `json:"expected"`
	// Received counts distinct events; Duplicates counts events seen again
	// (or at or below the starting cursor), OutOfOrder events that did not
	// follow the previous one, Missing expected events never seen.
	Received   int `json:"received"`
	Duplicates int `json:"duplicates"`
	OutOfOrder int `json:"out_of_order"`
	Missing    int `json:"missing"`
	Gaps       int `json:"gaps"`
	// Errors counts failed requests, EventSource error events and
	// WebSocket closes the page did not ask for.
	Errors int `json:"errors"`
	// Latency is from each event's scheduled instant to its handling by the
	// page, on the machine's one clock.
	Latency Latency `json:"latency"`
}

// OK says whether every event arrived exactly once, in order, without a
// transport error.
func (d Delivery) OK() bool {
	return d.Expected > 0 && d.Received == d.Expected && d.Duplicates == 0 && d.OutOfOrder == 0 &&
		d.Missing == 0 && d.Gaps == 0 && d.Errors == 0
}

// Latency is a distribution of delivery latencies in milliseconds.
type Latency struct {
	N     int     `json:"n"`
	P50MS float64 `json:"p50_ms"`
	P90MS float64 `json:"p90_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
}

// newLatency summarizes ms by nearest rank.
func newLatency(ms []float64) Latency {
	if len(ms) == 0 {
		return Latency{}
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Latency{N: len(s), P50MS: roundMS(rank(0.50)), P90MS: roundMS(rank(0.90)), P99MS: roundMS(rank(0.99)), MaxMS: roundMS(s[len(s)-1])}
}

// roundMS rounds milliseconds to the microsecond: browsers coarsen their
// clocks to 5-100µs, so further digits are noise.
func roundMS(ms float64) float64 { return math.Round(ms*1000) / 1000 }

// ResumeCheck is one EventSource following a `pushbench serve` process that
// is killed (SIGKILL) and restarted on the same address and data directory.
type ResumeCheck struct {
	// Skipped says why the check did not run, when it did not.
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
	// KilledAt is the newest event the browser had when the server died.
	KilledAt uint64 `json:"killed_at"`
	// BrowserLastEventID is the EventSource's lastEventId then: what it
	// must send on reconnecting.
	BrowserLastEventID string `json:"browser_last_event_id"`
	// ServerLastEventIDs are the Last-Event-ID headers the restarted server
	// recorded, oldest first.
	ServerLastEventIDs []string `json:"server_last_event_ids"`
	// Reconnects counts EventSource open events after the first; ErrorEvents
	// its error events (the kill, and each refused attempt while the server
	// was down).
	Reconnects  int `json:"reconnects"`
	ErrorEvents int `json:"error_events"`
	// Last is the newest event the browser had at the end; Received,
	// Duplicates, OutOfOrder, Missing and Gaps account for events 1…Last.
	Last       uint64 `json:"last"`
	Received   int    `json:"received"`
	Duplicates int    `json:"duplicates"`
	OutOfOrder int    `json:"out_of_order"`
	Missing    int    `json:"missing"`
	Gaps       int    `json:"gaps"`
	// ResumeS is from the restarted server listening to the browser having
	// an event after KilledAt, in seconds (sampled every resumePoll).
	ResumeS float64 `json:"resume_s"`
}

// OK says whether the EventSource reconnected by itself, the restarted
// server received its Last-Event-ID, and events 1…Last arrived exactly once,
// in order, past the kill.
func (r ResumeCheck) OK() bool {
	return r.Skipped == "" && r.Error == "" && r.Reconnects >= 1 && r.Last > r.KilledAt &&
		r.BrowserLastEventID != "" && slices.Contains(r.ServerLastEventIDs, r.BrowserLastEventID) &&
		r.Received == int(r.Last) && r.Duplicates == 0 && r.OutOfOrder == 0 && r.Missing == 0 && r.Gaps == 0
}

// LimitCheck is Opened EventSources to one host from one page.
type LimitCheck struct {
	// Scheme is http (HTTP/1.1) or https (TLS, offering h2).
	Scheme string `json:"scheme"`
	// Protocol is what the browser says it negotiated for the page
	// (nextHopProtocol): "http/1.1" or "h2".
	Protocol  string `json:"protocol"`
	Opened    int    `json:"opened"`
	Streaming int    `json:"streaming"`
	// Connections counts the TCP connections the server accepted from
	// loading the page to closing the EventSources; PeakConnections is the
	// most that were open at once.
	Connections     int `json:"connections"`
	PeakConnections int `json:"peak_connections"`
	// WindowS is how long the page waited for them to stream, in seconds.
	WindowS float64 `json:"window_s"`
	// FirstEventMS is, per EventSource, when its first event arrived after
	// it was opened; null for one that never streamed.
	FirstEventMS []*float64 `json:"first_event_ms"`
	Error        string     `json:"error,omitempty"`
}

// Stalled is how many EventSources received nothing.
func (l LimitCheck) Stalled() int { return l.Opened - l.Streaming }

// OK says whether the check showed what it demonstrates: over HTTP/1.1 some
// streams stall (how many is measured, not assumed), over HTTP/2 none does.
func (l LimitCheck) OK() bool {
	if l.Error != "" || l.Opened == 0 {
		return false
	}
	switch l.Protocol {
	case "http/1.1":
		return l.Streaming > 0 && l.Streaming < l.Opened
	case "h2":
		return l.Streaming == l.Opened
	}
	return false
}

// Failures lists the checks that did not pass, one line each; a skipped
// check is not a failure.
func (o *Outcome) Failures() []string {
	var out []string
	d := o.Delivery
	if d.Error != "" {
		out = append(out, "delivery: "+d.Error)
	}
	for _, t := range d.Transports {
		if !t.OK() {
			out = append(out, fmt.Sprintf("delivery %s: %d of %d events, %d duplicates, %d out of order, %d missing, %d gaps, %d errors",
				t.Transport, t.Received, t.Expected, t.Duplicates, t.OutOfOrder, t.Missing, t.Gaps, t.Errors))
		}
	}
	if r := o.Resume; r.Skipped == "" && !r.OK() {
		msg := r.Error
		if msg == "" {
			msg = fmt.Sprintf("killed at %d, browser sends %q, server received %q, %d reconnects, events 1-%d: %d received, %d duplicates, %d out of order, %d missing",
				r.KilledAt, r.BrowserLastEventID, r.ServerLastEventIDs, r.Reconnects, r.Last, r.Received, r.Duplicates, r.OutOfOrder, r.Missing)
		}
		out = append(out, "resume: "+msg)
	}
	if len(o.Limit) == 0 {
		out = append(out, "connection limit: not measured")
	}
	for _, l := range o.Limit {
		if !l.OK() {
			msg := l.Error
			if msg == "" {
				msg = fmt.Sprintf("%d of %d EventSources streamed over %s", l.Streaming, l.Opened, l.Protocol)
			}
			out = append(out, fmt.Sprintf("connection limit (%s): %s", l.Scheme, msg))
		}
	}
	return out
}

// Save writes o to dir/FileName, creating dir if needed, through a
// temporary file and a rename, so a reader never sees half of it.
func (o *Outcome) Save(dir string) error {
	if err := jsonfile.Save(dir, FileName, o); err != nil {
		return fmt.Errorf("save browser outcome: %w", err)
	}
	return nil
}

// Load reads dir/FileName. A directory without one gives an error that
// errors.Is(err, fs.ErrNotExist) recognizes: no browser run was recorded.
func Load(dir string) (*Outcome, error) {
	var o Outcome
	if err := jsonfile.Load(dir, FileName, &o); err != nil {
		return nil, fmt.Errorf("load browser outcome: %w", err)
	}
	return &o, nil
}

// transportNames are the page's consumers as the report names them.
var transportNames = map[string]string{
	"sse":  "SSE (EventSource)",
	"ws":   "WebSocket",
	"poll": "polling (fetch)",
}

// WriteMarkdown writes the report's "Real browser" section. As a method
// value it is a report.Reporter.
func (o *Outcome) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	ms := func(v float64) string { return report.FormatNS(v * 1e6) }

	p("## Real browser\n\n")
	d := o.Delivery
	p("%s, headless and driven over the DevTools protocol, loaded a page pushbench served from the stream's own origin and consumed the stream with the browser's own EventSource, WebSocket and a fetch polling loop (pausing %s after an empty answer), all at once: %d events at %s events/s with %d-byte payloads. Latency is from each event's scheduled instant to the page handling it, on the machine's one clock.\n\n",
		o.Browser, report.FormatInterval(d.PollIntervalS), d.Events, report.FormatSI(d.Rate), d.Payload)
	if d.Error != "" {
		p("The delivery check failed: %s.\n\n", d.Error)
	}
	if len(d.Transports) > 0 {
		p("| transport | events | received | duplicates | out of order | missing | p50 | p90 | p99 | max | verdict |\n")
		p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
		for _, t := range d.Transports {
			verdict := "exactly once, in order"
			if !t.OK() {
				verdict = fmt.Sprintf("**failed** (%d gaps, %d errors)", t.Gaps, t.Errors)
			}
			l := t.Latency
			p("| %s | %d | %d | %d | %d | %d | %s | %s | %s | %s | %s |\n", orName(transportNames[t.Transport], t.Transport),
				t.Expected, t.Received, t.Duplicates, t.OutOfOrder, t.Missing, ms(l.P50MS), ms(l.P90MS), ms(l.P99MS), ms(l.MaxMS), verdict)
		}
		p("\n")
	}

	r := o.Resume
	p("**Reconnection.** ")
	switch {
	case r.Skipped != "":
		p("Not checked: %s.\n\n", r.Skipped)
	case r.Error != "":
		p("The check failed: %s.\n\n", r.Error)
	default:
		p("A `pushbench serve` process was killed (SIGKILL) once the browser had event %d, and restarted on the same address with the same `--data` directory. ", r.KilledAt)
		if r.Reconnects > 0 {
			p("The EventSource reconnected by itself (%s, %s while the server was down), ", plural(r.Reconnects, "reconnection"), plural(r.ErrorEvents, "error event"))
		} else {
			p("The EventSource did not reconnect (%s), ", plural(r.ErrorEvents, "error event"))
		}
		p("its `lastEventId` being %q, and the restarted server recorded %s. ", r.BrowserLastEventID, headers(r.ServerLastEventIDs))
		if r.OK() {
			p("Events 1–%d arrived exactly once and in order: nothing was lost across the restart, and the stream resumed %s after the server was back.\n\n", r.Last, report.FormatInterval(r.ResumeS))
		} else {
			p("**Failed:** events 1–%d: %d received, %d duplicates, %d out of order, %d missing, %d gaps.\n\n", r.Last, r.Received, r.Duplicates, r.OutOfOrder, r.Missing, r.Gaps)
		}
	}

	p("**Connections per host.** One page opened several EventSources to its own host at once; the table counts those that received an event within the window.\n\n")
	p("| scheme | protocol | EventSources | streaming | stalled | TCP connections (most open at once) | window | first event, ms after opening |\n")
	p("|---|---|--:|--:|--:|--:|--:|---|\n")
	for _, l := range o.Limit {
		if l.Error != "" {
			p("| %s | – | %d | – | – | – | %s | failed: %s |\n", l.Scheme, l.Opened, report.FormatInterval(l.WindowS), l.Error)
			continue
		}
		firsts := make([]string, len(l.FirstEventMS))
		for i, f := range l.FirstEventMS {
			firsts[i] = "stalled"
			if f != nil {
				firsts[i] = fmt.Sprintf("%.0f", *f)
			}
		}
		p("| %s | %s | %d | %d | %d | %d (%d) | %s | %s |\n", l.Scheme, l.Protocol, l.Opened, l.Streaming, l.Stalled(),
			l.Connections, l.PeakConnections, report.FormatInterval(l.WindowS), strings.Join(firsts, ", "))
	}
	for _, l := range o.Limit {
		p("\n")
		switch {
		case l.Error != "":
		case l.Protocol == "http/1.1" && l.OK():
			p("Over HTTP/1.1 each EventSource holds a connection of its own, and the browser kept at most %d connections to the host open at once: %d EventSources streamed and the other %d stayed stalled for as long as the first ones streamed. A page with more live streams than that (every tab of a site shares the limit) must multiplex them or use WebSocket.\n", l.PeakConnections, l.Streaming, l.Stalled())
		case l.Protocol == "h2" && l.OK():
			p("Over HTTP/2 all %d streamed, multiplexed over %s (TLS with a certificate generated for the run, pinned with `--ignore-certificate-errors-spki-list`).\n", l.Opened, plural(l.PeakConnections, "TCP connection"))
		default:
			p("Over %s (%s), %d of %d EventSources streamed, which is not what this check demonstrates.\n", l.Protocol, l.Scheme, l.Streaming, l.Opened)
		}
	}
	p("\nBrowser flags: `%s`.\n\n", strings.Join(o.Flags, " "))
	_, err := io.WriteString(w, b.String())
	return err
}

func orName(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// headers renders recorded Last-Event-ID values as the headers received.
func headers(ids []string) string {
	if len(ids) == 0 {
		return "no `Last-Event-ID` header"
	}
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = "`Last-Event-ID: " + id + "`"
	}
	return strings.Join(q, ", ")
}

// plural renders "1 TCP connection", "2 TCP connections".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// VerdictFacts hands the report's verdict what the checks found: each
// transport's in-page delivery, the per-host EventSource limit by protocol,
// and the EventSource across the server's kill -9. It makes an *Outcome a
// report.FactSource.
func (o *Outcome) VerdictFacts() report.Facts {
	f := &report.BrowserFacts{Anchor: sectionAnchor, Browser: o.Browser}
	if o.Delivery.Error == "" {
		for _, t := range o.Delivery.Transports {
			f.Delivery = append(f.Delivery, report.BrowserDelivery{
				Transport: contract.Transport(t.Transport), Name: orName(transportNames[t.Transport], t.Transport),
				OK: t.OK(), P99NS: t.Latency.P99MS * 1e6,
			})
		}
	}
	for _, l := range o.Limit {
		f.Limit = append(f.Limit, report.BrowserLimit{Protocol: l.Protocol, Opened: l.Opened, Streaming: l.Streaming,
			PeakConnections: l.PeakConnections, Failed: l.Error != ""})
	}
	if r := o.Resume; r.Skipped == "" {
		f.Resume = &report.BrowserResume{OK: r.OK(), LastEventID: r.BrowserLastEventID, ResumeS: r.ResumeS}
	}
	return report.Facts{Browser: f}
}

// sectionAnchor is the id of the "Real browser" heading WriteMarkdown
// writes, as GitHub derives it.
const sectionAnchor = "real-browser"
