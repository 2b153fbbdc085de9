package faults

import (
	"fmt"
	"image/color"
	"math"
	"path"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/pushbench/pushbench/results"
)

// RateWindow is the trailing window the timelines' deliveries/s are taken
// over.
const RateWindow = time.Second

// PlotsDir is where WritePlots draws, relative to the report directory.
const PlotsDir = results.PlotsDir + "/recovery"

// WritePlots draws, per fault, the timeline around it: connected clients and
// deliveries/s against seconds from the fault, one line per transport, as
// dir/plots/recovery/<fault>.png and its SVG twin. It returns the PNG paths
// relative to dir, slash-separated, in fault order, and WriteMarkdown embeds
// them. A fault without a timeline is skipped.
//
// Call it after results.WritePlots (results.WriteDir), which removes every
// image under dir/plots it did not draw itself.
func (o *Outcome) WritePlots(dir string) ([]string, error) {
	o.plots = map[string]string{}
	var out []string
	for _, f := range o.Faults() {
		fig, ok, err := o.timeline(f)
		if err != nil {
			return out, fmt.Errorf("recovery plot %s: %w", f, err)
		}
		if !ok {
			continue
		}
		name := path.Join(PlotsDir, f)
		if err := results.WriteFigure(dir, name, fig, o.caption()); err != nil {
			return out, err
		}
		o.plots[f] = name + ".png"
		out = append(out, name+".png")
	}
	return out, nil
}

// caption says where the timelines come from. faults.json does not record
// the machine; the settings say what ran.
func (o *Outcome) caption() string {
	c := o.Config
	return fmt.Sprintf("pushbench faults · %s clients, %s, %s · storm %s clients, %s · samples every 100 ms",
		results.FormatCount(uint64(max(c.Clients, 0))), results.FormatRate(c.Rate), results.FormatBytes(float64(c.Payload)),
		results.FormatCount(uint64(max(c.StormClients, 0))), results.FormatRate(c.StormRate))
}

// faultLength is how long the fault itself lasted after it began: the
// server or network down, the partition or degradation; zero for a fault
// that is over when it begins.
func (c Config) faultLength(fault string) time.Duration {
	switch fault {
	case "crash", "graceful", "slowclose", "reset":
		return c.Downtime
	case "partition", "degrade":
		return c.Partition
	}
	return 0
}

// timeline builds fault's figure; ok is false when no run has a timeline.
func (o *Outcome) timeline(fault string) (fig results.Figure, ok bool, err error) {
	conn := results.NewPanel("Connected clients", "seconds from the fault", "clients with a working connection")
	rate := results.NewPanel("Delivery rate", "seconds from the fault", "deliveries/s, all clients")
	conn.Legend.Left, rate.Legend.Left = true, true
	from := -o.Config.Before.Seconds()
	to := 0.0
	peak := 0
	for _, r := range o.runsOf(fault) {
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
		col, dashes := results.TransportStyle(r.Transport)
		for _, l := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{conn, cs}, {rate, ds}} {
			if len(l.xys) == 0 {
				continue
			}
			line, err := plotter.NewLine(l.xys)
			if err != nil {
				return fig, false, err
			}
			line.Color, line.Width, line.Dashes = col, vg.Points(1.4), dashes
			l.p.Add(line)
			l.p.Legend.Add(transportName(r.Transport), line)
		}
		ok = true
	}
	if !ok {
		return fig, false, nil
	}
	// The fault, and its end where it lasts.
	marks := []float64{0}
	if d := o.Config.faultLength(fault).Seconds(); d > 0 && d < to {
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
	sub := "dashed: the fault begins"
	if len(marks) > 1 {
		sub += "; dotted: it ends (" + results.FormatDuration(o.Config.faultLength(fault)) + " later)"
	}
	return results.Figure{
		Title:    "Recovery timeline — " + fault,
		Subtitle: capitalize(o.Config.describe(fault)) + "\n" + sub + "; deliveries/s over the trailing " + results.FormatDuration(RateWindow),
		Panels:   []*plot.Plot{conn, rate},
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
