package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pushbench/pushbench/results"
)

func init() {
	commands["report"] = command{"re-render DIR/report.md and DIR/plots from DIR/results.json", reportCmd}
}

// reportCmd loads DIR/results.json, rewrites DIR/report.md and DIR/plots/*
// and prints the tables. Reports are always rendered from results.json, so
// one can be re-rendered after a renderer changes, or on another machine,
// and say the same. (A --merge DIR... mode, combining sessions into one
// report, will add its flag here.)
func reportCmd(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: pushbench report DIR\n\nRe-renders DIR/%s and DIR/%s/ from DIR/%s and prints the tables.\n",
			results.ReportName, results.PlotsDir, results.FileName)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want exactly one directory")
	}
	dir := fs.Arg(0)
	r, err := results.Load(dir)
	if err != nil {
		return err
	}
	if err := results.WriteDir(dir, r); err != nil {
		return err
	}
	if err := results.NewTextReport(r)(os.Stdout); err != nil {
		return err
	}
	_, err = fmt.Printf("\nwrote %s\n", filepath.Join(dir, results.ReportName))
	return err
}
