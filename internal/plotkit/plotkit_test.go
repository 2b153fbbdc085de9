package plotkit

import (
	"bytes"
	"fmt"
	"image/png"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// TestRender: a chart of two panels renders as a PNG as wide as two panels
// need and as an SVG holding its title and caption; rendering twice (the
// second format) leaves the legend room the first made, not twice as much.
func TestRender(t *testing.T) {
	a := NewPanel("left", "x", "y")
	b := NewPanel("right", "x", "y")
	if err := Line(a, plotter.XYs{{X: 0, Y: 1}, {X: 1, Y: 2}}, Style{}, false, "a line"); err != nil {
		t.Fatal(err)
	}
	if err := RefLine(b, 0, 1, 5, 5, "a bound"); err != nil {
		t.Fatal(err)
	}
	c := &Chart{Title: "Title", Subtitle: "one\ntwo", Panels: []*plot.Plot{a, b}}
	img, err := c.Render("png", "Caption on AMD")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 960 || cfg.Height != 480 {
		t.Errorf("PNG is %d×%d, want 960×480 (two 5 in panels at 96 dpi)", cfg.Width, cfg.Height)
	}
	top := a.Y.Max
	svg, err := c.Render("svg", "Caption on AMD")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "Title", "Caption on AMD", "a line", "a bound"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if a.Y.Max != top {
		t.Errorf("second rendering moved the y axis from %v to %v", top, a.Y.Max)
	}
}

func TestLogTicks(t *testing.T) {
	label := func(v float64) string { return fmt.Sprintf("%.3g", v) }
	labels := func(lo, hi float64) string {
		var out []string
		for _, tk := range (logTicks{label}).Ticks(Lg(lo), Lg(hi)) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{1, 100, "1 10 100"},           // powers of ten, when there are three
		{1, 20, "1 2 5 10 20"},         // else 1, 2 and 5 of each decade
		{2, 4, "2 3 4"},                // else every mark
		{0.001, 0.1, "0.001 0.01 0.1"}, // below one
	} {
		if got := labels(c.lo, c.hi); got != c.want {
			t.Errorf("ticks over [%g, %g] labelled %q, want %q", c.lo, c.hi, got, c.want)
		}
	}
}

func TestBytesTicks(t *testing.T) {
	var got []string
	for _, tk := range (BytesTicks{func(v float64) string { return fmt.Sprintf("%g", v) }}).Ticks(0, 3<<10) {
		if tk.Label != "" {
			got = append(got, tk.Label)
		}
	}
	if want := "0 KiB 1 KiB 2 KiB 3 KiB"; strings.Join(got, " ") != want {
		t.Errorf("labels %q, want %q", got, want)
	}
}
