package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pushbench/pushbench/report"
	"github.com/pushbench/pushbench/results"
)

func init() {
	commands["report"] = command{"re-render DIR/report.md and DIR/plots from DIR/results.json, or merge shards' results (--merge)", reportCmd}
}

// reportCmd loads DIR/results.json, rewrites DIR/report.md and DIR/plots/*
// and prints the tables. Reports are always rendered from results.json, so
// one can be re-rendered after a renderer changes, or on another machine,
// and say the same. With --merge it first merges the results.json of every
// DIR, each written by one shard of the same runs (`pushbench run --shard
// I/N --out DIR`), into --out/results.json: counts add and histograms merge,
// so the merged percentiles are exact.
func reportCmd(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	merge := fs.Bool("merge", false, "merge the shards' results in every DIR into --out, then render that")
	out := fs.String("out", "", "with --merge: the directory to write the merged report to (default: merged)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: pushbench report DIR\n       pushbench report --merge [--out OUT] DIR...\n\n"+
			"Re-renders DIR/%s and DIR/%s/ from DIR/%s and prints the tables; with --merge, merges\n"+
			"the shards' DIR/%s files into OUT first.\n", report.ReportName, report.PlotsDir, results.FileName, results.FileName)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var dir string
	var r *results.Report
	switch {
	case *merge:
		if fs.NArg() == 0 {
			fs.Usage()
			return errors.New("--merge wants the shards' directories")
		}
		var reps []*results.Report
		for _, d := range fs.Args() {
			rep, err := results.Load(d)
			if err != nil {
				return err
			}
			reps = append(reps, rep)
		}
		merged, err := results.MergeReports(reps)
		if err != nil {
			return err
		}
		dir, r = *out, merged
		if dir == "" {
			dir = "merged"
		}
		if err := r.Save(dir); err != nil {
			return err
		}
	case fs.NArg() != 1:
		fs.Usage()
		return errors.New("want exactly one directory")
	default:
		dir = fs.Arg(0)
		rep, err := results.Load(dir)
		if err != nil {
			return err
		}
		r = rep
	}
	if err := render(dir, r); err != nil {
		return err
	}
	_, err := fmt.Printf("\nwrote %s\n", filepath.Join(dir, report.ReportName))
	return err
}

// render writes dir/report.md and dir/plots from r and the sections stored
// beside it, and prints the text report.
func render(dir string, r *results.Report) error { return renderTo(os.Stdout, dir, r) }

// renderTo is render printing to w. The text report weighs the same
// sections as report.md, so both verdicts read the browser's and the
// proxy's lines.
func renderTo(w io.Writer, dir string, r *results.Report) error {
	secs, err := sections(dir)
	if err != nil {
		return err
	}
	if err := report.WriteDir(dir, r, secs...); err != nil {
		return err
	}
	return report.NewTextReport(r, secs...)(w)
}
