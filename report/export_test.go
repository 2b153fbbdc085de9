package report

import "github.com/pushbench/pushbench/results"

// Renderers the tests of package report_test reach. They live there, not
// here, because they render the sections of packages browser and proxy,
// which import report.
var NewMarkdownReport = newMarkdownReport

// PlotNames returns the plots WriteDir would draw for r, as report.md
// embeds them and in its order, without drawing them.
func PlotNames(r *results.Report) ([]string, error) {
	charts, err := buildCharts(r)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(charts))
	for i := range charts {
		names[i] = charts[i].name + ".png"
	}
	return names, nil
}
