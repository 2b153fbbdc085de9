package results

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pushbench/pushbench/contract"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// scaleCharts draws a scale scenario against the number of connections: memory
// per connection on the server and in the load generator, with the target,
// and p99 latency with the bounds a step must keep. Each run is one point
// (repetitions, if any, at their median p99).
func scaleCharts(info ScenarioInfo, runs []Run, targets ScaleTargets) ([]chart, error) {
	gs := Groups(runs)
	fams := families(gs, func(c Config) Config { c.Clients = 0; return c }, func(c Config) float64 { return float64(c.Clients) })
	var out []chart
	for _, f := range fams {
		st := styles(f.labels)
		srv := newPanel("Server", "concurrent connections (log scale)", "RSS per connection")
		gen := newPanel("Load generator", "concurrent connections (log scale)", "RSS per connection")
		lat := newPanel("p99 latency", "concurrent connections (log scale)", "p99 delivery latency (log scale)")
		for _, p := range []*plot.Plot{srv, gen, lat} {
			p.Legend.Left = true
			logAxis(&p.X, FormatSI)
		}
		srv.Y.Tick.Marker, gen.Y.Tick.Marker = bytesTicks{}, bytesTicks{}
		srv.Y.Min, gen.Y.Min = 0, 0
		logAxis(&lat.Y, FormatNS)
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
					mem = append(mem, plotter.XY{X: lg(x), Y: b})
				}
				if b := g.Median.Loadgen.BytesPerConn; b > 0 {
					lg1 = append(lg1, plotter.XY{X: lg(x), Y: b})
				}
				if g.Median.LatencyNS.Count > 0 {
					p99 = append(p99, logXY(x, g.P99.Median))
				}
			}
			for _, s := range []struct {
				p   *plot.Plot
				xys plotter.XYs
			}{{srv, mem}, {gen, lg1}, {lat, p99}} {
				if len(s.xys) == 0 {
					continue
				}
				if err := line(s.p, s.xys, st[l], false, l); err != nil {
					return nil, err
				}
			}
		}
		if hi == 0 {
			continue
		}
		if err := refLine(srv, lg(lo), lg(hi), targets.ServerBytesPerConn, targets.ServerBytesPerConn,
			"target "+FormatBytes(targets.ServerBytesPerConn)+" (SSE, WebSocket)"); err != nil {
			return nil, err
		}
		if err := refLine(gen, lg(lo), lg(hi), targets.LoadgenBytesPerConn, targets.LoadgenBytesPerConn,
			"target "+FormatBytes(targets.LoadgenBytesPerConn)); err != nil {
			return nil, err
		}
		if info.P99BoundS > 0 {
			b := info.P99BoundS * 1e9
			if err := refLine(lat, lg(lo), lg(hi), lg(b), lg(b), "bound "+FormatNS(b)); err != nil {
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
				if err := refLine(lat, lg(lo), lg(hi), lg(pb), lg(pb), fmt.Sprintf("poll %s bound %s", FormatInterval(iv), FormatNS(pb))); err != nil {
					return nil, err
				}
			}
		}
		sub := fmt.Sprintf("%s, %s; memory measured with every connection open and idle", FormatRate(f.key.Rate), FormatBytes(float64(f.key.Payload)))
		out = append(out,
			newChart(info, fmt.Sprintf("scale-memory-%g-per-s-%dB", f.key.Rate, f.key.Payload), "Memory per connection against connections", sub, srv, gen),
			newChart(info, fmt.Sprintf("scale-p99-%g-per-s-%dB", f.key.Rate, f.key.Payload), "p99 latency against connections",
				fmt.Sprintf("%s, %s; scheduled publish → arrival", FormatRate(f.key.Rate), FormatBytes(float64(f.key.Payload))), lat))
	}
	return out, nil
}

// WriteScalePlots draws the charts of every scale scenario in r into
// dir/plots/<scenario>/ (PNG and SVG) and returns the PNG paths relative to
// dir, as WritePlots does. Call it after WritePlots, which removes plot files
// it did not write itself.
func WriteScalePlots(dir string, r *Report, targets ScaleTargets) ([]string, error) {
	caption := plotCaption(r.Env)
	var out []string
	for _, s := range r.Scenarios {
		if s.Kind != contract.Scale {
			continue
		}
		charts, err := scaleCharts(s, r.RunsOf(s.Name), targets)
		if err != nil {
			return out, err
		}
		for i := range charts {
			c := &charts[i]
			for _, ext := range []string{".png", ".svg"} {
				b, err := c.render(strings.TrimPrefix(ext, "."), caption)
				if err != nil {
					return out, fmt.Errorf("plot %s: %w", c.name, err)
				}
				if err := writeFileAtomic(filepath.Join(dir, filepath.FromSlash(c.name+ext)), b); err != nil {
					return out, fmt.Errorf("plot %s: %w", c.name, err)
				}
			}
			out = append(out, c.name+".png")
		}
	}
	return out, nil
}
