package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/results"
)

func markdown(t *testing.T, r *results.Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := newMarkdownReport(r, nil)(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// summary returns the report's Summary section.
func summary(t *testing.T, r *results.Report) string {
	t.Helper()
	md := markdown(t, r)
	_, s, ok := strings.Cut(md, "## Summary\n")
	if !ok {
		t.Fatalf("no summary in\n%s", md)
	}
	return s
}

// TestSummaryFollowsData: the summary names whichever transport the data
// favours; nothing in it is written in advance.
func TestSummaryFollowsData(t *testing.T) {
	f := defaultFixture()
	before := summary(t, f.report(t))
	if !strings.Contains(before, "lowest p99: ws 1.33ms") || !strings.Contains(before, "Lowest p99: ws at 5,") {
		t.Fatalf("fixture summary does not favour ws:\n%s", before)
	}

	f.base["sse"], f.base["ws"] = f.base["ws"], f.base["sse"]
	after := summary(t, f.report(t))
	for _, want := range []string{"lowest p99: sse 1.33ms; ws 1.25×", "Lowest p99: sse at 5,"} {
		if !strings.Contains(after, want) {
			t.Errorf("with sse faster, summary lacks %q:\n%s", want, after)
		}
	}
	if strings.Contains(after, "lowest p99: ws") {
		t.Errorf("with sse faster, summary still names ws:\n%s", after)
	}

	// Make poll the fastest at one point only: the tally splits.
	f = defaultFixture()
	r := f.report(t)
	for i := range r.Runs {
		if run := &r.Runs[i]; run.Scenario == "saturation" && run.Rate == 500 && run.Transport == "sse" {
			run.LatencyNS.P99 = 1000
		}
	}
	if s := summary(t, r); !strings.Contains(s, "Lowest p99: ws at 4, sse at 1, of the 5 points") {
		t.Errorf("tally does not follow one changed run:\n%s", s)
	}
}

func TestSummaryTies(t *testing.T) {
	f := defaultFixture()
	f.base["sse"] = f.base["ws"]
	s := summary(t, f.report(t))
	for _, want := range []string{
		// Equal p99s share the lead...
		"lowest p99: sse and ws, within 1% of each other (1.33ms); poll 1s 1130× that",
		// ...while CPU, still different, is tallied.
		"Least server CPU per 1k deliveries: ws at 5, of the 5 points",
		// A figure every transport shares is stated as such.
		"deliveries/s: all 3 within 1% of each other (943)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	// Tied points leave the p99 tally; here none is left.
	if strings.Contains(s, "Lowest p99:") {
		t.Errorf("p99 tally counts tied points:\n%s", s)
	}
}

func TestCorrectnessFollowsData(t *testing.T) {
	f := defaultFixture()
	md := markdown(t, f.report(t))
	for _, want := range []string{
		"Not every client got every event exactly once and in order: 1 of 27 runs broke the guarantee, with 7 lost",
		"- fanout ws, 1,000 clients, 10/s, 64 B, run 2 of 2: 7 lost",
		"- Loss: fanout ws, 1,000 clients, 10/s, 64 B, run 2 of 2 lost 7 of 50,000 expected events.",
		"lowest p99: ws (lost 7 events) 2.41ms",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}

	f.lose = 0
	md = markdown(t, f.report(t))
	if want := "Every client got every event exactly once and in order in all 27 runs: 2,365,000 of 2,365,000 expected deliveries, 0 lost, 0 duplicated, 0 reordered, 0 malformed."; !strings.Contains(md, want) {
		t.Errorf("clean report lacks %q", want)
	}
	if strings.Contains(md, "Loss:") {
		t.Error("clean report flags loss")
	}

	r := f.report(t)
	r.Runs[3].Duplicates, r.Runs[3].Reordered, r.Runs[3].Malformed = 2, 1, 4
	r.Runs[3].Gaps, r.Runs[3].GapMissed = 1, 30
	md = markdown(t, r)
	for _, want := range []string{
		"- fanout tcp, 100 clients, 10/s, 64 B, run 1 of 2: 2 duplicated, 1 reordered, 4 malformed",
		"The server signalled 1 gaps standing for 30 events beyond its history, in 1 runs",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestMissingTransports: a report with one transport and no floor, or with
// no runs at all but capacity, renders and says what is missing.
func TestMissingTransports(t *testing.T) {
	r := defaultFixture().report(t)
	var sse []results.Run
	for _, run := range r.Runs {
		if run.Transport == "sse" {
			sse = append(sse, run)
		}
	}
	r.Runs = sse
	md := markdown(t, r)
	for _, want := range []string{
		"No transport ran beside a `tcp` floor run of the same configuration: nothing to compare with.",
		"lowest p99: sse",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("sse-only report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "## Polling trade-off") {
		t.Error("polling section without polling runs")
	}

	r.Runs = nil
	md = markdown(t, r)
	if !strings.Contains(md, "No delivery was measured.") || !strings.Contains(md, "| empty  |") {
		t.Errorf("capacity-only report:\n%s", md)
	}
	var buf bytes.Buffer
	if err := NewTextReport(r)(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := writePlots(t.TempDir(), r); err != nil {
		t.Fatal(err)
	}
}
