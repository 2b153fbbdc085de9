package report

import (
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/atomicfile"
	"github.com/pushbench/pushbench/internal/plotkit"
	"github.com/pushbench/pushbench/results"
)

// writePlots draws the report's plots into dir/plots/<scenario>/, each as a
// PNG and an SVG twin, and returns the PNG paths relative to dir,
// slash-separated, in the order the report shows them:
//
//   - per point of every scenario, latency by percentile, one line per
//     transport (repetitions merged, exactly, from their histograms);
//   - p50 and p99 against the number of clients, where clients vary;
//   - deliveries/s and p99 against the offered rate, where the rate varies;
//   - server memory per connection (idle scenarios, or else the point with
//     the most clients);
//   - wire bytes per event, one panel per payload size;
//   - the polling trade-off: latency against requests/s, one point per
//     interval, where polling ran at several intervals.
//   - the load runs' first-event, inter-arrival and latency times by
//     percentile, one line per run.
//
// A plot whose data is absent is skipped, not drawn empty. Every image
// carries a caption naming the machine, so it says where it came from when
// read on its own. PNG and SVG files left in dir/plots by an earlier
// rendering are removed, so the directory holds exactly this report's plots.
func writePlots(dir string, r *results.Report) ([]string, error) {
	charts, err := buildCharts(r)
	if err != nil {
		return nil, err
	}
	caption := plotCaption(r.Env)
	var out []string
	written := map[string]bool{}
	for i := range charts {
		c := &charts[i]
		for _, ext := range []string{".png", ".svg"} {
			b, err := c.Render(strings.TrimPrefix(ext, "."), caption)
			if err != nil {
				return out, fmt.Errorf("plot %s: %w", c.name, err)
			}
			file := filepath.Join(dir, filepath.FromSlash(c.name+ext))
			if err := atomicfile.Write(file, b); err != nil {
				return out, fmt.Errorf("plot %s: %w", c.name, err)
			}
			written[file] = true
		}
		out = append(out, c.name+".png")
	}
	return out, removeStale(filepath.Join(dir, PlotsDir), written)
}

// removeStale deletes the PNG and SVG files under root that are not in
// keep.
func removeStale(root string, keep map[string]bool) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".png" || ext == ".svg") && !keep[p] {
			return os.Remove(p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) { // no plots now, none before
		return nil
	}
	return err
}

// buildCharts builds every chart the data supports, in report order.
func buildCharts(r *results.Report) ([]chart, error) {
	groups := groupRuns(r.Runs)
	var charts []chart
	memory := false // whether an idle scenario had a memory chart
	for _, name := range r.ScenarioNames() {
		gs := ofScenario(groups, name)
		if len(gs) == 0 {
			continue
		}
		info := r.Scenario(name)
		for _, build := range []func(results.ScenarioInfo, []group) ([]chart, error){
			latencyCharts, clientsCharts, rateCharts, bytesCharts,
		} {
			cs, err := build(info, gs)
			if err != nil {
				return nil, err
			}
			charts = append(charts, cs...)
		}
		if info.Kind == contract.Scale {
			cs, err := scaleCharts(info, r.RunsOf(name), defaultScaleTargets)
			if err != nil {
				return nil, err
			}
			charts = append(charts, cs...)
		}
		if info.Kind == contract.Idle {
			cs, err := memoryCharts(info, points(gs))
			if err != nil {
				return nil, err
			}
			charts = append(charts, cs...)
			memory = memory || len(cs) > 0
		}
	}
	// Without an idle scenario, memory per connection is best read where
	// the most connections were open.
	if !memory && len(groups) > 0 {
		var most []group
		for _, pt := range points(groups) {
			if most == nil || pt[0].Config.Clients > most[0].Config.Clients {
				most = pt
			}
		}
		cs, err := memoryCharts(r.Scenario(most[0].Config.Scenario), [][]group{most})
		if err != nil {
			return nil, err
		}
		charts = append(charts, cs...)
	}
	for _, pt := range pollingPoints(groups) {
		cs, err := pollingChart(r.Scenario(pt[0].Config.Scenario), pt)
		if err != nil {
			return nil, err
		}
		charts = append(charts, cs...)
	}
	cs, err := recoveryCharts(r)
	if err != nil {
		return nil, err
	}
	charts = append(charts, cs...)
	cs, err = loadCharts(r)
	return append(charts, cs...), err
}

// chart is one image of the report, named by where it goes.
type chart struct {
	// name is the path relative to the report directory, without
	// extension: "plots/fanout/latency-1000-clients-10-per-s-64B".
	name string
	plotkit.Chart
}

func newChart(info results.ScenarioInfo, stem, title, subtitle string, panels ...*plot.Plot) chart {
	return chart{
		name: path.Join(PlotsDir, slug(info.Name), stem),
		Chart: plotkit.Chart{
			Title:    title + " — " + scenarioTitle(info.Name),
			Subtitle: subtitle,
			Panels:   panels,
		},
	}
}

// plotCaption names the machine and build under every plot.
func plotCaption(e results.Env) string {
	s := "Measured on " + machine(e)
	if e.OS != "" {
		s += " · " + e.OS
	}
	if e.GoVersion != "" {
		s += " · " + e.GoVersion
	}
	if e.Commit != "" {
		s += " · pushbench " + e.Commit
	}
	if !e.StartedAt.IsZero() {
		s += " · " + e.StartedAt.UTC().Format("2006-01-02 15:04 MST")
	}
	return s
}

// Series colours: the Okabe-Ito palette, distinguishable with the common
// colour-vision deficiencies. Polling intervals take the warm colours, in
// interval order; the floor is black and dashed.
var (
	sseColor    = color.RGBA{0x00, 0x72, 0xB2, 0xFF}
	wsColor     = color.RGBA{0x00, 0x9E, 0x73, 0xFF}
	floorColor  = color.RGBA{0x00, 0x00, 0x00, 0xFF}
	pollColors  = []color.Color{color.RGBA{0xE6, 0x9F, 0x00, 0xFF}, color.RGBA{0xD5, 0x5E, 0x00, 0xFF}, color.RGBA{0xCC, 0x79, 0xA7, 0xFF}, color.RGBA{0x8C, 0x51, 0x0A, 0xFF}}
	otherColors = []color.Color{color.RGBA{0x56, 0xB4, 0xE9, 0xFF}, color.RGBA{0x99, 0x99, 0x99, 0xFF}, color.RGBA{0xF0, 0xE4, 0x42, 0xFF}}
)

// styles assigns each transport label in labels a colour, stable within a
// plot.
func styles(labels []config) map[string]plotkit.Style {
	out := map[string]plotkit.Style{}
	polls, others := 0, 0
	for _, c := range labels {
		l := c.Label()
		if _, ok := out[l]; ok {
			continue
		}
		switch {
		case c.Transport == "sse":
			out[l] = plotkit.Style{Color: sseColor}
		case c.Transport.Base() == contract.SSE: // HTTP/2 variants: SSE's colour, dashed
			out[l] = plotkit.Style{Color: sseColor, Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
		case c.Transport == "ws":
			out[l] = plotkit.Style{Color: wsColor}
		case c.Transport == contract.Floor:
			out[l] = plotkit.Style{Color: floorColor, Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
		case c.Transport == "poll":
			out[l] = plotkit.Style{Color: pollColors[polls%len(pollColors)]}
			polls++
		default:
			out[l] = plotkit.Style{Color: otherColors[others%len(otherColors)]}
			others++
		}
	}
	return out
}

// configsOf lists the groups' configurations, for styles.
func configsOf(gs []group) []config {
	out := make([]config, len(gs))
	for i, g := range gs {
		out[i] = g.Config
	}
	slices.SortStableFunc(out, func(a, b config) int {
		return cmp.Or(contract.Order(a.Transport, b.Transport), cmp.Compare(a.Impl, b.Impl), cmp.Compare(a.PollIntervalS, b.PollIntervalS))
	})
	return out
}

// spreadBars adds min–max error bars around the medians of sp at xs, on
// log-log axes; repetitions that agree get none.
func spreadBars(p *plot.Plot, xs []float64, sp []spread, c color.Color) error {
	var eb []plotkit.ErrorBar
	for i, s := range sp {
		if s.Varies() {
			m := plotkit.Lg(s.Median)
			eb = append(eb, plotkit.ErrorBar{X: plotkit.Lg(xs[i]), Y: m, Low: m - plotkit.Lg(s.Min), High: plotkit.Lg(s.Max) - m})
		}
	}
	return plotkit.ErrorBars(p, eb, c)
}

// pointSlug names a point in a file name: "1000-clients-10-per-s-64B".
func pointSlug(c config) string {
	s := fmt.Sprintf("%d-clients-%g-per-s-%dB", c.Clients, c.Rate, c.Payload)
	if c.Burst > 1 {
		s += fmt.Sprintf("-burst-%d", c.Burst)
	}
	return s
}

// latencyCharts draws, per point, the latency percentile distribution of
// each transport: HdrHistogram's classic plot, x = 1/(1-q) on a log axis,
// so the tail where transports differ gets as much room as the median.
func latencyCharts(info results.ScenarioInfo, gs []group) ([]chart, error) {
	var out []chart
	for _, pt := range points(gs) {
		p := plotkit.NewPanel("", "percentile (log scale of 1/(1−q): each step right is ten times rarer)", "delivery latency (log scale)")
		p.Legend.Left = true
		plotkit.LogAxis(&p.Y, FormatNS)
		st := styles(configsOf(pt))
		maxX := 1.0
		series := 0
		for i := range pt {
			g := &pt[i]
			h, err := g.Latency()
			if err != nil {
				return nil, err
			}
			if h == nil || h.TotalCount() == 0 {
				continue
			}
			n := float64(h.TotalCount())
			var xys plotter.XYs
			for k := 0; ; k++ {
				x := math.Pow(10, float64(k)/20) // 20 points a decade
				if x > n {
					break
				}
				xys = append(xys, plotkit.LogXY(x, float64(h.ValueAtQuantile(100*(1-1/x)))))
			}
			xys = append(xys, plotkit.LogXY(n, float64(h.Max())))
			maxX = max(maxX, n)
			name := fmt.Sprintf("%s (p99 %s)", g.Config.Label(), FormatNS(float64(h.ValueAtQuantile(99))))
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, err
			}
			s := st[g.Config.Label()]
			l.Color, l.Width, l.Dashes = s.Color, vg.Points(1.6), s.Dashes
			p.Add(l)
			p.Legend.Add(name, l)
			series++
		}
		if series == 0 {
			continue
		}
		plotkit.PercentileAxis(&p.X, maxX)
		out = append(out, newChart(info, "latency-"+pointSlug(pt[0].Config),
			"Delivery latency by percentile", pt[0].Config.Load()+"; scheduled publish → arrival, repetitions merged", p))
	}
	return out, nil
}

// family is the groups of a scenario that differ only in one dimension
// (clients or rate), by transport label.
type family struct {
	key    config
	labels []config
	by     map[string][]*group
}

// families splits gs by everything but the dimension vary clears, keeping
// those where at least two values of the dimension ran.
func families(gs []group, vary func(config) config, value func(config) float64) []family {
	var out []*family
	index := map[config]*family{}
	values := map[config]map[float64]bool{}
	for i := range gs {
		g := &gs[i]
		key := vary(g.Config.Point())
		f := index[key]
		if f == nil {
			f = &family{key: key, by: map[string][]*group{}}
			index[key] = f
			values[key] = map[float64]bool{}
			out = append(out, f)
		}
		l := g.Config.Label()
		if len(f.by[l]) == 0 {
			f.labels = append(f.labels, g.Config)
		}
		f.by[l] = append(f.by[l], g)
		values[key][value(g.Config)] = true
	}
	var keep []family
	for _, f := range out {
		if len(values[f.key]) >= 2 {
			slices.SortStableFunc(f.labels, func(a, b config) int {
				return cmp.Or(contract.Order(a.Transport, b.Transport), cmp.Compare(a.Impl, b.Impl), cmp.Compare(a.PollIntervalS, b.PollIntervalS))
			})
			for _, l := range f.labels {
				slices.SortStableFunc(f.by[l.Label()], func(a, b *group) int { return cmp.Compare(value(a.Config), value(b.Config)) })
			}
			keep = append(keep, *f)
		}
	}
	return keep
}

// clientsCharts draws p50 and p99 against the number of clients, where a
// scenario ran several client counts at one rate and payload: the fan-out
// cost of each transport.
func clientsCharts(info results.ScenarioInfo, gs []group) ([]chart, error) {
	var out []chart
	fams := families(gs, func(c config) config { c.Clients = 0; return c }, func(c config) float64 { return float64(c.Clients) })
	for _, f := range fams {
		p := plotkit.NewPanel("", "clients (log scale)", "delivery latency (log scale)")
		p.Legend.Left = true
		plotkit.LogAxis(&p.X, FormatSI)
		plotkit.LogAxis(&p.Y, FormatNS)
		st := styles(f.labels)
		for _, c := range f.labels {
			l := c.Label()
			var xs []float64
			var p50, p99 []spread
			for _, g := range f.by[l] {
				xs = append(xs, float64(g.Config.Clients))
				p50 = append(p50, g.P50)
				p99 = append(p99, g.P99)
			}
			if err := plotkit.Line(p, spreadXYs(xs, p99), st[l], false, l+" p99"); err != nil {
				return nil, err
			}
			if err := plotkit.Line(p, spreadXYs(xs, p50), st[l], true, l+" p50"); err != nil {
				return nil, err
			}
			if err := spreadBars(p, xs, p99, st[l].Color); err != nil {
				return nil, err
			}
		}
		sub := fmt.Sprintf("%s, %s; medians, bars span the repetitions", formatRate(f.key.Rate), formatBytes(float64(f.key.Payload)))
		out = append(out, newChart(info, fmt.Sprintf("latency-vs-clients-%g-per-s-%dB", f.key.Rate, f.key.Payload),
			"p50 and p99 latency against clients", sub, p))
	}
	return out, nil
}

// spreadXYs is the medians of sp at xs on log-log axes.
func spreadXYs(xs []float64, sp []spread) plotter.XYs {
	out := make(plotter.XYs, len(xs))
	for i := range xs {
		out[i] = plotkit.LogXY(xs[i], sp[i].Median)
	}
	return out
}

// rateCharts draws deliveries/s and p99 against the offered rate, where a
// scenario stepped the rate: where each transport saturates.
func rateCharts(info results.ScenarioInfo, gs []group) ([]chart, error) {
	var out []chart
	fams := families(gs, func(c config) config { c.Rate = 0; return c }, func(c config) float64 { return c.Rate })
	for _, f := range fams {
		tp := plotkit.NewPanel("Throughput", "offered event rate, events/s (log scale)", "deliveries/s, all clients (log scale)")
		tp.Legend.Left = true
		plotkit.LogAxis(&tp.X, FormatSI)
		plotkit.LogAxis(&tp.Y, FormatSI)
		lp := plotkit.NewPanel("p99 latency", "offered event rate, events/s (log scale)", "p99 delivery latency (log scale)")
		lp.Legend.Left = true
		plotkit.LogAxis(&lp.X, FormatSI)
		plotkit.LogAxis(&lp.Y, FormatNS)
		st := styles(f.labels)
		var rates []float64
		for _, c := range f.labels {
			l := c.Label()
			var xs []float64
			var dps, p99 []spread
			for _, g := range f.by[l] {
				xs = append(xs, g.Config.Rate)
				dps = append(dps, g.DeliveriesPerSec)
				p99 = append(p99, g.P99)
				if !slices.Contains(rates, g.Config.Rate) {
					rates = append(rates, g.Config.Rate)
				}
			}
			if err := plotkit.Line(tp, spreadXYs(xs, dps), st[l], false, l); err != nil {
				return nil, err
			}
			if err := spreadBars(tp, xs, dps, st[l].Color); err != nil {
				return nil, err
			}
			if err := plotkit.Line(lp, spreadXYs(xs, p99), st[l], false, l); err != nil {
				return nil, err
			}
			if err := spreadBars(lp, xs, p99, st[l].Color); err != nil {
				return nil, err
			}
		}
		// What full delivery would be: every event to every client.
		slices.Sort(rates)
		lo, hi := rates[0], rates[len(rates)-1]
		clients := float64(max(f.key.Clients, 1))
		if err := plotkit.RefLine(tp, plotkit.Lg(lo), plotkit.Lg(hi), plotkit.Lg(lo*clients), plotkit.Lg(hi*clients), "offered × clients"); err != nil {
			return nil, err
		}
		if info.P99BoundS > 0 {
			b := info.P99BoundS * 1e9
			if err := plotkit.RefLine(lp, plotkit.Lg(lo), plotkit.Lg(hi), plotkit.Lg(b), plotkit.Lg(b), "p99 bound "+FormatNS(b)); err != nil {
				return nil, err
			}
		}
		sub := fmt.Sprintf("%s clients, %s; medians, bars span the repetitions",
			formatCount(uint64(max(f.key.Clients, 0))), formatBytes(float64(f.key.Payload)))
		out = append(out, newChart(info, fmt.Sprintf("throughput-vs-rate-%d-clients-%dB", f.key.Clients, f.key.Payload),
			"Deliveries/s and p99 against offered rate", sub, tp, lp))
	}
	return out, nil
}

// bars adds one bar of bytes per group, in its transport's colour, with
// its value on top, and names the x axis by transport.
func bars(p *plot.Plot, gs []*group, value func(*group) float64) error {
	st := styles(configsOf(derefs(gs)))
	bs := make([]plotkit.Bar, len(gs))
	for i, g := range gs {
		bs[i] = plotkit.Bar{Name: g.Config.Label(), Value: value(g), Color: st[g.Config.Label()].Color}
	}
	if err := plotkit.Bars(p, bs, formatBytes); err != nil {
		return err
	}
	p.Y.Tick.Marker = bytesTicks
	return nil
}

// bytesTicks mark a bytes axis in its unit, to three significant digits.
var bytesTicks = plotkit.BytesTicks{Format: sig3}

func derefs(gs []*group) []group {
	out := make([]group, len(gs))
	for i, g := range gs {
		out[i] = *g
	}
	return out
}

// memoryCharts draws server memory per connection, per transport, at each
// given point.
func memoryCharts(info results.ScenarioInfo, pts [][]group) ([]chart, error) {
	var out []chart
	for _, pt := range pts {
		var gs []*group
		for i := range pt {
			if pt[i].Median.Server.BytesPerConn > 0 {
				gs = append(gs, &pt[i])
			}
		}
		if len(gs) == 0 {
			continue
		}
		p := plotkit.NewPanel("", "", "server RSS per connection (bytes)")
		if err := bars(p, gs, func(g *group) float64 { return g.Median.Server.BytesPerConn }); err != nil {
			return nil, err
		}
		out = append(out, newChart(info, "memory-"+pointSlug(pt[0].Config),
			"Server memory per connection", pt[0].Config.Load()+"; RSS growth with connections open and idle, median run", p))
	}
	return out, nil
}

// bytesCharts draws wire bytes per delivered event, one panel per payload,
// where a scenario ran several payloads at one load: what each protocol
// adds to an event. Other scenarios get none; the table has the figure.
func bytesCharts(info results.ScenarioInfo, gs []group) ([]chart, error) {
	var out []chart
	fams := families(gs, func(c config) config { c.Payload = 0; return c }, func(c config) float64 { return float64(c.Payload) })
	for _, f := range fams {
		var payloads []int
		for _, c := range f.labels {
			for _, g := range f.by[c.Label()] {
				if !slices.Contains(payloads, g.Config.Payload) {
					payloads = append(payloads, g.Config.Payload)
				}
			}
		}
		slices.Sort(payloads)
		var panels []*plot.Plot
		for _, size := range payloads {
			var gs []*group
			for _, c := range f.labels {
				for _, g := range f.by[c.Label()] {
					if g.Config.Payload == size && g.Median.Wire.BytesPerEvent > 0 {
						gs = append(gs, g)
					}
				}
			}
			if len(gs) == 0 {
				continue
			}
			p := plotkit.NewPanel(formatBytes(float64(size))+" payload", "", "wire bytes per delivered event")
			if err := bars(p, gs, func(g *group) float64 { return g.Median.Wire.BytesPerEvent }); err != nil {
				return nil, err
			}
			// The payload itself, so the overhead above it shows.
			if err := plotkit.RefLine(p, -0.5, float64(len(gs))-0.5, float64(size), float64(size), "payload"); err != nil {
				return nil, err
			}
			p.Legend.Top, p.Legend.Left = true, false
			panels = append(panels, p)
		}
		if len(panels) == 0 {
			continue
		}
		sub := fmt.Sprintf("%s clients, %s; headers, framing, heartbeats and polls included; median run",
			formatCount(uint64(max(f.key.Clients, 0))), formatRate(f.key.Rate))
		out = append(out, newChart(info, fmt.Sprintf("bytes-per-event-%d-clients-%g-per-s", f.key.Clients, f.key.Rate),
			"Wire bytes per event", sub, panels...))
	}
	return out, nil
}

// pollingChart draws the polling trade-off at one point: each interval's
// p50 and p99 against the requests/s it cost, with the push transports'
// p99 as horizontal references. It draws nothing when fewer than two
// polling runs counted their requests.
func pollingChart(info results.ScenarioInfo, pt []group) ([]chart, error) {
	p := plotkit.NewPanel("", "poll requests/s, all clients (log scale)", "delivery latency (log scale)")
	plotkit.LogAxis(&p.X, FormatSI)
	plotkit.LogAxis(&p.Y, FormatNS)
	var polls []*group
	for i := range pt {
		if pt[i].Median.Polls != nil && pt[i].Median.Polls.RequestsPerSec > 0 {
			polls = append(polls, &pt[i])
		}
	}
	slices.SortStableFunc(polls, func(a, b *group) int { return cmp.Compare(a.Config.PollIntervalS, b.Config.PollIntervalS) })
	if len(polls) < 2 {
		return nil, nil
	}
	pollStyle := plotkit.Style{Color: pollColors[0]}
	var p50, p99 plotter.XYs
	var labels []string
	lo, hi := math.Inf(1), 0.0
	for _, g := range polls {
		x := g.Median.Polls.RequestsPerSec
		lo, hi = min(lo, x), max(hi, x)
		p50 = append(p50, plotkit.LogXY(x, g.P50.Median))
		p99 = append(p99, plotkit.LogXY(x, g.P99.Median))
		labels = append(labels, "every "+FormatInterval(g.Config.PollIntervalS))
	}
	if err := plotkit.Line(p, p99, pollStyle, false, "poll p99"); err != nil {
		return nil, err
	}
	if err := plotkit.Line(p, p50, pollStyle, true, "poll p50"); err != nil {
		return nil, err
	}
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: p99, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i] = plotkit.TextStyle(plotkit.Sans, 9, color.Gray{Y: 40})
	}
	lb.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(3)}
	p.Add(lb)
	lo, hi = lo/2, hi*2
	st := styles(configsOf(pt))
	for i := range pt {
		g := &pt[i]
		if g.Median.Polls != nil || g.Median.LatencyNS.Count == 0 {
			continue
		}
		y := plotkit.Lg(g.P99.Median)
		l, err := plotter.NewLine(plotter.XYs{{X: plotkit.Lg(lo), Y: y}, {X: plotkit.Lg(hi), Y: y}})
		if err != nil {
			return nil, err
		}
		s := st[g.Config.Label()]
		l.Color, l.Width = s.Color, vg.Points(1.2)
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(l)
		what := "push, no requests"
		if g.Config.Transport == contract.Floor {
			what = "floor"
		}
		p.Legend.Add(fmt.Sprintf("%s p99 (%s)", g.Config.Label(), what), l)
	}
	p.X.Min, p.X.Max = plotkit.Lg(lo), plotkit.Lg(hi)
	return []chart{newChart(info, pollingPlot+pointSlug(pt[0].Config),
		"Polling trade-off: latency against requests", pt[0].Config.Load()+"; one point per polling interval, medians", p)}, nil
}

// slug turns a name into a file-name component: lower case letters, digits
// and dashes.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if out == "" {
		return "run"
	}
	return out
}
