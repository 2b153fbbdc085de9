package plotkit

import (
	"image/color"
	stddraw "image/draw"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"
	"gonum.org/v1/plot/vg/vgimg"
)

// rasterRecorder records drawing like a raster canvas: it has the Image
// method of vgimg's canvases.
type rasterRecorder struct{ *recorder.Canvas }

func (rasterRecorder) Image() stddraw.Image { return nil }

// TestRasterKerning: in images, text is drawn in runs split at kerning
// pairs, each placed at its measured offset, so x/image's unscaled kerning
// never applies; vector formats get the string whole.
func TestRasterKerning(t *testing.T) {
	const txt = "Measured on AMD"
	sty := TextStyle(Sans, 8, color.Black)
	fills := func(raster bool) []*recorder.FillString {
		rec := new(recorder.Canvas)
		var c vg.Canvas = rec
		if raster {
			c = rasterRecorder{rec}
		}
		dc := draw.NewCanvas(c, 100, 20)
		dc.FillText(sty, vg.Point{X: 10, Y: 5}, txt)
		var out []*recorder.FillString
		for _, a := range rec.Actions {
			if f, ok := a.(*recorder.FillString); ok {
				out = append(out, f)
			}
		}
		return out
	}
	vector := fills(false)
	if len(vector) != 1 || vector[0].String != txt {
		t.Errorf("vector canvas: %+v, want %q whole", vector, txt)
	}
	runs := fills(true)
	var got []string
	for _, f := range runs {
		got = append(got, f.String)
	}
	// Liberation Sans kerns "space A".
	if strings.Join(got, "|") != "Measured on |AMD" {
		t.Fatalf("raster runs %q, want split before the kerned A", got)
	}
	face := textHandler.Cache().Lookup(sty.Font, sty.Font.Size)
	if dx := runs[1].Point.X - runs[0].Point.X; math.Abs(float64(dx-face.Width("Measured on "))) > 1e-9 {
		t.Errorf("second run %v after the first, want the measured width %v", dx, face.Width("Measured on "))
	}
}

// TestRasterSpace: the caption's "on AMD" shows its space in a PNG, as
// drawn at the plots' 96 dpi: 3 blank pixel columns between the n and the
// A, where x/image's kerning left 2, which reads as no space at all.
func TestRasterSpace(t *testing.T) {
	c := vgimg.New(60, 20)
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	dc.FillText(TextStyle(Sans, 8, color.Black), vg.Point{X: 2, Y: 5}, "n A")
	img := c.Image()
	b := img.Bounds()
	inked := func(x int) bool {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			if r, _, _, _ := img.At(x, y).RGBA(); r < 0xf000 {
				return true
			}
		}
		return false
	}
	gap, widest, seen := 0, 0, false
	for x := b.Min.X; x < b.Max.X; x++ {
		switch {
		case inked(x):
			if seen {
				widest = max(widest, gap)
			}
			seen, gap = true, 0
		case seen:
			gap++
		}
	}
	if widest < 3 {
		t.Errorf("widest blank run inside \"n A\" is %d px, want at least 3", widest)
	}
}
