package results

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
)

// ReportName is the name of the Markdown report inside a report's
// directory.
const ReportName = "report.md"

// WriteDir renders r into dir: the plots under dir/plots and dir/report.md
// embedding them, with sections (such as the real-browser or reverse-proxy
// outcomes, which live in their own packages and files) before the
// correctness statement. It does not write results.json; Save does.
func WriteDir(dir string, r *Report, sections ...Reporter) error {
	plots, err := WritePlots(dir, r)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := NewMarkdownReport(r, plots, sections...)(&buf); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ReportName), buf.Bytes())
}

// WriteMarkdown writes report.md: the machine and settings behind every
// figure, one section per scenario with its table and plots, the floor
// comparison, the polling trade-off, the load generator beside the server,
// the correctness statement, the project's targets judged from the runs and
// a summary computed from them. plots are the paths WritePlots returned,
// relative to the report's directory; each PNG links to its SVG twin.
func WriteMarkdown(w io.Writer, r *Report, plots []string) error {
	return NewMarkdownReport(r, plots)(w)
}

// NewMarkdownReport is WriteMarkdown as a Reporter, with extra sections
// written before the correctness statement.
func NewMarkdownReport(r *Report, plots []string, sections ...Reporter) Reporter {
	return func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		m := &errWriter{w: bw}
		m.report(r, plots, sections)
		if m.err != nil {
			return m.err
		}
		return bw.Flush()
	}
}

// errWriter keeps the first error, so the report reads as a sequence of
// writes rather than a ladder of checks (the errWriter of "Errors are
// values").
type errWriter struct {
	w   io.Writer
	err error
}

func (m *errWriter) printf(format string, args ...any) {
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, format, args...)
	}
}

func (m *errWriter) table(rep Reporter) {
	if m.err == nil {
		m.err = rep(m.w)
	}
}

// plot groups: a plot's directory names its scenario, and the polling
// trade-off plots go to their own section.
const pollingPlot = "polling-"

func (m *errWriter) report(r *Report, plots []string, sections []Reporter) {
	title := "pushbench report"
	if r.Matrix != "" {
		title += ": " + r.Matrix + " matrix"
	}
	m.printf("# %s\n\n", title)
	m.setup(r)

	groups := Groups(r.Runs)
	used := map[string]bool{}
	for _, name := range r.ScenarioNames() {
		m.scenario(r, name, groups, plots, used)
	}
	if !r.faultsOnly() {
		m.floor(groups)
	}
	m.polling(groups, plots, used)
	m.loadgen(groups)
	m.recovery(r, plots, used)
	var rest []string
	for _, p := range plots {
		if !used[p] {
			rest = append(rest, p)
		}
	}
	if len(rest) > 0 {
		m.printf("## Other plots\n\n")
		m.plots(rest)
	}
	for _, sec := range sections {
		m.table(sec)
	}

	m.printf("## Correctness\n\n")
	if !r.faultsOnly() {
		lines := correctness(r.Runs)
		m.printf("%s\n\n", lines[0])
		for _, l := range lines[1:] {
			m.printf("- %s\n", l)
		}
		if len(lines) > 1 {
			m.printf("\n")
		}
	}
	if fl := faultCorrectness(r.Faults); len(fl) > 0 {
		m.printf("%s\n\n", fl[0])
		for _, l := range fl[1:] {
			m.printf("- %s\n", l)
		}
		if len(fl) > 1 {
			m.printf("\n")
		}
	}

	if r.faultsOnly() {
		return // the Recovery section is the summary
	}
	m.targets(r)

	m.printf("## Summary\n\n")
	blocks := summarize(r)
	if len(blocks) == 0 {
		m.printf("No runs to compare.\n")
	}
	for i, b := range blocks {
		if i > 0 {
			m.printf("\n")
		}
		m.printf("**%s**\n\n", b.title)
		if len(b.items) == 0 {
			m.printf("- Nothing to compare: no transport measured these figures.\n")
		}
		for _, it := range b.items {
			m.printf("- %s\n", it.text)
			for _, s := range it.sub {
				m.printf("  - %s\n", s)
			}
		}
	}
}

// setup states what produced every figure: machine, build and settings.
func (m *errWriter) setup(r *Report) {
	e := r.Env
	m.printf("Every figure below was measured on **%s**", e.Machine())
	if e.Hostname != "" {
		m.printf(" (`%s`)", e.Hostname)
	}
	if !e.StartedAt.IsZero() {
		m.printf(", starting %s", e.StartedAt.UTC().Format(time.RFC3339))
	}
	m.printf(". The `%s` floor is the same stream over plain TCP lines: what this machine does with no protocol at all.\n\n", Floor)

	var t table
	t.cols = []column{left("machine"), left("")}
	for _, kv := range []Setting{
		{"CPU", e.CPU}, {"cores", itoaOr(e.Cores)}, {"memory", bytesOr(e.MemoryBytes)},
		{"OS", e.OS}, {"kernel", e.Kernel}, {"Go", e.GoVersion}, {"commit", e.Commit},
		{"CPU pinning", e.Pinning},
	} {
		if kv.Value != "" {
			t.add(kv.Name, kv.Value)
		}
	}
	m.table(func(w io.Writer) error { return t.render(w, Markdown) })
	m.printf("\n")

	if s := r.Settings.List(); len(s) > 0 {
		st := table{cols: []column{left("setting"), left("value")}}
		for _, kv := range s {
			st.add(kv.Name, kv.Value)
		}
		m.table(func(w io.Writer) error { return st.render(w, Markdown) })
		m.printf("\n")
	}
	for _, n := range r.Notes {
		m.printf("- %s\n", n)
	}
	if len(r.Notes) > 0 {
		m.printf("\n")
	}
	m.table(NewClockReport(r, Markdown))
	m.printf("\n")

	m.printf("How to read the tables: latency runs from each event's *scheduled* publish time to its arrival at a client, so a server that falls behind cannot hide it. " +
		"Each row is one configuration; p50, p99 and deliveries/s show the median run with (min–max) over its repetitions, the other figures are the run with the median p99, and delivery counts and connections are summed over all repetitions. " +
		"*wire/event* is bytes at the clients' sockets (headers, framing, heartbeats and polls included) per delivered event; *srv CPU/1k* is server CPU time per 1,000 deliveries; *srv RSS/conn* is server resident memory per connection, measured with the connections open and idle.\n\n")
}

func itoaOr(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func bytesOr(n uint64) string {
	if n == 0 {
		return ""
	}
	return FormatBytes(float64(n))
}

// scenario writes one scenario's section.
func (m *errWriter) scenario(r *Report, name string, all []Group, plots []string, used map[string]bool) {
	var gs []Group
	for _, g := range all {
		if g.Config.Scenario == name {
			gs = append(gs, g)
		}
	}
	info := r.Scenario(name)
	m.printf("## Scenario: %s\n\n", scenarioTitle(name))
	if d := strings.TrimSuffix(info.Description, "."); d != "" {
		m.printf("%s.\n\n", strings.ToUpper(d[:1])+d[1:])
	}
	if len(gs) > 0 {
		runs := 0
		reps := map[int]bool{}
		var durs []float64
		for _, g := range gs {
			runs += len(g.Runs)
			reps[len(g.Runs)] = true
			for _, r := range g.Runs {
				if !slices.Contains(durs, r.DurationS) {
					durs = append(durs, r.DurationS)
				}
			}
		}
		slices.Sort(durs)
		var ds []string
		for _, d := range durs {
			ds = append(ds, FormatNS(d*1e9))
		}
		var ns []string
		for n := range reps {
			ns = append(ns, fmt.Sprint(n))
		}
		slices.Sort(ns)
		m.printf("%d runs: %d configurations, %s run(s) each, each measured for %s after warm-up.\n\n",
			runs, len(gs), strings.Join(ns, " or "), strings.Join(ds, " or "))
		m.table(NewGroupsTable(gs, Markdown))
		m.printf("\n")
	}
	if info.Kind == contract.Scale {
		m.table(NewScaleReport(r, name, DefaultScaleTargets, Markdown))
		m.printf("\n")
	}
	if cs := capacityOf(r, name); len(cs) > 0 {
		m.printf("Open-loop constant-rate attacks on `/poll` with vegeta: what the polling server answers at all, whatever the number of pollers.\n\n")
		m.table(NewCapacityTable(cs, Markdown))
		m.printf("\n")
	}
	var mine []string
	for _, p := range plots {
		if plotScenario(p) == slug(name) && !strings.HasPrefix(path.Base(p), pollingPlot) {
			mine = append(mine, p)
			used[p] = true
		}
	}
	m.plots(mine)
}

// capacityOf returns the capacity measurements of the named scenario.
func capacityOf(r *Report, scenario string) []Capacity {
	var out []Capacity
	for _, c := range r.Capacity {
		if c.Scenario == scenario {
			out = append(out, c)
		}
	}
	return out
}

// plotScenario is the scenario directory of a plot path
// ("plots/fanout/x.png" → "fanout").
func plotScenario(p string) string { return path.Base(path.Dir(p)) }

// plots embeds each plot, linked to its SVG.
func (m *errWriter) plots(ps []string) {
	for _, p := range ps {
		stem := strings.TrimSuffix(path.Base(p), path.Ext(p))
		alt := strings.ReplaceAll(stem, "-", " ")
		svg := strings.TrimSuffix(p, path.Ext(p)) + ".svg"
		m.printf("[![%s](%s)](%s)\n\n", alt, p, svg)
	}
}

// floor writes the comparison with the tcp floor.
func (m *errWriter) floor(groups []Group) {
	m.printf("## Against the %s floor\n\n", Floor)
	rows, missing := floorRows(groups)
	if len(rows) == 0 {
		m.printf("No transport ran beside a `%s` floor run of the same configuration: nothing to compare with.\n\n", Floor)
		return
	}
	m.printf("Each transport's median figures beside the plain-TCP floor at the same load, and as a ratio to it: what the protocol costs over a bare socket on this machine.\n\n")
	m.table(NewFloorTable(groups, Markdown))
	m.printf("\n")
	if len(missing) > 0 {
		var ms []string
		for _, c := range missing {
			s := c.Load()
			if c.Scenario != "" {
				s = c.Scenario + ", " + s
			}
			ms = append(ms, s)
		}
		m.printf("No floor run at: %s.\n\n", strings.Join(ms, "; "))
	}
}

// polling writes the polling trade-off, when polling ran at several
// intervals somewhere.
func (m *errWriter) polling(groups []Group, plots []string, used map[string]bool) {
	if len(pollingPoints(groups)) == 0 {
		return
	}
	m.printf("## Polling trade-off\n\n")
	m.printf("A poller chooses its interval: shorter buys latency with requests, most of which come back empty when events are rare. The push transports at the same load are listed for comparison.\n\n")
	m.table(NewPollingTable(groups, Markdown))
	m.printf("\n")
	var mine []string
	for _, p := range plots {
		if strings.HasPrefix(path.Base(p), pollingPlot) {
			mine = append(mine, p)
			used[p] = true
		}
	}
	m.plots(mine)
}

// loadgenIntro and pollingCPUNote introduce the load generator section in
// either report.
const (
	loadgenIntro = "The load generator's CPU per 1,000 deliveries and memory per connection beside the server's, per configuration (median run). " +
		"Where *loadgen ×srv* is above 1×, the generator spent more CPU per delivery than the server: given no more CPU than the server, it would run out first, and the run may measure the generator rather than the server. " +
		"A dash is a figure not recorded; memory per connection is not when the process's RSS did not grow as the connections opened."
	pollingCPUNote = "For polling, client and server work per delivery differ by design: every poll, empty or not, is a request the client makes and a response it waits for and parses, " +
		"so a poller's ratio shows how the protocol splits the work, not the generator's headroom."
)

// loadgen writes the load generator beside the server.
func (m *errWriter) loadgen(groups []Group) {
	if len(groups) == 0 {
		return
	}
	if !recordsLoadgen(groups) {
		m.printf("## Load generator\n\nNo run recorded the load generator's resource use.\n\n")
		return
	}
	m.printf("## Load generator\n\n%s\n\n", loadgenIntro)
	m.table(NewLoadgenTable(groups, Markdown))
	m.printf("\n")
	facts := loadgenFacts(groups)
	m.printf("%s\n\n", facts[0])
	for _, f := range facts[1:] {
		m.printf("- %s\n", f)
	}
	if len(facts) > 1 {
		m.printf("\n")
	}
	if slices.ContainsFunc(groups, func(g Group) bool { return polling(g.Config) }) {
		m.printf("%s\n\n", pollingCPUNote)
	}
}

// targetsIntro introduces the targets in either report.
const targetsIntro = "The project's stated targets, each judged from the runs above: met, missed, or not measured when no run fits it. " +
	"Latency and deliveries/s are medians over the repetitions, loss is summed over all of them, other figures are the median run's, and each margin is the measured value as a multiple of the limit."

// targets writes the project's targets and how the runs fared.
func (m *errWriter) targets(r *Report) {
	vs := Evaluate(r, Targets)
	if len(vs) == 0 {
		return
	}
	m.printf("## Targets\n\n%s\n\n", targetsIntro)
	for _, t := range Targets {
		m.printf("- **%s**: %s\n", t.Name, t.Description)
	}
	m.printf("\n%s.\n\n", strings.ToUpper(targetTally(vs)[:1])+targetTally(vs)[1:])
	m.table(NewTargetsTable(vs, Markdown))
	m.printf("\n")
}
