package report

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/pushbench/pushbench/internal/plotkit"
	"github.com/pushbench/pushbench/results"
)

// loadPlotDir is where the load runs' chart goes, under PlotsDir: apart
// from the scenarios' directories, which are named after scenarios.
const loadPlotDir = "endpoint-load"

// loadIntro says what the Load section's figures are, in either report.
const loadIntro = "`pushbench load` runs: clients of endpoints that know nothing of pushbench (no sequence numbers, no /stats), started evenly over the ramp and held for the duration, reconnecting as a browser does. " +
	"With no sequence numbers there is no delivery account: messages are counted, and timed as they arrive. " +
	"*connect* is TCP connect time; *first event* is from the start of a connection attempt (dial, TLS, request or handshake included) to that connection's first message; " +
	"*inter-arrival* the time between consecutive messages of one client, across its reconnections; *latency* arrival minus the send time each message carries, where a timestamp field was named. " +
	"Events/s is over the hold, once every client had started."

// loads writes the report's Load section: the intro, per load run its
// summary and table, and the chart.
func (m *errWriter) loads(r *results.Report, plots []string, used map[string]bool) {
	if len(r.Loads) == 0 {
		return
	}
	m.printf("## Load\n\n%s\n\n", loadIntro)
	for i := range r.Loads {
		l := &r.Loads[i]
		m.printf("### %s\n\n", loadTitle(i, l))
		m.printf("%s\n\n", loadSummary(l))
		m.table(newLoadTable(l, styleMarkdown))
		m.printf("\n")
		for _, n := range loadNotes(l) {
			m.printf("- %s\n", n)
		}
		if len(loadNotes(l)) > 0 {
			m.printf("\n")
		}
	}
	var mine []string
	for _, p := range plots {
		if plotScenario(p) == loadPlotDir {
			mine = append(mine, p)
			used[p] = true
		}
	}
	m.plots(mine)
}

// NewLoadReport renders load runs for a terminal: per run a heading, its
// summary, its table and notes. It is what `pushbench load` prints, and the
// text report's Load section.
func NewLoadReport(runs []results.LoadRun) Reporter {
	return func(w io.Writer) error {
		m := &errWriter{w: w}
		for i := range runs {
			l := &runs[i]
			if i > 0 {
				m.printf("\n")
			}
			m.printf("%s\n%s\n", heading(loadTitle(i, l)), loadSummary(l))
			m.table(newLoadTable(l, styleText))
			for _, n := range loadNotes(l) {
				m.printf("%s\n", n)
			}
		}
		return m.err
	}
}

// loadsText writes the text report's Load section.
func (m *errWriter) loadsText(r *results.Report) {
	if len(r.Loads) > 0 {
		m.printf("\n%s\n", heading("load"))
		m.table(NewLoadReport(r.Loads))
	}
}

// loadTitle names a load run: its number, transport and URL.
func loadTitle(i int, l *results.LoadRun) string {
	return fmt.Sprintf("Load %d: %s %s", i+1, transportName(l.Transport), l.URL)
}

// loadSummary is a load run's counts in a sentence.
func loadSummary(l *results.LoadRun) string {
	perClient := formatCount(l.EventsPerClient.Min)
	if l.EventsPerClient.Max != l.EventsPerClient.Min {
		perClient += "–" + formatCount(l.EventsPerClient.Max)
	}
	s := fmt.Sprintf("%s started over %s, held %s: %s received (%s per client), %s events/s; %s, errors: %s; %s in, %s out; connections %s ok, %s failed, %s at most at once.",
		plural(uint64(max(l.Clients, 0)), "client"), FormatNS(l.RampS*1e9), FormatNS(l.DurationS*1e9),
		plural(l.EventsReceived, "event"), perClient, FormatSI(l.EventsPerSec),
		plural(l.Reconnects, "reconnect"), l.Errors,
		formatBytes(float64(l.Bytes.In)), formatBytes(float64(l.Bytes.Out)),
		formatCount(l.Connections.Established), formatCount(l.Connections.Failed), formatCount(uint64(max(l.Connections.PeakConcurrent, 0))))
	if l.GaveUp > 0 {
		s += fmt.Sprintf(" %d gave up, the first with: %s.", l.GaveUp, strings.TrimSuffix(l.GaveUpError, "."))
	}
	return s
}

// newLoadTable renders a load run's distributions, one row each.
func newLoadTable(l *results.LoadRun, s style) Reporter {
	return func(w io.Writer) error {
		t := table{cols: []column{left("figure"), right("count"), right("p50"), right("p90"), right("p99"), right("max")}}
		row := func(name string, d results.Latency) {
			if d.Count == 0 {
				t.add(name, "0", "–", "–", "–", "–")
				return
			}
			t.add(name, formatCount(uint64(d.Count)), FormatNS(float64(d.P50)), FormatNS(float64(d.P90)),
				FormatNS(float64(d.P99)), FormatNS(float64(d.Max)))
		}
		row("connect", l.ConnectNS)
		row("first event", l.FirstEventNS)
		row("inter-arrival", l.InterArrivalNS)
		if sl := l.LatencyNS; sl != nil {
			row(latencyName(sl), sl.Latency)
		}
		return t.render(w, s)
	}
}

// latencyName names the latency row by its field and unit, and says whether
// the unit was given or detected.
func latencyName(sl *results.StampLatency) string {
	if sl.Unit == "" {
		return fmt.Sprintf("latency (%s)", sl.Field)
	}
	return fmt.Sprintf("latency (%s, %s %s)", sl.Field, sl.Unit, sl.UnitFrom)
}

// loadNotes are what a load run's reader must know beside its table: the
// clock the latency is measured across, and messages that had no stamp.
func loadNotes(l *results.LoadRun) []string {
	sl := l.LatencyNS
	if sl == nil {
		return nil
	}
	out := []string{"Latency: " + sl.Clock + "."}
	if sl.Unit == "" {
		out = append(out, fmt.Sprintf("No message carried a number in %q: there is no latency to show.", sl.Field))
	}
	if sl.Missing > 0 {
		out = append(out, fmt.Sprintf("%s without a number in %q, left out of latency.", plural(sl.Missing, "message"), sl.Field))
	}
	if sl.Negative > 0 {
		out = append(out, fmt.Sprintf("%s stamped later than they arrived (by up to %s), left out of latency.",
			plural(sl.Negative, "message"), FormatNS(float64(sl.AheadMaxNS))))
	}
	return out
}

// loadColors tell load runs apart in the chart: the Okabe-Ito palette the
// other charts use.
var loadColors = append([]color.Color{sseColor, wsColor}, append(append([]color.Color{}, pollColors...), otherColors...)...)

// loadCharts draws one chart of every load run: first-event and
// inter-arrival times by percentile (and latency, where a run has it), one
// line per run, as plots/endpoint-load/percentiles.
func loadCharts(r *results.Report) ([]chart, error) {
	if len(r.Loads) == 0 {
		return nil, nil
	}
	panels := []struct {
		title string
		hist  func(*results.LoadRun) string
		p     *plot.Plot
		lines int
	}{
		{title: "First event", hist: func(l *results.LoadRun) string { return l.Histograms.FirstEvent }},
		{title: "Inter-arrival", hist: func(l *results.LoadRun) string { return l.Histograms.InterArrival }},
		{title: "Latency from the stamp", hist: func(l *results.LoadRun) string { return l.Histograms.Latency }},
	}
	for i := range panels {
		p := plotkit.NewPanel(panels[i].title, "percentile (log scale of 1/(1−q))", "time (log scale)")
		p.Legend.Left = true
		plotkit.LogAxis(&p.Y, FormatNS)
		panels[i].p = p
		maxX := 1.0
		lo, hi := math.Inf(1), math.Inf(-1) // the data's range, on the log axis
		for j := range r.Loads {
			l := &r.Loads[j]
			h, err := results.DecodeLoadHistogram(panels[i].hist(l))
			if err != nil {
				return nil, fmt.Errorf("load %d: %s histogram: %w", j+1, panels[i].title, err)
			}
			if h == nil || h.TotalCount() == 0 {
				continue
			}
			xys, n := percentileCurve(h)
			maxX = max(maxX, n)
			for _, xy := range xys {
				lo, hi = min(lo, xy.Y), max(hi, xy.Y)
			}
			line, err := plotter.NewLine(xys)
			if err != nil {
				return nil, err
			}
			// A dot at the maximum: a run with one value (one connection's
			// first event) has no line to draw.
			dot, err := plotter.NewScatter(xys[len(xys)-1:])
			if err != nil {
				return nil, err
			}
			c := loadColors[j%len(loadColors)]
			line.Color, line.Width = c, vg.Points(1.6)
			dot.Color, dot.Radius, dot.Shape = c, vg.Points(2.2), draw.CircleGlyph{}
			p.Add(line, dot)
			p.Legend.Add(fmt.Sprintf("%d %s (p99 %s)", j+1, l.Transport, FormatNS(float64(h.ValueAtQuantile(99)))), line, dot)
			panels[i].lines++
		}
		plotkit.PercentileAxis(&p.X, maxX)
		// A narrow range (every first event near the server's delay) may
		// hold no labelled tick: widen it to a factor of minSpan.
		if span := hi - lo; span < minSpan {
			p.Y.Min, p.Y.Max = lo-(minSpan-span)/2, hi+(minSpan-span)/2
		}
	}
	var ps []*plot.Plot
	for _, pn := range panels {
		if pn.lines > 0 {
			ps = append(ps, pn.p)
		}
	}
	if len(ps) == 0 {
		return nil, nil
	}
	return []chart{{
		name: path.Join(PlotsDir, loadPlotDir, "percentiles"),
		Chart: plotkit.Chart{
			Title:    "Endpoint load: times by percentile",
			Subtitle: "one line per load run, numbered as in the report; first event from the start of each connection attempt",
			Panels:   ps,
		},
	}}, nil
}

// minSpan is the narrowest range a load chart's log axis shows: a factor
// of four, which always holds two labelled ticks.
var minSpan = math.Log10(4)

// percentileCurve is h's value at percentiles on the 1/(1−q) axis, 20
// points a decade, ending at its maximum, and the count it reaches.
func percentileCurve(h *hdrhistogram.Histogram) (plotter.XYs, float64) {
	n := float64(h.TotalCount())
	var xys plotter.XYs
	for k := 0; ; k++ {
		x := math.Pow(10, float64(k)/20)
		if x > n {
			break
		}
		xys = append(xys, plotkit.LogXY(x, float64(h.ValueAtQuantile(100*(1-1/x)))))
	}
	return append(xys, plotkit.LogXY(n, float64(h.Max()))), n
}
