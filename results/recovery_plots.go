package results

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/pushbench/pushbench/contract"
)

// RateWindow is the trailing window the timelines' deliveries/s are taken
// over.
const RateWindow = time.Second

// recoveryCharts draws, per fault of every fault scenario, the timeline
// around it: connected clients and deliveries/s against seconds from the
// fault, one line per transport (and jitter policy), as
// plots/<scenario>/recovery-<fault>. A fault without a timeline is skipped.
func recoveryCharts(r *Report) ([]chart, error) {
	var out []chart
	for _, name := range r.faultScenarios() {
		for _, g := range faultGroups(r.Faults, name) {
			c, ok, err := g.timeline()
			if err != nil {
				return out, fmt.Errorf("recovery plot %s %s: %w", name, g.fault, err)
			}
			if ok {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// timeline builds the group's chart; ok is false when no run has a
// timeline.
func (g faultGroup) timeline() (c chart, ok bool, err error) {
	conn := newPanel("Connected clients", "seconds from the fault", "clients with a working connection")
	rate := newPanel("Delivery rate", "seconds from the fault", "deliveries/s, all clients")
	conn.Legend.Left, rate.Legend.Left = true, true
	first := g.runs[0]
	from := -first.Settings.Before.Seconds()
	to := 0.0
	peak := 0
	for _, r := range g.runs {
		if len(r.Timeline) < 2 {
			continue
		}
		var cs, ds plotter.XYs
		lo := 0 // first sample inside the trailing window
		var inWindow uint64
		for i, s := range r.Timeline {
			// Deliveries/s over the trailing RateWindow: a polling client's
			// deliveries come a poll at a time, so per sample they are
			// spikes between zeros.
			inWindow += s.Delivered
			for r.Timeline[lo].At <= s.At-RateWindow.Milliseconds() {
				inWindow -= r.Timeline[lo].Delivered
				lo++
			}
			x := float64(s.At-r.FaultAt) / 1e3
			if x < from {
				continue
			}
			to = max(to, x)
			peak = max(peak, s.Connected)
			cs = append(cs, plotter.XY{X: x, Y: float64(s.Connected)})
			if span := s.At - r.Timeline[lo].At; i > 0 && span > 0 {
				// The window's first sample counts what came before it.
				ds = append(ds, plotter.XY{X: x, Y: float64(inWindow-r.Timeline[lo].Delivered) / (float64(span) / 1e3)})
			}
		}
		if len(cs) < 2 {
			continue
		}
		rc := Config{Transport: r.Transport}
		st := styles([]Config{rc})[rc.Label()]
		dashes := st.dashes
		if g.jitters() && r.Jitter == contract.NoJitter {
			dashes = []vg.Length{vg.Points(2), vg.Points(2)} // no jitter: dotted, in the transport's colour
		}
		for _, l := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{conn, cs}, {rate, ds}} {
			if len(l.xys) == 0 {
				continue
			}
			line, err := plotter.NewLine(l.xys)
			if err != nil {
				return c, false, err
			}
			line.Color, line.Width, line.Dashes = st.color, vg.Points(1.4), dashes
			l.p.Add(line)
			l.p.Legend.Add(rowName(r, g.jitters()), line)
		}
		ok = true
	}
	if !ok {
		return c, false, nil
	}
	// The fault, and its end where it lasts.
	length := first.faultLength()
	marks := []float64{0}
	if d := length.Seconds(); d > 0 && d < to {
		marks = append(marks, d)
	}
	for _, p := range []*plot.Plot{conn, rate} {
		p.X.Min, p.X.Max = from, to
		p.X.Tick.Marker = secondTicks{}
		p.Y.Min = 0
		for i, x := range marks {
			m := vmark{X: x, Dashes: []vg.Length{vg.Points(5), vg.Points(3)}} // begins
			if i > 0 {
				m.Dashes = []vg.Length{vg.Points(1), vg.Points(2)} // ends
			}
			p.Add(m)
		}
	}
	conn.Y.Max = float64(peak) * 1.05
	conn.Y.Tick.Marker, rate.Y.Tick.Marker = siTicks{}, siTicks{}
	sub := "dashed: the fault begins"
	if len(marks) > 1 {
		sub += "; dotted: it ends (" + FormatDuration(length) + " later)"
	}
	title := "Recovery timeline — " + string(g.fault)
	if g.scenario != string(g.fault) {
		title += " — " + scenarioTitle(g.scenario)
	}
	return chart{
		name:     g.plotStem(),
		title:    title,
		subtitle: capitalize(first.describe()) + "\n" + sub + "; deliveries/s over the trailing " + FormatDuration(RateWindow),
		panels:   []*plot.Plot{conn, rate},
	}, true, nil
}

// vmark is a vertical line at X across the whole data area, whatever the
// y axis's range: it has no data range of its own.
type vmark struct {
	X      float64
	Dashes []vg.Length
}

func (m vmark) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(m.X)
	c.StrokeLine2(draw.LineStyle{Color: color.Gray{Y: 90}, Width: vg.Points(1), Dashes: m.Dashes}, x, c.Min.Y, x, c.Max.Y)
}

// secondTicks marks whole seconds from the fault, every 1, 2, 5, 10… s so
// that about ten are labelled, with the fault (0) always among them.
type secondTicks struct{}

func (secondTicks) Ticks(lo, hi float64) []plot.Tick {
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

// siTicks are gonum's default ticks labelled as the report writes numbers
// (500k, not 500000.00).
type siTicks struct{}

func (siTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = FormatSI(ts[i].Value)
		}
	}
	return ts
}
