package main

import (
	"errors"
	"io"
	"io/fs"

	"github.com/pushbench/pushbench/browser"
	"github.com/pushbench/pushbench/faults"
	"github.com/pushbench/pushbench/proxy"
	"github.com/pushbench/pushbench/results"
)

// sections are the report sections measured by their own subcommands and
// stored beside results.json (browser.json, proxy.json, faults.json): whichever a report
// directory holds is rendered into its report.md.
func sections(dir string) ([]results.Reporter, error) {
	var out []results.Reporter
	bo, err := browser.Load(dir)
	switch {
	case err == nil:
		out = append(out, bo.WriteMarkdown)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	po, err := proxy.Load(dir)
	switch {
	case err == nil:
		out = append(out, po.WriteMarkdown)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	fo, err := faults.Load(dir)
	switch {
	case err == nil:
		// Drawn while the section renders: WriteDir first removes every
		// image under dir/plots that it did not draw itself.
		out = append(out, func(w io.Writer) error {
			if _, err := fo.WritePlots(dir); err != nil {
				return err
			}
			return fo.WriteMarkdown(w)
		})
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return out, nil
}
