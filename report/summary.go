package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// The summary and the correctness statement are computed from the runs
// alone: every sentence names what the data shows and nothing else, so a
// re-run on another machine that comes out differently reads differently.

// correctness states whether every client got every event exactly once and
// in order, or exactly which runs did not and how.
func correctness(runs []results.Run) []string {
	if len(runs) == 0 {
		return []string{"No delivery was measured."}
	}
	var t results.Run
	var badRuns []string
	gapRuns, slowRuns := 0, 0
	for _, g := range groupRuns(runs) {
		for i := range g.Runs {
			r := &g.Runs[i]
			if bad(r) {
				badRuns = append(badRuns, runName(&g, i)+": "+faults(r))
			}
			if r.Gaps > 0 {
				gapRuns++
			}
			if r.SlowDisconnects > 0 {
				slowRuns++
			}
		}
		tt := g.Totals()
		t.Delivery = t.Delivery.Add(tt.Delivery)
		t.SlowDisconnects += tt.SlowDisconnects
		t.Connections.Failed += tt.Connections.Failed
	}
	var out []string
	if len(badRuns) == 0 {
		out = append(out, fmt.Sprintf("Every client got every event exactly once and in order in all %s runs: %s of %s expected deliveries, 0 lost, 0 duplicated, 0 reordered, 0 malformed.",
			formatCount(uint64(len(runs))), formatCount(t.Delivered), formatCount(t.Expected)))
	} else {
		out = append(out, fmt.Sprintf("Not every client got every event exactly once and in order: %d of %d runs broke the guarantee, with %s lost, %s duplicated, %s reordered and %s malformed in all; %s of %s expected deliveries were made.",
			len(badRuns), len(runs), formatCount(t.Lost), formatCount(t.Duplicates), formatCount(t.Reordered), formatCount(t.Malformed),
			formatCount(t.Delivered), formatCount(t.Expected)))
		out = append(out, badRuns...)
	}
	if t.Gaps > 0 {
		out = append(out, fmt.Sprintf("The server signalled %s gaps standing for %s events beyond its history, in %d runs: signalled, so clients knew, but not delivered.",
			formatCount(t.Gaps), formatCount(t.GapMissed), gapRuns))
	}
	if t.SlowDisconnects > 0 {
		out = append(out, fmt.Sprintf("The server disconnected %s lagging subscribers, in %d runs.", formatCount(t.SlowDisconnects), slowRuns))
	}
	if t.Connections.Failed > 0 {
		out = append(out, fmt.Sprintf("%s connection attempts failed.", formatCount(t.Connections.Failed)))
	}
	return out
}

// runName names repetition i of g: "fanout ws, 1,000 clients, 10/s, 64 B,
// run 2 of 3".
func runName(g *group, i int) string {
	s := g.Config.Label() + ", " + g.Config.Load()
	if g.Config.Scenario != "" {
		s = g.Config.Scenario + " " + s
	}
	if len(g.Runs) > 1 {
		s += fmt.Sprintf(", run %d of %d", i+1, len(g.Runs))
	}
	return s
}

// faults lists what went wrong in a run: "5 lost, 1 reordered".
func faults(r *results.Run) string {
	var parts []string
	for _, f := range []struct {
		n    uint64
		what string
	}{{r.Lost, "lost"}, {r.Duplicates, "duplicated"}, {r.Reordered, "reordered"}, {r.Malformed, "malformed"}} {
		if f.n > 0 {
			parts = append(parts, formatCount(f.n)+" "+f.what)
		}
	}
	return strings.Join(parts, ", ")
}

// summaryBlock is the summary of one scenario.
type summaryBlock struct {
	title string
	items []summaryItem
}

// summaryItem is one statement, with optional details under it.
type summaryItem struct {
	text string
	sub  []string
}

// summarize derives the closing summary: an overall tally, then per
// scenario and point which transport had the lowest p99, the highest
// deliveries/s, the least server CPU, wire bytes and memory, by how much,
// and every run that lost events.
func summarize(r *results.Report) []summaryBlock {
	groups := groupRuns(r.Runs)
	var out []summaryBlock
	if tally := tallies(groups); len(tally) > 0 {
		b := summaryBlock{title: "Overall"}
		for _, t := range tally {
			b.items = append(b.items, summaryItem{text: t})
		}
		out = append(out, b)
	}
	for _, name := range r.ScenarioNames() {
		gs := ofScenario(groups, name)
		if len(gs) == 0 {
			continue
		}
		info := r.Scenario(name)
		b := summaryBlock{title: scenarioTitle(name)}
		if info.Kind == contract.Saturation {
			if s := saturation(gs, info, cpusOf(r)); s != "" {
				b.items = append(b.items, summaryItem{text: s})
			}
		}
		for _, pt := range points(gs) {
			if facts := pointFacts(pt); len(facts) > 0 {
				b.items = append(b.items, summaryItem{text: pt[0].Config.Load() + ":", sub: facts})
			}
		}
		for _, g := range gs {
			for i := range g.Runs {
				if g.Runs[i].Lost > 0 {
					b.items = append(b.items, summaryItem{text: fmt.Sprintf("Loss: %s lost %s of %s expected events.",
						runName(&g, i), formatCount(g.Runs[i].Lost), formatCount(g.Runs[i].Expected))})
				}
			}
		}
		out = append(out, b)
	}
	return out
}

func scenarioTitle(name string) string {
	if name == "" {
		return "Runs"
	}
	return name
}

// figure is one figure a summary compares transports on.
type figure struct {
	name   string // "p99"
	best   string // "lowest"
	lowest bool   // whether less is better
	value  func(g *group) float64
	format func(float64) string
	// ok reports whether g measured the figure at all.
	ok func(g *group) bool
}

var figures = []figure{
	{"p99", "lowest", true, func(g *group) float64 { return g.P99.Median }, FormatNS,
		func(g *group) bool { return g.Median.LatencyNS.Count > 0 }},
	{"deliveries/s", "highest", false, func(g *group) float64 { return g.DeliveriesPerSec.Median }, FormatSI,
		func(g *group) bool { return g.DeliveriesPerSec.Median > 0 }},
	{"server CPU per 1k deliveries", "least", true, func(g *group) float64 { return g.Median.Server.CPUPer1kDeliveries * 1e9 }, FormatNS,
		func(g *group) bool { return g.Median.Server.CPUPer1kDeliveries > 0 }},
	{"wire bytes per event", "fewest", true, func(g *group) float64 { return g.Median.Wire.BytesPerEvent }, formatBytes,
		func(g *group) bool { return g.Median.Wire.BytesPerEvent > 0 }},
	{"server memory per connection", "least", true, func(g *group) float64 { return g.Median.Server.BytesPerConn }, formatBytes,
		func(g *group) bool { return g.Median.Server.BytesPerConn > 0 }},
}

// tie is how close, as a ratio, figures must be to count as the same: a
// 1% difference is within any run's noise, and naming a "winner" by it
// would mislead.
const tie = 1.01

// ranked returns the contenders at a point that measured f, best first; the
// floor is a control, not a contender. Ties keep table order.
func ranked(pt []group, f figure) []*group {
	var gs []*group
	for i := range pt {
		if pt[i].Config.Transport != contract.Floor && f.ok(&pt[i]) {
			gs = append(gs, &pt[i])
		}
	}
	slices.SortStableFunc(gs, func(a, b *group) int {
		if f.lowest {
			return cmp.Compare(f.value(a), f.value(b))
		}
		return cmp.Compare(f.value(b), f.value(a))
	})
	return gs
}

// leaders is how many of gs, ranked best first, are within tie of the
// best: 1 when one transport led clearly.
func leaders(gs []*group, f figure) int {
	best := f.value(gs[0])
	n := 1
	for _, g := range gs[1:] {
		r := f.value(g) / best
		if !f.lowest {
			r = best / f.value(g)
		}
		if r > tie {
			break
		}
		n++
	}
	return n
}

// pointFacts states, per figure, which transport did best at a point and
// how the others compare: "lowest p99: ws 2.1ms; sse 1.12×, poll 85× that;
// tcp floor 1.8ms". Transports within 1% of the best share the lead, and
// when all do, the fact says so: "deliveries/s: all 3 within 1% of each
// other (9.43k)".
func pointFacts(pt []group) []string {
	var floor *group
	for i := range pt {
		if pt[i].Config.Transport == contract.Floor {
			floor = &pt[i]
		}
	}
	var facts []string
	for _, f := range figures {
		gs := ranked(pt, f)
		if len(gs) == 0 {
			continue
		}
		best := f.value(gs[0])
		n := leaders(gs, f)
		var fact string
		if n > 1 && n == len(gs) {
			fact = fmt.Sprintf("%s: all %d within %s of each other (%s)", f.name, n, formatPercent(tie-1), f.format(best))
		} else {
			var names []string
			for _, g := range gs[:n] {
				name := g.Config.Label()
				// A leader that lost events did not do the same work;
				// say so where it is named.
				if lost := g.Totals().Lost; lost > 0 {
					name += fmt.Sprintf(" (lost %s events)", formatCount(lost))
				}
				names = append(names, name)
			}
			if n == 1 {
				fact = fmt.Sprintf("%s %s: %s %s", f.best, f.name, names[0], f.format(best))
			} else {
				fact = fmt.Sprintf("%s %s: %s, within %s of each other (%s)", f.best, f.name,
					strings.Join(names, " and "), formatPercent(tie-1), f.format(best))
			}
			var others []string
			for _, g := range gs[n:] {
				others = append(others, g.Config.Label()+" "+FormatRatio(f.value(g), best))
			}
			if len(others) > 0 {
				fact += "; " + strings.Join(others, ", ") + " that"
			}
		}
		if floor != nil && f.ok(floor) {
			fact += "; " + string(contract.Floor) + " floor " + f.format(f.value(floor))
		}
		facts = append(facts, fact)
	}
	return facts
}

// tallies counts, over the points of every scenario where one transport
// led the others by more than tie, which one led at p99 and at server CPU.
func tallies(groups []group) []string {
	var out []string
	for _, f := range []figure{figures[0], figures[2]} {
		wins := map[contract.Transport]int{}
		n := 0
		for _, pt := range points(groups) {
			gs := ranked(pt, f)
			if len(gs) < 2 || leaders(gs, f) > 1 {
				continue
			}
			n++
			// A transport wins a point once, however many polling
			// intervals it ran at.
			wins[gs[0].Config.Transport]++
		}
		if n == 0 {
			continue
		}
		names := make([]contract.Transport, 0, len(wins))
		for t := range wins {
			names = append(names, t)
		}
		slices.SortFunc(names, func(a, b contract.Transport) int {
			return cmp.Or(cmp.Compare(wins[b], wins[a]), contract.Order(a, b))
		})
		var parts []string
		for _, t := range names {
			parts = append(parts, fmt.Sprintf("%s at %d", t, wins[t]))
		}
		out = append(out, fmt.Sprintf("%s %s: %s, of the %d points where one transport led by more than %s.",
			strings.ToUpper(f.best[:1])+f.best[1:], f.name, strings.Join(parts, ", "), n, formatPercent(tie-1)))
	}
	return out
}

// saturation states, per transport and ladder, the highest offered rate
// that held: p99 within the scenario's bound and nothing lost; and, where
// the next step was limited by the load generator rather than the server,
// that the ladder found no break of the server's.
func saturation(gs []group, info results.ScenarioInfo, c cpus) string {
	bound := info.P99BoundS * 1e9
	ls := laddersOf(gs, bound, c)
	load := func(l *ladder) string {
		return fmt.Sprintf("%s clients, %s", formatCount(uint64(max(l.config.Clients, 0))), formatBytes(float64(l.config.Payload)))
	}
	loads := map[string]bool{}
	for _, l := range ls {
		loads[load(l)] = true
	}
	var parts []string
	for _, l := range ls {
		name := l.config.Label()
		if len(loads) > 1 {
			name += " at " + load(l)
		}
		var part string
		switch {
		case l.held > 0 && l.held == l.last():
			part = fmt.Sprintf("%s %s (the highest tried)", name, formatRate(l.held))
		case l.held > 0:
			part = fmt.Sprintf("%s %s", name, formatRate(l.held))
		case l.limited != nil:
			part = name + " none"
		default:
			part = fmt.Sprintf("%s none (not even %s)", name, formatRate(l.steps[0].Config.Rate))
		}
		if l.limited != nil {
			part += fmt.Sprintf(" (at %s limited by the load generator, not the server)", formatRate(l.limited.Config.Rate))
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return ""
	}
	cond := "no loss"
	if bound > 0 {
		cond = "p99 ≤ " + FormatNS(bound) + " and no loss"
	}
	return fmt.Sprintf("Highest offered rate that held (%s): %s.", cond, strings.Join(parts, ", "))
}

// recordsLoadgen reports whether any group recorded the load generator's
// CPU or memory: results.json files from before it was measured did not.
func recordsLoadgen(groups []group) bool {
	return slices.ContainsFunc(groups, func(g group) bool {
		return g.Median.Loadgen.CPUPer1kDeliveries > 0 || g.Median.Loadgen.BytesPerConn > 0
	})
}

// loadgenFacts states in how many configurations the load generator spent
// less CPU per delivery than the server, then lists the others: where the
// generator, not the server, may have been the bound. Polling
// configurations are named as such, since there the client's work per
// delivery differs from the server's by design.
func loadgenFacts(groups []group) []string {
	var exceptions []string
	less, measured := 0, 0
	for i := range groups {
		g := &groups[i]
		lg, srv := g.Median.Loadgen.CPUPer1kDeliveries, g.Median.Server.CPUPer1kDeliveries
		if lg <= 0 || srv <= 0 {
			continue
		}
		measured++
		if lg < srv {
			less++
			continue
		}
		s := g.Config.Label() + ", " + g.Config.Load()
		if g.Config.Scenario != "" {
			s = g.Config.Scenario + " " + s
		}
		s += fmt.Sprintf(": %s against the server's %s per 1k deliveries (%s)",
			FormatNS(lg*1e9), FormatNS(srv*1e9), FormatRatio(lg, srv))
		if polling(g.Config) {
			s += ", polling"
		}
		exceptions = append(exceptions, s)
	}
	if measured == 0 {
		return []string{"No configuration recorded both the load generator's and the server's CPU."}
	}
	head := fmt.Sprintf("The load generator used less CPU per delivery than the server in %d of %d configurations", less, measured)
	if n := len(groups) - measured; n > 0 {
		head += fmt.Sprintf(" (%d more did not record both)", n)
	}
	switch {
	case len(exceptions) == 0:
		head += "."
	case len(exceptions) == 1:
		head += "; the exception:"
	default:
		head += "; the exceptions:"
	}
	return append([]string{head}, exceptions...)
}
