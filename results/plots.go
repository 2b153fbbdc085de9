package results

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"image/color"
	stddraw "image/draw"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	xfont "golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/pushbench/pushbench/contract"
)

// PlotsDir is the directory, inside a report's, that WritePlots fills.
const PlotsDir = "plots"

// WritePlots draws the report's plots into dir/plots/<scenario>/, each as a
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
//
// A plot whose data is absent is skipped, not drawn empty. Every image
// carries a caption naming the machine, so it says where it came from when
// read on its own. PNG and SVG files left in dir/plots by an earlier
// rendering are removed, so the directory holds exactly this report's plots.
func WritePlots(dir string, r *Report) ([]string, error) {
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
			b, err := c.render(strings.TrimPrefix(ext, "."), caption)
			if err != nil {
				return out, fmt.Errorf("plot %s: %w", c.name, err)
			}
			file := filepath.Join(dir, filepath.FromSlash(c.name+ext))
			if err := writeFileAtomic(file, b); err != nil {
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
func buildCharts(r *Report) ([]chart, error) {
	groups := Groups(r.Runs)
	var charts []chart
	memory := false // whether an idle scenario had a memory chart
	for _, name := range r.ScenarioNames() {
		var gs []Group
		for _, g := range groups {
			if g.Config.Scenario == name {
				gs = append(gs, g)
			}
		}
		if len(gs) == 0 {
			continue
		}
		info := r.Scenario(name)
		for _, build := range []func(ScenarioInfo, []Group) ([]chart, error){
			latencyCharts, clientsCharts, rateCharts, bytesCharts,
		} {
			cs, err := build(info, gs)
			if err != nil {
				return nil, err
			}
			charts = append(charts, cs...)
		}
		if info.Kind == contract.Scale {
			cs, err := scaleCharts(info, r.RunsOf(name), DefaultScaleTargets)
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
		var most []Group
		for _, pt := range points(groups) {
			if most == nil || pt[0].Config.Clients > most[0].Config.Clients {
				most = pt
			}
		}
		cs, err := memoryCharts(r.Scenario(most[0].Config.Scenario), [][]Group{most})
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
	return append(charts, cs...), nil
}

// chart is one image: a title over one or more panels side by side.
type chart struct {
	// name is the path relative to the report directory, without
	// extension: "plots/fanout/latency-1000-clients-10-per-s-64B".
	name string
	// title and subtitle are drawn above the panels.
	title, subtitle string
	panels          []*plot.Plot
	// roomy is set once the panels' axes have room for their legends:
	// the first rendering makes it, later ones (other formats) reuse it.
	roomy bool
}

func newChart(info ScenarioInfo, stem, title, subtitle string, panels ...*plot.Plot) chart {
	return chart{
		name:     path.Join(PlotsDir, slug(info.Name), stem),
		title:    title + " — " + scenarioTitle(info.Name),
		subtitle: subtitle,
		panels:   panels,
	}
}

// Chart geometry and type.
var (
	chartHeight = 5 * vg.Inch
	panelWidth  = 8 * vg.Inch // one panel; more share a wider image
	sans        = font.Font{Typeface: "Liberation", Variant: "Sans"}
	sansBold    = font.Font{Typeface: "Liberation", Variant: "Sans", Weight: xfont.WeightBold}
)

func textStyle(f font.Font, size vg.Length, c color.Color) text.Style {
	return text.Style{Font: font.From(f, size), Color: c, Handler: textHandler}
}

// textHandler draws every text of the plots: gonum's plain-text handler,
// with kerning mended in raster images.
var textHandler text.Handler = rasterKerning{text.Plain{Fonts: plot.DefaultTextHandler.Cache()}}

// rasterKerning is text.Plain with the kerning of raster images fixed.
//
// Subtleness ahead. A PNG's text is drawn by x/image's opentype.Face, whose
// Kern passes the font's units per em where the size in pixels belongs, so
// every kerning pair comes back in font units/64 pixels, whatever the size
// (golang/go#46727). In Liberation Sans, "space A" kerns by -113 units: at
// 8 pt that is -1.77 px of a 2.2 pt space, so the caption's "Measured on
// AMD" printed as "Measured onAMD", and "AV", "Te" and the like crowd
// together. Widths are right, as gonum measures them with the font's own
// scale, so text is drawn one run at a time, split at every kerning pair
// and placed at its measured offset: within a run no pair kerns, and
// between runs the kerning is gonum's, correctly scaled. SVG and other
// vector formats leave kerning to the viewer and go through text.Plain
// unchanged.
type rasterKerning struct{ text.Plain }

func (h rasterKerning) Draw(c vg.Canvas, txt string, sty text.Style, pt vg.Point) {
	if !raster(c) {
		h.Plain.Draw(c, txt, sty, pt)
		return
	}
	// As text.Plain.Draw, with FillString replaced by fillKerned.
	txt = strings.TrimRight(txt, "\n")
	if txt == "" {
		return
	}
	fnt := h.Fonts.Lookup(sty.Font, sty.Font.Size)
	c.SetColor(sty.Color)
	if sty.Rotation != 0 {
		c.Push()
		c.Rotate(sty.Rotation)
	}
	sin64, cos64 := math.Sincos(sty.Rotation)
	sin, cos := vg.Length(sin64), vg.Length(cos64)
	pt.X, pt.Y = pt.Y*sin+pt.X*cos, pt.Y*cos-pt.X*sin
	lines := h.Lines(txt)
	pt.Y += sty.Height(txt)*vg.Length(sty.YAlign) - fnt.Extents().Ascent
	for i, line := range lines {
		xoffs := vg.Length(sty.XAlign) * fnt.Width(line)
		n := vg.Length(len(lines) - i)
		fillKerned(c, fnt, pt.Add(vg.Point{X: xoffs, Y: n * sty.Font.Size}), line)
	}
	if sty.Rotation != 0 {
		c.Pop()
	}
}

// raster reports whether c draws into an image (vgimg) rather than a
// vector format.
func raster(c vg.Canvas) bool {
	for {
		switch v := c.(type) {
		case *draw.Canvas:
			c = v.Canvas
		case draw.Canvas:
			c = v.Canvas
		case interface{ Image() stddraw.Image }:
			return true
		default:
			return false
		}
	}
}

// fillKerned draws line at pt a run at a time, splitting it before every
// glyph the font kerns against the one before it.
func fillKerned(c vg.Canvas, f font.Face, pt vg.Point, line string) {
	var buf sfnt.Buffer
	ppem := fixed.Int26_6(f.Face.UnitsPerEm())
	start, prev := 0, sfnt.GlyphIndex(0)
	for i, r := range line {
		g, err := f.Face.GlyphIndex(&buf, r)
		if err != nil {
			g = 0 // drawn as .notdef either way
		}
		if i > 0 {
			if k, err := f.Face.Kern(&buf, prev, g, ppem, xfont.HintingNone); err == nil && k != 0 {
				c.FillString(f, pt.Add(vg.Point{X: f.Width(line[:start])}), line[start:i])
				start = i
			}
		}
		prev = g
	}
	c.FillString(f, pt.Add(vg.Point{X: f.Width(line[:start])}), line[start:])
}

// render draws the chart in format ("png", "svg"): title strip, panels,
// then the caption strip along the bottom.
func (c *chart) render(format, caption string) ([]byte, error) {
	width := panelWidth
	if n := len(c.panels); n > 1 {
		width = max(panelWidth, vg.Length(n)*5*vg.Inch)
	}
	cv, err := draw.NewFormattedCanvas(width, chartHeight, format)
	if err != nil {
		return nil, err
	}
	dc := draw.New(cv)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())

	const pad = 6
	titleStyle := textStyle(sansBold, 13, color.Black)
	titleStyle.XAlign, titleStyle.YAlign = draw.XCenter, draw.YTop
	subStyle := textStyle(sans, 10, color.Gray{Y: 60})
	subStyle.XAlign, subStyle.YAlign = draw.XCenter, draw.YTop
	capStyle := textStyle(sans, 8, color.Gray{Y: 100})
	capStyle.YAlign = draw.YBottom

	top := dc.Max.Y - pad
	mid := (dc.Min.X + dc.Max.X) / 2
	dc.FillText(titleStyle, vg.Point{X: mid, Y: top}, c.title)
	top -= titleStyle.Height(c.title) + 2
	if c.subtitle != "" {
		dc.FillText(subStyle, vg.Point{X: mid, Y: top}, c.subtitle)
		top -= subStyle.Height(c.subtitle)
	}
	dc.FillText(capStyle, vg.Point{X: dc.Min.X + pad, Y: dc.Min.Y + pad/2}, caption)
	body := draw.Crop(dc, pad, -pad, capStyle.Height(caption)+pad, top-dc.Max.Y-pad)

	canvases := []draw.Canvas{body}
	if len(c.panels) > 1 {
		tiles := draw.Tiles{Rows: 1, Cols: len(c.panels), PadX: 8}
		canvases = plot.Align([][]*plot.Plot{c.panels}, tiles, body)[0]
	}
	for i, p := range c.panels {
		if !c.roomy {
			legendRoom(p, canvases[i])
		}
		p.Draw(canvases[i])
	}
	c.roomy = true
	var buf bytes.Buffer
	if _, err := cv.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// legendRoom raises the top of p's y axis so that a legend at the top sits
// above the data instead of over it. Every axis here is linear (log axes
// are linear over lg of the data), so the room is a share of the range.
func legendRoom(p *plot.Plot, c draw.Canvas) {
	if !p.Legend.Top {
		return
	}
	h := p.Legend.Rectangle(c).Size().Y
	if h <= 0 {
		return
	}
	data := p.DataCanvas(c).Size().Y
	share := min(0.5, float64((h+vg.Points(4))/data))
	p.Y.Max += (p.Y.Max - p.Y.Min) * share / (1 - share)
}

// plotCaption names the machine and build under every plot.
func plotCaption(e Env) string {
	s := "Measured on " + e.Machine()
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

// newPanel returns a plot styled for the report: sans-serif type drawn by
// textHandler, a grid, the legend inside the data area.
func newPanel(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	// Only the type and its handler change: gonum's alignments and the
	// vertical label's rotation stay as they are.
	p.TextHandler = textHandler
	p.Title.TextStyle.Font = font.From(sans, 11)
	p.Title.TextStyle.Handler = textHandler
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 10)
		a.Label.TextStyle.Handler = textHandler
		a.Tick.Label.Font = font.From(sans, 9)
		a.Tick.Label.Handler = textHandler
	}
	p.Legend.TextStyle.Font = font.From(sans, 9)
	p.Legend.TextStyle.Handler = textHandler
	p.Legend.Top = true
	p.Legend.Padding = vg.Points(1.5)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 225}
	grid.Horizontal.Color = color.Gray{Y: 225}
	p.Add(grid)
	return p
}

// Log axes. gonum's LogScale places an axis label's glyph box at the
// arithmetic midpoint of the range, which on a log axis sits near one end
// and pads the plot off-centre; it also panics on a zero. So log axes here
// are linear axes over log10 of the data, with ticks labelled in the
// data's units: lg maps a value onto such an axis.

// lg maps v onto a log axis; values at or below zero are clamped to a
// millionth, far below anything plotted.
func lg(v float64) float64 { return math.Log10(max(v, 1e-6)) }

// logXY is a point on log-log axes.
func logXY(x, y float64) plotter.XY { return plotter.XY{X: lg(x), Y: lg(y)} }

// logAxis labels a, whose values are lg of the data, with ticks at 1-9 ×
// each power of ten formatted by format.
func logAxis(a *plot.Axis, format func(float64) string) {
	a.Tick.Marker = logTicks{format}
}

// logTicks marks 1-9 × each power of ten and labels the powers of ten
// with format; when that leaves fewer than three labels, 1, 2 and 5 of each
// decade, and if still fewer, every mark. Its range and tick values are lg
// of the data.
type logTicks struct{ format func(float64) string }

func (t logTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo > hi || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	var ticks []plot.Tick
	var mantissas []float64
	for e := math.Floor(lo); e <= math.Ceil(hi); e++ {
		for m := 1.0; m < 10; m++ {
			if l := math.Log10(m * math.Pow(10, e)); l >= lo-1e-9 && l <= hi+1e-9 {
				ticks = append(ticks, plot.Tick{Value: l})
				mantissas = append(mantissas, m)
			}
		}
	}
	for _, labelled := range []func(m float64) bool{
		func(m float64) bool { return m == 1 },
		func(m float64) bool { return m == 1 || m == 2 || m == 5 },
		func(float64) bool { return true },
	} {
		n := 0
		for _, m := range mantissas {
			if labelled(m) {
				n++
			}
		}
		if n < 3 && len(ticks) > n {
			continue
		}
		for i := range ticks {
			if labelled(mantissas[i]) {
				ticks[i].Label = t.format(math.Pow(10, ticks[i].Value))
			}
		}
		break
	}
	return ticks
}

// bytesTicks are gonum's default linear ticks counted in the byte unit
// that suits the axis (B, KiB, MiB), so marks fall on round numbers of
// it: "0.5 KiB", not "512 B" beside "1.17 KiB".
type bytesTicks struct{}

func (bytesTicks) Ticks(lo, hi float64) []plot.Tick {
	unit, name := 1.0, "B"
	for _, u := range []string{"KiB", "MiB", "GiB"} {
		if hi < unit*1024 {
			break
		}
		unit, name = unit*1024, u
	}
	ticks := plot.DefaultTicks{}.Ticks(lo/unit, hi/unit)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = sig3(ticks[i].Value) + " " + name
		}
		ticks[i].Value *= unit
	}
	return ticks
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

// seriesStyle is how one transport label is drawn.
type seriesStyle struct {
	color  color.Color
	dashes []vg.Length
}

// styles assigns each transport label in labels a colour, stable within a
// plot.
func styles(labels []Config) map[string]seriesStyle {
	out := map[string]seriesStyle{}
	polls, others := 0, 0
	for _, c := range labels {
		l := c.Label()
		if _, ok := out[l]; ok {
			continue
		}
		switch {
		case c.Transport == "sse":
			out[l] = seriesStyle{color: sseColor}
		case c.Transport.Base() == contract.SSE: // HTTP/2 variants: SSE's colour, dashed
			out[l] = seriesStyle{color: sseColor, dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
		case c.Transport == "ws":
			out[l] = seriesStyle{color: wsColor}
		case c.Transport == Floor:
			out[l] = seriesStyle{color: floorColor, dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
		case c.Transport == "poll":
			out[l] = seriesStyle{color: pollColors[polls%len(pollColors)]}
			polls++
		default:
			out[l] = seriesStyle{color: otherColors[others%len(otherColors)]}
			others++
		}
	}
	return out
}

// configsOf lists the groups' configurations, for styles.
func configsOf(gs []Group) []Config {
	out := make([]Config, len(gs))
	for i, g := range gs {
		out[i] = g.Config
	}
	slices.SortStableFunc(out, func(a, b Config) int {
		return cmp.Or(contract.Order(a.Transport, b.Transport), cmp.Compare(a.Impl, b.Impl), cmp.Compare(a.PollIntervalS, b.PollIntervalS))
	})
	return out
}

// line adds a line with points to p, styled, under name in the legend.
func line(p *plot.Plot, xys plotter.XYs, st seriesStyle, dashed bool, name string) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, l.Width = st.color, vg.Points(1.6)
	l.Dashes = st.dashes
	if dashed {
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		l.Width = vg.Points(1.1)
	}
	s.Color, s.Radius = st.color, vg.Points(2.2)
	s.Shape = draw.CircleGlyph{}
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}

// spreadBars adds min–max error bars around the medians of sp at xs, on
// log-log axes.
func spreadBars(p *plot.Plot, xs []float64, sp []Spread, c color.Color) error {
	var e errXY
	for i, s := range sp {
		if s.Varies() {
			m := lg(s.Median)
			e = append(e, errPoint{lg(xs[i]), m, m - lg(s.Min), lg(s.Max) - m})
		}
	}
	if len(e) == 0 {
		return nil
	}
	bars, err := plotter.NewYErrorBars(e)
	if err != nil {
		return err
	}
	bars.Color = c
	p.Add(bars)
	return nil
}

type errPoint struct{ x, y, low, high float64 }
type errXY []errPoint

func (e errXY) Len() int                        { return len(e) }
func (e errXY) XY(i int) (float64, float64)     { return e[i].x, e[i].y }
func (e errXY) YError(i int) (float64, float64) { return e[i].low, e[i].high }

// pointSlug names a point in a file name: "1000-clients-10-per-s-64B".
func pointSlug(c Config) string {
	s := fmt.Sprintf("%d-clients-%g-per-s-%dB", c.Clients, c.Rate, c.Payload)
	if c.Burst > 1 {
		s += fmt.Sprintf("-burst-%d", c.Burst)
	}
	return s
}

// percentileTicks label the classic HdrHistogram x axis, lg(1/(1-q)).
var percentileTicks = []plot.Tick{
	{Value: 0, Label: "0%"}, {Value: math.Log10(2), Label: "50%"}, {Value: 1, Label: "90%"},
	{Value: 2, Label: "99%"}, {Value: 3, Label: "99.9%"}, {Value: 4, Label: "99.99%"},
	{Value: 5, Label: "99.999%"}, {Value: 6, Label: "99.9999%"},
}

// latencyCharts draws, per point, the latency percentile distribution of
// each transport: HdrHistogram's classic plot, x = 1/(1-q) on a log axis,
// so the tail where transports differ gets as much room as the median.
func latencyCharts(info ScenarioInfo, gs []Group) ([]chart, error) {
	var out []chart
	for _, pt := range points(gs) {
		p := newPanel("", "percentile (log scale of 1/(1−q): each step right is ten times rarer)", "delivery latency (log scale)")
		p.Legend.Left = true
		logAxis(&p.Y, FormatNS)
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
				xys = append(xys, logXY(x, float64(h.ValueAtQuantile(100*(1-1/x)))))
			}
			xys = append(xys, logXY(n, float64(h.Max())))
			maxX = max(maxX, n)
			name := fmt.Sprintf("%s (p99 %s)", g.Config.Label(), FormatNS(float64(h.ValueAtQuantile(99))))
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, err
			}
			s := st[g.Config.Label()]
			l.Color, l.Width, l.Dashes = s.color, vg.Points(1.6), s.dashes
			p.Add(l)
			p.Legend.Add(name, l)
			series++
		}
		if series == 0 {
			continue
		}
		var ticks plot.ConstantTicks
		for _, t := range percentileTicks {
			if t.Value <= lg(maxX)+1e-9 {
				ticks = append(ticks, t)
			}
		}
		p.X.Tick.Marker = ticks
		p.X.Min, p.X.Max = 0, lg(maxX)
		out = append(out, newChart(info, "latency-"+pointSlug(pt[0].Config),
			"Delivery latency by percentile", pt[0].Config.Load()+"; scheduled publish → arrival, repetitions merged", p))
	}
	return out, nil
}

// family is the groups of a scenario that differ only in one dimension
// (clients or rate), by transport label.
type family struct {
	key    Config
	labels []Config
	by     map[string][]*Group
}

// families splits gs by everything but the dimension vary clears, keeping
// those where at least two values of the dimension ran.
func families(gs []Group, vary func(Config) Config, value func(Config) float64) []family {
	var out []*family
	index := map[Config]*family{}
	values := map[Config]map[float64]bool{}
	for i := range gs {
		g := &gs[i]
		key := vary(g.Config.Point())
		f := index[key]
		if f == nil {
			f = &family{key: key, by: map[string][]*Group{}}
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
			slices.SortStableFunc(f.labels, func(a, b Config) int {
				return cmp.Or(contract.Order(a.Transport, b.Transport), cmp.Compare(a.Impl, b.Impl), cmp.Compare(a.PollIntervalS, b.PollIntervalS))
			})
			for _, l := range f.labels {
				slices.SortStableFunc(f.by[l.Label()], func(a, b *Group) int { return cmp.Compare(value(a.Config), value(b.Config)) })
			}
			keep = append(keep, *f)
		}
	}
	return keep
}

// clientsCharts draws p50 and p99 against the number of clients, where a
// scenario ran several client counts at one rate and payload: the fan-out
// cost of each transport.
func clientsCharts(info ScenarioInfo, gs []Group) ([]chart, error) {
	var out []chart
	fams := families(gs, func(c Config) Config { c.Clients = 0; return c }, func(c Config) float64 { return float64(c.Clients) })
	for _, f := range fams {
		p := newPanel("", "clients (log scale)", "delivery latency (log scale)")
		p.Legend.Left = true
		logAxis(&p.X, FormatSI)
		logAxis(&p.Y, FormatNS)
		st := styles(f.labels)
		for _, c := range f.labels {
			l := c.Label()
			var xs []float64
			var p50, p99 []Spread
			for _, g := range f.by[l] {
				xs = append(xs, float64(g.Config.Clients))
				p50 = append(p50, g.P50)
				p99 = append(p99, g.P99)
			}
			if err := line(p, spreadXYs(xs, p99), st[l], false, l+" p99"); err != nil {
				return nil, err
			}
			if err := line(p, spreadXYs(xs, p50), st[l], true, l+" p50"); err != nil {
				return nil, err
			}
			if err := spreadBars(p, xs, p99, st[l].color); err != nil {
				return nil, err
			}
		}
		sub := fmt.Sprintf("%s, %s; medians, bars span the repetitions", FormatRate(f.key.Rate), FormatBytes(float64(f.key.Payload)))
		out = append(out, newChart(info, fmt.Sprintf("latency-vs-clients-%g-per-s-%dB", f.key.Rate, f.key.Payload),
			"p50 and p99 latency against clients", sub, p))
	}
	return out, nil
}

// spreadXYs is the medians of sp at xs on log-log axes.
func spreadXYs(xs []float64, sp []Spread) plotter.XYs {
	out := make(plotter.XYs, len(xs))
	for i := range xs {
		out[i] = logXY(xs[i], sp[i].Median)
	}
	return out
}

// rateCharts draws deliveries/s and p99 against the offered rate, where a
// scenario stepped the rate: where each transport saturates.
func rateCharts(info ScenarioInfo, gs []Group) ([]chart, error) {
	var out []chart
	fams := families(gs, func(c Config) Config { c.Rate = 0; return c }, func(c Config) float64 { return c.Rate })
	for _, f := range fams {
		tp := newPanel("Throughput", "offered event rate, events/s (log scale)", "deliveries/s, all clients (log scale)")
		tp.Legend.Left = true
		logAxis(&tp.X, FormatSI)
		logAxis(&tp.Y, FormatSI)
		lp := newPanel("p99 latency", "offered event rate, events/s (log scale)", "p99 delivery latency (log scale)")
		lp.Legend.Left = true
		logAxis(&lp.X, FormatSI)
		logAxis(&lp.Y, FormatNS)
		st := styles(f.labels)
		var rates []float64
		for _, c := range f.labels {
			l := c.Label()
			var xs []float64
			var dps, p99 []Spread
			for _, g := range f.by[l] {
				xs = append(xs, g.Config.Rate)
				dps = append(dps, g.DeliveriesPerSec)
				p99 = append(p99, g.P99)
				if !slices.Contains(rates, g.Config.Rate) {
					rates = append(rates, g.Config.Rate)
				}
			}
			if err := line(tp, spreadXYs(xs, dps), st[l], false, l); err != nil {
				return nil, err
			}
			if err := spreadBars(tp, xs, dps, st[l].color); err != nil {
				return nil, err
			}
			if err := line(lp, spreadXYs(xs, p99), st[l], false, l); err != nil {
				return nil, err
			}
			if err := spreadBars(lp, xs, p99, st[l].color); err != nil {
				return nil, err
			}
		}
		// What full delivery would be: every event to every client.
		slices.Sort(rates)
		lo, hi := rates[0], rates[len(rates)-1]
		clients := float64(max(f.key.Clients, 1))
		if err := refLine(tp, lg(lo), lg(hi), lg(lo*clients), lg(hi*clients), "offered × clients"); err != nil {
			return nil, err
		}
		if info.P99BoundS > 0 {
			b := info.P99BoundS * 1e9
			if err := refLine(lp, lg(lo), lg(hi), lg(b), lg(b), "p99 bound "+FormatNS(b)); err != nil {
				return nil, err
			}
		}
		sub := fmt.Sprintf("%s clients, %s; medians, bars span the repetitions",
			FormatCount(uint64(max(f.key.Clients, 0))), FormatBytes(float64(f.key.Payload)))
		out = append(out, newChart(info, fmt.Sprintf("throughput-vs-rate-%d-clients-%dB", f.key.Clients, f.key.Payload),
			"Deliveries/s and p99 against offered rate", sub, tp, lp))
	}
	return out, nil
}

// refLine adds a thin grey reference line from (x0, y0) to (x1, y1).
func refLine(p *plot.Plot, x0, x1, y0, y1 float64, name string) error {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y1}})
	if err != nil {
		return err
	}
	l.Color, l.Width = color.Gray{Y: 140}, vg.Points(1)
	l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// bars adds one bar of bytes per group with its value on top, and names
// the x axis by transport.
func bars(p *plot.Plot, gs []*Group, value func(*Group) float64) error {
	st := styles(configsOf(derefs(gs)))
	var names []string
	var xys plotter.XYs
	var labels []string
	for i, g := range gs {
		v := value(g)
		b, err := plotter.NewBarChart(plotter.Values{v}, vg.Points(36))
		if err != nil {
			return err
		}
		b.XMin = float64(i)
		b.Color = st[g.Config.Label()].color
		b.LineStyle.Width = 0
		p.Add(b)
		names = append(names, g.Config.Label())
		xys = append(xys, plotter.XY{X: float64(i), Y: v})
		labels = append(labels, FormatBytes(v))
	}
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i] = textStyle(sans, 9, color.Black)
		lb.TextStyle[i].XAlign = draw.XCenter
	}
	lb.Offset = vg.Point{Y: vg.Points(3)}
	p.Add(lb)
	p.NominalX(names...)
	// Half a slot either side, so the outer bars are not cut in half.
	p.X.Min, p.X.Max = -0.5, float64(len(gs))-0.5
	p.Y.Min = 0
	// Room above the tallest bar for its label.
	p.Y.Max *= 1.08
	p.Y.Tick.Marker = bytesTicks{}
	return nil
}

func derefs(gs []*Group) []Group {
	out := make([]Group, len(gs))
	for i, g := range gs {
		out[i] = *g
	}
	return out
}

// memoryCharts draws server memory per connection, per transport, at each
// given point.
func memoryCharts(info ScenarioInfo, pts [][]Group) ([]chart, error) {
	var out []chart
	for _, pt := range pts {
		var gs []*Group
		for i := range pt {
			if pt[i].Median.Server.BytesPerConn > 0 {
				gs = append(gs, &pt[i])
			}
		}
		if len(gs) == 0 {
			continue
		}
		p := newPanel("", "", "server RSS per connection (bytes)")
		if err := bars(p, gs, func(g *Group) float64 { return g.Median.Server.BytesPerConn }); err != nil {
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
func bytesCharts(info ScenarioInfo, gs []Group) ([]chart, error) {
	var out []chart
	fams := families(gs, func(c Config) Config { c.Payload = 0; return c }, func(c Config) float64 { return float64(c.Payload) })
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
			var gs []*Group
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
			p := newPanel(FormatBytes(float64(size))+" payload", "", "wire bytes per delivered event")
			if err := bars(p, gs, func(g *Group) float64 { return g.Median.Wire.BytesPerEvent }); err != nil {
				return nil, err
			}
			// The payload itself, so the overhead above it shows.
			if err := refLine(p, -0.5, float64(len(gs))-0.5, float64(size), float64(size), "payload"); err != nil {
				return nil, err
			}
			p.Legend.Top, p.Legend.Left = true, false
			panels = append(panels, p)
		}
		if len(panels) == 0 {
			continue
		}
		sub := fmt.Sprintf("%s clients, %s; headers, framing, heartbeats and polls included; median run",
			FormatCount(uint64(max(f.key.Clients, 0))), FormatRate(f.key.Rate))
		out = append(out, newChart(info, fmt.Sprintf("bytes-per-event-%d-clients-%g-per-s", f.key.Clients, f.key.Rate),
			"Wire bytes per event", sub, panels...))
	}
	return out, nil
}

// pollingChart draws the polling trade-off at one point: each interval's
// p50 and p99 against the requests/s it cost, with the push transports'
// p99 as horizontal references. It draws nothing when fewer than two
// polling runs counted their requests.
func pollingChart(info ScenarioInfo, pt []Group) ([]chart, error) {
	p := newPanel("", "poll requests/s, all clients (log scale)", "delivery latency (log scale)")
	logAxis(&p.X, FormatSI)
	logAxis(&p.Y, FormatNS)
	var polls []*Group
	for i := range pt {
		if pt[i].Median.Polls != nil && pt[i].Median.Polls.RequestsPerSec > 0 {
			polls = append(polls, &pt[i])
		}
	}
	slices.SortStableFunc(polls, func(a, b *Group) int { return cmp.Compare(a.Config.PollIntervalS, b.Config.PollIntervalS) })
	if len(polls) < 2 {
		return nil, nil
	}
	pollStyle := seriesStyle{color: pollColors[0]}
	var p50, p99 plotter.XYs
	var labels []string
	lo, hi := math.Inf(1), 0.0
	for _, g := range polls {
		x := g.Median.Polls.RequestsPerSec
		lo, hi = min(lo, x), max(hi, x)
		p50 = append(p50, logXY(x, g.P50.Median))
		p99 = append(p99, logXY(x, g.P99.Median))
		labels = append(labels, "every "+FormatInterval(g.Config.PollIntervalS))
	}
	if err := line(p, p99, pollStyle, false, "poll p99"); err != nil {
		return nil, err
	}
	if err := line(p, p50, pollStyle, true, "poll p50"); err != nil {
		return nil, err
	}
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: p99, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i] = textStyle(sans, 9, color.Gray{Y: 40})
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
		y := lg(g.P99.Median)
		l, err := plotter.NewLine(plotter.XYs{{X: lg(lo), Y: y}, {X: lg(hi), Y: y}})
		if err != nil {
			return nil, err
		}
		s := st[g.Config.Label()]
		l.Color, l.Width = s.color, vg.Points(1.2)
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(l)
		what := "push, no requests"
		if g.Config.Transport == Floor {
			what = "floor"
		}
		p.Legend.Add(fmt.Sprintf("%s p99 (%s)", g.Config.Label(), what), l)
	}
	p.X.Min, p.X.Max = lg(lo), lg(hi)
	return []chart{newChart(info, pollingPlot+pointSlug(pt[0].Config),
		"Polling trade-off: latency against requests", pt[0].Config.Load()+"; one point per polling interval, medians", p)}, nil
}
