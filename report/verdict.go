package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// The verdict opens every report: for each workload the run measured, what
// to use, the runner-up, the margin on the one figure that decides it, and
// how sure that is; then the conditions a reader must know, taken from the
// measured scenarios. Each rule is one function (verdict_rules.go), stated
// with its figure, test and wording in docs/verdict.md. Every sentence is
// computed from the report it opens, so a run that comes out differently
// reads differently, and a difference the data cannot support reads as
// such.

// outcome is what a finding concludes.
type outcome int

const (
	// use: the best choice differs from the runner-up significantly.
	use outcome = iota + 1
	// noDifference: it does not, measurably.
	noDifference
	// libraryMatters: the best of two transports differ by less than the
	// implementations of one of them do.
	libraryMatters
	// tooFewToTell: too few repetitions for the U test.
	tooFewToTell
	// cannotTell: figures measured once, and no noise to judge them by.
	cannotTell
	// onlyOne: one choice measured; nothing to compare.
	onlyOne
)

// contender is one choice a finding weighs: a configuration, a fault run,
// a browser or proxy run.
type contender struct {
	name      string // as the tables name it: "ws/gws", "poll 1s", "SSE"
	transport contract.Transport
	impl      string
	// values are the figure per repetition, value their median.
	values []float64
	value  float64
	// p99 is its delivery latency p99 in ns, shown beside a figure that is
	// not latency; 0 when not measured.
	p99 float64
}

// measure is the figure a finding decides by.
type measure struct {
	name   string // "p99 latency"
	format func(float64) string
	lower  bool // whether less is better
	// once: measured once by design, so judged against noise when the U
	// test cannot reach Alpha; otherwise too few repetitions are said.
	once bool
	// noise is the report's run-to-run spread to judge it by, and
	// noiseName what that spread is of ("p99 latency").
	noise     noise
	noiseName string
}

// finding is one line of the verdict.
type finding struct {
	workload string // "Many clients at a low rate"
	where    string // "fanout, 5,000 clients, 10/s, 64 B"
	anchor   string // "scenario-fanout"
	fig      measure
	outcome  outcome
	best     *contender
	next     *contender
	sig      significance
	// impls are the implementations of both transports, best first, when
	// the outcome is libraryMatters.
	impls []*contender
	// detail replaces the significance's wording when a rule judges in its
	// own way (a ladder).
	detail string
	// context: show the best choice's p99 latency beside its figure.
	context bool
	// excluded names the choices left out, and why.
	excluded []string
}

// condition is a fact a reader must know before acting on the verdict.
type condition struct {
	lead, body, anchor string
}

// findings computes r's verdict: its findings in scenario order, then the
// fault scenarios', the browser's and the proxy's, and the conditions.
func findings(r *results.Report, facts Facts) ([]finding, []condition) {
	groups := groupRuns(r.Runs)
	nz := noisesOf(groups)
	var fs []finding
	for _, name := range r.ScenarioNames() {
		gs := ofScenario(groups, name)
		if len(gs) == 0 {
			continue
		}
		info := r.Scenario(name)
		switch info.Kind {
		case contract.FanOut, contract.Implementations:
			fs = append(fs, fanOutLatency(gs, nz)...)
			fs = append(fs, fanOutCost(gs, nz)...)
		case contract.Saturation:
			fs = append(fs, saturationLadder(info, gs, nz, cpusOf(r))...)
		case contract.Payload:
			fs = append(fs, payloadLatency(gs, nz)...)
		case contract.Idle:
			fs = append(fs, idleMemory(gs, nz)...)
		case contract.Scale:
			fs = append(fs, scaleMemory(info, gs, nz)...)
		}
	}
	for _, name := range faultScenarios(r) {
		for _, g := range faultGroups(r.Faults, name) {
			fs = append(fs, faultRecovery(g, nz)...)
		}
	}
	fs = append(fs, browserLatency(facts.Browser, nz)...)
	fs = append(fs, proxyLatency(facts.Proxy, nz)...)

	var cs []condition
	cs = append(cs, proxyBuffering(facts.Proxy)...)
	cs = append(cs, browserLimit(facts.Browser)...)
	cs = append(cs, browserResume(facts.Browser)...)
	cs = append(cs, silentFailure(r)...)
	return fs, cs
}

// noises are the report's run-to-run spreads of the figures the verdict
// judges by.
type noises struct{ p99, cpu, mem noise }

// noisesOf measures the noises of the groups' figures.
func noisesOf(groups []group) noises {
	return noises{
		p99: noiseOf(groups, func(r *results.Run) float64 { return float64(r.LatencyNS.P99) }),
		cpu: noiseOf(groups, func(r *results.Run) float64 { return r.Server.CPUPer1kDeliveries }),
		mem: noiseOf(groups, func(r *results.Run) float64 { return r.Server.BytesPerConn }),
	}
}

// Figures the rules decide by.
func (nz noises) latency() measure {
	return measure{name: "p99 latency", format: FormatNS, lower: true, noise: nz.p99, noiseName: "p99 latency"}
}

func (nz noises) cost() measure {
	return measure{name: "server CPU per 1k deliveries", format: func(s float64) string { return FormatNS(s * 1e9) }, lower: true,
		noise: nz.cpu, noiseName: "server CPU per 1k deliveries"}
}

func (nz noises) memory() measure {
	return measure{name: "server memory per connection", format: formatBytes, lower: true, once: true,
		noise: nz.mem, noiseName: "server memory per connection"}
}

// onceLatency is a latency measured once by design (a browser's or a
// proxy's run, a recovery time): judged against the report's p99 noise.
func (nz noises) onceLatency(name string) measure {
	return measure{name: name, format: FormatNS, lower: true, once: true, noise: nz.p99, noiseName: "p99 latency"}
}

// lastPoint is the last point of gs as groupRuns orders them: the most
// clients, then the largest payload, then the highest rate.
func lastPoint(gs []group) []group {
	pts := points(gs)
	return pts[len(pts)-1]
}

// pointFinding weighs the groups of one point on one figure: the floor is
// never a choice, and a configuration that broke the delivery guarantee
// (lost, duplicated, reordered or garbled an event in any repetition) is
// left out and named. It returns nil when no group measured the figure.
func pointFinding(workload string, pt []group, fig measure, value func(*results.Run) float64) *finding {
	if len(pt) == 0 {
		return nil
	}
	var cs []*contender
	var excluded []string
	for i := range pt {
		g := &pt[i]
		if g.Config.Transport == contract.Floor {
			continue
		}
		if t := g.Totals(); bad(&t) {
			excluded = append(excluded, g.Config.Label()+" broke the delivery guarantee ("+faults(&t)+")")
			continue
		}
		// The value shown is the median run's, as the tables show it (for
		// p99 it is also the median of the repetitions); the test reads
		// every repetition.
		v := value(&g.Median)
		if v <= 0 {
			continue // not recorded
		}
		cs = append(cs, &contender{name: g.Config.Label(), transport: g.Config.Transport, impl: g.Config.Impl,
			values: runValues(g.Runs, value), value: v, p99: g.P99.Median})
	}
	if len(cs) == 0 && len(excluded) == 0 {
		return nil
	}
	c := pt[0].Config
	f := &finding{workload: workload, where: c.Scenario + ", " + c.Load(), anchor: scenarioAnchor(c.Scenario), fig: fig, excluded: excluded}
	decide(f, cs)
	return f
}

// decide is the rule every comparison follows: rank the choices on the
// figure; the runner-up is the best of another transport (of another
// implementation or interval when only one transport ran); if the best of
// two transports differ by less than the implementations of either do, the
// transports do not measurably differ (the library matters more);
// otherwise the difference is judged (judge) and said as it was.
func decide(f *finding, cs []*contender) {
	if len(cs) == 0 {
		return
	}
	slices.SortStableFunc(cs, func(a, b *contender) int {
		if f.fig.lower {
			return cmp.Compare(a.value, b.value)
		}
		return cmp.Compare(b.value, a.value)
	})
	f.best = cs[0]
	if len(cs) == 1 {
		f.outcome = onlyOne
		return
	}
	f.next = runnerUp(cs)
	if impls := libraryRule(cs, f.best, f.next); impls != nil {
		f.outcome, f.impls = libraryMatters, impls
		return
	}
	f.sig = judge(f.best.values, f.next.values, f.fig.once, f.fig.noise)
	switch f.sig.judgement {
	case differs:
		f.outcome = use
	case same:
		f.outcome = noDifference
	case tooFew:
		f.outcome = tooFewToTell
	default:
		f.outcome = cannotTell
	}
}

// runnerUp is the best of cs, ranked, whose transport is not the best's;
// the second when every one is the same transport.
func runnerUp(cs []*contender) *contender {
	for _, c := range cs[1:] {
		if c.transport != cs[0].transport {
			return c
		}
	}
	return cs[1]
}

// libraryRule returns the implementations of best's and next's transports,
// ranked, when those are two transports and the gap between best and next
// is smaller than the spread (best to worst) of the implementations of
// either; nil otherwise.
func libraryRule(cs []*contender, best, next *contender) []*contender {
	if best.transport == next.transport {
		return nil
	}
	spreadOfImpls := func(t contract.Transport) float64 {
		lo, hi := math.Inf(1), math.Inf(-1)
		impls := map[string]bool{}
		for _, c := range cs {
			if c.transport == t && c.impl != "" {
				impls[c.impl] = true
				lo, hi = min(lo, c.value), max(hi, c.value)
			}
		}
		if len(impls) < 2 {
			return 0
		}
		return hi - lo
	}
	gap := math.Abs(best.value - next.value)
	if gap >= max(spreadOfImpls(best.transport), spreadOfImpls(next.transport)) {
		return nil
	}
	var out []*contender
	for _, c := range cs {
		if c.transport == best.transport || c.transport == next.transport {
			out = append(out, c)
		}
	}
	return out
}

// found is f as a list: empty when f is nil.
func found(f *finding) []finding {
	if f == nil {
		return nil
	}
	return []finding{*f}
}

// headingAnchor is the id GitHub gives a heading: lower case, punctuation
// but dashes and underscores dropped, spaces as dashes.
func headingAnchor(heading string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(heading) {
		switch {
		case c == ' ':
			b.WriteByte('-')
		case c == '-' || c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c):
			b.WriteRune(c)
		}
	}
	return b.String()
}

// scenarioAnchor is the id of a scenario's section in report.md.
func scenarioAnchor(name string) string { return headingAnchor("Scenario: " + scenarioTitle(name)) }

// faultAnchor is the id report.md gives a fault's part of the Recovery
// section: explicit, since two fault scenarios may strike the same fault
// and share a heading.
func faultAnchor(scenario string, f contract.Fault) string {
	return "recovery-" + slug(scenario) + "-" + slug(string(f))
}

// verdictIntro opens the verdict in either report.
const verdictIntro = "What to use for each workload this run measured, decided by one figure each and only from this run's data; docs/verdict.md states the rules. " +
	"A choice is named only when it differs significantly from the runner-up: by the Mann-Whitney U test over the repetitions (p ≤ 0.05), or, for a figure measured once by design, by more than the run-to-run spread this report shows for it. " +
	"Otherwise the line says that it could not tell, or that there is no measurable difference. The tcp floor is a reference, never a choice."

// writeVerdict writes the verdict in style s: md with bold, links and a
// heading; text plain. A report with no ordinary runs and nothing the
// verdict weighs (`pushbench load` runs alone) has no verdict at all,
// rather than one that says there is nothing to decide.
func (m *errWriter) writeVerdict(r *results.Report, facts Facts, s style) {
	fs, cs := findings(r, facts)
	if len(fs) == 0 && len(cs) == 0 && !hasRuns(r) {
		return // only fault or load runs, and none the verdict weighs: nothing to say
	}
	if s == styleMarkdown {
		m.printf("## Verdict\n\n%s\n\n", verdictIntro)
	} else {
		m.printf("\n%s\n%s\n\n", heading("verdict"), verdictIntro)
	}
	if len(fs) == 0 {
		m.printf("Nothing to decide: no workload this verdict weighs was measured.\n")
	}
	for i := range fs {
		m.printf("- %s\n", fs[i].render(s))
	}
	if len(cs) > 0 {
		if s == styleMarkdown {
			m.printf("\n**Conditions, from the measured scenarios:**\n\n")
		} else {
			m.printf("\nConditions, from the measured scenarios:\n")
		}
		for _, c := range cs {
			m.printf("- %s\n", c.render(s))
		}
	}
	m.printf("\n")
}

func bold(s style, text string) string {
	if s == styleMarkdown {
		return "**" + text + "**"
	}
	return text
}

func link(s style, text, anchor string) string {
	if s == styleMarkdown && anchor != "" {
		return "[" + text + "](#" + anchor + ")"
	}
	return text
}

// code drops Markdown's backticks in text.
func code(s style, text string) string {
	if s == styleMarkdown {
		return text
	}
	return strings.ReplaceAll(text, "`", "")
}

func (c condition) render(s style) string {
	body := c.body
	if c.anchor != "" && s == styleMarkdown {
		body = strings.TrimSuffix(body, ".") + " (" + link(s, "rows", c.anchor) + ")."
	}
	return code(s, bold(s, c.lead+".")+" "+body)
}

// render writes the finding as one line: the workload, where it was
// measured (linked to its rows), the figure, and the conclusion.
func (f *finding) render(s style) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s), by %s: ", bold(s, f.workload), link(s, f.where, f.anchor), f.fig.name)
	val := func(c *contender) string {
		v := f.fig.format(c.value)
		if f.context && c.p99 > 0 {
			v += ", p99 latency " + FormatNS(c.p99)
		}
		return v
	}
	ratio := func() string { return FormatRatio(f.next.value, f.best.value) }
	why := f.detail
	if why == "" {
		why = f.sig.long(f.fig.noiseName)
	}
	switch f.outcome {
	case 0:
		b.WriteString("nothing left to compare")
	case onlyOne:
		fmt.Fprintf(&b, "only %s measured (%s)", f.best.name, val(f.best))
	case use:
		fmt.Fprintf(&b, "%s (%s); runner-up %s (%s, %s): %s", bold(s, "use "+f.best.name), val(f.best), f.next.name, f.fig.format(f.next.value), ratio(), why)
	case noDifference:
		fmt.Fprintf(&b, "%s between %s (%s) and %s (%s, %s): %s", bold(s, "no measurable difference"), f.best.name, val(f.best), f.next.name, f.fig.format(f.next.value), ratio(), why)
	case tooFewToTell:
		fmt.Fprintf(&b, "%s %s (%s) from %s (%s, %s): %s", bold(s, "too few repetitions to tell"), f.best.name, val(f.best), f.next.name, f.fig.format(f.next.value), ratio(), why)
	case cannotTell:
		fmt.Fprintf(&b, "%s %s (%s) from %s (%s, %s): %s", bold(s, "cannot tell"), f.best.name, val(f.best), f.next.name, f.fig.format(f.next.value), ratio(), why)
	case libraryMatters:
		var impls []string
		for _, c := range f.impls {
			impls = append(impls, c.name+" "+f.fig.format(c.value))
		}
		fmt.Fprintf(&b, "%s: the best of each differ by %s, less than their implementations do (%s)",
			bold(s, fmt.Sprintf("no measurable difference between %s and %s; the implementation matters more", f.best.transport, f.next.transport)),
			f.fig.format(math.Abs(f.best.value-f.next.value)), strings.Join(impls, ", "))
	}
	if len(f.excluded) > 0 {
		fmt.Fprintf(&b, ". Left out: %s", strings.Join(f.excluded, "; "))
	}
	b.WriteString(".")
	return b.String()
}
