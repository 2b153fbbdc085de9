package plotkit

import (
	"image/color"
	stddraw "image/draw"
	"math"
	"strings"

	xfont "golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The charts' type: Liberation Sans, which gonum embeds, so an image looks
// the same whatever fonts the machine that drew it has.
var (
	Sans     = font.Font{Typeface: "Liberation", Variant: "Sans"}
	sansBold = font.Font{Typeface: "Liberation", Variant: "Sans", Weight: xfont.WeightBold}
)

// TextStyle is f at size in colour c, drawn by textHandler.
func TextStyle(f font.Font, size vg.Length, c color.Color) text.Style {
	return text.Style{Font: font.From(f, size), Color: c, Handler: textHandler}
}

// textHandler draws every text of the charts: gonum's plain-text handler,
// with kerning mended in raster images.
var textHandler text.Handler = rasterKerning{text.Plain{Fonts: plot.DefaultTextHandler.Cache()}}

// rasterKerning is text.Plain with the kerning of raster images fixed.
//
// Subtleness ahead. A PNG's text is drawn by x/image's opentype.Face, whose
// Kern passes the font's units per em where the size in pixels belongs, so
// every kerning pair comes back in font units/64 pixels, whatever the size
// (golang/go#46727). In Liberation Sans, "space A" kerns by -113 units: at
// 8 pt that is -1.77 px of a 2.2 pt space, so the caption's "Measured on
// AMD" printed as "Measured onAMD", and "AV", "Te" and the like crowd
// together. Widths are right, as gonum measures them with the font's own
// scale, so text is drawn one run at a time, split at every kerning pair
// and placed at its measured offset: within a run no pair kerns, and
// between runs the kerning is gonum's, correctly scaled. SVG and other
// vector formats leave kerning to the viewer and go through text.Plain
// unchanged.
type rasterKerning struct{ text.Plain }

func (h rasterKerning) Draw(c vg.Canvas, txt string, sty text.Style, pt vg.Point) {
	if !raster(c) {
		h.Plain.Draw(c, txt, sty, pt)
		return
	}
	// As text.Plain.Draw, with FillString replaced by fillKerned.
	txt = strings.TrimRight(txt, "\n")
	if txt == "" {
		return
	}
	fnt := h.Fonts.Lookup(sty.Font, sty.Font.Size)
	c.SetColor(sty.Color)
	if sty.Rotation != 0 {
		c.Push()
		c.Rotate(sty.Rotation)
	}
	sin64, cos64 := math.Sincos(sty.Rotation)
	sin, cos := vg.Length(sin64), vg.Length(cos64)
	pt.X, pt.Y = pt.Y*sin+pt.X*cos, pt.Y*cos-pt.X*sin
	lines := h.Lines(txt)
	pt.Y += sty.Height(txt)*vg.Length(sty.YAlign) - fnt.Extents().Ascent
	for i, line := range lines {
		xoffs := vg.Length(sty.XAlign) * fnt.Width(line)
		n := vg.Length(len(lines) - i)
		fillKerned(c, fnt, pt.Add(vg.Point{X: xoffs, Y: n * sty.Font.Size}), line)
	}
	if sty.Rotation != 0 {
		c.Pop()
	}
}

// raster reports whether c draws into an image (vgimg) rather than a
// vector format.
func raster(c vg.Canvas) bool {
	for {
		switch v := c.(type) {
		case *draw.Canvas:
			c = v.Canvas
		case draw.Canvas:
			c = v.Canvas
		case interface{ Image() stddraw.Image }:
			return true
		default:
			return false
		}
	}
}

// fillKerned draws line at pt a run at a time, splitting it before every
// glyph the font kerns against the one before it.
func fillKerned(c vg.Canvas, f font.Face, pt vg.Point, line string) {
	var buf sfnt.Buffer
	ppem := fixed.Int26_6(f.Face.UnitsPerEm())
	start, prev := 0, sfnt.GlyphIndex(0)
	for i, r := range line {
		g, err := f.Face.GlyphIndex(&buf, r)
		if err != nil {
			g = 0 // drawn as .notdef either way
		}
		if i > 0 {
			if k, err := f.Face.Kern(&buf, prev, g, ppem, xfont.HintingNone); err == nil && k != 0 {
				c.FillString(f, pt.Add(vg.Point{X: f.Width(line[:start])}), line[start:i])
				start = i
			}
		}
		prev = g
	}
	c.FillString(f, pt.Add(vg.Point{X: f.Width(line[:start])}), line[start:])
}
