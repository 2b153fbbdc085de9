package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// style is how a table is drawn.
type style int

const (
	// styleText draws box-drawing tables for a terminal.
	styleText style = iota
	// styleMarkdown draws GitHub-flavoured Markdown tables.
	styleMarkdown
)

// WriteTable writes the terminal table of runs, one row per run.
func WriteTable(w io.Writer, runs []results.Run) error { return newRunsTable(runs, styleText)(w) }

// column is one column of a table: a header and how to align it.
type column struct {
	head  string
	align tw.Align
}

func left(h string) column  { return column{h, tw.AlignLeft} }
func right(h string) column { return column{h, tw.AlignRight} }

// table is rows under columns, rendered by tablewriter in either style.
type table struct {
	cols []column
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// render draws t; it draws nothing for a table without rows, so callers
// need not check for absent data.
func (t *table) render(w io.Writer, s style) error {
	if len(t.rows) == 0 {
		return nil
	}
	heads := make([]any, len(t.cols))
	aligns := make(tw.Alignment, len(t.cols))
	for i, c := range t.cols {
		heads[i] = c.head
		aligns[i] = c.align
	}
	var r tw.Renderer
	switch s {
	case styleMarkdown:
		r = renderer.NewMarkdown()
	default:
		r = renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleLight)})
	}
	tbl := tablewriter.NewTable(w,
		tablewriter.WithRenderer(r),
		// Headers as written: "p99.9" and "B/event" mean something in
		// their case; the default upper-cases them.
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithAlignment(aligns),
	)
	if s == styleMarkdown {
		for i := range heads {
			heads[i] = mdCell(heads[i].(string))
		}
	}
	tbl.Header(heads...)
	for _, row := range t.rows {
		cells := make([]string, len(row))
		for i, c := range row {
			if s == styleMarkdown {
				c = mdCell(c)
			}
			cells[i] = c
		}
		if err := tbl.Append(cells); err != nil {
			return fmt.Errorf("table row: %w", err)
		}
	}
	if err := tbl.Render(); err != nil {
		return fmt.Errorf("render table: %w", err)
	}
	return nil
}

// mdCell escapes what would break a Markdown table cell.
func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// runColumns are the columns of the run and group tables, after the
// transport (and scenario) columns.
var runColumns = []column{
	right("clients"), right("rate"), right("payload"),
	right("delivered/expected"), right("lost"), right("dup"), right("reord"), right("gaps"),
	right("p50"), right("p90"), right("p99"), right("p99.9"), right("max"),
	right("deliveries/s"), right("wire/event"), right("srv CPU/1k"), right("srv RSS/conn"),
	right("conns ok/failed"),
}

// runCells are a run's cells for runColumns. Delivery accounting comes from
// totals, latency and cost from fig; p50, p99 and deliveries/s are
// replaced by their spread when one is given.
func runCells(fig, totals *results.Run, sp *group) []string {
	p50, p99, dps := FormatNS(float64(fig.LatencyNS.P50)), FormatNS(float64(fig.LatencyNS.P99)), FormatSI(fig.DeliveriesPerSec)
	if sp != nil {
		p50, p99, dps = spreadNS(sp.P50), spreadNS(sp.P99), spreadSI(sp.DeliveriesPerSec)
	}
	return []string{
		formatCount(uint64(max(fig.Clients, 0))),
		formatRate(fig.Rate),
		formatBytes(float64(fig.Payload)),
		formatCount(totals.Delivered) + "/" + formatCount(totals.Expected),
		lostCell(totals), formatCount(totals.Duplicates), formatCount(totals.Reordered),
		gapsCell(totals),
		p50, FormatNS(float64(fig.LatencyNS.P90)), p99,
		FormatNS(float64(fig.LatencyNS.P999)), FormatNS(float64(fig.LatencyNS.Max)),
		dps,
		formatBytes(fig.Wire.BytesPerEvent),
		FormatNS(fig.Server.CPUPer1kDeliveries * 1e9),
		formatBytes(fig.Server.BytesPerConn),
		formatCount(totals.Connections.Established) + "/" + formatCount(totals.Connections.Failed),
	}
}

// lostCell shows events lost and, when there are any, the messages that
// arrived but were not events ("3 (3 malformed)"): an event whose data is
// not an event's JSON cannot be accounted, so it shows as lost, and the
// table must not let that read as a network loss.
func lostCell(r *results.Run) string {
	if r.Malformed == 0 {
		return formatCount(r.Lost)
	}
	return fmt.Sprintf("%s (%s malformed)", formatCount(r.Lost), formatCount(r.Malformed))
}

// gapsCell shows gap signals and, when there are any, the events they
// stood for: "2 (1,200 ev)".
func gapsCell(r *results.Run) string {
	if r.Gaps == 0 {
		return "0"
	}
	return fmt.Sprintf("%s (%s ev)", formatCount(r.Gaps), formatCount(r.GapMissed))
}

// spreadNS shows a latency spread as "3.2ms (3.1ms–3.4ms)", or only the
// median when the repetitions agree or there is one.
func spreadNS(s spread) string {
	if !s.Varies() {
		return FormatNS(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", FormatNS(s.Median), FormatNS(s.Min), FormatNS(s.Max))
}

// spreadSI is spreadNS for counts and rates.
func spreadSI(s spread) string {
	if !s.Varies() {
		return FormatSI(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", FormatSI(s.Median), FormatSI(s.Min), FormatSI(s.Max))
}

// multiScenario reports whether runs span more than one scenario, which
// then needs its own column.
func multiScenario[T any](xs []T, name func(*T) string) bool {
	for i := range xs {
		if name(&xs[i]) != name(&xs[0]) {
			return true
		}
	}
	return false
}

// newRunsTable renders one row per run, repetitions apart: what
// `pushbench run` prints. Delivery columns are the run's own.
func newRunsTable(runs []results.Run, s style) Reporter {
	return func(w io.Writer) error {
		withScenario := multiScenario(runs, func(r *results.Run) string { return r.Scenario })
		t := table{cols: leadColumns(withScenario, false)}
		t.cols = append(t.cols, runColumns...)
		for i := range runs {
			r := &runs[i]
			row := leadCells(withScenario, configOf(r), 0)
			t.add(append(row, runCells(r, r, nil)...)...)
		}
		return t.render(w, s)
	}
}

// newGroupsTable renders one row per configuration: the median run's
// figures, p50, p99 and deliveries/s as "median (min–max)" over the
// repetitions, and delivery accounting and connections summed over all of
// them.
func newGroupsTable(groups []group, s style) Reporter {
	return func(w io.Writer) error {
		withScenario := multiScenario(groups, func(g *group) string { return g.Config.Scenario })
		t := table{cols: leadColumns(withScenario, true)}
		t.cols = append(t.cols, runColumns...)
		for i := range groups {
			g := &groups[i]
			totals := g.Totals()
			row := leadCells(withScenario, g.Config, len(g.Runs))
			t.add(append(row, runCells(&g.Median, &totals, g)...)...)
		}
		return t.render(w, s)
	}
}

func leadColumns(withScenario, withN bool) []column {
	var cols []column
	if withScenario {
		cols = append(cols, left("scenario"))
	}
	cols = append(cols, left("transport"))
	if withN {
		cols = append(cols, right("runs"))
	}
	return cols
}

func leadCells(withScenario bool, c config, n int) []string {
	var cells []string
	if withScenario {
		cells = append(cells, c.Scenario)
	}
	cells = append(cells, c.Label())
	if n > 0 {
		cells = append(cells, fmt.Sprint(n))
	}
	return cells
}

// floorRow is one transport beside the floor at the same point.
type floorRow struct {
	g, floor *group
}

// floorRows pairs every non-floor group with the floor group of its point;
// points without a floor run are returned apart, so a report can say so.
func floorRows(groups []group) (rows []floorRow, missing []config) {
	for _, pt := range points(groups) {
		var floor *group
		for i := range pt {
			if pt[i].Config.Transport == contract.Floor {
				floor = &pt[i]
			}
		}
		if floor == nil {
			missing = append(missing, pt[0].Config.Point())
			continue
		}
		for i := range pt {
			if pt[i].Config.Transport != contract.Floor {
				rows = append(rows, floorRow{&pt[i], floor})
			}
		}
	}
	return rows, missing
}

// newFloorTable sets each transport's median p50, p99 and deliveries/s
// beside the tcp floor's at the same point of the same scenario, and as a
// ratio to it: 1.35× means 35% slower (or more deliveries/s) than the bare
// socket. Each ratio says whether it is significant over the repetitions
// (floorRatio). Points without a floor run are left out.
func newFloorTable(groups []group, s style) Reporter {
	return func(w io.Writer) error {
		rows, _ := floorRows(groups) // points without a floor have nothing to compare with
		withScenario := multiScenario(groups, func(g *group) string { return g.Config.Scenario })
		var t table
		if withScenario {
			t.cols = append(t.cols, left("scenario"))
		}
		t.cols = append(t.cols, left("load"), left("transport"),
			right("p50"), right("floor p50"), right("p50 ×floor"),
			right("p99"), right("floor p99"), right("p99 ×floor"),
			right("deliveries/s"), right("floor deliveries/s"), right("deliveries/s ×floor"))
		for _, fr := range rows {
			var row []string
			if withScenario {
				row = append(row, fr.g.Config.Scenario)
			}
			g, f := fr.g, fr.floor
			row = append(row, g.Config.Load(), g.Config.Label(),
				FormatNS(g.P50.Median), FormatNS(f.P50.Median), floorRatio(g, f, g.P50, f.P50, p50Of),
				FormatNS(g.P99.Median), FormatNS(f.P99.Median), floorRatio(g, f, g.P99, f.P99, p99Of),
				FormatSI(g.DeliveriesPerSec.Median), FormatSI(f.DeliveriesPerSec.Median),
				floorRatio(g, f, g.DeliveriesPerSec, f.DeliveriesPerSec, deliveriesOf))
			t.add(row...)
		}
		return t.render(w, s)
	}
}

// floorIntro explains the floor table's ratios and their brackets, in
// either report.
const floorIntro = "Each transport's median figures beside the plain-TCP floor at the same load, and as a ratio to it: what the protocol costs over a bare socket on this machine. " +
	"In brackets, whether the ratio is significant over the repetitions (Mann-Whitney U test, as benchstat runs it): *p=…* where the transport and the floor differ with p ≤ 0.05; " +
	"*~ p=…* where they do not measurably differ; *? n+m runs* where the runs were too few for the test ever to reach 0.05 (it needs 4 against 4): read those ratios as sizes, not findings."

// floorRatio is g's figure as a ratio to the floor's, with the U test's
// judgement of the two over their repetitions: "1.26× (p=0.029)".
func floorRatio(g, floor *group, gs, fs spread, value func(*results.Run) float64) string {
	r := FormatRatio(gs.Median, fs.Median)
	if r == "–" {
		return r
	}
	return r + " (" + uTest(runValues(g.Runs, value), runValues(floor.Runs, value)).short() + ")"
}

// Per-run figures the tables and tests read.
func p50Of(r *results.Run) float64        { return float64(r.LatencyNS.P50) }
func p99Of(r *results.Run) float64        { return float64(r.LatencyNS.P99) }
func deliveriesOf(r *results.Run) float64 { return r.DeliveriesPerSec }

// pollingPoints returns the points where polling ran at two or more
// intervals: where the polling trade-off can be read.
func pollingPoints(groups []group) [][]group {
	var out [][]group
	for _, pt := range points(groups) {
		intervals := map[float64]bool{}
		for _, g := range pt {
			if g.Config.PollIntervalS > 0 {
				intervals[g.Config.PollIntervalS] = true
			}
		}
		if len(intervals) >= 2 {
			out = append(out, pt)
		}
	}
	return out
}

// newPollingTable renders the polling trade-off at every point where
// polling ran at several intervals: each interval's latency against the
// requests it cost and the share of them that came back empty, with the
// push transports at the same point for comparison.
func newPollingTable(groups []group, s style) Reporter {
	return func(w io.Writer) error {
		pts := pollingPoints(groups)
		withScenario := len(pts) > 1 && multiScenario(pts, func(pt *[]group) string { return (*pt)[0].Config.Scenario })
		var t table
		if withScenario {
			t.cols = append(t.cols, left("scenario"))
		}
		t.cols = append(t.cols, left("load"), left("transport"), right("p50"), right("p99"),
			right("requests/s"), right("empty polls"), right("wire/event"), right("srv CPU/1k"))
		for _, pt := range pts {
			for i := range pt {
				g := &pt[i]
				if g.Config.Transport == contract.Floor {
					continue
				}
				var row []string
				if withScenario {
					row = append(row, g.Config.Scenario)
				}
				reqs, empty := "stream", "–"
				if p := g.Median.Polls; p != nil {
					reqs, empty = FormatSI(p.RequestsPerSec), formatPercent(p.EmptyShare)
				}
				row = append(row, g.Config.Load(), g.Config.Label(),
					spreadNS(g.P50), spreadNS(g.P99), reqs, empty,
					formatBytes(g.Median.Wire.BytesPerEvent), FormatNS(g.Median.Server.CPUPer1kDeliveries*1e9))
				t.add(row...)
			}
		}
		return t.render(w, s)
	}
}

// newCapacityTable renders vegeta's constant-rate attacks on /poll.
func newCapacityTable(cs []results.Capacity, s style) Reporter {
	return func(w io.Writer) error {
		withScenario := multiScenario(cs, func(c *results.Capacity) string { return c.Scenario })
		var t table
		if withScenario {
			t.cols = append(t.cols, left("scenario"))
		}
		t.cols = append(t.cols, left("target"), right("payload"), right("offered/s"), right("requests"),
			right("ok/s"), right("success"), right("p50"), right("p99"), right("max"), right("srv CPU"))
		for _, c := range cs {
			var row []string
			if withScenario {
				row = append(row, c.Scenario)
			}
			row = append(row, c.Target, formatBytes(float64(c.Payload)), FormatSI(c.Rate), formatCount(c.Requests),
				FormatSI(c.Throughput), formatPercent(c.Success),
				FormatNS(float64(c.LatencyNS.P50)), FormatNS(float64(c.LatencyNS.P99)), FormatNS(float64(c.LatencyNS.Max)),
				FormatNS(c.Server.CPUSeconds*1e9))
			t.add(row...)
		}
		return t.render(w, s)
	}
}

// newLoadgenTable sets the load generator's CPU per 1,000 deliveries and
// memory per connection beside the server's, per configuration (median
// run): a load generator that works harder per delivery than the server
// may be what a run measured. A dash is a figure not recorded: memory per
// connection when the process's RSS did not grow as connections opened.
func newLoadgenTable(groups []group, s style) Reporter {
	return func(w io.Writer) error {
		withScenario := multiScenario(groups, func(g *group) string { return g.Config.Scenario })
		var t table
		if withScenario {
			t.cols = append(t.cols, left("scenario"))
		}
		t.cols = append(t.cols, left("load"), left("transport"),
			right("loadgen CPU/1k"), right("srv CPU/1k"), right("loadgen ×srv"),
			right("loadgen RSS/conn"), right("srv RSS/conn"))
		for i := range groups {
			g := &groups[i]
			lg, srv := g.Median.Loadgen, g.Median.Server
			var row []string
			if withScenario {
				row = append(row, g.Config.Scenario)
			}
			row = append(row, g.Config.Load(), g.Config.Label(),
				orDash(lg.CPUPer1kDeliveries*1e9, FormatNS), orDash(srv.CPUPer1kDeliveries*1e9, FormatNS),
				cpuRatio(g),
				orDash(lg.BytesPerConn, formatBytes), orDash(srv.BytesPerConn, formatBytes))
			t.add(row...)
		}
		return t.render(w, s)
	}
}

// cpuRatio is the load generator's CPU per delivery as a multiple of the
// server's, "–" when either was not recorded.
func cpuRatio(g *group) string {
	lg, srv := g.Median.Loadgen.CPUPer1kDeliveries, g.Median.Server.CPUPer1kDeliveries
	if lg <= 0 || srv <= 0 {
		return "–"
	}
	return FormatRatio(lg, srv)
}

// orDash formats v, or shows "–" for a figure not recorded (zero).
func orDash(v float64, format func(float64) string) string {
	if v <= 0 {
		return "–"
	}
	return format(v)
}
