package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// The Implementations section separates the protocol from the library. A
// scenario that ran more than one server implementation of a transport
// (runs name theirs in results.Run.Impl) gets, per load: every
// implementation's figures; per transport, how far its implementations
// spread beside how far its best is from the best of any transport; a
// sentence wherever two transports differ by less than one transport's
// implementations do; and whether each transport's default is within
// defaultWithin of its best implementation. Reports whose runs name no
// implementations, or one per transport, have no such section.

// defaultWithin is how close a transport's default implementation must be
// to its best one on every figure (issue #13): the best at least 0.9× the
// default, so the default is no worse than 1/0.9 ≈ 1.11× the best.
const defaultWithin = 0.9

// registryDefaults mirrors the Default marks of servers/impls.go, which
// package report must not import: each transport's implementation when none
// is named. The report prefers what its own runs say (defaultsOf); this is
// for a report whose runs do not say.
var registryDefaults = map[contract.Transport]string{
	contract.Poll: "std", contract.LongPoll: "std", contract.SSE: "std", contract.WS: "gorilla", contract.TCP: "std",
}

// implDefaults is each base transport's default implementation, and which
// of them the runs named rather than the registry's mirror.
type implDefaults struct {
	impl     map[contract.Transport]string
	fromRuns map[contract.Transport]bool
}

// defaultsOf finds each transport's default implementation in r: the one
// every scenario that ran a single implementation of every transport (the
// ordinary scenarios, which run the defaults unnamed and record what the
// server served) named, when they agree; registryDefaults otherwise.
func defaultsOf(r *results.Report) implDefaults {
	named := map[contract.Transport]map[string]bool{}
	for _, name := range r.ScenarioNames() {
		impls := map[contract.Transport]map[string]bool{}
		several := false
		for _, run := range r.RunsOf(name) {
			if run.Impl == "" {
				continue
			}
			t := run.Transport.Base()
			if impls[t] == nil {
				impls[t] = map[string]bool{}
			}
			impls[t][run.Impl] = true
			several = several || len(impls[t]) > 1
		}
		if several {
			continue // a scenario of implementations names them all
		}
		for t, is := range impls {
			if named[t] == nil {
				named[t] = map[string]bool{}
			}
			for i := range is {
				named[t][i] = true
			}
		}
	}
	d := implDefaults{impl: map[contract.Transport]string{}, fromRuns: map[contract.Transport]bool{}}
	for t, i := range registryDefaults {
		d.impl[t] = i
	}
	for t, is := range named {
		if len(is) == 1 {
			for i := range is {
				d.impl[t], d.fromRuns[t] = i, true
			}
		}
	}
	return d
}

// isDefault reports whether c is its transport's default implementation.
func (d implDefaults) isDefault(c config) bool {
	return c.Impl != "" && c.Impl == d.impl[c.Transport.Base()]
}

// implFigure is one figure implementations are compared on; every one is
// better lower.
type implFigure struct {
	col  string // the column's head: "p99"
	name string // in a sentence: "p99 latency"
	verb string // how a larger one reads: "has", "spends", "uses"
	// value is the figure of one run (0: not recorded), in the unit format
	// renders.
	value  func(*results.Run) float64
	format func(float64) string
	// once: measured once by design, judged against the report's noise
	// when the U test cannot decide (memory per connection).
	once  bool
	noise func(noises) noise
}

// implFigures are the figures of the Implementations tables, in column
// order.
var implFigures = []implFigure{
	{"p50", "p50 latency", "has", p50Of, FormatNS, false, func(nz noises) noise { return nz.p99 }},
	{"p99", "p99 latency", "has", p99Of, FormatNS, false, func(nz noises) noise { return nz.p99 }},
	{"srv CPU/1k", "server CPU per 1k deliveries", "spends",
		func(r *results.Run) float64 { return r.Server.CPUPer1kDeliveries * 1e9 }, FormatNS, false, func(nz noises) noise { return nz.cpu }},
	{"srv RSS/conn", "server memory per connection", "uses",
		func(r *results.Run) float64 { return r.Server.BytesPerConn }, formatBytes, true, func(nz noises) noise { return nz.mem }},
}

// memFigure is the index of memory per connection in implFigures.
const memFigure = 3

// comparedFigures are the indexes of the figures a scenario of kind k
// compares implementations on: memory per connection alone where the
// connections are mostly idle (idle, scale), since latency there is the
// heartbeat's and the event rate's; every figure otherwise.
func comparedFigures(k contract.Kind) []int {
	if k == contract.Idle || k == contract.Scale {
		return []int{memFigure}
	}
	return []int{0, 1, 2, 3}
}

// implRow is one implementation at one load.
type implRow struct {
	g *group
	// family is the transport it implements: its configuration without the
	// implementation ("sse", "poll 2s").
	family    config
	isDefault bool
	// broke says how it broke the delivery guarantee in any repetition
	// ("7 lost"); "" when it did not.
	broke string
	// vals are the figures, each the median over the repetitions that
	// recorded it; 0 when none did.
	vals [4]float64
}

// implFamily is a transport's implementations at one load.
type implFamily struct {
	config config
	rows   []*implRow
	// def is the default's row, nil when it did not run here.
	def *implRow
	// best and worst per figure, among the implementations that kept the
	// delivery guarantee and recorded the figure; nil when none did.
	best, worst [4]*implRow
	// n per figure is how many implementations best and worst were chosen
	// from.
	n [4]int
}

// within is the spread of figure i among the family's implementations,
// worst over best; 0 with fewer than two.
func (f *implFamily) within(i int) float64 {
	if f.n[i] < 2 {
		return 0
	}
	return f.worst[i].vals[i] / f.best[i].vals[i]
}

// implPoint is every implementation at one load of a scenario.
type implPoint struct {
	config   config // the point: no transport, no implementation
	rows     []*implRow
	floor    *implRow
	families []*implFamily
	// best is, per figure, the best implementation of any transport.
	best [4]*implRow
}

// implPointOf gathers the groups of one point (as points returns them).
func implPointOf(pt []group, d implDefaults) *implPoint {
	p := &implPoint{config: pt[0].Config.Point()}
	index := map[config]*implFamily{}
	for i := range pt {
		g := &pt[i]
		fam := g.Config
		fam.Impl = ""
		row := &implRow{g: g, family: fam, isDefault: d.isDefault(g.Config)}
		if t := g.Totals(); bad(&t) {
			row.broke = faults(&t)
		}
		for j, fig := range implFigures {
			var vs []float64
			for k := range g.Runs {
				if v := fig.value(&g.Runs[k]); v > 0 {
					vs = append(vs, v)
				}
			}
			row.vals[j] = spreadOf(vs).Median
		}
		if g.Config.Transport == contract.Floor {
			p.floor = row
			continue
		}
		f := index[fam]
		if f == nil {
			f = &implFamily{config: fam}
			index[fam] = f
			p.families = append(p.families, f)
		}
		f.rows = append(f.rows, row)
		if row.isDefault {
			f.def = row
		}
	}
	for _, f := range p.families {
		// The default first, then the others as the tables order them.
		slices.SortStableFunc(f.rows, func(a, b *implRow) int {
			switch {
			case a.isDefault && !b.isDefault:
				return -1
			case b.isDefault && !a.isDefault:
				return 1
			}
			return 0
		})
		p.rows = append(p.rows, f.rows...)
		for _, row := range f.rows {
			if row.broke != "" {
				continue
			}
			for i := range implFigures {
				v := row.vals[i]
				if v <= 0 {
					continue
				}
				f.n[i]++
				if f.best[i] == nil || v < f.best[i].vals[i] {
					f.best[i] = row
				}
				if f.worst[i] == nil || v > f.worst[i].vals[i] {
					f.worst[i] = row
				}
				if p.best[i] == nil || v < p.best[i].vals[i] {
					p.best[i] = row
				}
			}
		}
	}
	if p.floor != nil {
		p.rows = append(p.rows, p.floor)
	}
	return p
}

// several reports whether some transport has more than one implementation
// at the point.
func (p *implPoint) several() bool {
	return slices.ContainsFunc(p.families, func(f *implFamily) bool { return len(f.rows) > 1 })
}

// implScenario is a scenario that ran more than one implementation of some
// transport, with its groups.
type implScenario struct {
	info   results.ScenarioInfo
	groups []group
}

// implScenarios returns r's scenarios that ran more than one
// implementation of some transport at some load, in scenario order.
func implScenarios(r *results.Report, groups []group) []implScenario {
	var out []implScenario
	for _, name := range r.ScenarioNames() {
		gs := ofScenario(groups, name)
		seen := map[config]string{}
		for _, g := range gs {
			key := g.Config
			key.Impl = ""
			if i, ok := seen[key]; ok && i != g.Config.Impl {
				out = append(out, implScenario{info: r.Scenario(name), groups: gs})
				break
			}
			seen[key] = g.Config.Impl
		}
	}
	return out
}

// implIntro opens the Implementations section in either report.
const implIntro = "Scenarios that ran more than one server implementation of a transport, each named TRANSPORT/IMPL: what the protocol costs, set apart from what the library costs. " +
	"Per load, each implementation's p50 and p99 latency, server CPU per 1,000 deliveries and server memory per connection, each the median over its repetitions, with the library it is built on; *default* marks the implementation a transport gets when none is named. " +
	"Then, per transport, *within* is the spread of its implementations (the worst over the best) and *across* its best implementation over the best implementation of any transport: the spread across transports is taken between their best implementations, so that it is the protocols' difference, not their defaults'. " +
	"An implementation that broke the delivery guarantee is shown but left out of every best and spread. " +
	"Last, whether each transport's default is within 0.9× of its best implementation (the best at least 0.9× the default) on every figure, and by how much it is not; in brackets, whether the difference is significant, as in the floor table."

// implDefaultsLine says which implementation is each transport's default
// and how the report knows: "Defaults: sse/std and ws/gorilla, as the
// report's other scenarios ran them; poll/std, as servers/impls.go
// registers it."
func implDefaultsLine(scs []implScenario, d implDefaults) string {
	var ran, registry []string
	seen := map[contract.Transport]bool{}
	for _, sc := range scs {
		for _, g := range sc.groups {
			t := g.Config.Transport.Base()
			if seen[t] || t == contract.Floor {
				continue
			}
			seen[t] = true
			impl, ok := d.impl[t]
			if !ok {
				continue
			}
			name := string(t) + "/" + impl
			if d.fromRuns[t] {
				ran = append(ran, name)
			} else {
				registry = append(registry, name)
			}
		}
	}
	var parts []string
	them := func(names []string) string {
		if len(names) == 1 {
			return "it"
		}
		return "them"
	}
	if len(ran) > 0 {
		parts = append(parts, fmt.Sprintf("%s, as the report's other scenarios ran %s", joinAnd(ran), them(ran)))
	}
	if len(registry) > 0 {
		parts = append(parts, fmt.Sprintf("%s, as servers/impls.go registers %s (no scenario here ran %s alone)", joinAnd(registry), them(registry), them(registry)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Defaults: " + strings.Join(parts, "; ") + "."
}

// implPointTitle names a point of an implementations scenario:
// "impl-fanout, 1,000 clients, 10/s, 64 B".
func implPointTitle(c config) string { return c.Scenario + ", " + c.Load() }

// newImplTable renders one row per implementation at a point, the floor
// last.
func newImplTable(p *implPoint, s style) Reporter {
	return func(w io.Writer) error {
		t := table{cols: []column{left("implementation"), right("runs"), left("default"), left("delivery")}}
		for _, f := range implFigures {
			t.cols = append(t.cols, right(f.col))
		}
		t.cols = append(t.cols, left("library"))
		for _, row := range p.rows {
			def := ""
			switch {
			case row == p.floor:
				def = "floor"
			case row.isDefault:
				def = "default"
			}
			cells := []string{row.g.Config.Label(), fmt.Sprint(len(row.g.Runs)), def, cmp.Or(row.broke, "exact")}
			for i, f := range implFigures {
				cells = append(cells, orDash(row.vals[i], f.format))
			}
			t.add(append(cells, cmp.Or(row.g.Median.Library, "–"))...)
		}
		return t.render(w, s)
	}
}

// newImplSpreadTable renders, per transport at a point, the spread of its
// implementations beside its best's distance from the best of any
// transport, for the figures compared.
func newImplSpreadTable(p *implPoint, figs []int, s style) Reporter {
	return func(w io.Writer) error {
		t := table{cols: []column{left("transport"), right("implementations")}}
		for _, i := range figs {
			t.cols = append(t.cols, right(implFigures[i].col+" within"), right(implFigures[i].col+" across"))
		}
		for _, f := range p.families {
			cells := []string{f.config.Label(), fmt.Sprint(len(f.rows))}
			for _, i := range figs {
				within, across := "–", "–"
				if w := f.within(i); w > 0 {
					within = sig3(w) + "×"
				}
				if f.best[i] != nil {
					across = FormatRatio(f.best[i].vals[i], p.best[i].vals[i])
				}
				cells = append(cells, within, across)
			}
			t.add(cells...)
		}
		return t.render(w, s)
	}
}

// libraryFacts are the sentences of a point: for every two transports
// that differ on some figure by less than one of them differs within its
// implementations, what the two differ by and what the implementations
// do, ending "the library matters more than the protocol here"; when no
// two do, one sentence saying the protocol matters more. None when no
// transport ran two implementations or only one transport ran.
func libraryFacts(p *implPoint, figs []int) []string {
	var out []string
	anyWithin := false
	for a := range p.families {
		for _, i := range figs {
			anyWithin = anyWithin || p.families[a].within(i) > 0
		}
		for b := a + 1; b < len(p.families); b++ {
			fa, fb := p.families[a], p.families[b]
			var clauses []string
			for _, i := range figs {
				if fa.best[i] == nil || fb.best[i] == nil {
					continue
				}
				gap := relDiff(fa.best[i].vals[i], fb.best[i].vals[i]) + 1
				wide := fa
				if fb.within(i) > fa.within(i) {
					wide = fb
				}
				if gap >= wide.within(i) {
					continue
				}
				fig := implFigures[i]
				clauses = append(clauses, fmt.Sprintf("by %s on %s, less than the %s between %s's implementations (%s %s to %s %s)",
					sig3(gap)+"×", fig.name, sig3(wide.within(i))+"×", wide.config.Label(),
					wide.best[i].g.Config.Label(), fig.format(wide.best[i].vals[i]),
					wide.worst[i].g.Config.Label(), fig.format(wide.worst[i].vals[i])))
			}
			if len(clauses) > 0 {
				out = append(out, fmt.Sprintf("%s and %s differ %s: the library matters more than the protocol here.",
					fa.config.Label(), fb.config.Label(), strings.Join(clauses, "; and ")))
			}
		}
	}
	if len(out) == 0 && anyWithin && len(p.families) > 1 {
		out = append(out, "Every two transports here differ by more than the implementations of either do, on every figure compared: the protocol matters more than the library here.")
	}
	return out
}

// defaultFacts judge each transport's default against its best
// implementation at a point, on the figures compared: within defaultWithin
// on every one, or by how much it is not, with the implementation that did
// better and whether the difference is significant.
func defaultFacts(p *implPoint, figs []int, d implDefaults, nz noises, s style) []string {
	var out []string
	for _, f := range p.families {
		if len(f.rows) < 2 {
			continue
		}
		base := f.config.Transport.Base()
		impl, known := d.impl[base]
		switch {
		case !known:
			out = append(out, fmt.Sprintf("%s: no default implementation is known.", f.config.Label()))
			continue
		case f.def == nil:
			out = append(out, fmt.Sprintf("%s: its default, %s, did not run here.", f.config.Label(), impl))
			continue
		case f.def.broke != "":
			out = append(out, fmt.Sprintf("%s %s: it broke the delivery guarantee (%s).", f.def.g.Config.Label(), bold(s, "is not within"), f.def.broke))
			continue
		}
		def := f.def
		var misses, withins, unrecorded []string
		for _, i := range figs {
			fig, best := implFigures[i], f.best[i]
			if def.vals[i] <= 0 || best == nil {
				unrecorded = append(unrecorded, fig.name)
				continue
			}
			if best.vals[i] >= defaultWithin*def.vals[i] {
				withins = append(withins, fig.name)
				continue
			}
			sig := judge(runValues(def.g.Runs, fig.value), runValues(best.g.Runs, fig.value), fig.once, fig.noise(nz))
			misses = append(misses, fmt.Sprintf("%s %s the %s of %s (%s against %s; %s)",
				fig.verb, FormatRatio(def.vals[i], best.vals[i]), fig.name, best.g.Config.Label(),
				fig.format(def.vals[i]), fig.format(best.vals[i]), sig.short()))
		}
		name := def.g.Config.Label()
		var line string
		switch {
		case len(misses) > 0:
			line = fmt.Sprintf("%s %s of its transport's best: it %s", name, bold(s, "is not within 0.9×"), joinAnd(misses))
			if len(withins) > 0 {
				line += "; within on " + joinAnd(withins)
			}
		case len(withins) > 0:
			line = fmt.Sprintf("%s is within 0.9× of its transport's best on %s", name, joinAnd(withins))
		default:
			line = fmt.Sprintf("%s: nothing to judge it by", name)
		}
		if len(unrecorded) > 0 {
			line += "; " + joinAnd(unrecorded) + " not recorded"
		}
		out = append(out, line+".")
	}
	return out
}

// newImplLadderTable renders, per implementation of a saturation scenario's
// ladders, the highest rate it held and where and why it broke, or that the
// load generator, not the server, was the limit there.
func newImplLadderTable(ls []*ladder, d implDefaults, bound float64, c cpus, s style) Reporter {
	return func(w io.Writer) error {
		t := table{cols: []column{left("implementation"), left("load"), left("default"), right("held"), right("broke at"), left("why"), left("library")}}
		for _, l := range ls {
			def := ""
			switch {
			case l.config.Transport == contract.Floor:
				def = "floor"
			case d.isDefault(l.config):
				def = "default"
			}
			held, at, why := "none", "–", ""
			if l.held > 0 {
				held = formatRate(l.held)
			}
			switch {
			case l.broke != nil:
				at, why = formatRate(l.broke.Config.Rate), breakReason(l.broke, bound)
			case l.limited != nil:
				why = fmt.Sprintf("at %s the load generator, not the server, was the limit (%s)", formatRate(l.limited.Config.Rate), c.coresNote(&l.limited.Median))
			default:
				why = fmt.Sprintf("no break up to %s, the highest rate tried", formatRate(l.last()))
			}
			t.add(l.config.Label(), fmt.Sprintf("%s clients, %s", formatCount(uint64(max(l.config.Clients, 0))), formatBytes(float64(l.config.Payload))),
				def, held, at, why, cmp.Or(l.steps[0].Median.Library, "–"))
		}
		return t.render(w, s)
	}
}

// ladderDefaultFacts judge each transport's default ladder against its
// implementation that held the highest rate: within defaultWithin or not.
// A ladder stopped by the load generator held at least what it shows.
func ladderDefaultFacts(ls []*ladder, d implDefaults, s style) []string {
	type family struct {
		config    config
		def, best *ladder
		ladders   int
	}
	var fams []*family
	index := map[config]*family{}
	for _, l := range ls {
		if l.config.Transport == contract.Floor {
			continue
		}
		key := l.config
		key.Impl = ""
		f := index[key]
		if f == nil {
			f = &family{config: key}
			index[key] = f
			fams = append(fams, f)
		}
		f.ladders++
		if d.isDefault(l.config) {
			f.def = l
		}
		if f.best == nil || l.held > f.best.held {
			f.best = l
		}
	}
	atLeast := func(l *ladder) string {
		if l.limited != nil {
			return "at least " + formatRate(l.held)
		}
		return formatRate(l.held)
	}
	var out []string
	for _, f := range fams {
		if f.ladders < 2 {
			continue
		}
		switch {
		case f.def == nil:
			out = append(out, fmt.Sprintf("%s: its default, %s, did not run here.", f.config.Label(), d.impl[f.config.Transport.Base()]))
		case f.def.held >= defaultWithin*f.best.held:
			out = append(out, fmt.Sprintf("%s held %s, within 0.9× of the most any %s implementation held (%s, %s).",
				f.def.config.Label(), atLeast(f.def), f.config.Label(), f.best.config.Label(), atLeast(f.best)))
		default:
			out = append(out, fmt.Sprintf("%s held %s, %s: %s what %s held (%s).",
				f.def.config.Label(), atLeast(f.def), bold(s, "not within 0.9× of its transport's best"),
				FormatRatio(f.def.held, f.best.held), f.best.config.Label(), atLeast(f.best)))
		}
	}
	return out
}

// implementations writes report.md's Implementations section, when a
// scenario ran more than one implementation of some transport.
func (m *errWriter) implementations(r *results.Report, groups []group) {
	scs := implScenarios(r, groups)
	if len(scs) == 0 {
		return
	}
	d, nz, c := defaultsOf(r), noisesOf(groups), cpusOf(r)
	m.printf("## Implementations\n\n%s\n\n", implIntro)
	if l := implDefaultsLine(scs, d); l != "" {
		m.printf("%s\n\n", l)
	}
	for _, sc := range scs {
		if sc.info.Kind == contract.Saturation {
			bound := sc.info.P99BoundS * 1e9
			m.printf("### %s\n\n", sc.info.Name)
			m.printf("Each implementation's ladder: the highest offered rate it held (p99 within the bound, nothing lost), the first rate it broke at and why. " +
				"A step where the load generator, not the server, was out of CPU is no break of the server's (see the load generator section).\n\n")
			ls := laddersOf(sc.groups, bound, c)
			m.table(newImplLadderTable(ls, d, bound, c, styleMarkdown))
			m.printf("\n")
			m.bullets(ladderDefaultFacts(ls, d, styleMarkdown))
			continue
		}
		figs := comparedFigures(sc.info.Kind)
		for _, pt := range points(sc.groups) {
			p := implPointOf(pt, d)
			if !p.several() {
				continue
			}
			m.printf("### %s\n\n", implPointTitle(p.config))
			m.table(newImplTable(p, styleMarkdown))
			m.printf("\n")
			m.table(newImplSpreadTable(p, figs, styleMarkdown))
			m.printf("\n")
			m.bullets(libraryFacts(p, figs))
			if fs := defaultFacts(p, figs, d, nz, styleMarkdown); len(fs) > 0 {
				m.printf("**Defaults**, against the best implementation of their transport on %s:\n\n", figureNames(figs))
				m.bullets(fs)
			}
		}
	}
	if notes := implNotes(scs); len(notes) > 0 {
		m.printf("**Notes**: what an implementation does differently from the others, where its library offers nothing closer:\n\n")
		m.bullets(notes)
	}
}

// implNotes lists, once per implementation, the notes its runs recorded.
func implNotes(scs []implScenario) []string {
	var out []string
	seen := map[string]bool{}
	for _, sc := range scs {
		for _, g := range sc.groups {
			r := g.Median
			name := g.Config.Name()
			if r.ImplNotes == "" || seen[name] {
				continue
			}
			seen[name] = true
			out = append(out, fmt.Sprintf("%s: %s.", name, r.ImplNotes))
		}
	}
	return out
}

// implementationsText writes the text report's shorter block: per load,
// the implementations' table, the sentences and the defaults.
func (m *errWriter) implementationsText(r *results.Report, groups []group) {
	scs := implScenarios(r, groups)
	if len(scs) == 0 {
		return
	}
	d, nz, c := defaultsOf(r), noisesOf(groups), cpusOf(r)
	m.printf("\n%s\n", heading("implementations"))
	if l := implDefaultsLine(scs, d); l != "" {
		m.printf("%s\n", l)
	}
	for _, sc := range scs {
		if sc.info.Kind == contract.Saturation {
			bound := sc.info.P99BoundS * 1e9
			ls := laddersOf(sc.groups, bound, c)
			m.printf("%s:\n", sc.info.Name)
			m.table(newImplLadderTable(ls, d, bound, c, styleText))
			for _, f := range ladderDefaultFacts(ls, d, styleText) {
				m.printf("  - %s\n", f)
			}
			continue
		}
		figs := comparedFigures(sc.info.Kind)
		for _, pt := range points(sc.groups) {
			p := implPointOf(pt, d)
			if !p.several() {
				continue
			}
			m.printf("%s:\n", implPointTitle(p.config))
			m.table(newImplTable(p, styleText))
			for _, f := range libraryFacts(p, figs) {
				m.printf("  - %s\n", f)
			}
			for _, f := range defaultFacts(p, figs, d, nz, styleText) {
				m.printf("  - %s\n", f)
			}
		}
	}
}

// figureNames lists the figures compared: "p50 latency, p99 latency, ...".
func figureNames(figs []int) string {
	var names []string
	for _, i := range figs {
		names = append(names, implFigures[i].name)
	}
	return joinAnd(names)
}

// bullets writes a Markdown list and the blank line after it; nothing for
// none.
func (m *errWriter) bullets(items []string) {
	for _, it := range items {
		m.printf("- %s\n", it)
	}
	if len(items) > 0 {
		m.printf("\n")
	}
}
