package plotkit

import (
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Log axes. gonum's LogScale places an axis label's glyph box at the
// arithmetic midpoint of the range, which on a log axis sits near one end
// and pads the plot off-centre; it also panics on a zero. So log axes here
// are linear axes over log10 of the data, with ticks labelled in the
// data's units: Lg maps a value onto such an axis.

// Lg maps v onto a log axis; values at or below zero are clamped to a
// millionth, far below anything plotted.
func Lg(v float64) float64 { return math.Log10(max(v, 1e-6)) }

// LogXY is the point (x, y) on log-log axes.
func LogXY(x, y float64) plotter.XY { return plotter.XY{X: Lg(x), Y: Lg(y)} }

// LogAxis labels a, whose values are Lg of the data, with ticks at 1-9 ×
// each power of ten formatted by format.
func LogAxis(a *plot.Axis, format func(float64) string) {
	a.Tick.Marker = logTicks{format}
}

// logTicks marks 1-9 × each power of ten and labels the powers of ten
// with format; when that leaves fewer than three labels, 1, 2 and 5 of each
// decade, and if still fewer, every mark. Its range and tick values are Lg
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

// percentileTicks label the classic HdrHistogram x axis, Lg(1/(1-q)).
var percentileTicks = []plot.Tick{
	{Value: 0, Label: "0%"}, {Value: math.Log10(2), Label: "50%"}, {Value: 1, Label: "90%"},
	{Value: 2, Label: "99%"}, {Value: 3, Label: "99.9%"}, {Value: 4, Label: "99.99%"},
	{Value: 5, Label: "99.999%"}, {Value: 6, Label: "99.9999%"},
}

// PercentileAxis makes a HdrHistogram's classic percentile axis of a, up to
// the rarest of n values: quantile q sits at LogXY's x = 1/(1-q), so each
// step right is ten times rarer and the tail gets as much room as the
// median.
func PercentileAxis(a *plot.Axis, n float64) {
	var ticks plot.ConstantTicks
	for _, t := range percentileTicks {
		if t.Value <= Lg(n)+1e-9 {
			ticks = append(ticks, t)
		}
	}
	a.Tick.Marker = ticks
	a.Min, a.Max = 0, Lg(n)
}

// BytesTicks are gonum's default linear ticks counted in the byte unit
// that suits the axis (B, KiB, MiB, GiB), so marks fall on round numbers of
// it: "0.5 KiB", not "512 B" beside "1.17 KiB". Format writes a mark's
// number in that unit; the unit's name follows it.
type BytesTicks struct{ Format func(float64) string }

func (t BytesTicks) Ticks(lo, hi float64) []plot.Tick {
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
			ticks[i].Label = t.Format(ticks[i].Value) + " " + name
		}
		ticks[i].Value *= unit
	}
	return ticks
}

// LabelTicks are gonum's default ticks labelled by Format (500k, not
// 500000.00).
type LabelTicks struct{ Format func(float64) string }

func (t LabelTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = t.Format(ts[i].Value)
		}
	}
	return ts
}

// SecondTicks mark whole seconds from an instant at 0, every 1, 2, 5,
// 10… s so that about ten are labelled, with the instant itself always
// among them.
type SecondTicks struct{}

func (SecondTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	step := 1.0
	for i := 0; (hi-lo)/step > 10; i++ {
		step *= []float64{2, 2.5, 2}[i%3] // 1, 2, 5, 10, 20, 50…
	}
	var out []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return out
}

// VMark is a vertical grey line at X across the whole data area, whatever
// the y axis's range: it has no data range of its own.
type VMark struct {
	X      float64
	Dashes []vg.Length
}

func (m VMark) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(m.X)
	c.StrokeLine2(draw.LineStyle{Color: color.Gray{Y: 90}, Width: vg.Points(1), Dashes: m.Dashes}, x, c.Min.Y, x, c.Max.Y)
}
