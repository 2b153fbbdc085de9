package main

import (
	"errors"
	"io/fs"

	"github.com/pushbench/pushbench/browser"
	"github.com/pushbench/pushbench/proxy"
	"github.com/pushbench/pushbench/report"
)

// sections are the report sections measured by their own subcommands and
// stored beside results.json (browser.json, proxy.json): whichever a report
// directory holds is rendered into its report.md, and what it found is
// weighed in the verdict (each outcome is a report.FactSource). Fault runs
// are scenarios of the matrix, so they are in results.json itself.
func sections(dir string) ([]report.Section, error) {
	var out []report.Section
	bo, err := browser.Load(dir)
	switch {
	case err == nil:
		out = append(out, bo)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	po, err := proxy.Load(dir)
	switch {
	case err == nil:
		out = append(out, po)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return out, nil
}
