package proxy

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/jsonfile"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/report"
)

// FileName is the outcome's file inside a report directory.
const FileName = "proxy.json"

// Outcome is what the reverse-proxy scenario measured.
type Outcome struct {
	// Nginx is the proxy's version, e.g. "nginx/1.22.1".
	Nginx     string    `json:"nginx"`
	Started   time.Time `json:"started"`
	DurationS float64   `json:"duration_s"`
	// Clients, Rate (events/s) and Payload (bytes) are every run's load;
	// WarmupS is published but left out of latency, MeasuredS measured.
	Clients   int     `json:"clients"`
	Rate      float64 `json:"rate"`
	Payload   int     `json:"payload"`
	WarmupS   float64 `json:"warmup_s"`
	MeasuredS float64 `json:"measured_s"`
	// TCPFloor says why the TCP floor is not in the comparison.
	TCPFloor string `json:"tcp_floor"`
	// Config is the nginx.conf of the overhead runs.
	Config    string          `json:"config"`
	Overhead  []Overhead      `json:"overhead"`
	Buffering []BufferingCase `json:"sse_buffering"`
}

// Overhead is one transport measured directly and through nginx.
type Overhead struct {
	Transport contract.Transport `json:"transport"`
	Direct    Figures            `json:"direct"`
	Proxied   Figures            `json:"proxied"`
}

// BufferingCase is SSE through one nginx set-up.
type BufferingCase struct {
	Name string `json:"name"`
	Note string `json:"note"`
	// HTTP10 leaves /sse at nginx's default proxy_http_version 1.0;
	// ProxyBuffering at its default proxy_buffering on; AccelHeader says
	// whether the server sent "X-Accel-Buffering: no".
	HTTP10         bool    `json:"http10_upstream"`
	ProxyBuffering bool    `json:"proxy_buffering"`
	AccelHeader    bool    `json:"accel_header"`
	Figures        Figures `json:"figures"`
}

// Figures are one run's numbers. Latency is from each event's scheduled
// instant to its arrival at a client, in nanoseconds, over the events
// delivered after the warm-up.
type Figures struct {
	P50NS   int64 `json:"p50_ns"`
	P99NS   int64 `json:"p99_ns"`
	MaxNS   int64 `json:"max_ns"`
	Samples int64 `json:"samples"`
	// DeliveriesPerSec is distinct events delivered, all clients, per
	// second from the first publication until every client caught up (or
	// the drain ended).
	DeliveriesPerSec float64 `json:"deliveries_per_s"`
	Expected         uint64  `json:"expected"`
	Delivered        uint64  `json:"delivered"`
	Lost             uint64  `json:"lost"`
	Duplicates       uint64  `json:"duplicates"`
	Reordered        uint64  `json:"reordered"`
	Reconnects       uint64  `json:"reconnects"`
	// Published is the events the server published; ArrivalWindows, for
	// the SSE buffering runs, in how many 50 ms windows events arrived at
	// any client: about one per event when the stream flows as published,
	// a few bursts when a proxy holds it.
	Published      uint64 `json:"published,omitempty"`
	ArrivalWindows int    `json:"arrival_windows,omitempty"`
	// Error is why the run did not complete, e.g. clients that never
	// caught up.
	Error string `json:"error,omitempty"`
}

// OK says whether every expected event arrived exactly once, in order.
func (f Figures) OK() bool {
	return f.Error == "" && f.Expected > 0 && f.Delivered == f.Expected && f.Lost == 0 && f.Duplicates == 0 && f.Reordered == 0
}

// Save writes o to dir/FileName, creating dir if needed, through a
// temporary file and a rename, so a reader never sees half of it.
func (o *Outcome) Save(dir string) error {
	if err := jsonfile.Save(dir, FileName, o); err != nil {
		return fmt.Errorf("save proxy outcome: %w", err)
	}
	return nil
}

// Load reads dir/FileName.
func Load(dir string) (*Outcome, error) {
	var o Outcome
	if err := jsonfile.Load(dir, FileName, &o); err != nil {
		return nil, fmt.Errorf("load proxy outcome: %w", err)
	}
	return &o, nil
}

// WriteMarkdown writes the report's "Reverse proxy" section. As a method
// value it is a report.Reporter.
func (o *Outcome) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	ns := func(v int64) string { return report.FormatNS(float64(v)) }
	p("## Reverse proxy\n\n")
	p("%s ran on loopback in front of the server, one process (`master_process off`, `worker_processes 1`), with a configuration pushbench generated (below). Each transport carried the same fan-out load directly and through nginx: %d clients, %s events/s of %d-byte payloads, %s warm-up then %s measured. Latency is from each event's scheduled instant to its arrival at a client. The TCP floor is %s.\n\n",
		o.Nginx, o.Clients, report.FormatSI(o.Rate), o.Payload, report.FormatInterval(o.WarmupS), report.FormatInterval(o.MeasuredS), o.TCPFloor)
	p("| transport | path | p50 | p99 | max | deliveries/s | delivered | verdict |\n")
	p("|---|---|--:|--:|--:|--:|--:|---|\n")
	row := func(tr, path string, f Figures) {
		p("| %s | %s | %s | %s | %s | %s | %d of %d | %s |\n", tr, path, ns(f.P50NS), ns(f.P99NS), ns(f.MaxNS),
			report.FormatSI(f.DeliveriesPerSec), f.Delivered, f.Expected, verdict(f))
	}
	for _, ov := range o.Overhead {
		row(string(ov.Transport), "direct", ov.Direct)
		row(string(ov.Transport), "nginx", ov.Proxied)
	}
	p("\n")
	for _, ov := range o.Overhead {
		d, x := ov.Direct, ov.Proxied
		p("- %s: nginx adds %s at p50 and %s at p99 (%s and %s of direct); deliveries/s %s of direct.\n", ov.Transport,
			delta(x.P50NS-d.P50NS), delta(x.P99NS-d.P99NS), report.FormatRatio(float64(x.P50NS), float64(d.P50NS)),
			report.FormatRatio(float64(x.P99NS), float64(d.P99NS)), report.FormatRatio(x.DeliveriesPerSec, d.DeliveriesPerSec))
	}
	p("\nA poll's latency is mostly its wait for the next poll (a %s interval on average half of it), so its difference direct vs nginx is within that noise.\n", pollInterval)
	p("\nWebSocket needs `proxy_http_version 1.1` and the `Upgrade`/`Connection` headers passed on (they are hop-by-hop, so nginx drops them otherwise); with them every upgrade above succeeded through nginx.\n\n")

	p("**SSE and proxy buffering.** The same SSE load through nginx set up four ways. A location with nothing but `proxy_pass` speaks HTTP/1.0 upstream with `proxy_buffering on`; the server's `X-Accel-Buffering: no` header, or `proxy_buffering off`, turns buffering off for the stream.\n\n")
	p("| set-up | upstream | proxy_buffering | X-Accel-Buffering: no | p50 | p99 | max | events published | 50 ms windows with arrivals | delivered | outcome |\n")
	p("|---|---|---|---|--:|--:|--:|--:|--:|--:|---|\n")
	for _, c := range o.Buffering {
		f := c.Figures
		up := "HTTP/1.1"
		if c.HTTP10 {
			up = "HTTP/1.0"
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %d | %d | %d of %d | %s |\n", c.Name, up, onOff(c.ProxyBuffering), yesNo(c.AccelHeader),
			ns(f.P50NS), ns(f.P99NS), ns(f.MaxNS), f.Published, f.ArrivalWindows, f.Delivered, f.Expected, verdict(f))
	}
	p("\n")
	for _, c := range o.Buffering {
		f := c.Figures
		p("- %s (%s): of %s published, each client received %d, arriving in %s", c.Name, c.Note,
			plural(int(f.Published), "event"), perClient(f.Delivered, o.Clients), plural(f.ArrivalWindows, "window")+" of 50 ms")
		if per := perClient(f.Delivered, o.Clients); f.ArrivalWindows > 0 && f.ArrivalWindows*2 < per {
			p(": bursts of about %d events", per/f.ArrivalWindows)
		}
		if f.Error != "" {
			p("; %s", f.Error)
		}
		p(".\n")
	}
	p("\n<details><summary>nginx.conf of the overhead runs</summary>\n\n```nginx\n%s```\n\n</details>\n\n", o.Config)
	_, err := io.WriteString(w, b.String())
	return err
}

func verdict(f Figures) string {
	switch {
	case f.OK():
		return "exactly once, in order"
	case f.Error != "":
		return fmt.Sprintf("**incomplete** (%d lost, %d duplicates, %d reordered)", f.Lost, f.Duplicates, f.Reordered)
	default:
		return fmt.Sprintf("**failed** (%d lost, %d duplicates, %d reordered)", f.Lost, f.Duplicates, f.Reordered)
	}
}

func delta(ns int64) string {
	if ns < 0 {
		return "−" + report.FormatNS(float64(-ns))
	}
	return "+" + report.FormatNS(float64(ns))
}

// pollInterval is the polling clients' pause, loadgen's default.
var pollInterval = report.FormatDuration(loadgen.DefaultPollInterval)

// perClient is each client's share of n deliveries.
func perClient(n uint64, clients int) int {
	if clients <= 0 {
		return 0
	}
	return int(n / uint64(clients))
}

// plural renders "1 window", "2 windows".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// VerdictFacts hands the report's verdict what the runs found: each
// transport's p99 through nginx, and SSE through each buffering set-up. It
// makes an *Outcome a report.FactSource.
func (o *Outcome) VerdictFacts() report.Facts {
	f := &report.ProxyFacts{Anchor: sectionAnchor, Proxy: o.Nginx}
	for _, ov := range o.Overhead {
		f.Overhead = append(f.Overhead, report.ProxyOverhead{Transport: ov.Transport, OK: ov.Proxied.OK(),
			DirectP99NS: float64(ov.Direct.P99NS), ProxiedP99NS: float64(ov.Proxied.P99NS)})
	}
	for _, c := range o.Buffering {
		fg := c.Figures
		f.Buffering = append(f.Buffering, report.ProxyBuffering{
			Name: c.Name, Defaults: c.HTTP10 && c.ProxyBuffering, AccelHeader: c.AccelHeader, BufferingOff: !c.ProxyBuffering, HTTP11: !c.HTTP10,
			OK: fg.OK(), Expected: fg.Expected, Delivered: fg.Delivered, Lost: fg.Lost,
			Published: fg.Published, ArrivalWindows: fg.ArrivalWindows,
		})
	}
	return report.Facts{Proxy: f}
}

// sectionAnchor is the id of the "Reverse proxy" heading WriteMarkdown
// writes, as GitHub derives it.
const sectionAnchor = "reverse-proxy"
