package report

import (
	"io"

	"github.com/pushbench/pushbench/contract"
)

// A Section is a part of report.md that another package measured and
// stores beside results.json: the real browser's, the reverse proxy's.
// WriteDir places each before the correctness statement. A Reporter is a
// Section; a section with findings the verdict should weigh is also a
// FactSource.
type Section interface {
	WriteMarkdown(w io.Writer) error
}

// A FactSource is a section whose findings the verdict reads: package report
// cannot import the packages that measure them (they import it, to write
// their figures as the rest of the report does), so they hand over what
// the verdict needs as Facts.
type FactSource interface {
	VerdictFacts() Facts
}

// WriteMarkdown makes a Reporter a Section.
func (r Reporter) WriteMarkdown(w io.Writer) error { return r(w) }

// Facts are what the sections beside results.json measured that the
// verdict reads. A nil field was not measured.
type Facts struct {
	Browser *BrowserFacts
	Proxy   *ProxyFacts
}

// factsOf merges the facts of every section that has some.
func factsOf(sections []Section) Facts {
	var f Facts
	for _, s := range sections {
		src, ok := s.(FactSource)
		if !ok {
			continue
		}
		g := src.VerdictFacts()
		if g.Browser != nil {
			f.Browser = g.Browser
		}
		if g.Proxy != nil {
			f.Proxy = g.Proxy
		}
	}
	return f
}

// BrowserFacts are the real-browser checks.
type BrowserFacts struct {
	// Anchor is the id of the section's heading in report.md
	// ("real-browser"), which the verdict links to.
	Anchor string
	// Browser is the product and version ("HeadlessChrome/156.0.8078.79").
	Browser string
	// Delivery is each transport consuming one stream in the page.
	Delivery []BrowserDelivery
	// Limit is the per-host EventSource check, per protocol.
	Limit []BrowserLimit
	// Resume is an EventSource across the server's kill -9; nil when the
	// check did not run.
	Resume *BrowserResume
}

// BrowserDelivery is one transport's delivery in the page.
type BrowserDelivery struct {
	Transport contract.Transport
	// Name is how the section names it ("SSE (EventSource)").
	Name string
	// OK: every event exactly once and in order, without a transport error.
	OK bool
	// P99NS is in-page latency, scheduled instant to handling, ns.
	P99NS float64
}

// BrowserLimit is several EventSources opened by one page to one host.
type BrowserLimit struct {
	// Protocol is what the page negotiated: "http/1.1" or "h2".
	Protocol string
	// Opened EventSources, Streaming of them received an event, over at
	// most PeakConnections TCP connections open at once.
	Opened, Streaming, PeakConnections int
	// Failed is set when the check did not complete.
	Failed bool
}

// BrowserResume is the EventSource following a killed and restarted
// server.
type BrowserResume struct {
	// OK: it reconnected by itself, sent its Last-Event-ID, and every event
	// arrived exactly once, in order, across the restart.
	OK bool
	// LastEventID is what it sent; ResumeS how long after the server was
	// back the stream resumed, in seconds.
	LastEventID string
	ResumeS     float64
}

// ProxyFacts are the reverse-proxy scenario's runs.
type ProxyFacts struct {
	// Anchor is the id of the section's heading ("reverse-proxy").
	Anchor string
	// Proxy is the proxy and its version ("nginx/1.22.1").
	Proxy string
	// Overhead is each transport direct and through the proxy.
	Overhead []ProxyOverhead
	// Buffering is SSE through the proxy set up several ways.
	Buffering []ProxyBuffering
}

// ProxyOverhead is one transport's run through the proxy.
type ProxyOverhead struct {
	Transport contract.Transport
	// OK: through the proxy, every event arrived exactly once, in order.
	OK           bool
	DirectP99NS  float64
	ProxiedP99NS float64
}

// ProxyBuffering is SSE through one proxy set-up.
type ProxyBuffering struct {
	Name string
	// Defaults: the proxy as a location with nothing but proxy_pass leaves
	// it (nginx: HTTP/1.0 upstream, buffering on); AccelHeader: the server
	// sent "X-Accel-Buffering: no"; BufferingOff: proxy_buffering off;
	// HTTP11: the proxy spoke HTTP/1.1 upstream.
	Defaults, AccelHeader, BufferingOff, HTTP11 bool
	OK                                          bool
	Expected, Delivered, Lost                   uint64
	// ArrivalWindows is in how many 50 ms windows events arrived at any
	// client, of Published events: a few bursts when the proxy held them.
	Published      uint64
	ArrivalWindows int
}
