package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pushbench/pushbench/report"
	"github.com/pushbench/pushbench/results"
)

func init() {
	commands["compare"] = command{"compare two runs' results per configuration and figure; exit 1 when a significant change crosses a threshold", compareCmd}
}

// errRegression is compare's error when a threshold failed: the command
// exits 1.
var errRegression = errors.New("regression")

// compareCmd compares OLD with NEW, prints the change of every figure of
// every configuration with its significance, and fails when a threshold
// fails (report.Compare has the rules).
func compareCmd(_ context.Context, args []string) error { return compare(args, os.Stdout) }

// compare is compareCmd writing to w.
func compare(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	md := fs.Bool("markdown", false, "write Markdown instead of text tables")
	var failOn []string
	fs.Func("fail-on", "thresholds, comma-separated or repeated, as k6 writes them: p99>+10%, deliveries/s<-5%, p99>50ms, lost>0; \"none\" for none (default "+report.DefaultFailOn+")",
		func(s string) error { failOn = append(failOn, s); return nil })
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: pushbench compare [--markdown] [--fail-on THRESHOLDS] OLD NEW

Compares two benchmark sessions configuration by configuration, from the
per-run figures their results.json files record. OLD and NEW are each a
results.json file, a directory holding one, or a directory of such
directories (several sessions, whose runs of one configuration are then
its repetitions). Exits 1, naming the configurations, when a significant
change crosses a threshold (lost, duplicated and reordered need no
significance), and 0 when none did.

A relative threshold (p99>+10%%) fails on a change the Mann-Whitney U test
finds significant (p <= %g) where both sides have 4 runs or more, or, with
fewer, on a change beyond the run-to-run spread both files show for that
figure. An absolute one (p99>50ms, mem/conn>16KiB, lost>0) fails on the
new figure alone.

metrics:
%s

`, report.Alpha, report.MetricsUsage())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("want OLD and NEW")
	}
	spec := report.DefaultFailOn
	if len(failOn) > 0 {
		spec = strings.Join(failOn, ",")
	}
	thresholds, err := report.ParseThresholds(spec)
	if err != nil {
		return err
	}
	old, err := results.LoadSessions(fs.Arg(0))
	if err != nil {
		return err
	}
	new, err := results.LoadSessions(fs.Arg(1))
	if err != nil {
		return err
	}
	c := report.Compare(old, new, thresholds)
	if err := report.NewCompareReport(c, *md, fs.Arg(0), fs.Arg(1))(w); err != nil {
		return err
	}
	if c.Failed() {
		return fmt.Errorf("%w in %s", errRegression, names(c.FailedConfigs()))
	}
	return nil
}

// names lists configurations for an error message: the first few, then
// how many more the output above lists.
func names(cs []string) string {
	const shown = 5
	if len(cs) <= shown {
		return strings.Join(cs, "; ")
	}
	return fmt.Sprintf("%s; and %d more (listed above)", strings.Join(cs[:shown], "; "), len(cs)-shown)
}
