package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pushbench/pushbench/bench"
	"github.com/pushbench/pushbench/report"
	"github.com/pushbench/pushbench/results"
	"github.com/pushbench/pushbench/scenarios"
)

func init() {
	commands["bench"] = command{"run a scenario matrix and write results.json, report.md and plots", benchCmd}
}

func benchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	matrix := fs.String("matrix", "default", "scenario matrix: default, quick, scale or faults (see scenarios/matrix.go)")
	only := fs.String("scenarios", "", "comma-separated scenario names to run (default: all in the matrix)")
	out := fs.String("out", "", "output directory (default: results/<UTC time>)")
	pin := fs.Bool("pin", bench.PinByDefault, "pin the server to CPU 0 and the load generator to the other CPUs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := scenarios.Lookup(*matrix)
	if err != nil {
		return err
	}
	if *only != "" {
		if m, err = m.Select(strings.Split(*only, ",")); err != nil {
			return err
		}
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("results", time.Now().UTC().Format("20060102-150405"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	prog := newProgress(os.Stderr, len(m.Cases()))
	rep, runErr := bench.RunMatrix(ctx, *matrix, m, bench.Options{Pin: *pin, Progress: prog})
	prog.close()

	// Whatever ran is saved and rendered, even after an interruption.
	if len(rep.Runs) == 0 && len(rep.Capacity) == 0 && len(rep.Faults) == 0 {
		return errors.Join(runErr, errors.New("no run completed"))
	}
	if err := rep.Save(dir); err != nil {
		return errors.Join(runErr, err)
	}
	if err := render(dir, rep); err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Printf("\nwrote %s and %s\n", filepath.Join(dir, results.FileName), filepath.Join(dir, report.ReportName))
	return runErr
}
