// Package report turns results.json into what people read: report.md with
// its plots, the terminal tables, and the verdicts in them (the verdict on
// top, the summary, the targets, each fault's recovery); and it compares two
// sessions' results configuration by configuration, for CI. Every sentence
// and figure is computed from a results.Report when it is rendered, never
// stored, so a report re-rendered after a renderer changes, or on another
// machine, says what the data says; and because rendering lives here, above
// the schema, the load generator that fills results.Report links no table or
// plot library.
package report

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"

	"github.com/pushbench/pushbench/internal/atomicfile"
	"github.com/pushbench/pushbench/results"
)

// ReportName is the name of the Markdown report inside a report's
// directory.
const ReportName = "report.md"

// PlotsDir is the directory, inside a report's, that WriteDir fills with the plots report.md embeds.
const PlotsDir = "plots"

// Reporter renders something to w. Every table, the report and the text
// summary are Reporters, so a new output format is one function.
type Reporter func(w io.Writer) error

// Report renders to w.
func (r Reporter) Report(w io.Writer) error { return r(w) }

// WriteDir renders r into dir: the plots under dir/plots and dir/report.md
// embedding them, with sections (such as the real-browser or reverse-proxy
// outcomes, which live in their own packages and files) before the
// correctness statement, and their facts weighed in the verdict. It does
// not write results.json: results.Report.Save does.
func WriteDir(dir string, r *results.Report, sections ...Section) error {
	plots, err := writePlots(dir, r)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := newMarkdownReport(r, plots, sections...)(&buf); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, ReportName), buf.Bytes())
}

// errWriter keeps the first error, so the report reads as a sequence of
// writes rather than a ladder of checks (the errWriter of "Errors are
// values").
type errWriter struct {
	w   io.Writer
	err error
}

func (m *errWriter) printf(format string, args ...any) {
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, format, args...)
	}
}

func (m *errWriter) table(rep Reporter) {
	if m.err == nil {
		m.err = rep(m.w)
	}
}
