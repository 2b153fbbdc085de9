package report_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/browser"
	"github.com/pushbench/pushbench/proxy"
	"github.com/pushbench/pushbench/report"
	"github.com/pushbench/pushbench/results"
)

// TestReferenceReportsRerender re-renders the committed reference reports
// from their results.json, with the browser and proxy sections and the plots
// their directories hold, and wants report.md byte for byte: a renderer
// change that alters a published report shows here, as a failing test, not
// as a diff nobody reads in the next benchmark's commit.
func TestReferenceReportsRerender(t *testing.T) {
	for _, name := range []string{"reference", "reference-faults", "reference-scale"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "results", name)
			r, err := results.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			plots, err := report.PlotNames(r)
			if err != nil {
				t.Fatal(err)
			}
			if held := heldPlots(t, dir); !slices.Equal(held, sorted(plots)) {
				t.Fatalf("%s holds plots %q, the report draws %q", dir, held, plots)
			}
			var got bytes.Buffer
			if err := report.NewMarkdownReport(r, plots, sections(t, dir)...)(&got); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, report.ReportName))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				line, g, w := firstDiff(got.String(), string(want))
				t.Errorf("%s/%s re-renders differently from line %d:\n got: %s\nwant: %s", dir, report.ReportName, line, g, w)
			}
		})
	}
}

// sections are the browser and proxy outcomes dir holds, in the order
// `pushbench report` renders them, with the facts they give the verdict.
func sections(t *testing.T, dir string) []report.Section {
	t.Helper()
	var out []report.Section
	if bo, err := browser.Load(dir); err == nil {
		out = append(out, bo)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if po, err := proxy.Load(dir); err == nil {
		out = append(out, po)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// heldPlots lists the PNGs under dir/plots, relative to dir and sorted,
// each with its SVG twin.
func heldPlots(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, report.PlotsDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || filepath.Ext(p) != ".png" {
			return err
		}
		if _, err := os.Stat(strings.TrimSuffix(p, ".png") + ".svg"); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// firstDiff returns the first line where got and want differ, 1-based, and
// both versions of it.
func firstDiff(got, want string) (int, string, string) {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return i + 1, a, b
		}
	}
	return 0, "", ""
}

// TestReferenceVerdictFirstScreen: each committed reference report opens
// with its verdict, which ends within the first screen (40 lines).
func TestReferenceVerdictFirstScreen(t *testing.T) {
	for _, name := range []string{"reference", "reference-faults", "reference-scale"} {
		b, err := os.ReadFile(filepath.Join("..", "results", name, report.ReportName))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		verdict, setup := slices.Index(lines, "## Verdict"), slices.Index(lines, "## Setup")
		if verdict < 0 || verdict > 5 || setup < verdict || setup > 40 {
			t.Errorf("%s: verdict on lines %d to %d, want it first and within 40 lines", name, verdict+1, setup)
		}
	}
}
