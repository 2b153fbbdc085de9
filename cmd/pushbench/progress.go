package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/pushbench/pushbench/bench"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress shows a long benchmark's state: which case runs, how many are
// done, and how long the current one has left. On a terminal it draws bars;
// elsewhere (CI, a pipe) it prints one line per case, so logs stay readable.
type progress interface {
	bench.Progress
	// close waits for the display to finish.
	close()
}

func newProgress(w *os.File, total int) progress {
	if fi, err := w.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return newBars(w, total)
	}
	return &lines{w: w}
}

// lines is the progress of a non-terminal: a line as each case starts and ends.
type lines struct {
	w     io.Writer
	name  string
	began time.Time
}

func (l *lines) Start(i, n int, name string, d time.Duration) {
	l.name, l.began = name, time.Now()
	fmt.Fprintf(l.w, "[%d/%d] %s (publishing %v)\n", i, n, name, d)
}
func (l *lines) Tick(time.Duration) {}
func (l *lines) Done(outcome string) {
	fmt.Fprintf(l.w, "       %s: %s in %v\n", l.name, outcome, time.Since(l.began).Round(100*time.Millisecond))
}
func (l *lines) close() {}

// bars is the terminal progress: one bar for the matrix, one for the case.
type bars struct {
	p     *mpb.Progress
	all   *mpb.Bar
	mu    sync.Mutex
	name  string
	cur   *mpb.Bar
	total time.Duration
}

func newBars(w io.Writer, total int) *bars {
	b := &bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))}
	b.all = b.p.AddBar(int64(total),
		mpb.PrependDecorators(decor.Name("matrix", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d cases")),
		mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO)),
	)
	return b
}

func (b *bars) Start(i, n int, name string, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.name, b.total = name, d
	b.cur = b.p.AddBar(d.Milliseconds(),
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return name }, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string {
			left := time.Duration(s.Total-s.Current) * time.Millisecond
			return fmt.Sprintf("%v left", left.Round(100*time.Millisecond))
		})),
	)
}

func (b *bars) Tick(elapsed time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil {
		b.cur.SetCurrent(min(elapsed.Milliseconds(), b.total.Milliseconds()))
	}
}

func (b *bars) Done(outcome string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil {
		b.cur.SetTotal(-1, true) // complete and remove
		b.cur = nil
	}
	fmt.Fprintf(b.p, "%s: %s\n", b.name, outcome)
	b.all.Increment()
}

func (b *bars) close() {
	if !b.all.Completed() { // an interrupted matrix: let Wait return
		b.all.Abort(false)
	}
	b.p.Wait()
}
