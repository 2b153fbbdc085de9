package results

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pushbench/pushbench/contract"
)

// NewTextReport renders a report for a terminal: the machine, each
// scenario's table, the floor comparison, the polling trade-off, the load
// generator beside the server, the correctness statement, the targets and
// the summary, and each fault's verdict; what report.md says, without the
// plots and the recovery tables.
func NewTextReport(r *Report) Reporter {
	return func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		m := &errWriter{w: bw}
		m.printf("pushbench on %s", r.Env.Machine())
		if r.Env.Commit != "" {
			m.printf(", commit %s", r.Env.Commit)
		}
		m.printf("\n")
		m.table(NewClockReport(r, Text))
		groups := Groups(r.Runs)
		for _, name := range r.ScenarioNames() {
			var gs []Group
			for _, g := range groups {
				if g.Config.Scenario == name {
					gs = append(gs, g)
				}
			}
			cs := capacityOf(r, name)
			if len(gs) == 0 && len(cs) == 0 {
				continue
			}
			m.printf("\n%s\n", heading(scenarioTitle(name)))
			m.table(NewGroupsTable(gs, Text))
			if r.Scenario(name).Kind == contract.Scale {
				m.table(NewScaleReport(r, name, DefaultScaleTargets, Text))
			}
			m.table(NewCapacityTable(cs, Text))
		}
		if rows, _ := floorRows(groups); len(rows) > 0 {
			m.printf("\n%s\n", heading("against the "+string(Floor)+" floor"))
			m.table(NewFloorTable(groups, Text))
		}
		if len(pollingPoints(groups)) > 0 {
			m.printf("\n%s\n", heading("polling trade-off"))
			m.table(NewPollingTable(groups, Text))
		}
		if recordsLoadgen(groups) {
			m.printf("\n%s\n", heading("load generator"))
			m.table(NewLoadgenTable(groups, Text))
			for i, f := range loadgenFacts(groups) {
				if i > 0 {
					f = "  - " + f
				}
				m.printf("%s\n", f)
			}
			if slices.ContainsFunc(groups, func(g Group) bool { return polling(g.Config) }) {
				m.printf("%s\n", pollingCPUNote)
			}
		}
		if len(r.Faults) > 0 {
			m.printf("\n%s\n", heading("recovery"))
			for _, name := range r.faultScenarios() {
				for _, g := range faultGroups(r.Faults, name) {
					m.printf("%s / %s: %s\n", name, g.fault, strings.ReplaceAll(g.summary(), "**", ""))
				}
			}
		}
		m.printf("\n%s\n", heading("correctness"))
		lines := faultCorrectness(r.Faults)
		if !r.faultsOnly() {
			lines = append(correctness(r.Runs), lines...)
		}
		for _, l := range lines {
			m.printf("%s\n", l)
		}
		if !r.faultsOnly() { // the recovery lines are the summary
			if vs := Evaluate(r, Targets); len(vs) > 0 {
				m.printf("\n%s\n", heading("targets"))
				for _, t := range Targets {
					m.printf("%s: %s\n", t.Name, t.Description)
				}
				m.table(NewTargetsTable(vs, Text))
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
