package report

import (
	"fmt"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/plotkit"
	"github.com/pushbench/pushbench/results"
)

// rateWindow is the trailing window the timelines' deliveries/s are taken
// over.
const rateWindow = time.Second

// recoveryCharts draws, per fault of every fault scenario, the timeline
// around it: connected clients and deliveries/s against seconds from the
// fault, one line per transport (and jitter policy), as
// plots/<scenario>/recovery-<fault>. A fault without a timeline is skipped.
func recoveryCharts(r *results.Report) ([]chart, error) {
	var out []chart
	for _, name := range faultScenarios(r) {
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
	conn := plotkit.NewPanel("Connected clients", "seconds from the fault", "clients with a working connection")
	rate := plotkit.NewPanel("Delivery rate", "seconds from the fault", "deliveries/s, all clients")
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
			// Deliveries/s over the trailing rateWindow: a polling client's
			// deliveries come a poll at a time, so per sample they are
			// spikes between zeros.
			inWindow += s.Delivered
			for r.Timeline[lo].At <= s.At-rateWindow.Milliseconds() {
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
		rc := config{Transport: r.Transport}
		st := styles([]config{rc})[rc.Label()]
		dashes := st.Dashes
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
			line.Color, line.Width, line.Dashes = st.Color, vg.Points(1.4), dashes
			l.p.Add(line)
			l.p.Legend.Add(rowName(r, g.jitters()), line)
		}
		ok = true
	}
	if !ok {
		return c, false, nil
	}
	// The fault, and its end where it lasts.
	length := faultLength(first)
	marks := []float64{0}
	if d := length.Seconds(); d > 0 && d < to {
		marks = append(marks, d)
	}
	for _, p := range []*plot.Plot{conn, rate} {
		p.X.Min, p.X.Max = from, to
		p.X.Tick.Marker = plotkit.SecondTicks{}
		p.Y.Min = 0
		for i, x := range marks {
			m := plotkit.VMark{X: x, Dashes: []vg.Length{vg.Points(5), vg.Points(3)}} // begins
			if i > 0 {
				m.Dashes = []vg.Length{vg.Points(1), vg.Points(2)} // ends
			}
			p.Add(m)
		}
	}
	conn.Y.Max = float64(peak) * 1.05
	conn.Y.Tick.Marker, rate.Y.Tick.Marker = plotkit.LabelTicks{Format: FormatSI}, plotkit.LabelTicks{Format: FormatSI}
	sub := "dashed: the fault begins"
	if len(marks) > 1 {
		sub += "; dotted: it ends (" + FormatDuration(length) + " later)"
	}
	title := "Recovery timeline — " + string(g.fault)
	if g.scenario != string(g.fault) {
		title += " — " + scenarioTitle(g.scenario)
	}
	return chart{
		name: g.plotStem(),
		Chart: plotkit.Chart{
			Title:    title,
			Subtitle: capitalize(describeFault(first)) + "\n" + sub + "; deliveries/s over the trailing " + FormatDuration(rateWindow),
			Panels:   []*plot.Plot{conn, rate},
		},
	}, true, nil
}
