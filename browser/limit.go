package browser

import (
	"context"
	"time"

	"github.com/pushbench/pushbench/servers"
)

// limitRate keeps events flowing while the connection-limit check watches,
// so a stream that is open but starved could not pass for a stalled one.
const limitRate = 20.0

// limitResult is what the page's limit function reports.
type limitResult struct {
	Protocol     string     `json:"protocol"`
	Opened       int        `json:"opened"`
	Streaming    int        `json:"streaming"`
	FirstEventMS []*float64 `json:"first_event_ms"`
}

// checkLimit opens opts.Streams EventSources from one page to its own host,
// over plain HTTP/1.1 and then over TLS with HTTP/2, and counts how many
// stream.
func checkLimit(bctx context.Context, st *stack, opts Options) []LimitCheck {
	if _, err := st.srv.Start(servers.Schedule{Rate: limitRate, Payload: opts.Payload}); err != nil {
		return []LimitCheck{{Scheme: "http", Error: err.Error()}, {Scheme: "https", Error: err.Error()}}
	}
	defer st.srv.Stop()
	var out []LimitCheck
	for _, c := range []struct {
		scheme, base string
		conns        *connCounter
	}{
		{"http", st.http, &st.conns},
		{"https", st.https, &st.tlsConns},
	} {
		opts.Logf("browser: connection limit: %d EventSources over %s", opts.Streams, c.scheme)
		lc := LimitCheck{Scheme: c.scheme, Opened: opts.Streams, WindowS: opts.Window.Seconds()}
		c.conns.reset()
		if err := limit(bctx, c.base, opts, &lc, c.conns); err != nil {
			lc.Error = err.Error()
		}
		out = append(out, lc)
	}
	return out
}

func limit(bctx context.Context, base string, opts Options, lc *LimitCheck, conns *connCounter) error {
	tab, closeTab, err := openTab(bctx, base+PagePath)
	if err != nil {
		return err
	}
	defer closeTab()
	po := pageOptions{N: opts.Streams, WindowMS: float64(opts.Window) / float64(time.Millisecond), Types: eventTypes()}
	r, err := call[limitResult](tab, opts.Window+actionTimeout, "limit", po)
	if err != nil {
		return err
	}
	// Count while the EventSources are still open: once the first ones
	// close, the stalled ones get connections of their own.
	lc.Connections, lc.PeakConnections = conns.read()
	lc.Protocol, lc.Streaming, lc.FirstEventMS = r.Protocol, r.Streaming, r.FirstEventMS
	for _, ms := range lc.FirstEventMS {
		if ms != nil {
			*ms = roundMS(*ms)
		}
	}
	return nil
}
