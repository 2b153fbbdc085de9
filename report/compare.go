package report

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushbench/pushbench/results"
)

// Compare sets two benchmark sessions side by side, configuration by
// configuration and figure by figure, from the per-run figures their
// results.json files record (an edited copy is compared as written), and
// fails the thresholds a significant change crosses: what CI runs against a
// baseline (docs/ci.md).

// DefaultFailOn are the thresholds compare applies when none are given:
//
//   - p99>+20%: a significant rise in tail latency beyond what a change of
//     CI runner alone tends to make (the reference run's repetitions of one
//     configuration differ by a median 11.5% in p99);
//   - deliveries/s<-5%: at a fixed offered rate throughput should not move
//     at all, so a significant 5% drop means delivery fell behind;
//   - mem/conn>+20%: memory per connection is steady from run to run (0.3%
//     in the reference run), so a significant 20% is a real cost;
//   - lost>0, duplicated>0, reordered>0: the delivery guarantee, which
//     needs no statistics: one event is a failure.
//
// CPU per delivery is left out by default because a CI runner's CPU model
// may differ from the baseline's; add cpu/1k>+20% where it does not.
const DefaultFailOn = "p99>+20%,deliveries/s<-5%,mem/conn>+20%,lost>0,duplicated>0,reordered>0"

// Sentinel errors.
var (
	// ErrThreshold is returned by ParseThresholds for a threshold it cannot
	// read.
	ErrThreshold = errors.New("bad threshold")
)

// A Threshold fails a comparison when a figure crosses it, written as k6
// writes thresholds, METRIC OP VALUE: "p99>+10%" (the new median more than
// 10% above the old, the change significant), "deliveries/s<-5%",
// "p99>50ms" (the new median above 50 ms, an absolute limit that needs no
// significance), "lost>0" (the new runs lost any event).
type Threshold struct {
	Metric string
	// Op is one of >, >=, <, <=.
	Op string
	// Value is a relative change (0.1 for +10%) when Relative, otherwise
	// a limit on the new median in the metric's unit (ns, bytes, events,
	// deliveries/s), or for a count on the new total.
	Value    float64
	Relative bool
	text     string
}

func (t Threshold) String() string { return t.text }

// crosses reports whether v crosses t.
func (t Threshold) crosses(v float64) bool {
	switch t.Op {
	case ">":
		return v > t.Value
	case ">=":
		return v >= t.Value
	case "<":
		return v < t.Value
	default:
		return v <= t.Value
	}
}

// ParseThresholds reads comma-separated thresholds; "none" is no
// threshold.
func ParseThresholds(s string) ([]Threshold, error) {
	var out []Threshold
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" || part == "none" {
			continue
		}
		t, err := parseThreshold(part)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func parseThreshold(s string) (Threshold, error) {
	i := strings.IndexAny(s, "<>")
	if i <= 0 {
		return Threshold{}, fmt.Errorf("%w %q: want METRIC>VALUE or METRIC<VALUE, as p99>+10%%", ErrThreshold, s)
	}
	t := Threshold{Metric: strings.TrimSpace(s[:i]), Op: s[i : i+1], text: s}
	v := s[i+1:]
	if strings.HasPrefix(v, "=") {
		t.Op += "="
		v = v[1:]
	}
	v = strings.TrimSpace(v)
	m, ok := metricNamed(t.Metric)
	if !ok {
		return Threshold{}, fmt.Errorf("%w %q: unknown metric %q (want %s)", ErrThreshold, s, t.Metric, metricNames())
	}
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		if m.count {
			return Threshold{}, fmt.Errorf("%w %q: %s is a count; give a number of events, as %s>0", ErrThreshold, s, m.name, m.name)
		}
		f, err := strconv.ParseFloat(pct, 64)
		if err != nil {
			return Threshold{}, fmt.Errorf("%w %q: %v", ErrThreshold, s, err)
		}
		t.Value, t.Relative = f/100, true
		return t, nil
	}
	f, err := m.parse(v)
	if err != nil {
		return Threshold{}, fmt.Errorf("%w %q: %v", ErrThreshold, s, err)
	}
	t.Value = f
	return t, nil
}

// metric is one figure compare reads off every run.
type metric struct {
	name, what string
	format     func(float64) string
	// parse reads an absolute value a threshold gives.
	parse func(string) (float64, error)
	// count: summed over the runs and compared as totals, no statistics.
	count bool
	run   func(*results.Run) float64
	fault func(*results.FaultRun) float64
}

// parseNS reads a duration ("50ms") or a number of nanoseconds.
func parseNS(s string) (float64, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return float64(d), nil
	}
	return strconv.ParseFloat(s, 64)
}

// parseBytes reads "16KiB", "1.5 MiB", "900 B" or a number of bytes.
func parseBytes(s string) (float64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	return f * mult, err
}

// parseSI reads "9.5k", "1.2M" or a plain number.
func parseSI(s string) (float64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		s, mult = s[:len(s)-1], 1e3
	case strings.HasSuffix(s, "M"):
		s, mult = s[:len(s)-1], 1e6
	}
	f, err := strconv.ParseFloat(s, 64)
	return f * mult, err
}

func countOf(f func(*results.Delivery) uint64) (func(*results.Run) float64, func(*results.FaultRun) float64) {
	return func(r *results.Run) float64 { return float64(f(&r.Delivery)) },
		func(r *results.FaultRun) float64 { return float64(f(&r.Delivery)) }
}

// compareMetrics are the figures compare reads, in the order it shows them.
var compareMetrics = func() []metric {
	lostRun, lostFault := countOf(func(d *results.Delivery) uint64 { return d.Lost })
	dupRun, dupFault := countOf(func(d *results.Delivery) uint64 { return d.Duplicates })
	reoRun, reoFault := countOf(func(d *results.Delivery) uint64 { return d.Reordered })
	return []metric{
		{name: "p50", what: "delivery latency p50", format: FormatNS, parse: parseNS, run: p50Of},
		{name: "p99", what: "delivery latency p99", format: FormatNS, parse: parseNS, run: p99Of,
			fault: func(r *results.FaultRun) float64 { return float64(r.LatencyNS.P99) }},
		{name: "deliveries/s", what: "deliveries per second", format: FormatSI, parse: parseSI, run: deliveriesOf},
		{name: "cpu/1k", what: "server CPU per 1,000 deliveries", format: FormatNS, parse: parseNS,
			run: func(r *results.Run) float64 { return r.Server.CPUPer1kDeliveries * 1e9 }},
		{name: "mem/conn", what: "server memory per connection", format: formatBytes, parse: parseBytes,
			run: func(r *results.Run) float64 { return r.Server.BytesPerConn }},
		{name: "wire/event", what: "bytes on the wire per event", format: formatBytes, parse: parseBytes,
			run: func(r *results.Run) float64 { return r.Wire.BytesPerEvent }},
		{name: "recovery", what: "a fault's time to recover, detect + reconnect + catch-up p99s", format: FormatNS, parse: parseNS,
			fault: func(r *results.FaultRun) float64 { return float64(r.RecoveryNS()) }},
		{name: "detect", what: "a fault's time to detect, p99 over clients", format: FormatNS, parse: parseNS,
			fault: func(r *results.FaultRun) float64 { return float64(r.Recovery.Detect.P99) }},
		{name: "lost", what: "events lost, summed over the runs", format: fmtCount, parse: parseSI, count: true, run: lostRun, fault: lostFault},
		{name: "duplicated", what: "events duplicated, summed over the runs", format: fmtCount, parse: parseSI, count: true, run: dupRun, fault: dupFault},
		{name: "reordered", what: "events reordered, summed over the runs", format: fmtCount, parse: parseSI, count: true, run: reoRun, fault: reoFault},
	}
}()

func fmtCount(v float64) string { return formatCount(uint64(max(v, 0))) }

func metricNamed(name string) (metric, bool) {
	i := slices.IndexFunc(compareMetrics, func(m metric) bool { return m.name == name })
	if i < 0 {
		return metric{}, false
	}
	return compareMetrics[i], true
}

func metricNames() string {
	var ns []string
	for _, m := range compareMetrics {
		ns = append(ns, m.name)
	}
	return strings.Join(ns, ", ")
}

// MetricsUsage lists compare's metrics, one a line, for a command's help.
func MetricsUsage() string {
	var b strings.Builder
	for _, m := range compareMetrics {
		fmt.Fprintf(&b, "    %-13s %s\n", m.name, m.what)
	}
	return strings.TrimRight(b.String(), "\n")
}

// entry is one configuration of one side: its repetitions, from every
// session of that side.
type entry struct {
	label  string
	runs   []*results.Run
	faults []*results.FaultRun
}

// side gathers the configurations of some sessions, whose runs of one
// configuration are repetitions of one another. Keys are the
// configuration; loose keys leave the implementation out, for files
// written before runs named it.
type side struct {
	entries map[string]*entry
	order   []string
	loose   map[string][]string
}

func sideOf(reps []*results.Report) *side {
	s := &side{entries: map[string]*entry{}, loose: map[string][]string{}}
	add := func(key, loose, label string) *entry {
		e := s.entries[key]
		if e == nil {
			e = &entry{label: label}
			s.entries[key] = e
			s.order = append(s.order, key)
			s.loose[loose] = append(s.loose[loose], key)
		}
		return e
	}
	for _, r := range reps {
		for i := range r.Runs {
			run := &r.Runs[i]
			c := configOf(run)
			label := c.Label() + ", " + c.Load()
			if c.Scenario != "" {
				label = c.Scenario + " " + label
			}
			noImpl := c
			noImpl.Impl = ""
			e := add(fmt.Sprintf("run %#v", c), fmt.Sprintf("run %#v", noImpl), label)
			e.runs = append(e.runs, run)
		}
		for i := range r.Faults {
			f := &r.Faults[i]
			name := string(f.Transport)
			if f.Impl != "" {
				name += "/" + f.Impl
			}
			label := fmt.Sprintf("%s %s %s", f.Scenario, f.Fault, name)
			if f.Jitter == "none" {
				label += ", no jitter"
			}
			key := fmt.Sprintf("fault %q %q %q %q %q %d %g %d", f.Scenario, f.Fault, f.Transport, f.Impl, f.Jitter, f.Clients, f.Rate, f.Payload)
			loose := fmt.Sprintf("fault %q %q %q %q %d %g %d", f.Scenario, f.Fault, f.Transport, f.Jitter, f.Clients, f.Rate, f.Payload)
			e := add(key, loose, label)
			e.faults = append(e.faults, f)
		}
	}
	return s
}

// match finds the entry of s for key of the other side: the same
// configuration, or, when the file of one side did not name
// implementations, the one configuration that differs only in naming one.
func (s *side) match(key string, other *side) *entry {
	if e, ok := s.entries[key]; ok {
		return e
	}
	var loose string
	for l, keys := range other.loose {
		if slices.Contains(keys, key) {
			loose = l
		}
	}
	if keys := s.loose[loose]; len(keys) == 1 && len(other.loose[loose]) == 1 {
		return s.entries[keys[0]]
	}
	return nil
}

// values reads m off every repetition of e; nil when m does not apply.
func (e *entry) values(m metric) []float64 {
	var out []float64
	switch {
	case len(e.runs) > 0 && m.run != nil:
		for _, r := range e.runs {
			out = append(out, m.run(r))
		}
	case len(e.faults) > 0 && m.fault != nil:
		for _, f := range e.faults {
			if f.Error == "" {
				out = append(out, m.fault(f))
			}
		}
	}
	return out
}

// CompareRow is one configuration's change in one figure.
type CompareRow struct {
	Config string
	Metric string
	// Old and New are the medians (for a count, the totals) and Change
	// their relative difference, (New − Old) / Old.
	Old, New, Change float64
	sig              significance
	count            bool
	format           func(float64) string
	// Failed lists the thresholds the change crossed and fails;
	// Crossed those it crossed without being significant.
	Failed, Crossed []string
}

// Significant reports whether the change is significant: by the U test
// with enough runs, else beyond the noise both sides show; a count has no
// statistics and is as measured.
func (r CompareRow) Significant() bool { return r.count || r.sig.judgement == differs }

// Comparison is two sessions compared.
type Comparison struct {
	// Rows are every configuration in both, per metric, in metric order
	// then configuration order.
	Rows []CompareRow
	// OnlyOld and OnlyNew are configurations only one side ran.
	OnlyOld, OnlyNew []string
	Thresholds       []Threshold
	// Configs is how many configurations both sides ran.
	Configs int
}

// Compare compares the sessions of old with those of new (each side may
// pool several sessions, whose runs of one configuration are then its
// repetitions) and applies thresholds to every change.
func Compare(old, new []*results.Report, thresholds []Threshold) *Comparison {
	o, n := sideOf(old), sideOf(new)
	c := &Comparison{Thresholds: thresholds}
	type pair struct{ old, new *entry }
	var pairs []pair
	matched := map[*entry]bool{}
	for _, k := range o.order {
		ne := n.match(k, o)
		if ne == nil {
			c.OnlyOld = append(c.OnlyOld, o.entries[k].label)
			continue
		}
		matched[ne] = true
		pairs = append(pairs, pair{o.entries[k], ne})
	}
	for _, k := range n.order {
		if !matched[n.entries[k]] {
			c.OnlyNew = append(c.OnlyNew, n.entries[k].label)
		}
	}
	c.Configs = len(pairs)
	for _, m := range compareMetrics {
		// The noise of the figure: the median spread over the repeated
		// configurations of either side.
		var rels []float64
		for _, s := range []*side{o, n} {
			for _, e := range s.entries {
				if vs := e.values(m); len(vs) >= 2 {
					if sp := spreadOf(vs); sp.Median > 0 {
						rels = append(rels, (sp.Max-sp.Min)/sp.Median)
					}
				}
			}
		}
		var nz noise
		if len(rels) > 0 {
			nz = noise{rel: spreadOf(rels).Median, n: len(rels)}
		}
		for _, p := range pairs {
			ov, nv := p.old.values(m), p.new.values(m)
			if len(ov) == 0 || len(nv) == 0 {
				continue
			}
			row := CompareRow{Config: p.new.label, Metric: m.name, count: m.count, format: m.format}
			if m.count {
				row.Old, row.New = sum(ov), sum(nv)
			} else {
				if slices.Max(ov) == 0 && slices.Max(nv) == 0 {
					continue // not recorded
				}
				row.Old, row.New = spreadOf(ov).Median, spreadOf(nv).Median
				row.sig = judge(ov, nv, true, nz)
			}
			row.Change = change(row.Old, row.New)
			for _, t := range thresholds {
				if t.Metric != m.name {
					continue
				}
				switch {
				case !t.Relative && t.crosses(row.New), t.Relative && t.crosses(row.Change) && row.Significant():
					row.Failed = append(row.Failed, t.text)
				case t.Relative && t.crosses(row.Change):
					row.Crossed = append(row.Crossed, t.text)
				}
			}
			c.Rows = append(c.Rows, row)
		}
	}
	return c
}

func sum(vs []float64) float64 {
	var s float64
	for _, v := range vs {
		s += v
	}
	return s
}

// change is (new − old) / old: +Inf from zero to anything, 0 between zeros.
func change(old, new float64) float64 {
	switch {
	case old == new:
		return 0
	case old == 0:
		return math.Inf(1)
	}
	return (new - old) / old
}

// Failed reports whether any threshold failed.
func (c *Comparison) Failed() bool {
	return slices.ContainsFunc(c.Rows, func(r CompareRow) bool { return len(r.Failed) > 0 })
}

// FailedConfigs names the configurations that failed a threshold, each
// once, in the order of the rows.
func (c *Comparison) FailedConfigs() []string {
	var out []string
	for _, r := range c.Rows {
		if len(r.Failed) > 0 && !slices.Contains(out, r.Config) {
			out = append(out, r.Config)
		}
	}
	return out
}

// formatChange renders a relative change: "+12.5%", "−3%", "0".
func formatChange(ch float64) string {
	switch {
	case ch == 0:
		return "0"
	case math.IsInf(ch, 1):
		return "+∞"
	case ch > 0:
		return "+" + sig3(ch*100) + "%"
	}
	return "−" + sig3(-ch*100) + "%"
}

// compareLegend explains the significance column, in either style.
const compareLegend = "Old and new are medians over each configuration's runs (for a count, totals). " +
	"Significance: *p=…* is the Mann-Whitney U test over the runs (benchstat's), where both sides have enough runs for it to reach p ≤ 0.05 (4 against 4), *~ p=…* a change it does not find significant; " +
	"with fewer runs the change is judged against the run-to-run spread both files show for that figure (the median (max − min) / median over their repeated configurations): *> noise* beyond it, *~ noise* within it; " +
	"*? no noise*: neither file repeated a configuration, so the change cannot be judged. " +
	"A relative threshold fails only on a significant change; an absolute one (p99>50ms, lost>0) on the new figure alone."

// NewCompareReport renders c in style markdown (true) or for a terminal:
// the thresholds, one table per figure with every configuration, and the
// outcome, naming the configurations that failed.
func NewCompareReport(c *Comparison, markdown bool, oldName, newName string) Reporter {
	s := styleText
	if markdown {
		s = styleMarkdown
	}
	return func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		m := &errWriter{w: bw}
		em := func(t string) string {
			if s == styleMarkdown {
				return t
			}
			return strings.ReplaceAll(t, "*", "")
		}
		if s == styleMarkdown {
			m.printf("# pushbench compare\n\n`%s` → `%s`: %d configurations in both", oldName, newName, c.Configs)
		} else {
			m.printf("pushbench compare %s → %s: %d configurations in both", oldName, newName, c.Configs)
		}
		if len(c.OnlyOld) > 0 || len(c.OnlyNew) > 0 {
			m.printf(", %d only in the old, %d only in the new", len(c.OnlyOld), len(c.OnlyNew))
		}
		var ts []string
		for _, t := range c.Thresholds {
			ts = append(ts, t.text)
		}
		m.printf(". Thresholds: %s.\n\n%s\n", cmp.Or(strings.Join(ts, ", "), "none"), em(compareLegend))
		for _, mt := range compareMetrics {
			var rows []CompareRow
			for _, r := range c.Rows {
				if r.Metric == mt.name {
					rows = append(rows, r)
				}
			}
			if len(rows) == 0 {
				continue
			}
			if mt.count && !slices.ContainsFunc(rows, func(r CompareRow) bool { return r.Old != 0 || r.New != 0 }) {
				m.printf("\n%s: 0 in every configuration of both.\n", mt.name)
				continue
			}
			if s == styleMarkdown {
				m.printf("\n## %s\n\n", mt.name)
			} else {
				m.printf("\n%s\n", heading(mt.name+" ("+mt.what+")"))
			}
			t := table{cols: []column{left("configuration"), right("old"), right("new"), right("change"), left("significance"), left("threshold")}}
			for _, r := range rows {
				if mt.count && r.Old == 0 && r.New == 0 {
					continue
				}
				sg := r.sig.short()
				if r.count {
					sg = "count"
				}
				var th []string
				for _, f := range r.Failed {
					th = append(th, "FAIL "+f)
				}
				for _, f := range r.Crossed {
					th = append(th, "crossed "+f+", not significant")
				}
				t.add(r.Config, r.format(r.Old), r.format(r.New), formatChange(r.Change), sg, strings.Join(th, "; "))
			}
			m.table(func(w io.Writer) error { return t.render(w, s) })
		}
		for _, only := range []struct {
			what   string
			labels []string
		}{{"Only in the old", c.OnlyOld}, {"Only in the new", c.OnlyNew}} {
			if len(only.labels) > 0 {
				m.printf("\n%s: %s.\n", only.what, strings.Join(only.labels, "; "))
			}
		}
		m.printf("\n")
		if !c.Failed() {
			m.printf("%s: no significant change crossed a threshold.\n", em("**PASS**"))
		} else {
			fc := c.FailedConfigs()
			m.printf("%s: %s crossed a threshold:\n\n", em("**FAIL**"), plural(uint64(len(fc)), "configuration"))
			for _, r := range c.Rows {
				if len(r.Failed) == 0 {
					continue
				}
				why := r.sig.short()
				if r.count {
					why = "count"
				}
				m.printf("- %s: %s %s → %s (%s, %s) fails %s\n", r.Config, r.Metric, r.format(r.Old), r.format(r.New),
					formatChange(r.Change), why, strings.Join(r.Failed, ", "))
			}
		}
		if m.err != nil {
			return m.err
		}
		return bw.Flush()
	}
}
