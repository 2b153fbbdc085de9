// Package plotkit is the small gonum/plot toolkit pushbench's charts are
// drawn with: a chart of titled panels rendered to PNG or SVG, the type and
// its raster kerning fix, log axes that gonum's LogScale gets wrong, tick
// markers, and line, bar and error-bar helpers. It knows nothing of
// benchmarks, so the charts (package report) say only what they draw, and a
// fix to how anything is drawn is made once, here.
package plotkit

import (
	"bytes"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Chart geometry: one panel is 8×5 in; more share a wider image.
var (
	chartHeight = 5 * vg.Inch
	panelWidth  = 8 * vg.Inch
)

// Chart is one image: a title over one or more panels side by side, and a
// caption along the bottom.
type Chart struct {
	// Title and Subtitle are drawn above the panels; Subtitle may be empty
	// or hold several lines.
	Title, Subtitle string
	Panels          []*plot.Plot
	// roomy is set once the panels' axes have room for their legends:
	// the first rendering makes it, later ones (other formats) reuse it.
	roomy bool
}

// Render draws the chart in format ("png", "svg"): title strip, panels,
// then caption along the bottom. Rendering one chart in several formats
// draws the same picture in each.
func (c *Chart) Render(format, caption string) ([]byte, error) {
	width := panelWidth
	if n := len(c.Panels); n > 1 {
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
	titleStyle := TextStyle(sansBold, 13, color.Black)
	titleStyle.XAlign, titleStyle.YAlign = draw.XCenter, draw.YTop
	subStyle := TextStyle(Sans, 10, color.Gray{Y: 60})
	subStyle.XAlign, subStyle.YAlign = draw.XCenter, draw.YTop
	capStyle := TextStyle(Sans, 8, color.Gray{Y: 100})
	capStyle.YAlign = draw.YBottom

	top := dc.Max.Y - pad
	mid := (dc.Min.X + dc.Max.X) / 2
	dc.FillText(titleStyle, vg.Point{X: mid, Y: top}, c.Title)
	top -= titleStyle.Height(c.Title) + 2
	if c.Subtitle != "" {
		dc.FillText(subStyle, vg.Point{X: mid, Y: top}, c.Subtitle)
		top -= subStyle.Height(c.Subtitle)
	}
	dc.FillText(capStyle, vg.Point{X: dc.Min.X + pad, Y: dc.Min.Y + pad/2}, caption)
	body := draw.Crop(dc, pad, -pad, capStyle.Height(caption)+pad, top-dc.Max.Y-pad)

	canvases := []draw.Canvas{body}
	if len(c.Panels) > 1 {
		tiles := draw.Tiles{Rows: 1, Cols: len(c.Panels), PadX: 8}
		canvases = plot.Align([][]*plot.Plot{c.Panels}, tiles, body)[0]
	}
	for i, p := range c.Panels {
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
// are linear over Lg of the data), so the room is a share of the range.
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

// NewPanel returns a plot styled for a chart: sans-serif type drawn by
// textHandler, a light grid, the legend at the top inside the data area.
func NewPanel(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	// Only the type and its handler change: gonum's alignments and the
	// vertical label's rotation stay as they are.
	p.TextHandler = textHandler
	p.Title.TextStyle.Font = font.From(Sans, 11)
	p.Title.TextStyle.Handler = textHandler
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(Sans, 10)
		a.Label.TextStyle.Handler = textHandler
		a.Tick.Label.Font = font.From(Sans, 9)
		a.Tick.Label.Handler = textHandler
	}
	p.Legend.TextStyle.Font = font.From(Sans, 9)
	p.Legend.TextStyle.Handler = textHandler
	p.Legend.Top = true
	p.Legend.Padding = vg.Points(1.5)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 225}
	grid.Horizontal.Color = color.Gray{Y: 225}
	p.Add(grid)
	return p
}
