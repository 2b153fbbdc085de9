package report

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// NewTextReport renders a report for a terminal: the machine, the verdict
// (weighing the facts of sections, if any), each scenario's table, the
// implementations (shorter than report.md's section), the floor comparison, the polling trade-off, the load generator beside the
// server, the correctness statement, the targets and the summary, and each
// fault's verdict; what report.md says, without the plots, the recovery
// tables and the sections themselves.
func NewTextReport(r *results.Report, sections ...Section) Reporter {
	return func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		m := &errWriter{w: bw}
		m.printf("pushbench on %s", machine(r.Env))
		if r.Env.Commit != "" {
			m.printf(", commit %s", r.Env.Commit)
		}
		m.printf("\n")
		m.writeVerdict(r, factsOf(sections), styleText)
		if measuresStream(r) {
			m.table(newClockReport(r, styleText))
		}
		groups := groupRuns(r.Runs)
		for _, name := range r.ScenarioNames() {
			gs := ofScenario(groups, name)
			cs := capacityOf(r, name)
			if len(gs) == 0 && len(cs) == 0 {
				continue
			}
			m.printf("\n%s\n", heading(scenarioTitle(name)))
			m.table(newGroupsTable(gs, styleText))
			if r.Scenario(name).Kind == contract.Scale {
				m.table(newScaleReport(r, name, defaultScaleTargets, styleText))
			}
			m.table(newCapacityTable(cs, styleText))
		}
		m.implementationsText(r, groups)
		if rows, _ := floorRows(groups); len(rows) > 0 {
			m.printf("\n%s\n%s\n", heading("against the "+string(contract.Floor)+" floor"), strings.ReplaceAll(floorIntro, "*", ""))
			m.table(newFloorTable(groups, styleText))
		}
		if len(pollingPoints(groups)) > 0 {
			m.printf("\n%s\n", heading("polling trade-off"))
			m.table(newPollingTable(groups, styleText))
		}
		if recordsLoadgen(groups) {
			m.printf("\n%s\n", heading("load generator"))
			m.table(newLoadgenTable(groups, styleText))
			for i, f := range loadgenFacts(groups) {
				if i > 0 {
					f = "  - " + f
				}
				m.printf("%s\n", f)
			}
			if slices.ContainsFunc(groups, func(g group) bool { return polling(g.Config) }) {
				m.printf("%s\n", pollingCPUNote)
			}
			c := cpusOf(r)
			if steps := ladderSteps(r, groups, c); len(steps) > 0 {
				m.printf("%s\n", strings.ReplaceAll(loadgenLadderIntro(c), "*", ""))
				m.table(newLoadgenLadderTable(steps, c, styleText))
				for _, f := range loadgenLadderFacts(steps, c) {
					m.printf("  - %s\n", f)
				}
			}
		}
		if len(r.Faults) > 0 {
			m.printf("\n%s\n", heading("recovery"))
			for _, name := range faultScenarios(r) {
				for _, g := range faultGroups(r.Faults, name) {
					m.printf("%s / %s: %s\n", name, g.fault, strings.ReplaceAll(g.summary(), "**", ""))
				}
			}
		}
		m.loadsText(r)
		if measuresStream(r) { // load runs have no delivery account
			m.printf("\n%s\n", heading("correctness"))
			lines := faultCorrectness(r.Faults)
			if hasRuns(r) {
				lines = append(correctness(r.Runs), lines...)
			}
			for _, l := range lines {
				m.printf("%s\n", l)
			}
		}
		if hasRuns(r) { // else the recovery or the load lines are the summary
			if vs := evaluate(r, projectTargets); len(vs) > 0 {
				m.printf("\n%s\n", heading("targets"))
				for _, t := range projectTargets {
					m.printf("%s: %s\n", t.Name, t.Description)
				}
				m.table(newTargetsTable(vs, styleText))
				m.printf("%s.\n", targetTally(vs))
			}
			m.printf("\n%s\n", heading("summary"))
			for _, b := range summarize(r) {
				m.printf("%s:\n", b.title)
				for _, it := range b.items {
					m.printf("  - %s\n", it.text)
					for _, s := range it.sub {
						m.printf("      %s\n", s)
					}
				}
			}
		}
		if m.err != nil {
			return m.err
		}
		return bw.Flush()
	}
}

// heading underlines a title for a terminal.
func heading(s string) string {
	return fmt.Sprintf("%s\n%s", s, strings.Repeat("=", len([]rune(s))))
}
