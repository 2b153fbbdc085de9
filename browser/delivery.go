package browser

import (
	"context"
	"fmt"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/servers"
)

// pageTransports are the page's consumers, in report order.
var pageTransports = []string{string(contract.SSE), string(contract.WS), string(contract.Poll)}

// pageOptions is what the page's functions take; page/index.html says
// which function reads which field.
type pageOptions struct {
	After      uint64   `json:"after"`
	Until      uint64   `json:"until,omitempty"`
	Transports []string `json:"transports,omitempty"`
	Types      []string `json:"types"`
	GapType    string   `json:"gapType"`
	PollMS     float64  `json:"pollMs,omitempty"`
	N          int      `json:"n,omitempty"`
	WindowMS   float64  `json:"windowMs,omitempty"`
}

// account is one consumer's account as the page reports it (Tally.summary).
type account struct {
	Transport   string    `json:"transport"`
	Received    int       `json:"received"`
	Last        uint64    `json:"last"`
	Duplicates  int       `json:"duplicates"`
	OutOfOrder  int       `json:"out_of_order"`
	Missing     int       `json:"missing"`
	Gaps        int       `json:"gaps"`
	Errors      int       `json:"errors"`
	Opens       int       `json:"opens"`
	LastEventID string    `json:"last_event_id"`
	LatenciesMS []float64 `json:"latencies_ms"`
	// ReadyState is an EventSource's: 0 connecting, 1 open, 2 closed.
	ReadyState int `json:"ready_state"`
}

// checkDelivery has the page consume opts.Events new events with every
// transport at once, from the current head, and reports each account.
func checkDelivery(bctx context.Context, st *stack, opts Options) DeliveryCheck {
	dc := DeliveryCheck{
		Events:        opts.Events,
		Rate:          opts.Rate,
		Payload:       opts.Payload,
		PollIntervalS: opts.PollInterval.Seconds(),
	}
	opts.Logf("browser: delivery: %d events at %g/s over %v", opts.Events, opts.Rate, pageTransports)
	accounts, err := deliver(bctx, st, opts)
	if err != nil {
		dc.Error = err.Error()
	}
	for _, a := range accounts {
		dc.Transports = append(dc.Transports, Delivery{
			Transport:  a.Transport,
			Expected:   opts.Events,
			Received:   a.Received,
			Duplicates: a.Duplicates,
			OutOfOrder: a.OutOfOrder,
			Missing:    a.Missing,
			Gaps:       a.Gaps,
			Errors:     a.Errors,
			Latency:    newLatency(a.LatenciesMS),
		})
	}
	return dc
}

func deliver(bctx context.Context, st *stack, opts Options) ([]account, error) {
	tab, closeTab, err := openTab(bctx, st.http+PagePath)
	if err != nil {
		return nil, err
	}
	defer closeTab()
	after := st.hub.Head()
	po := pageOptions{
		After:      after,
		Until:      after + uint64(opts.Events),
		Transports: pageTransports,
		Types:      eventTypes(),
		GapType:    event.GapType,
		PollMS:     float64(opts.PollInterval) / float64(time.Millisecond),
	}
	// Every consumer is connected before the first event is scheduled, so
	// latency measures delivery, not connection setup.
	if _, err := call[chromedp.Void](tab, actionTimeout, "deliver", po); err != nil {
		return nil, err
	}
	if _, err := st.srv.Start(servers.Schedule{Rate: opts.Rate, Payload: opts.Payload, Count: uint64(opts.Events)}); err != nil {
		return nil, err
	}
	defer st.srv.Stop() // the schedule has ended by then unless a check failed
	publishing := time.Duration(float64(opts.Events) / opts.Rate * float64(time.Second))
	wait := publishing + 10*time.Second // slack for a loaded machine
	accounts, err := call[[]account](tab, wait+actionTimeout, "delivered", wait.Milliseconds())
	if err != nil {
		return nil, err
	}
	if len(accounts) != len(pageTransports) {
		return accounts, fmt.Errorf("page reported %d transports, want %d", len(accounts), len(pageTransports))
	}
	return accounts, nil
}
