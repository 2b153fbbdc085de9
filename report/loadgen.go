package report

import (
	"fmt"
	"io"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// The load generator at saturation: where a ladder breaks must be the
// server's limit, so the load generator should spend at most
// loadgenShareGoal of the server's CPU per delivery, and a step where it
// ran out of CPU first is shown as its limit, not the server's.

// ladderStep is one step of a saturation ladder that recorded both
// processes' CPU use in cores.
type ladderStep struct {
	g *group
	// held: p99 within the bound and nothing lost; byLoadgen: it did not
	// hold, and the load generator, not the server, was out of CPU.
	held, byLoadgen bool
	why             string // why it did not hold
}

// ladderSteps returns the steps of every saturation scenario's ladders
// that recorded both processes' cores, ladder by ladder and each by rate;
// none for reports written before runs recorded them.
func ladderSteps(r *results.Report, groups []group, c cpus) []ladderStep {
	var out []ladderStep
	for _, name := range r.ScenarioNames() {
		info := r.Scenario(name)
		if info.Kind != contract.Saturation {
			continue
		}
		gs := ofScenario(groups, name)
		bound := info.P99BoundS * 1e9
		for _, l := range laddersOf(gs, bound, c) {
			for _, g := range l.steps {
				if !recordedCores(&g.Median) {
					continue
				}
				st := ladderStep{g: g, held: holds(g, bound)}
				if !st.held {
					st.byLoadgen = c.limitedByLoadgen(&g.Median)
					st.why = breakReason(g, bound)
				}
				out = append(out, st)
			}
		}
	}
	return out
}

// pinnedWord describes the CPUs a process was pinned to: "CPU 0, 1 core",
// "CPUs 1-3, 3 cores", or "not pinned: the machine's 2 cores".
func pinnedWord(list string, n float64) string {
	switch {
	case list == "" && n > 0:
		return "not pinned: the machine's " + coresWord(n)
	case list == "":
		return "not recorded"
	case cpuCount(list) == 1:
		return "CPU " + list + ", " + coresWord(n)
	}
	return "CPUs " + list + ", " + coresWord(n)
}

// loadgenLadderIntro introduces the saturation steps in the Load generator
// section.
func loadgenLadderIntro(c cpus) string {
	return fmt.Sprintf("At saturation, every step of the ladders: the load generator's CPU per delivery as a multiple of the server's, against the goal of at most %s× "+
		"(on equal cores the server must run out first, with room to spare, or the ladder cannot tell whose limit it found); "+
		"and each process's CPU use over the run, in cores, against the cores it was pinned to (server: %s; load generator: %s). "+
		"A step that did not hold, with the load generator at %s or more of its cores and the server below %s of its own, was *limited by the load generator, not the server*: "+
		"the ladder summaries and the verdict do not count it as the server's break.",
		sig3(loadgenShareGoal), pinnedWord(c.serverList, c.server), pinnedWord(c.loadgenList, c.loadgen), sig3(nearCores), sig3(nearCores))
}

// newLoadgenLadderTable renders the saturation steps: the CPU share, both
// processes' cores, and how the step ended.
func newLoadgenLadderTable(steps []ladderStep, c cpus, s style) Reporter {
	return func(w io.Writer) error {
		withScenario := multiScenario(steps, func(st *ladderStep) string { return st.g.Config.Scenario })
		var t table
		if withScenario {
			t.cols = append(t.cols, left("scenario"))
		}
		t.cols = append(t.cols, left("transport"), left("load"), right("loadgen ×srv"), left("≤ "+sig3(loadgenShareGoal)+"×"),
			right("loadgen cores"), right("srv cores"), left("step"))
		for _, st := range steps {
			g := &st.g.Median
			var row []string
			if withScenario {
				row = append(row, st.g.Config.Scenario)
			}
			share := cpuRatio(st.g)
			goal := "–"
			if share != "–" {
				goal = "yes"
				if g.Loadgen.CPUPer1kDeliveries > loadgenShareGoal*g.Server.CPUPer1kDeliveries {
					goal = "no"
				}
			}
			step := "held"
			switch {
			case st.byLoadgen:
				step = "limited by the load generator, not the server"
			case !st.held:
				step = "broke: " + st.why
			}
			row = append(row, st.g.Config.Label(), st.g.Config.Load(), share, goal,
				sig3(g.Loadgen.Cores)+" of "+sig3(c.loadgen), sig3(g.Server.Cores)+" of "+sig3(c.server), step)
			t.add(row...)
		}
		return t.render(w, s)
	}
}

// loadgenLadderFacts state in how many steps the load generator kept to
// the goal, which ladders did not and at which rates, and which steps it,
// not the server, limited.
func loadgenLadderFacts(steps []ladderStep, c cpus) []string {
	name := func(cf config) string {
		s := cf.Label()
		if cf.Scenario != "" {
			s = cf.Scenario + " " + s
		}
		return s
	}
	// over gathers, per ladder in order, its steps over the goal.
	type over struct {
		ladder config
		rates  []string
		steps  int // measured steps of the ladder
		lo, hi float64
	}
	var overs []*over
	index := map[config]*over{}
	var limited []string
	kept, measured := 0, 0
	for _, st := range steps {
		key := st.g.Config
		key.Rate = 0
		o := index[key]
		if o == nil {
			o = &over{ladder: key}
			index[key] = o
			overs = append(overs, o)
		}
		lg, srv := st.g.Median.Loadgen.CPUPer1kDeliveries, st.g.Median.Server.CPUPer1kDeliveries
		if lg > 0 && srv > 0 {
			measured++
			o.steps++
			if lg <= loadgenShareGoal*srv {
				kept++
			} else {
				share := lg / srv
				if len(o.rates) == 0 {
					o.lo, o.hi = share, share
				}
				o.lo, o.hi = min(o.lo, share), max(o.hi, share)
				o.rates = append(o.rates, formatRate(st.g.Config.Rate))
			}
		}
		if st.byLoadgen {
			limited = append(limited, fmt.Sprintf("%s at %s (%s)", name(st.g.Config), formatRate(st.g.Config.Rate), c.coresNote(&st.g.Median)))
		}
	}
	var out []string
	if measured > 0 {
		s := fmt.Sprintf("The load generator spent at most %s× the server's CPU per delivery in %d of %d saturation steps", sig3(loadgenShareGoal), kept, measured)
		var parts []string
		for _, o := range overs {
			if len(o.rates) == 0 {
				continue
			}
			share := sig3(o.lo) + "×"
			if o.hi != o.lo {
				share += "–" + sig3(o.hi) + "×"
			}
			at := "at " + joinAnd(o.rates)
			if len(o.rates) == o.steps && o.steps > 1 {
				at = fmt.Sprintf("at all %d of its steps", o.steps)
			}
			parts = append(parts, fmt.Sprintf("%s %s (%s)", name(o.ladder), at, share))
		}
		if len(parts) > 0 {
			s += "; more: " + joinAnd(parts)
		}
		out = append(out, s+".")
	}
	if len(limited) == 0 {
		out = append(out, "No step that broke had the load generator out of CPU while the server was not: every break the ladders found is the server's.")
	} else {
		out = append(out, fmt.Sprintf("Limited by the load generator, not the server: %s. The server's limit lies above those rates, unmeasured here.", joinAnd(limited)))
	}
	return out
}
