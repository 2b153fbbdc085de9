package report

import (
	"testing"

	"github.com/pushbench/pushbench/internal/resultstest"
	"github.com/pushbench/pushbench/results"
)

func TestClockReport(t *testing.T) {
	one := &results.Report{Runs: []results.Run{resultstest.ScaleRun(t, "sse", 10, 1, 0, 1, 1)}}
	golden(t, "clock_one.txt", render(t, newClockReport(one, styleText)))
	a := resultstest.ScaleRun(t, "sse", 10, 1, 0, 1, 1)
	b := a
	a.Shard = &results.Shard{Index: 0, Count: 2, Clients: 10, Host: "gen-a", Starter: true}
	a.Clock = &results.Clock{OffsetNS: 1500, ErrorNS: 250_000, Method: "test"}
	b.Shard = &results.Shard{Index: 1, Count: 2, Clients: 10, Host: "gen-b"}
	b.Clock = &results.Clock{OffsetNS: -3_000_000, ErrorNS: 400_000, Method: "test"}
	m, err := results.MergeRuns([]results.Run{a, b})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "clock_shards.md", render(t, newClockReport(&results.Report{Runs: []results.Run{m}}, styleMarkdown)))
}
