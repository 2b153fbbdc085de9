package report

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// config is what a run measured, apart from chance: runs with equal configs
// are repetitions of one another.
type config struct {
	Scenario  string
	Transport contract.Transport
	// Impl is the server implementation; empty when the run did not name
	// one (files written before implementations were named).
	Impl    string
	Clients int
	Rate    float64
	Burst   int
	Payload int
	// PollIntervalS is set for polling runs only.
	PollIntervalS float64
}

// configOf returns the run's configuration.
func configOf(r *results.Run) config {
	return config{
		Scenario: r.Scenario, Transport: r.Transport, Impl: r.Impl, Clients: r.Clients,
		Rate: r.Rate, Burst: max(r.Burst, 1), Payload: r.Payload,
		PollIntervalS: r.PollIntervalS,
	}
}

// Point is c without its transport: one point of a scenario, where every
// transport, the floor included, faces the same load.
func (c config) Point() config {
	c.Transport, c.Impl, c.PollIntervalS = "", "", 0
	return c
}

// Name is TRANSPORT/IMPL ("ws/gws"), or the transport alone when the run
// named no implementation.
func (c config) Name() string {
	if c.Impl == "" {
		return string(c.Transport)
	}
	return string(c.Transport) + "/" + c.Impl
}

// Label names the configuration as tables show it: "sse", "ws/gws", or
// "poll 500ms" for a polling run.
func (c config) Label() string {
	if c.PollIntervalS > 0 {
		return c.Name() + " " + FormatInterval(c.PollIntervalS)
	}
	return c.Name()
}

// Load describes the load: "1000 clients, 10/s, 64 B" (and "×4 burst" when
// events come in bursts).
func (c config) Load() string {
	s := fmt.Sprintf("%s clients, %s, %s", formatCount(uint64(max(c.Clients, 0))), formatRate(c.Rate), formatBytes(float64(c.Payload)))
	if c.Burst > 1 {
		s += fmt.Sprintf(", bursts of %d", c.Burst)
	}
	return s
}

// spread is one figure over a configuration's repetitions.
type spread struct {
	Min, Median, Max float64
	// N is the number of repetitions.
	N int
}

// spreadOf returns the spread of vs. Median is the lower middle value for an
// even count, so it is always a measured value, never an average of two.
func spreadOf(vs []float64) spread {
	if len(vs) == 0 {
		return spread{}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return spread{Min: s[0], Median: s[(len(s)-1)/2], Max: s[len(s)-1], N: len(s)}
}

// Varies reports whether the repetitions disagree.
func (s spread) Varies() bool { return s.N > 1 && s.Min != s.Max }

// group is every repetition of one configuration. Reports show a group's
// median run with the spread of its key figures, never the best of N: the
// best run is the one where the machine's noise happened to help.
type group struct {
	Config config
	// Runs are the repetitions in the order they ran.
	Runs []results.Run
	// Median is the run with the median p99 (the lower middle one for an
	// even count). Tables show its figures.
	Median results.Run
	// P50 and P99 (ns) and DeliveriesPerSec over the repetitions.
	P50, P99, DeliveriesPerSec spread
}

// groupRuns gathers runs into configurations. Groups come in scenario order
// (of first appearance), then by clients, payload, burst and rate, then by
// transport (poll, sse, ws, tcp, then any other by name) and polling
// interval, so that every transport at one point of a scenario sits
// together.
func groupRuns(runs []results.Run) []group {
	scenarioOrder := map[string]int{}
	index := map[config]int{}
	var groups []group
	for _, r := range runs {
		if _, ok := scenarioOrder[r.Scenario]; !ok {
			scenarioOrder[r.Scenario] = len(scenarioOrder)
		}
		c := configOf(&r)
		i, ok := index[c]
		if !ok {
			i = len(groups)
			index[c] = i
			groups = append(groups, group{Config: c})
		}
		groups[i].Runs = append(groups[i].Runs, r)
	}
	for i := range groups {
		g := &groups[i]
		var p50, p99, dps []float64
		for _, r := range g.Runs {
			p50 = append(p50, float64(r.LatencyNS.P50))
			p99 = append(p99, float64(r.LatencyNS.P99))
			dps = append(dps, r.DeliveriesPerSec)
		}
		g.P50, g.P99, g.DeliveriesPerSec = spreadOf(p50), spreadOf(p99), spreadOf(dps)
		byP99 := slices.Clone(g.Runs)
		slices.SortStableFunc(byP99, func(a, b results.Run) int { return cmp.Compare(a.LatencyNS.P99, b.LatencyNS.P99) })
		g.Median = byP99[(len(byP99)-1)/2]
	}
	slices.SortStableFunc(groups, func(a, b group) int {
		x, y := a.Config, b.Config
		return cmp.Or(
			cmp.Compare(scenarioOrder[x.Scenario], scenarioOrder[y.Scenario]),
			cmp.Compare(x.Clients, y.Clients),
			cmp.Compare(x.Payload, y.Payload),
			cmp.Compare(x.Burst, y.Burst),
			cmp.Compare(x.Rate, y.Rate),
			contract.Order(x.Transport, y.Transport),
			cmp.Compare(x.Impl, y.Impl),
			cmp.Compare(x.PollIntervalS, y.PollIntervalS),
		)
	})
	return groups
}

// Totals sums the delivery accounting over every repetition. Tables show
// these sums beside the median run's figures: one repetition's loss must
// not hide behind another's clean median.
func (g *group) Totals() results.Run {
	var t results.Run
	for _, r := range g.Runs {
		t.EventsPublished += r.EventsPublished
		t.Delivery = t.Delivery.Add(r.Delivery)
		t.SlowDisconnects += r.SlowDisconnects
		t.Connections.Attempted += r.Connections.Attempted
		t.Connections.Established += r.Connections.Established
		t.Connections.Failed += r.Connections.Failed
		t.Connections.Reconnects += r.Connections.Reconnects
	}
	return t
}

// Latency merges the histograms of every repetition: the exact distribution
// of all their deliveries. It returns nil and no error when no run has a
// histogram.
func (g *group) Latency() (*hdrhistogram.Histogram, error) {
	var merged *hdrhistogram.Histogram
	for i := range g.Runs {
		if g.Runs[i].Histogram == "" {
			continue
		}
		h, err := g.Runs[i].DecodeHistogram()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", g.Config.Label(), g.Config.Load(), err)
		}
		if merged == nil {
			merged = h
			continue
		}
		if dropped := merged.Merge(h); dropped > 0 {
			return nil, fmt.Errorf("%s %s: merging histograms dropped %d values", g.Config.Label(), g.Config.Load(), dropped)
		}
	}
	return merged, nil
}

// ofScenario returns the groups of scenario name, in their order.
func ofScenario(groups []group, name string) []group {
	var gs []group
	for _, g := range groups {
		if g.Config.Scenario == name {
			gs = append(gs, g)
		}
	}
	return gs
}

// points splits groups (as groupRuns orders them) into runs of equal Point:
// every transport at one point of a scenario.
func points(groups []group) [][]group {
	var out [][]group
	for i, g := range groups {
		if i == 0 || g.Config.Point() != groups[i-1].Config.Point() {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], g)
	}
	return out
}

// bad reports whether a run broke the delivery guarantee: an event lost,
// duplicated, reordered or garbled.
func bad(r *results.Run) bool { return r.Lost+r.Duplicates+r.Reordered+r.Malformed > 0 }
