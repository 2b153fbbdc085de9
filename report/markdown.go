package report

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// newMarkdownReport renders report.md: the machine in one line, the
// verdict (what to use for each workload, computed from this run and the
// sections' facts), the machine and settings behind every figure, one
// section per scenario with its table and plots, the implementations (when
// a scenario ran several of one transport), the floor comparison, the
// polling trade-off, the load generator beside the server, the recovery
// under faults, any other plots, then sections (measured by other packages,
// such as the real-browser and reverse-proxy outcomes), the correctness
// statement, the project's targets judged from the runs and a summary
// computed from them. plots are the paths writePlots returned, relative to
// the report's directory; each PNG links to its SVG twin.
func newMarkdownReport(r *results.Report, plots []string, sections ...Section) Reporter {
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

// plot groups: a plot's directory names its scenario, and the polling
// trade-off plots go to their own section.
const pollingPlot = "polling-"

func (m *errWriter) report(r *results.Report, plots []string, sections []Section) {
	title := "pushbench report"
	if r.Matrix != "" {
		title += ": " + r.Matrix + " matrix"
	}
	m.printf("# %s\n\n", title)
	m.machineLine(r)
	m.writeVerdict(r, factsOf(sections), styleMarkdown)
	m.setup(r)

	groups := groupRuns(r.Runs)
	used := map[string]bool{}
	for _, name := range r.ScenarioNames() {
		m.scenario(r, name, groups, plots, used)
	}
	m.implementations(r, groups)
	if hasRuns(r) {
		m.floor(groups)
	}
	m.polling(groups, plots, used)
	m.loadgen(r, groups)
	m.recovery(r, plots, used)
	m.loads(r, plots, used)
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
		m.table(sec.WriteMarkdown)
	}

	if !measuresStream(r) {
		return // load runs have no delivery account: their section says so
	}
	m.printf("## Correctness\n\n")
	if hasRuns(r) {
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

	if !hasRuns(r) {
		return // the Recovery or the Load section is the summary
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

// machineLine states in one line where every figure was measured, above
// the verdict.
func (m *errWriter) machineLine(r *results.Report) {
	e := r.Env
	m.printf("Every figure below was measured on **%s**", machine(e))
	if e.Hostname != "" {
		m.printf(" (`%s`)", e.Hostname)
	}
	if !e.StartedAt.IsZero() {
		m.printf(", starting %s", e.StartedAt.UTC().Format(time.RFC3339))
	}
	m.printf(".")
	if measuresStream(r) {
		m.printf(" The `%s` floor is the same stream over plain TCP lines: what this machine does with no protocol at all.", contract.Floor)
	}
	m.printf("\n\n")
}

// setup states what produced every figure: machine, build and settings.
func (m *errWriter) setup(r *results.Report) {
	e := r.Env
	m.printf("## Setup\n\n")
	var t table
	t.cols = []column{left("machine"), left("")}
	for _, kv := range []setting{
		{"CPU", e.CPU}, {"cores", itoaOr(e.Cores)}, {"memory", bytesOr(e.MemoryBytes)},
		{"OS", e.OS}, {"kernel", e.Kernel}, {"Go", e.GoVersion}, {"commit", e.Commit},
		{"CPU pinning", e.Pinning},
	} {
		if kv.Value != "" {
			t.add(kv.Name, kv.Value)
		}
	}
	m.table(func(w io.Writer) error { return t.render(w, styleMarkdown) })
	m.printf("\n")

	if s := settingsList(r.Settings); len(s) > 0 {
		st := table{cols: []column{left("setting"), left("value")}}
		for _, kv := range s {
			st.add(kv.Name, kv.Value)
		}
		m.table(func(w io.Writer) error { return st.render(w, styleMarkdown) })
		m.printf("\n")
	}
	for _, n := range r.Notes {
		m.printf("- %s\n", n)
	}
	if len(r.Notes) > 0 {
		m.printf("\n")
	}
	if !measuresStream(r) {
		return
	}
	m.table(newClockReport(r, styleMarkdown))
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
	return formatBytes(float64(n))
}

// scenario writes one scenario's section.
func (m *errWriter) scenario(r *results.Report, name string, all []group, plots []string, used map[string]bool) {
	var gs []group
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
		m.table(newGroupsTable(gs, styleMarkdown))
		m.printf("\n")
	}
	if info.Kind == contract.Scale {
		m.table(newScaleReport(r, name, defaultScaleTargets, styleMarkdown))
		m.printf("\n")
	}
	if cs := capacityOf(r, name); len(cs) > 0 {
		m.printf("Open-loop constant-rate attacks on `/poll` with vegeta: what the polling server answers at all, whatever the number of pollers.\n\n")
		m.table(newCapacityTable(cs, styleMarkdown))
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
func capacityOf(r *results.Report, scenario string) []results.Capacity {
	var out []results.Capacity
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
func (m *errWriter) floor(groups []group) {
	m.printf("## Against the %s floor\n\n", contract.Floor)
	rows, missing := floorRows(groups)
	if len(rows) == 0 {
		m.printf("No transport ran beside a `%s` floor run of the same configuration: nothing to compare with.\n\n", contract.Floor)
		return
	}
	m.printf("%s\n\n", floorIntro)
	m.table(newFloorTable(groups, styleMarkdown))
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
func (m *errWriter) polling(groups []group, plots []string, used map[string]bool) {
	if len(pollingPoints(groups)) == 0 {
		return
	}
	m.printf("## Polling trade-off\n\n")
	m.printf("A poller chooses its interval: shorter buys latency with requests, most of which come back empty when events are rare. The push transports at the same load are listed for comparison.\n\n")
	m.table(newPollingTable(groups, styleMarkdown))
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

// loadgen writes the load generator beside the server and, where the
// saturation ladders recorded each process's cores, the load generator's
// share at every step and the steps it limited.
func (m *errWriter) loadgen(r *results.Report, groups []group) {
	if len(groups) == 0 {
		return
	}
	if !recordsLoadgen(groups) {
		m.printf("## Load generator\n\nNo run recorded the load generator's resource use.\n\n")
		return
	}
	m.printf("## Load generator\n\n%s\n\n", loadgenIntro)
	m.table(newLoadgenTable(groups, styleMarkdown))
	m.printf("\n")
	facts := loadgenFacts(groups)
	m.printf("%s\n\n", facts[0])
	for _, f := range facts[1:] {
		m.printf("- %s\n", f)
	}
	if len(facts) > 1 {
		m.printf("\n")
	}
	if slices.ContainsFunc(groups, func(g group) bool { return polling(g.Config) }) {
		m.printf("%s\n\n", pollingCPUNote)
	}
	c := cpusOf(r)
	if steps := ladderSteps(r, groups, c); len(steps) > 0 {
		m.printf("%s\n\n", loadgenLadderIntro(c))
		m.table(newLoadgenLadderTable(steps, c, styleMarkdown))
		m.printf("\n")
		m.bullets(loadgenLadderFacts(steps, c))
	}
}

// targetsIntro introduces the targets in either report.
const targetsIntro = "The project's stated targets, each judged from the runs above: met, missed, or not measured when no run fits it. " +
	"Latency and deliveries/s are medians over the repetitions, loss is summed over all of them, other figures are the median run's, and each margin is the measured value as a multiple of the limit."

// targets writes the project's targets and how the runs fared.
func (m *errWriter) targets(r *results.Report) {
	vs := evaluate(r, projectTargets)
	if len(vs) == 0 {
		return
	}
	m.printf("## Targets\n\n%s\n\n", targetsIntro)
	for _, t := range projectTargets {
		m.printf("- **%s**: %s\n", t.Name, t.Description)
	}
	m.printf("\n%s.\n\n", strings.ToUpper(targetTally(vs)[:1])+targetTally(vs)[1:])
	m.table(newTargetsTable(vs, styleMarkdown))
	m.printf("\n")
}

// setting is one named setting, ready to print.
type setting struct{ Name, Value string }

// settingsList returns the recorded settings in a fixed order: the fields
// first, then Extra sorted by name.
func settingsList(s results.Settings) []setting {
	var out []setting
	add := func(name, value string) {
		if value != "" {
			out = append(out, setting{name, value})
		}
	}
	secs := func(v float64) string {
		if v == 0 {
			return ""
		}
		return FormatNS(v * 1e9)
	}
	itoa := func(v int) string {
		if v == 0 {
			return ""
		}
		return strconv.Itoa(v)
	}
	add("warm-up", secs(s.WarmupS))
	add("duration", secs(s.DurationS))
	add("repetitions", itoa(s.Repetitions))
	add("server CPUs", s.ServerCPUs)
	add("loadgen CPUs", s.LoadgenCPUs)
	add("heartbeat", secs(s.HeartbeatS))
	add("max lag (events)", itoa(s.MaxLag))
	add("history (events)", itoa(s.History))
	add("SSE retry", s.SSERetry)
	add("WebSocket backoff", s.WSBackoff)
	add("poll interval", s.PollInterval)
	keys := make([]string, 0, len(s.Extra))
	for k := range s.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add(k, s.Extra[k])
	}
	return out
}

// hasRuns reports whether r holds ordinary runs of pushbench's own stream
// (or polling capacity attacks). A report without any, such as the faults
// matrix or `pushbench load` writes, leaves out the sections judged from
// them (the floor, the runs' correctness, the targets, the summary), which
// would only say that nothing was measured.
func hasRuns(r *results.Report) bool { return len(r.Runs) > 0 || len(r.Capacity) > 0 }

// measuresStream reports whether r measured pushbench's own stream at all,
// in ordinary or fault runs: only then do the latency clock, the floor and
// the tables' reading apply. A report of `pushbench load` runs alone
// measured someone else's endpoints, whose clocks each run states.
func measuresStream(r *results.Report) bool { return hasRuns(r) || len(r.Faults) > 0 }
