package results

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/pushbench/pushbench/contract"
)

// scaleRun is a scale step with round figures: p99 at p99ms, the server and
// generator holding srvKiB and genKiB per connection.
func scaleRun(tb testing.TB, tr string, clients int, p99ms int64, lost uint64, srvKiB, genKiB float64) Run {
	tb.Helper()
	h := hdrhistogram.New(1, 600e9, 3)
	for i := range 100 {
		v := int64(i+1) * p99ms * 1e6 / 99
		if err := h.RecordValue(v); err != nil {
			tb.Fatal(err)
		}
	}
	enc, err := EncodeHistogram(h)
	if err != nil {
		tb.Fatal(err)
	}
	r := Run{
		Scenario: "scale", Transport: contract.Transport(tr), Clients: clients, Rate: 0.5, Burst: 1, Payload: 64, DurationS: 6,
		EventsPublished: 4, Delivery: Delivery{Expected: 4 * uint64(clients), Delivered: 4*uint64(clients) - lost, Lost: lost},
		LatencyNS: LatencyOf(h), Histogram: enc,
		Connections: Connections{Attempted: uint64(clients), Established: uint64(clients), PeakConcurrent: int64(clients),
			ConnectP99NS: 2e6, ConnectRate: 1990},
		Server:  Process{BytesPerConn: srvKiB * 1024, HeapPerConn: srvKiB * 512},
		Loadgen: Process{BytesPerConn: genKiB * 1024, HeapPerConn: genKiB * 256},
		Idle:    &Idle{Seconds: 4, BytesIn: uint64(clients) * 40, BytesPerSecPerConn: 10},
	}
	if tr == "poll" {
		r.PollIntervalS = 2
	}
	return r
}

func scaleFixture(tb testing.TB) *Report {
	return &Report{
		Env:       Env{CPU: "Test CPU", Cores: 2, GoVersion: "go1.26", StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		Scenarios: []ScenarioInfo{{Name: "scale", Kind: contract.Scale, Description: "ramp", P99BoundS: 0.5}},
		Runs: []Run{
			scaleRun(tb, "poll", 1000, 2100, 0, 3, 6),
			scaleRun(tb, "poll", 19000, 2400, 0, 2, 5),
			scaleRun(tb, "sse", 1000, 20, 0, 12, 9),
			scaleRun(tb, "sse", 19000, 300, 7, 11, 9),
			scaleRun(tb, "ws", 1000, 15, 0, 20, 12),
			scaleRun(tb, "ws", 19000, 900, 0, 21, 18),
			scaleRun(tb, string(Floor), 19000, 90, 0, 3, 4),
		},
	}
}

func TestScaleReport(t *testing.T) {
	r := scaleFixture(t)
	golden(t, "scale.txt", render(t, NewScaleReport(r, "scale", DefaultScaleTargets, Text)))
	golden(t, "scale.md", render(t, NewScaleReport(r, "scale", DefaultScaleTargets, Markdown)))
	if got := render(t, NewScaleReport(r, "none", DefaultScaleTargets, Text)); len(got) != 0 {
		t.Fatalf("a scenario without runs rendered %q", got)
	}
}

func TestScalePlots(t *testing.T) {
	dir := t.TempDir()
	ps, err := WriteScalePlots(dir, scaleFixture(t), DefaultScaleTargets)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("plots %v, want memory and p99", ps)
	}
	for _, p := range ps {
		for _, f := range []string{p, p[:len(p)-len(".png")] + ".svg"} {
			if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil || st.Size() < 1000 {
				t.Fatalf("%s: %v", f, err)
			}
		}
	}
}

func TestClockReport(t *testing.T) {
	one := &Report{Runs: []Run{scaleRun(t, "sse", 10, 1, 0, 1, 1)}}
	golden(t, "clock_one.txt", render(t, NewClockReport(one, Text)))
	a := scaleRun(t, "sse", 10, 1, 0, 1, 1)
	b := a
	a.Shard = &Shard{Index: 0, Count: 2, Clients: 10, Host: "gen-a", Starter: true}
	a.Clock = &Clock{OffsetNS: 1500, ErrorNS: 250_000, Method: "test"}
	b.Shard = &Shard{Index: 1, Count: 2, Clients: 10, Host: "gen-b"}
	b.Clock = &Clock{OffsetNS: -3_000_000, ErrorNS: 400_000, Method: "test"}
	m, err := MergeRuns([]Run{a, b})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "clock_shards.md", render(t, NewClockReport(&Report{Runs: []Run{m}}, Markdown)))
}

func shardOf(r Run, i, n int, before, atStart uint64) Run {
	r.Shard = &Shard{Index: i, Count: n, Clients: r.Clients, StartAt: time.Unix(1_700_000_000, 0),
		ServerBefore: Memory{RSSBytes: before, HeapBytes: before / 2}, ServerAtStart: Memory{RSSBytes: atStart, HeapBytes: atStart / 2}}
	return r
}

func TestMergeRuns(t *testing.T) {
	a := shardOf(scaleRun(t, "sse", 100, 10, 0, 0, 8), 0, 2, 10<<20, 14<<20)
	b := shardOf(scaleRun(t, "sse", 300, 30, 2, 0, 4), 1, 2, 11<<20, 13<<20)
	m, err := MergeRuns([]Run{b, a})
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

	if _, err := MergeRuns([]Run{a}); !errors.Is(err, ErrShardsMissing) {
		t.Fatalf("one of two shards: %v", err)
	}
	c := b
	c.EventsPublished = 5
	if _, err := MergeRuns([]Run{a, c}); !errors.Is(err, ErrShardsDiffer) {
		t.Fatalf("other events: %v", err)
	}
	if _, err := MergeRuns([]Run{scaleRun(t, "sse", 1, 1, 0, 0, 0)}); !errors.Is(err, ErrNotShard) {
		t.Fatalf("not a shard: %v", err)
	}
}

func TestMergeReports(t *testing.T) {
	a := shardOf(scaleRun(t, "sse", 100, 10, 0, 0, 8), 0, 2, 10<<20, 14<<20)
	b := shardOf(scaleRun(t, "sse", 300, 30, 0, 0, 4), 1, 2, 11<<20, 13<<20)
	plain := scaleRun(t, "ws", 5, 1, 0, 0, 0)
	ra := &Report{Env: Env{Hostname: "gen-a"}, Runs: []Run{a, plain}, Notes: []string{"hello"}}
	rb := &Report{Env: Env{Hostname: "gen-b"}, Runs: []Run{b}}
	m, err := MergeReports([]*Report{rb, ra})
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
	if _, err := MergeReports([]*Report{ra}); !errors.Is(err, ErrShardsMissing) {
		t.Fatalf("a missing shard: %v", err)
	}
}
