package report

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// projectTargets are the project's stated goals, in the order reports list them.
// Each is judged from the runs alone; change a number here and every report
// rendered afterwards, from the same results.json, judges by the new one.
var projectTargets = []target{
	{
		Name:        "p50 latency",
		Description: "With 1,000 SSE or WebSocket clients at 10 events/s, p50 delivery latency under 1 ms.",
		Transports:  []contract.Transport{"sse", "ws"},
		Figure:      "p50", Format: FormatNS,
		Bound: boundBelow, Limit: 1e6, FloorBound: true,
		Measure: atLoad(1000, 10, func(g *group) (float64, bool) { return g.P50.Median, g.Median.LatencyNS.Count > 0 }),
	},
	{
		Name:        "p99 latency",
		Description: "With 1,000 SSE or WebSocket clients at 10 events/s, p99 delivery latency under 5 ms.",
		Transports:  []contract.Transport{"sse", "ws"},
		Figure:      "p99", Format: FormatNS,
		Bound: boundBelow, Limit: 5e6, FloorBound: true,
		Measure: atLoad(1000, 10, func(g *group) (float64, bool) { return g.P99.Median, g.Median.LatencyNS.Count > 0 }),
	},
	{
		Name:        "no loss",
		Description: "With 1,000 SSE or WebSocket clients at 10 events/s, no event lost, in any repetition.",
		Transports:  []contract.Transport{"sse", "ws"},
		Figure:      "lost", Format: func(v float64) string { return formatCount(uint64(v)) },
		Bound: boundAtMost, Limit: 0,
		Measure: atLoad(1000, 10, func(g *group) (float64, bool) { return float64(g.Totals().Lost), true }),
	},
	{
		Name: "saturation throughput",
		Description: "At saturation, SSE and WebSocket deliver at least 0.7× the deliveries/s of the " + string(contract.Floor) +
			" floor in the same scenario, at the highest rate the floor ran.",
		Transports: []contract.Transport{"sse", "ws"},
		Figure:     "deliveries/s", Format: FormatSI,
		Bound: boundAtLeast, Limit: 0.7,
		Measure: saturationVsFloor,
	},
	{
		Name:        "load generator CPU",
		Description: "The load generator uses less CPU per delivered event than the server it measures, in every streaming configuration (" + string(contract.Floor) + " floor included).",
		Over:        "all streaming",
		Figure:      "load generator CPU/1k", Format: FormatNS,
		Bound: boundBelow, Limit: 1,
		Measure: loadgenCPU,
	},
	{
		Name:        "server memory/conn",
		Description: "Server memory per idle SSE or WebSocket connection at most 16 KiB (read in an idle scenario if one ran, else at the most clients).",
		Transports:  []contract.Transport{"sse", "ws"},
		Figure:      "server RSS/conn", Format: formatBytes,
		Bound: boundAtMost, Limit: 16 << 10,
		Measure: perConn(func(r *results.Run) float64 { return r.Server.BytesPerConn }),
	},
	{
		Name:        "load generator memory/conn",
		Description: "Load generator memory per SSE or WebSocket connection at most 16 KiB (read as the server's is).",
		Transports:  []contract.Transport{"sse", "ws"},
		Figure:      "load generator RSS/conn", Format: formatBytes,
		Bound: boundAtMost, Limit: 16 << 10,
		Measure: perConn(func(r *results.Run) float64 { return r.Loadgen.BytesPerConn }),
	},
}

// target is one stated goal and how to read it off a report.
type target struct {
	// Name is the short name tables show; Description states the goal.
	Name, Description string
	// Transports are judged one by one, a verdict each. Nil judges every
	// configuration Measure returns together, in one verdict, and Over
	// names them for tables ("all streaming").
	Transports []contract.Transport
	Over       string
	// Figure names what is measured in verdicts ("p50"); Format renders
	// its values.
	Figure string
	Format func(float64) string
	// The figure must be Bound Limit; when a measurement has a reference
	// (the floor's deliveries/s, the server's CPU), Bound Limit times it.
	Bound bound
	Limit float64
	// FloorBound is set where the floor missing the limit too, at the same
	// point, shows this machine's bound rather than the protocol's: the
	// verdict then says so.
	FloorBound bool
	// Measure reads the figure off groups (groupRuns(r.Runs)) for one
	// transport, "" when Transports is nil: a measurement per
	// configuration the target applies to and, when there is none, why.
	Measure func(r *results.Report, groups []group, transport contract.Transport) ([]measurement, string)
}

// bound is the side of its limit a target's figure must keep to.
type bound int

const (
	// boundBelow: strictly less than the limit.
	boundBelow bound = iota
	// boundAtMost: less than or equal.
	boundAtMost
	// boundAtLeast: greater than or equal.
	boundAtLeast
)

// measurement is a target's figure in one configuration.
type measurement struct {
	// Group is the configuration measured.
	Group *group
	Value float64
	// Ref, when not zero, is what the target's limit is a multiple of, and
	// RefName names it ("the server's").
	Ref     float64
	RefName string
	// Floor is the floor's value of the same figure at the same point, if
	// HasFloor.
	Floor    float64
	HasFloor bool
	// Note qualifies the value ("its ladder stopped at 2k/s").
	Note string
}

// status is how a report fares against a target.
type status int

const (
	// notMeasured: the report holds no run the target can be read from.
	notMeasured status = iota
	met
	missed
)

func (s status) String() string {
	switch s {
	case met:
		return "met"
	case missed:
		return "missed"
	default:
		return "not measured"
	}
}

// verdict is a target judged for one transport, or over every
// configuration it applies to.
type verdict struct {
	Target *target
	// Transport is "" for a target with no Transports.
	Transport contract.Transport
	Status    status
	// Met of Measured configurations met the target.
	Met, Measured int
	// Worst is the measurement furthest past the limit, or closest to it
	// when all met it.
	Worst measurement
	// Text says what was measured against what ("p50 1.8ms, 1.8× the 1ms
	// target (fanout, 1,000 clients, 10/s, 64 B)"), or why nothing was.
	Text string
}

// evaluate judges r against targets, normally projectTargets: a verdict per target
// and transport, in that order.
func evaluate(r *results.Report, targets []target) []verdict {
	groups := groupRuns(r.Runs)
	var out []verdict
	for i := range targets {
		t := &targets[i]
		trs := t.Transports
		if trs == nil {
			trs = []contract.Transport{""}
		}
		for _, tr := range trs {
			ms, why := t.Measure(r, groups, tr)
			out = append(out, t.judge(tr, ms, why))
		}
	}
	return out
}

// judge turns one transport's measurements into a verdict.
func (t *target) judge(tr contract.Transport, ms []measurement, why string) verdict {
	v := verdict{Target: t, Transport: tr, Measured: len(ms)}
	if len(ms) == 0 {
		v.Text = why
		return v
	}
	v.Worst = ms[0]
	for _, m := range ms {
		if t.meets(m) {
			v.Met++
		}
		if t.excess(m) > t.excess(v.Worst) {
			v.Worst = m
		}
	}
	v.Status = met
	if v.Met < v.Measured {
		v.Status = missed
	}
	v.Text = t.describe(v.Worst, tr == "")
	if v.Measured > 1 {
		word := "closest"
		if v.Status == missed {
			word = "worst"
		}
		v.Text = fmt.Sprintf("%d of %d configurations meet it; %s: %s", v.Met, v.Measured, word, v.Text)
	}
	return v
}

// limit is the bound m's value is held to.
func (t *target) limit(m measurement) float64 {
	if m.Ref != 0 {
		return t.Limit * m.Ref
	}
	return t.Limit
}

func (t *target) meets(m measurement) bool { return t.within(m.Value, t.limit(m)) }

func (t *target) within(v, limit float64) bool {
	switch t.Bound {
	case boundBelow:
		return v < limit
	case boundAtMost:
		return v <= limit
	default:
		return v >= limit
	}
}

// excess is how far m's value lies on the wrong side of its limit, as a
// ratio, so measurements against different references compare: above 1 is
// past it.
func (t *target) excess(m measurement) float64 {
	l := t.limit(m)
	switch {
	case t.Bound == boundAtLeast && m.Value == 0:
		return math.Inf(1)
	case t.Bound == boundAtLeast:
		return l / m.Value
	case l == 0:
		return m.Value
	default:
		return m.Value / l
	}
}

// describe says what m measured against the target: "fanout, 1,000
// clients, 10/s, 64 B: p50 1.8ms, 1.8× the 1ms target". withLabel names the
// transport too, for verdicts over several.
func (t *target) describe(m measurement, withLabel bool) string {
	c := m.Group.Config
	s := c.Load()
	if withLabel {
		s = c.Label() + ", " + s
		if c.Scenario != "" {
			s = c.Scenario + " " + s
		}
	} else if c.Scenario != "" {
		s = c.Scenario + ", " + s
	}
	s += ": " + t.Figure + " " + t.Format(m.Value)
	l := t.limit(m)
	switch {
	case l == 0:
	case m.Ref == 0:
		s += fmt.Sprintf(", %s the %s target", FormatRatio(m.Value, l), t.Format(l))
	case t.Limit == 1:
		s += fmt.Sprintf(", %s %s %s", FormatRatio(m.Value, l), m.RefName, t.Format(m.Ref))
	default:
		s += fmt.Sprintf(", %s the %s target (%s× %s %s)", FormatRatio(m.Value, l), t.Format(l), sig3(t.Limit), m.RefName, t.Format(m.Ref))
	}
	if m.Note != "" {
		s += "; " + m.Note
	}
	if t.FloorBound && m.HasFloor && m.Ref == 0 && !t.meets(m) && !t.within(m.Floor, l) {
		s += fmt.Sprintf("; the %s floor measured %s here: this machine's bound, not the protocol's", contract.Floor, t.Format(m.Floor))
	}
	return s
}

// atLoad measures a figure of every configuration of a transport with
// exactly clients clients at rate events/s, in any scenario, with the
// floor's at the same point beside it. figure reports false for a group
// that did not measure it.
func atLoad(clients int, rate float64, figure func(*group) (float64, bool)) func(*results.Report, []group, contract.Transport) ([]measurement, string) {
	return func(_ *results.Report, groups []group, tr contract.Transport) ([]measurement, string) {
		var out []measurement
		for _, pt := range points(groups) {
			if c := pt[0].Config; c.Clients != clients || c.Rate != rate {
				continue
			}
			floor := floorOf(pt)
			for i := range pt {
				g := &pt[i]
				v, ok := figure(g)
				if g.Config.Transport != tr || !ok {
					continue
				}
				m := measurement{Group: g, Value: v}
				if floor != nil {
					m.Floor, m.HasFloor = figure(floor)
				}
				out = append(out, m)
			}
		}
		return out, fmt.Sprintf("no %s run at %s clients and %s", tr, formatCount(uint64(clients)), formatRate(rate))
	}
}

// floorOf returns the floor's group at a point, or nil.
func floorOf(pt []group) *group {
	for i := range pt {
		if pt[i].Config.Transport == contract.Floor {
			return &pt[i]
		}
	}
	return nil
}

// saturationVsFloor measures, per saturation ladder (a saturation
// scenario's groups that differ only in rate and transport), a transport's
// deliveries/s against the floor's at the highest rate the floor ran. A
// transport whose ladder stopped below that rate is held to its best
// deliveries/s anywhere on the ladder: what it managed before it broke.
func saturationVsFloor(r *results.Report, groups []group, tr contract.Transport) ([]measurement, string) {
	type ladder struct{ floor, best, top *group }
	var order []config
	ladders := map[config]*ladder{}
	for i := range groups {
		g := &groups[i]
		if r.Scenario(g.Config.Scenario).Kind != contract.Saturation || g.DeliveriesPerSec.Median <= 0 {
			continue
		}
		key := g.Config.Point()
		key.Rate = 0
		l := ladders[key]
		if l == nil {
			l = &ladder{}
			ladders[key] = l
			order = append(order, key)
		}
		switch g.Config.Transport {
		case contract.Floor:
			if l.floor == nil || g.Config.Rate > l.floor.Config.Rate {
				l.floor = g
			}
		case tr:
			if l.best == nil || g.DeliveriesPerSec.Median > l.best.DeliveriesPerSec.Median {
				l.best = g
			}
			if l.top == nil || g.Config.Rate > l.top.Config.Rate {
				l.top = g
			}
		}
	}
	var out []measurement
	for _, key := range order {
		l := ladders[key]
		if l.floor == nil || l.best == nil {
			continue
		}
		m := measurement{Group: l.best, Value: l.best.DeliveriesPerSec.Median,
			Ref: l.floor.DeliveriesPerSec.Median, RefName: "the " + string(contract.Floor) + " floor's"}
		var at *group
		for i := range groups {
			if g := &groups[i]; g.Config.Point() == l.floor.Config.Point() && g.Config.Transport == tr {
				at = g
			}
		}
		if at != nil {
			m.Group, m.Value = at, at.DeliveriesPerSec.Median
		} else {
			m.Note = fmt.Sprintf("its ladder stopped at %s, below the floor's %s: its best rate shown", formatRate(l.top.Config.Rate), formatRate(l.floor.Config.Rate))
		}
		out = append(out, m)
	}
	return out, fmt.Sprintf("no saturation scenario ran %s beside the %s floor", tr, contract.Floor)
}

// loadgenCPU measures, in every streaming configuration (polling's client
// and server work per delivery differ by design), the load generator's CPU
// per delivery against the server's.
func loadgenCPU(_ *results.Report, groups []group, _ contract.Transport) ([]measurement, string) {
	var out []measurement
	for i := range groups {
		g := &groups[i]
		lg, srv := g.Median.Loadgen.CPUPer1kDeliveries, g.Median.Server.CPUPer1kDeliveries
		if polling(g.Config) || lg <= 0 || srv <= 0 {
			continue
		}
		out = append(out, measurement{Group: g, Value: lg * 1e9, Ref: srv * 1e9, RefName: "the server's"})
	}
	return out, "no streaming run recorded both processes' CPU"
}

// polling reports whether c is a polling configuration.
func polling(c config) bool {
	return c.Transport.Polls() || c.PollIntervalS > 0
}

// memoryGroups are where memory per connection is read: the idle
// scenarios' groups if there are any, else those with the most clients.
func memoryGroups(r *results.Report, groups []group) (gs []*group, where string) {
	for i := range groups {
		if r.Scenario(groups[i].Config.Scenario).Kind == contract.Idle {
			gs = append(gs, &groups[i])
		}
	}
	if len(gs) > 0 {
		return gs, "in an idle scenario"
	}
	most := 0
	for _, g := range groups {
		most = max(most, g.Config.Clients)
	}
	for i := range groups {
		if groups[i].Config.Clients == most {
			gs = append(gs, &groups[i])
		}
	}
	return gs, "at " + formatCount(uint64(most)) + " clients"
}

// perConn measures memory per connection, as perConn reads it off a run,
// where memoryGroups says, with the floor's at the same point. A zero is
// not measured: the process's RSS did not grow as the connections opened.
func perConn(figure func(*results.Run) float64) func(*results.Report, []group, contract.Transport) ([]measurement, string) {
	return func(r *results.Report, groups []group, tr contract.Transport) ([]measurement, string) {
		gs, where := memoryGroups(r, groups)
		var out []measurement
		ran := false
		for _, g := range gs {
			if g.Config.Transport != tr {
				continue
			}
			ran = true
			v := figure(&g.Median)
			if v <= 0 {
				continue
			}
			m := measurement{Group: g, Value: v}
			for _, f := range gs {
				if f.Config.Transport == contract.Floor && f.Config.Point() == g.Config.Point() && figure(&f.Median) > 0 {
					m.Floor, m.HasFloor = figure(&f.Median), true
				}
			}
			out = append(out, m)
		}
		if ran {
			return out, fmt.Sprintf("the %s runs %s did not record it: RSS did not grow as the connections opened", tr, where)
		}
		return out, fmt.Sprintf("no %s run %s", tr, where)
	}
}

// targetSubject names what a verdict judged, for tables.
func targetSubject(v *verdict) string {
	if v.Transport == "" {
		return v.Target.Over
	}
	return string(v.Transport)
}

// newTargetsTable renders verdicts, as evaluate returns them: target,
// transport, status, and what was measured against what.
func newTargetsTable(verdicts []verdict, s style) Reporter {
	return func(w io.Writer) error {
		t := table{cols: []column{left("target"), left("transport"), left("result"), left("measured")}}
		for i := range verdicts {
			v := &verdicts[i]
			t.add(v.Target.Name, targetSubject(v), v.Status.String(), v.Text)
		}
		return t.render(w, s)
	}
}

// targetTally counts verdicts by status: "3 met, 2 missed, 1 not
// measured", leaving out zeros.
func targetTally(verdicts []verdict) string {
	n := map[status]int{}
	for _, v := range verdicts {
		n[v.Status]++
	}
	var parts []string
	for _, s := range []status{met, missed, notMeasured} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	return strings.Join(parts, ", ")
}
