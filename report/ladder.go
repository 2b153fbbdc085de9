package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pushbench/pushbench/results"
)

// A saturation ladder is one configuration offered one rate after another.
// Where it breaks is the server's limit only if the server was the process
// out of CPU there: on equal cores a load generator that spends as much CPU
// per delivery as the server runs out at the same rate, and the ladder
// cannot tell whose limit it found. Runs record each process's CPU use in
// cores (results.Process.Cores), and Settings the CPUs each was pinned to:
// a step that broke with the load generator near its cores and the server
// not near its own was the load generator's limit, and neither the ladder
// summaries nor the verdict count it as the server's break.

// nearCores is the share of the cores it was pinned to at which a process
// counts as having used them all over a run: scheduling, the measurement's
// edges and the process's idle moments keep a saturated process a little
// below 1.
const nearCores = 0.9

// loadgenShareGoal is the most CPU per delivery the load generator should
// spend, as a multiple of the server's, so that on equal cores the server
// runs out first, and with a margin (issue #13).
const loadgenShareGoal = 0.5

// cpus is how many cores each process of the report's runs could use: the
// CPUs it was pinned to, or the machine's when it was not pinned; 0 when
// neither is recorded.
type cpus struct {
	server, loadgen float64
	// serverList and loadgenList are the pinned CPU lists as recorded ("0",
	// "1-3"), empty when not pinned.
	serverList, loadgenList string
}

// cpusOf reads r's pinning from its settings, falling back to the
// machine's cores for a process that was not pinned.
func cpusOf(r *results.Report) cpus {
	c := cpus{serverList: r.Settings.ServerCPUs, loadgenList: r.Settings.LoadgenCPUs}
	c.server = float64(cmp.Or(cpuCount(c.serverList), r.Env.Cores))
	c.loadgen = float64(cmp.Or(cpuCount(c.loadgenList), r.Env.Cores))
	return c
}

// cpuCount counts the CPUs of a list as taskset and the settings write it:
// "0" is 1, "1-3" is 3, "0,2-3" is 3. It is 0 for an empty or unreadable
// list.
func cpuCount(list string) int {
	n := 0
	for part := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

// recordedCores reports whether run recorded both processes' CPU use in cores.
func recordedCores(run *results.Run) bool { return run.Server.Cores > 0 && run.Loadgen.Cores > 0 }

// limitedByLoadgen reports whether the load generator, not the server, was
// the limit of run: the generator used nearCores or more of its cores, and
// the server less than that of its own. False when either is not known.
func (c cpus) limitedByLoadgen(run *results.Run) bool {
	return recordedCores(run) && c.server > 0 && c.loadgen > 0 &&
		run.Loadgen.Cores >= nearCores*c.loadgen && run.Server.Cores < nearCores*c.server
}

// coresNote says how much of its cores each process used in run: "load
// generator 0.97 of 1 core, server 0.41 of 1".
func (c cpus) coresNote(run *results.Run) string {
	return fmt.Sprintf("load generator %s of %s, server %s of %s",
		sig3(run.Loadgen.Cores), coresWord(c.loadgen), sig3(run.Server.Cores), sig3(c.server))
}

// coresWord is "1 core", "3 cores".
func coresWord(n float64) string {
	if n == 1 {
		return "1 core"
	}
	return sig3(n) + " cores"
}

// ladder is one configuration of a saturation scenario at every rate it
// was offered.
type ladder struct {
	// config is the ladder's configuration, its rate zero.
	config config
	// steps are its groups by rate.
	steps []*group
	// held is the highest rate that held (p99 within the bound, nothing
	// lost), 0 when none did; heldP99 its median p99.
	held, heldP99 float64
	// broke is the first step above held, when the server broke there;
	// limited is that step instead when the load generator, not the
	// server, was the limit there: then the ladder found no break of the
	// server's. Both are nil when no step above held was tried.
	broke, limited *group
}

// holds reports whether a step held: nothing lost, p99 within the bound
// (when there is one).
func holds(g *group, bound float64) bool {
	return g.Totals().Lost == 0 && (bound == 0 || g.P99.Median <= bound)
}

// breakReason says why a step did not hold: "lost 120 events", "p99 73ms
// over the 50ms bound".
func breakReason(g *group, bound float64) string {
	if lost := g.Totals().Lost; lost > 0 {
		return "lost " + formatCount(lost) + " events"
	}
	return fmt.Sprintf("p99 %s over the %s bound", FormatNS(g.P99.Median), FormatNS(bound))
}

// laddersOf gathers a saturation scenario's groups (the floor's included)
// into ladders, in order of first appearance, and finds where each held and
// broke. bound is the scenario's p99 bound in ns, 0 for none.
func laddersOf(gs []group, bound float64, c cpus) []*ladder {
	var out []*ladder
	index := map[config]*ladder{}
	for i := range gs {
		g := &gs[i]
		key := g.Config
		key.Rate = 0
		l := index[key]
		if l == nil {
			l = &ladder{config: key}
			index[key] = l
			out = append(out, l)
		}
		l.steps = append(l.steps, g)
	}
	for _, l := range out {
		slices.SortFunc(l.steps, func(a, b *group) int { return cmp.Compare(a.Config.Rate, b.Config.Rate) })
		for _, g := range l.steps {
			if holds(g, bound) {
				l.held, l.heldP99 = g.Config.Rate, g.P99.Median
			}
		}
		for _, g := range l.steps {
			if g.Config.Rate > l.held {
				if c.limitedByLoadgen(&g.Median) {
					l.limited = g
				} else {
					l.broke = g
				}
				break
			}
		}
	}
	return out
}

// last is the highest rate the ladder was offered.
func (l *ladder) last() float64 { return l.steps[len(l.steps)-1].Config.Rate }
