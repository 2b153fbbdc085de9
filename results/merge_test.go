package results_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pushbench/pushbench/internal/resultstest"
	"github.com/pushbench/pushbench/results"
)

func shardOf(r results.Run, i, n int, before, atStart uint64) results.Run {
	r.Shard = &results.Shard{Index: i, Count: n, Clients: r.Clients, StartAt: time.Unix(1_700_000_000, 0),
		ServerBefore: results.Memory{RSSBytes: before, HeapBytes: before / 2}, ServerAtStart: results.Memory{RSSBytes: atStart, HeapBytes: atStart / 2}}
	return r
}

func TestMergeRuns(t *testing.T) {
	a := shardOf(resultstest.ScaleRun(t, "sse", 100, 10, 0, 0, 8), 0, 2, 10<<20, 14<<20)
	b := shardOf(resultstest.ScaleRun(t, "sse", 300, 30, 2, 0, 4), 1, 2, 11<<20, 13<<20)
	m, err := results.MergeRuns([]results.Run{b, a})
	if err != nil {
		t.Fatal(err)
	}
	if m.Clients != 400 || m.Lost != 2 || m.Expected != 1600 || m.EventsPublished != 4 || m.LatencyNS.Count != 200 {
		t.Fatalf("merged %+v", m)
	}
	if m.Connections.PeakConcurrent != 400 || m.Idle.BytesIn != 400*40 || m.Idle.BytesPerSecPerConn != 10 {
		t.Fatalf("connections %+v idle %+v", m.Connections, m.Idle)
	}
	// Server: growth from the lowest before (10 MiB) to the highest at start
	// (14 MiB) over all 400 clients; generator: weighted by clients.
	if want := float64(4<<20) / 400; m.Server.BytesPerConn != want {
		t.Fatalf("server per conn %v, want %v", m.Server.BytesPerConn, want)
	}
	if want := (100*8.0 + 300*4.0) * 1024 / 400; m.Loadgen.BytesPerConn != want {
		t.Fatalf("loadgen per conn %v, want %v", m.Loadgen.BytesPerConn, want)
	}
	if m.LatencyNS.P99 < 29e6 { // the larger shard's tail dominates
		t.Fatalf("p99 %v", m.LatencyNS.P99)
	}

	if _, err := results.MergeRuns([]results.Run{a}); !errors.Is(err, results.ErrShardsMissing) {
		t.Fatalf("one of two shards: %v", err)
	}
	c := b
	c.EventsPublished = 5
	if _, err := results.MergeRuns([]results.Run{a, c}); !errors.Is(err, results.ErrShardsDiffer) {
		t.Fatalf("other events: %v", err)
	}
	if _, err := results.MergeRuns([]results.Run{resultstest.ScaleRun(t, "sse", 1, 1, 0, 0, 0)}); !errors.Is(err, results.ErrNotShard) {
		t.Fatalf("not a shard: %v", err)
	}
}

func TestMergeReports(t *testing.T) {
	a := shardOf(resultstest.ScaleRun(t, "sse", 100, 10, 0, 0, 8), 0, 2, 10<<20, 14<<20)
	b := shardOf(resultstest.ScaleRun(t, "sse", 300, 30, 0, 0, 4), 1, 2, 11<<20, 13<<20)
	plain := resultstest.ScaleRun(t, "ws", 5, 1, 0, 0, 0)
	ra := &results.Report{Env: results.Env{Hostname: "gen-a"}, Runs: []results.Run{a, plain}, Notes: []string{"hello"}}
	rb := &results.Report{Env: results.Env{Hostname: "gen-b"}, Runs: []results.Run{b}}
	m, err := results.MergeReports([]*results.Report{rb, ra})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Runs) != 2 || m.Runs[1].Clients != 400 || m.Runs[0].Transport != "ws" {
		t.Fatalf("runs %+v", m.Runs)
	}
	if m.Settings.Extra["shards"] != "2 reports merged, hosts gen-b, gen-a" || len(m.Notes) != 1 {
		t.Fatalf("settings %v notes %v", m.Settings.Extra, m.Notes)
	}
	if err := m.Save(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := results.MergeReports([]*results.Report{ra}); !errors.Is(err, results.ErrShardsMissing) {
		t.Fatalf("a missing shard: %v", err)
	}
}
