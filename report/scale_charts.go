package report

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/pushbench/pushbench/internal/plotkit"
	"github.com/pushbench/pushbench/results"
)

// scaleCharts draws a scale scenario against the number of connections: memory
// per connection on the server and in the load generator, with the target,
// and p99 latency with the bounds a step must keep. Each run is one point
// (repetitions, if any, at their median p99).
func scaleCharts(info results.ScenarioInfo, runs []results.Run, targets scaleTargets) ([]chart, error) {
	gs := groupRuns(runs)
	fams := families(gs, func(c config) config { c.Clients = 0; return c }, func(c config) float64 { return float64(c.Clients) })
	var out []chart
	for _, f := range fams {
		st := styles(f.labels)
		srv := plotkit.NewPanel("Server", "concurrent connections (log scale)", "RSS per connection")
		gen := plotkit.NewPanel("Load generator", "concurrent connections (log scale)", "RSS per connection")
		lat := plotkit.NewPanel("p99 latency", "concurrent connections (log scale)", "p99 delivery latency (log scale)")
		for _, p := range []*plot.Plot{srv, gen, lat} {
			p.Legend.Left = true
			plotkit.LogAxis(&p.X, FormatSI)
		}
		srv.Y.Tick.Marker, gen.Y.Tick.Marker = bytesTicks, bytesTicks
		srv.Y.Min, gen.Y.Min = 0, 0
		plotkit.LogAxis(&lat.Y, FormatNS)
		lo, hi := 0.0, 0.0
		for _, c := range f.labels {
			l := c.Label()
			var mem, lg1, p99 plotter.XYs
			for _, g := range f.by[l] {
				x := float64(g.Config.Clients)
				if lo == 0 || x < lo {
					lo = x
				}
				hi = max(hi, x)
				if b := g.Median.Server.BytesPerConn; b > 0 {
					mem = append(mem, plotter.XY{X: plotkit.Lg(x), Y: b})
				}
				if b := g.Median.Loadgen.BytesPerConn; b > 0 {
					lg1 = append(lg1, plotter.XY{X: plotkit.Lg(x), Y: b})
				}
				if g.Median.LatencyNS.Count > 0 {
					p99 = append(p99, plotkit.LogXY(x, g.P99.Median))
				}
			}
			for _, s := range []struct {
				p   *plot.Plot
				xys plotter.XYs
			}{{srv, mem}, {gen, lg1}, {lat, p99}} {
				if len(s.xys) == 0 {
					continue
				}
				if err := plotkit.Line(s.p, s.xys, st[l], false, l); err != nil {
					return nil, err
				}
			}
		}
		if hi == 0 {
			continue
		}
		if err := plotkit.RefLine(srv, plotkit.Lg(lo), plotkit.Lg(hi), targets.ServerBytesPerConn, targets.ServerBytesPerConn,
			"target "+formatBytes(targets.ServerBytesPerConn)+" (SSE, WebSocket)"); err != nil {
			return nil, err
		}
		if err := plotkit.RefLine(gen, plotkit.Lg(lo), plotkit.Lg(hi), targets.LoadgenBytesPerConn, targets.LoadgenBytesPerConn,
			"target "+formatBytes(targets.LoadgenBytesPerConn)); err != nil {
			return nil, err
		}
		if info.P99BoundS > 0 {
			b := info.P99BoundS * 1e9
			if err := plotkit.RefLine(lat, plotkit.Lg(lo), plotkit.Lg(hi), plotkit.Lg(b), plotkit.Lg(b), "bound "+FormatNS(b)); err != nil {
				return nil, err
			}
			var intervals []float64
			for _, c := range f.labels {
				if c.PollIntervalS > 0 {
					intervals = append(intervals, c.PollIntervalS)
				}
			}
			for _, iv := range intervals {
				pb := b + iv*1e9
				if err := plotkit.RefLine(lat, plotkit.Lg(lo), plotkit.Lg(hi), plotkit.Lg(pb), plotkit.Lg(pb), fmt.Sprintf("poll %s bound %s", FormatInterval(iv), FormatNS(pb))); err != nil {
					return nil, err
				}
			}
		}
		sub := fmt.Sprintf("%s, %s; memory measured with every connection open and idle", formatRate(f.key.Rate), formatBytes(float64(f.key.Payload)))
		out = append(out,
			newChart(info, fmt.Sprintf("scale-memory-%g-per-s-%dB", f.key.Rate, f.key.Payload), "Memory per connection against connections", sub, srv, gen),
			newChart(info, fmt.Sprintf("scale-p99-%g-per-s-%dB", f.key.Rate, f.key.Payload), "p99 latency against connections",
				fmt.Sprintf("%s, %s; scheduled publish → arrival", formatRate(f.key.Rate), formatBytes(float64(f.key.Payload))), lat))
	}
	return out, nil
}
