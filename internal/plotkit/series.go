package plotkit

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Style is how one series is drawn: its colour, and its dashes (nil:
// solid).
type Style struct {
	Color  color.Color
	Dashes []vg.Length
}

// Line adds a line through xys with a dot at each point to p, in st, under
// name in the legend. dashed draws it thin and dotted instead, whatever st's
// dashes: the companion of a solid line of the same colour (a p50 beside its
// p99).
func Line(p *plot.Plot, xys plotter.XYs, st Style, dashed bool, name string) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, l.Width = st.Color, vg.Points(1.6)
	l.Dashes = st.Dashes
	if dashed {
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		l.Width = vg.Points(1.1)
	}
	s.Color, s.Radius = st.Color, vg.Points(2.2)
	s.Shape = draw.CircleGlyph{}
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}

// RefLine adds a thin grey dashed reference line from (x0, y0) to (x1, y1),
// under name in the legend: a target, a bound, what full delivery would be.
func RefLine(p *plot.Plot, x0, x1, y0, y1 float64, name string) error {
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

// Bar is one bar of a bar chart.
type Bar struct {
	// Name labels the bar on the x axis.
	Name  string
	Value float64
	Color color.Color
}

// Bars adds one bar per entry of bars, side by side, each with its value
// written by label on top, and names the x axis by the bars' names. The y
// axis starts at zero, with room above the tallest bar for its label.
func Bars(p *plot.Plot, bars []Bar, label func(float64) string) error {
	var names []string
	var xys plotter.XYs
	var labels []string
	for i, bar := range bars {
		b, err := plotter.NewBarChart(plotter.Values{bar.Value}, vg.Points(36))
		if err != nil {
			return err
		}
		b.XMin = float64(i)
		b.Color = bar.Color
		b.LineStyle.Width = 0
		p.Add(b)
		names = append(names, bar.Name)
		xys = append(xys, plotter.XY{X: float64(i), Y: bar.Value})
		labels = append(labels, label(bar.Value))
	}
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i] = TextStyle(Sans, 9, color.Black)
		lb.TextStyle[i].XAlign = draw.XCenter
	}
	lb.Offset = vg.Point{Y: vg.Points(3)}
	p.Add(lb)
	p.NominalX(names...)
	// Half a slot either side, so the outer bars are not cut in half.
	p.X.Min, p.X.Max = -0.5, float64(len(bars))-0.5
	p.Y.Min = 0
	// Room above the tallest bar for its label.
	p.Y.Max *= 1.08
	return nil
}

// ErrorBar is a vertical bar around (X, Y), from Low below Y to High above
// it.
type ErrorBar struct{ X, Y, Low, High float64 }

// ErrorBars adds bars to p in colour c; none adds nothing.
func ErrorBars(p *plot.Plot, bars []ErrorBar, c color.Color) error {
	if len(bars) == 0 {
		return nil
	}
	eb, err := plotter.NewYErrorBars(errorBars(bars))
	if err != nil {
		return err
	}
	eb.Color = c
	p.Add(eb)
	return nil
}

// errorBars is bars as gonum's plotter.XYer and plotter.YErrorer.
type errorBars []ErrorBar

func (e errorBars) Len() int                        { return len(e) }
func (e errorBars) XY(i int) (float64, float64)     { return e[i].X, e[i].Y }
func (e errorBars) YError(i int) (float64, float64) { return e[i].Low, e[i].High }
