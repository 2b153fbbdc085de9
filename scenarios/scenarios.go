// Package scenarios declares what a benchmark run measures: named scenarios,
// each a small table of transports, client counts, rates, payloads and
// polling intervals that expands into cases. A user copies a scenario,
// changes a number and has a new benchmark; nothing here runs anything.
package scenarios

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/servers"
)

// Names used below, from the one vocabulary every package shares.
const (
	Poll     = contract.Poll
	LongPoll = contract.LongPoll
	SSE      = contract.SSE
	WS       = contract.WS
	TCP      = contract.TCP
	PollH2   = contract.PollH2
	PollH2C  = contract.PollH2C
	SSEH2    = contract.SSEH2
	SSEH2C   = contract.SSEH2C

	FanOut          = contract.FanOut
	Saturation      = contract.Saturation
	Payload         = contract.Payload
	Idle            = contract.Idle
	PollInterval    = contract.PollInterval
	PollCapacity    = contract.PollCapacity
	Scale           = contract.Scale
	Fault           = contract.FaultKind
	Implementations = contract.Implementations

	Crash     = contract.Crash
	Graceful  = contract.Graceful
	SlowClose = contract.SlowClose
	Reset     = contract.Reset
	Partition = contract.Partition
	Degrade   = contract.Degrade
	Storm     = contract.Storm

	FullJitter = contract.FullJitter
	NoJitter   = contract.NoJitter
)

// All is every transport a default scenario runs, the floor included.
var All = []contract.Transport{Poll, LongPoll, SSE, WS, TCP}

// FaultSpec is what a Fault scenario breaks, for how long, and how its
// clients reconnect. A zero field takes the default shown.
type FaultSpec struct {
	// Faults default to every fault.
	Faults []contract.Fault
	// Jitters are the reconnect policies to cross; default [FullJitter].
	Jitters []contract.Jitter
	// Before is steady streaming before the fault and After streaming once
	// every client recovered; both default to 2s.
	Before, After time.Duration
	// Downtime is how long the server (crash, graceful, slowclose) or the
	// network (reset) stays down; default 1s.
	Downtime time.Duration
	// Length is how long a partition or a degradation lasts; default 8s.
	Length time.Duration
	// Latency ± LatencyJitter and BandwidthKBs (KB/s per connection) are
	// what Degrade adds; defaults 200ms ± 100ms and 64 KB/s.
	Latency, LatencyJitter time.Duration
	BandwidthKBs           int64
	// SlowClose is SlowClose's delay; default 2s.
	SlowClose time.Duration
	// ReadTimeout is how long every client lets a connection stay silent
	// before calling it dead (polling: its request timeout); default 5s.
	ReadTimeout time.Duration
	// Retry is the retry: the server sends SSE clients; default 1s.
	Retry time.Duration
}

// Span is about how long the schedule runs in one run of fault: Before, the
// fault itself, After. Catching up adds to it.
func (f FaultSpec) Span(fault contract.Fault) time.Duration {
	d := f.Before + f.After
	switch fault {
	case Crash, Graceful, Reset:
		d += f.Downtime
	case SlowClose:
		d += f.Downtime + f.SlowClose
	case Partition, Degrade:
		d += f.Length
	}
	return d
}

// withDefaults returns f with every default filled in.
func (f FaultSpec) withDefaults() FaultSpec {
	f.Faults = orDefault(f.Faults, contract.Faults...)
	f.Jitters = orDefault(f.Jitters, FullJitter)
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&f.Before, 2*time.Second)
	def(&f.After, 2*time.Second)
	def(&f.Downtime, time.Second)
	def(&f.Length, 8*time.Second)
	def(&f.Latency, 200*time.Millisecond)
	def(&f.LatencyJitter, 100*time.Millisecond)
	def(&f.SlowClose, 2*time.Second)
	def(&f.ReadTimeout, 5*time.Second)
	def(&f.Retry, time.Second)
	if f.BandwidthKBs <= 0 {
		f.BandwidthKBs = 64
	}
	return f
}

// Scenario is one named experiment. Every list field is crossed with the
// others; an empty list means the single default shown on the field.
type Scenario struct {
	Name        string
	Kind        contract.Kind
	Description string
	// Transports defaults to All.
	Transports []contract.Transport
	// EveryImpl crosses each transport with every server implementation of
	// it (servers.Impls), the default first; otherwise each transport runs
	// its default. The implementations of one transport at one load show
	// what the library costs beside what the protocol costs.
	EveryImpl bool
	// Clients defaults to [100].
	Clients []int
	// Rates, in events/s, default to [10]. For Saturation they are the steps,
	// in increasing order.
	Rates []float64
	// Burst is events per scheduled instant; defaults to 1.
	Burst int
	// Payloads, in bytes, default to [64].
	Payloads []int
	// PollIntervals apply to polling clients; default [1s].
	PollIntervals []time.Duration
	// Warmup and Duration default to 1s and 5s.
	Warmup, Duration time.Duration
	// Repetitions of every case; defaults to 1. Reports show the spread.
	Repetitions int
	// P99Bound is the latency bound a Saturation step must keep.
	P99Bound time.Duration
	// Heartbeat overrides the server's SSE heartbeat interval (Idle, Scale).
	Heartbeat time.Duration
	// Idle, if set, holds the connections open and idle this long before
	// publishing and records the bytes that flow meanwhile: heartbeats,
	// pings and empty polls (Scale). Zero: no idle window.
	Idle time.Duration
	// ReadBuffer is each client's read buffer in bytes; zero means the load
	// generator's default (loadgen.DefaultReadBuffer, 4 KiB). Longer lines
	// and messages still arrive whole: it only sizes what each connection
	// holds while idle.
	ReadBuffer int
	// Fault is what a Fault scenario injects; nil means FaultSpec's
	// defaults. Its faults and jitter policies are crossed with the
	// transports, clients, rates and payloads; Warmup and Duration do not
	// apply (Before and After do).
	Fault *FaultSpec
}

// Case is one run of one transport in one configuration.
type Case struct {
	Scenario  *Scenario
	Transport contract.Transport
	// Impl is the server implementation of the transport; empty means its
	// default.
	Impl         string
	Clients      int
	Rate         float64
	Payload      int
	PollInterval time.Duration
	Repetition   int // 1-based
	// Fault and Jitter are set on a Fault scenario's cases.
	Fault  contract.Fault
	Jitter contract.Jitter
}

// String names the case in progress bars and logs.
func (c Case) String() string {
	s := fmt.Sprintf("%s %s c=%d r=%g p=%d", c.Scenario.Name, c.Name(), c.Clients, c.Rate, c.Payload)
	if c.Transport.Polls() {
		s += " i=" + c.PollInterval.String()
	}
	if c.Fault != "" {
		s += " " + string(c.Fault)
		if c.Jitter != FullJitter {
			s += " jitter=" + string(c.Jitter)
		}
	}
	if c.Scenario.Repetitions > 1 {
		s += fmt.Sprintf(" #%d", c.Repetition)
	}
	return s
}

// Name is the case's TRANSPORT/IMPL, or its transport alone for the
// default implementation.
func (c Case) Name() string {
	if c.Impl == "" {
		return string(c.Transport)
	}
	return string(c.Transport) + "/" + c.Impl
}

// Step identifies a case's saturation ladder: cases equal in everything but
// Rate and Repetition climb the same ladder.
func (c Case) Step() string {
	return fmt.Sprintf("%s/%s/%d/%d/%v/%d", c.Scenario.Name, c.Name(), c.Clients, c.Payload, c.PollInterval, c.Repetition)
}

func orDefault[T any](v []T, d ...T) []T {
	if len(v) == 0 {
		return d
	}
	return v
}

// WithDefaults returns s with every default filled in.
func (s Scenario) WithDefaults() Scenario {
	s.Transports = orDefault(s.Transports, All...)
	s.Clients = orDefault(s.Clients, 100)
	s.Rates = orDefault(s.Rates, 10)
	s.Payloads = orDefault(s.Payloads, 64)
	s.PollIntervals = orDefault(s.PollIntervals, time.Second)
	if s.Burst <= 0 {
		s.Burst = 1
	}
	if s.Warmup <= 0 {
		s.Warmup = time.Second
	}
	if s.Duration <= 0 {
		s.Duration = 5 * time.Second
	}
	if s.Repetitions <= 0 {
		s.Repetitions = 1
	}
	if s.Kind == Fault {
		if s.Heartbeat <= 0 {
			// A fault's detection is the point: heartbeats well inside
			// the clients' read timeout.
			s.Heartbeat = time.Second
		}
		var f FaultSpec
		if s.Fault != nil {
			f = *s.Fault
		}
		f = f.withDefaults()
		s.Fault = &f
	}
	return s
}

// Cases expands the scenario. Repetitions are interleaved (every case once,
// then again), so a slow minute on a noisy machine spreads over all
// transports instead of landing on one, and transports alternate within each
// configuration for the same reason.
func (s *Scenario) Cases() []Case {
	var out []Case
	for rep := 1; rep <= s.Repetitions; rep++ {
		for _, clients := range s.Clients {
			for _, payload := range s.Payloads {
				for _, rate := range s.Rates {
					for _, tr := range s.Transports {
						intervals := []time.Duration{0}
						if tr.Polls() {
							intervals = s.PollIntervals
						}
						for _, impl := range s.impls(tr) {
							for _, iv := range intervals {
								c := Case{Scenario: s, Transport: tr, Impl: impl, Clients: clients, Rate: rate,
									Payload: payload, PollInterval: iv, Repetition: rep}
								if s.Kind != Fault || s.Fault == nil {
									out = append(out, c)
									continue
								}
								out = append(out, c.faults()...)
							}
						}
					}
				}
			}
		}
	}
	if s.Kind == Fault && s.Fault != nil {
		// One fault against every transport in turn, then the next: the
		// transports a fault compares run minutes, not the whole matrix,
		// apart.
		slices.SortStableFunc(out, func(a, b Case) int {
			return slices.Index(s.Fault.Faults, a.Fault) - slices.Index(s.Fault.Faults, b.Fault)
		})
	}
	return out
}

// impls are the server implementations a case of transport t runs: every
// one registered (servers.Impls), the default first, with EveryImpl; the
// default alone, unnamed, otherwise.
func (s *Scenario) impls(t contract.Transport) []string {
	if !s.EveryImpl {
		return []string{""}
	}
	var out []string
	for _, i := range servers.Impls(t.Base()) {
		out = append(out, i.Name)
	}
	if len(out) == 0 {
		return []string{""} // the floor: pushbench's own only
	}
	return out
}

// faults crosses a Fault scenario's case with its faults and jitter
// policies. Polling runs once per fault, with the first policy: it has no
// reconnect policy to jitter (its next tick is its retry, at a phase of its
// own), so a second run would only repeat the first.
func (c Case) faults() []Case {
	var out []Case
	for _, f := range c.Scenario.Fault.Faults {
		for i, j := range c.Scenario.Fault.Jitters {
			if i > 0 && c.Transport == Poll {
				continue
			}
			fc := c
			fc.Fault, fc.Jitter = f, j
			out = append(out, fc)
		}
	}
	return out
}

// Matrix is an ordered set of scenarios.
type Matrix []Scenario

// Matrices are the named matrices `pushbench bench --matrix` accepts.
var Matrices = map[string]Matrix{
	"default": Default,
	"quick":   Quick,
	"scale":   ScaleMatrix,
	"faults":  FaultsMatrix,
}

// Lookup returns the named matrix with defaults filled in.
func Lookup(name string) (Matrix, error) {
	m, ok := Matrices[name]
	if !ok {
		names := make([]string, 0, len(Matrices))
		for n := range Matrices {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown matrix %q (have %s)", name, strings.Join(names, ", "))
	}
	out := make(Matrix, len(m))
	for i, s := range m {
		out[i] = s.WithDefaults()
	}
	return out, nil
}

// Select keeps the scenarios whose names are listed (all when names is
// empty) and reports an unknown name.
func (m Matrix) Select(names []string) (Matrix, error) {
	if len(names) == 0 {
		return m, nil
	}
	var out Matrix
	for _, n := range names {
		i := slices.IndexFunc(m, func(s Scenario) bool { return s.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("no scenario %q in this matrix", n)
		}
		out = append(out, m[i])
	}
	return out, nil
}

// Cases expands every scenario in order.
func (m Matrix) Cases() []Case {
	var out []Case
	for i := range m {
		out = append(out, m[i].Cases()...)
	}
	return out
}
