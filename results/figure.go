package results

import (
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// Figure is a chart drawn in the report's style by a package that keeps its
// own outcome beside results.json (the fault runs' recovery timelines): a
// title and subtitle over panels side by side, a caption along the bottom.
// Build its panels with NewPanel and colour series with TransportStyle, so
// the report reads as one.
type Figure struct {
	Title, Subtitle string
	Panels          []*plot.Plot
}

// NewPanel returns a plot styled as the report's own: sans-serif type with
// raster kerning mended, a grid, the legend at the top of the data area.
func NewPanel(title, xlabel, ylabel string) *plot.Plot { return newPanel(title, xlabel, ylabel) }

// TransportStyle is the colour and dash pattern (nil: solid) the report's
// plots draw transport with.
func TransportStyle(transport string) (color.Color, []vg.Length) {
	s := styles([]Config{{Transport: transport}})[transport]
	return s.color, s.dashes
}

// WriteFigure draws f into dir/name.png and its SVG twin dir/name.svg (name
// slash-separated, without extension), each written atomically. Call it
// after WritePlots, which removes every image under dir/plots it did not
// draw itself.
func WriteFigure(dir, name string, f Figure, caption string) error {
	// One chart for both formats: the first rendering makes room above the
	// data for the legend, the second reuses it.
	c := chart{name: name, title: f.Title, subtitle: f.Subtitle, panels: f.Panels}
	for _, ext := range []string{"png", "svg"} {
		b, err := c.render(ext, caption)
		if err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		if err := writeFileAtomic(filepath.Join(dir, filepath.FromSlash(name+"."+ext)), b); err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
	}
	return nil
}
