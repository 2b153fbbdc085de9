package results

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/pushbench/pushbench/contract"
)

// Targets are the project's stated goals, in the order reports list them.
// Each is judged from the runs alone; change a number here and every report
// rendered afterwards, from the same results.json, judges by the new one.
var Targets = []Target{
	{
		Name:        "p50 latency",
		Description: "With 1,000 SSE or WebSocket clients at 10 events/s, p50 delivery latency under 1 ms.",
		Transports:  []contract.Transport{"sse", "ws"},
		Figure:      "p50", Format: FormatNS,
		Bound: Below, Limit: 1e6, FloorBound: true,
		Measure: atLoad(1000, 10, func(g *Group) (float64, bool) { return g.P50.Median, g.Median.LatencyNS.Count > 0 }),
	},
	{
		Name:        "p99 latency",
		Description: "With 1,000 SSE or WebSocket clients at 10 events/s, p99 delivery latency under 5 ms.",
		Transports:  []contract.Transport{"sse", "ws"},
		Figure:      "p99", Format: FormatNS,
		Bound: Below, Limit: 5e6, FloorBound: true,
		Measure: atLoad(1000, 10, func(g *Group) (float64, bool) { return g.P99.Median, g.Median.LatencyNS.Count > 0 }),
	},
	{
		Name:        "no loss",
		Description: "With 1,000 SSE or WebSocket clients at 10 events/s, no event lost, in any repetition.",
		Transports:  []contract.Transport{"sse", "ws"},
		Figure:      "lost", Format: func(v float64) string { return FormatCount(uint64(v)) },
		Bound: AtMost, Limit: 0,
		Measure: atLoad(1000, 10, func(g *Group) (float64, bool) { return float64(g.Totals().Lost), true }),
	},
	{
		Name: "saturation throughput",
		Description: "At saturation, SSE and WebSocket deliver at least 0.7× the deliveries/s of the " + string(Floor) +
			" floor in the same scenario, at the highest rate the floor ran.",
		Transports: []contract.Transport{"sse", "ws"},
		Figure:     "deliveries/s", Format: FormatSI,
		Bound: AtLeast, Limit: 0.7,
		Measure: saturationVsFloor,
	},
	{
		Name:        "load generator CPU",
		Description: "The load generator uses less CPU per delivered event than the server it measures, in every streaming configuration (" + string(Floor) + " floor included).",
		Over:        "all streaming",
		Figure:      "load generator CPU/1k", Format: FormatNS,
		Bound: Below, Limit: 1,
		Measure: loadgenCPU,
	},
	{
		Name:        "server memory/conn",
		Description: "Server memory per idle SSE or WebSocket connection at most 16 KiB (read in an idle scenario if one ran, else at the most clients).",
		Transports:  []contract.Transport{"sse", "ws"},
		Figure:      "server RSS/conn", Format: FormatBytes,
		Bound: AtMost, Limit: 16 << 10,
		Measure: perConn(func(r *Run) float64 { return r.Server.BytesPerConn }),
	},
	{
		Name:        "load generator memory/conn",
		Description: "Load generator memory per SSE or WebSocket connection at most 16 KiB (read as the server's is).",
		Transports:  []contract.Transport{"sse", "ws"},
		Figure:      "load generator RSS/conn", Format: FormatBytes,
		Bound: AtMost, Limit: 16 << 10,
		Measure: perConn(func(r *Run) float64 { return r.Loadgen.BytesPerConn }),
	},
}

// Target is one stated goal and how to read it off a report.
type Target struct {
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
	Bound Bound
	Limit float64
	// FloorBound is set where the floor missing the limit too, at the same
	// point, shows this machine's bound rather than the protocol's: the
	// verdict then says so.
	FloorBound bool
	// Measure reads the figure off groups (Groups(r.Runs)) for one
	// transport, "" when Transports is nil: a measurement per
	// configuration the target applies to and, when there is none, why.
	Measure func(r *Report, groups []Group, transport contract.Transport) ([]Measurement, string)
}

// Bound is the side of its limit a target's figure must keep to.
type Bound int

const (
	// Below: strictly less than the limit.
	Below Bound = iota
	// AtMost: less than or equal.
	AtMost
	// AtLeast: greater than or equal.
	AtLeast
)

// Measurement is a target's figure in one configuration.
type Measurement struct {
	// Group is the configuration measured.
	Group *Group
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

// Status is how a report fares against a target.
type Status int

const (
	// NotMeasured: the report holds no run the target can be read from.
	NotMeasured Status = iota
	Met
	Missed
)

func (s Status) String() string {
	switch s {
	case Met:
		return "met"
	case Missed:
		return "missed"
	default:
		return "not measured"
	}
}

// Verdict is a target judged for one transport, or over every
// configuration it applies to.
type Verdict struct {
	Target *Target
	// Transport is "" for a target with no Transports.
	Transport contract.Transport
	Status    Status
	// Met of Measured configurations met the target.
	Met, Measured int
	// Worst is the measurement furthest past the limit, or closest to it
	// when all met it.
	Worst Measurement
	// Text says what was measured against what ("p50 1.8ms, 1.8× the 1ms
	// target (fanout, 1,000 clients, 10/s, 64 B)"), or why nothing was.
	Text string
}

// Evaluate judges r against targets, normally Targets: a verdict per target
// and transport, in that order.
func Evaluate(r *Report, targets []Target) []Verdict {
	groups := Groups(r.Runs)
	var out []Verdict
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
func (t *Target) judge(tr contract.Transport, ms []Measurement, why string) Verdict {
	v := Verdict{Target: t, Transport: tr, Measured: len(ms)}
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
	v.Status = Met
	if v.Met < v.Measured {
		v.Status = Missed
	}
	v.Text = t.describe(v.Worst, tr == "")
	if v.Measured > 1 {
		word := "closest"
		if v.Status == Missed {
			word = "worst"
		}
		v.Text = fmt.Sprintf("%d of %d configurations meet it; %s: %s", v.Met, v.Measured, word, v.Text)
	}
	return v
}

// limit is the bound m's value is held to.
func (t *Target) limit(m Measurement) float64 {
	if m.Ref != 0 {
		return t.Limit * m.Ref
	}
	return t.Limit
}

func (t *Target) meets(m Measurement) bool { return t.within(m.Value, t.limit(m)) }

func (t *Target) within(v, limit float64) bool {
	switch t.Bound {
	case Below:
		return v < limit
	case AtMost:
		return v <= limit
	default:
		return v >= limit
	}
}

// excess is how far m's value lies on the wrong side of its limit, as a
// ratio, so measurements against different references compare: above 1 is
// past it.
func (t *Target) excess(m Measurement) float64 {
	l := t.limit(m)
	switch {
	case t.Bound == AtLeast && m.Value == 0:
		return math.Inf(1)
	case t.Bound == AtLeast:
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
func (t *Target) describe(m Measurement, withLabel bool) string {
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
		s += fmt.Sprintf("; the %s floor measured %s here: this machine's bound, not the protocol's", Floor, t.Format(m.Floor))
	}
	return s
}

// atLoad measures a figure of every configuration of a transport with
// exactly clients clients at rate events/s, in any scenario, with the
// floor's at the same point beside it. figure reports false for a group
// that did not measure it.
func atLoad(clients int, rate float64, figure func(*Group) (float64, bool)) func(*Report, []Group, contract.Transport) ([]Measurement, string) {
	return func(_ *Report, groups []Group, tr contract.Transport) ([]Measurement, string) {
		var out []Measurement
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
				m := Measurement{Group: g, Value: v}
				if floor != nil {
					m.Floor, m.HasFloor = figure(floor)
				}
				out = append(out, m)
			}
		}
		return out, fmt.Sprintf("no %s run at %s clients and %s", tr, FormatCount(uint64(clients)), FormatRate(rate))
	}
}

// floorOf returns the floor's group at a point, or nil.
func floorOf(pt []Group) *Group {
	for i := range pt {
		if pt[i].Config.Transport == Floor {
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
func saturationVsFloor(r *Report, groups []Group, tr contract.Transport) ([]Measurement, string) {
	type ladder struct{ floor, best, top *Group }
	var order []Config
	ladders := map[Config]*ladder{}
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
		case Floor:
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
	var out []Measurement
	for _, key := range order {
		l := ladders[key]
		if l.floor == nil || l.best == nil {
			continue
		}
		m := Measurement{Group: l.best, Value: l.best.DeliveriesPerSec.Median,
			Ref: l.floor.DeliveriesPerSec.Median, RefName: "the " + string(Floor) + " floor's"}
		var at *Group
		for i := range groups {
			if g := &groups[i]; g.Config.Point() == l.floor.Config.Point() && g.Config.Transport == tr {
				at = g
			}
		}
		if at != nil {
			m.Group, m.Value = at, at.DeliveriesPerSec.Median
		} else {
			m.Note = fmt.Sprintf("its ladder stopped at %s, below the floor's %s: its best rate shown", FormatRate(l.top.Config.Rate), FormatRate(l.floor.Config.Rate))
		}
		out = append(out, m)
	}
	return out, fmt.Sprintf("no saturation scenario ran %s beside the %s floor", tr, Floor)
}

// loadgenCPU measures, in every streaming configuration (polling's client
// and server work per delivery differ by design), the load generator's CPU
// per delivery against the server's.
func loadgenCPU(_ *Report, groups []Group, _ contract.Transport) ([]Measurement, string) {
	var out []Measurement
	for i := range groups {
		g := &groups[i]
		lg, srv := g.Median.Loadgen.CPUPer1kDeliveries, g.Median.Server.CPUPer1kDeliveries
		if polling(g.Config) || lg <= 0 || srv <= 0 {
			continue
		}
		out = append(out, Measurement{Group: g, Value: lg * 1e9, Ref: srv * 1e9, RefName: "the server's"})
	}
	return out, "no streaming run recorded both processes' CPU"
}

// polling reports whether c is a polling configuration.
func polling(c Config) bool {
	return c.Transport.Polls() || c.PollIntervalS > 0
}

// memoryGroups are where memory per connection is read: the idle
// scenarios' groups if there are any, else those with the most clients.
func memoryGroups(r *Report, groups []Group) (gs []*Group, where string) {
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
	return gs, "at " + FormatCount(uint64(most)) + " clients"
}

// perConn measures memory per connection, as perConn reads it off a run,
// where memoryGroups says, with the floor's at the same point. A zero is
// not measured: the process's RSS did not grow as the connections opened.
func perConn(figure func(*Run) float64) func(*Report, []Group, contract.Transport) ([]Measurement, string) {
	return func(r *Report, groups []Group, tr contract.Transport) ([]Measurement, string) {
		gs, where := memoryGroups(r, groups)
		var out []Measurement
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
			m := Measurement{Group: g, Value: v}
			for _, f := range gs {
				if f.Config.Transport == Floor && f.Config.Point() == g.Config.Point() && figure(&f.Median) > 0 {
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
func targetSubject(v *Verdict) string {
	if v.Transport == "" {
		return v.Target.Over
	}
	return string(v.Transport)
}

// NewTargetsTable renders verdicts, as Evaluate returns them: target,
// transport, status, and what was measured against what.
func NewTargetsTable(verdicts []Verdict, s Style) Reporter {
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
func targetTally(verdicts []Verdict) string {
	n := map[Status]int{}
	for _, v := range verdicts {
		n[v.Status]++
	}
	var parts []string
	for _, s := range []Status{Met, Missed, NotMeasured} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	return strings.Join(parts, ", ")
}
