package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
	"github.com/pushbench/pushbench/servers"
)

// shardRun is what one load generator records for the trackers it holds:
// the delivery account and the latency histogram, as Measure fills them.
func shardRun(t testing.TB, trackers []*loadgen.Tracker, lat *loadgen.Latency, head uint64, sh *results.Shard) results.Run {
	t.Helper()
	var c loadgen.Counts
	for _, tr := range trackers {
		c = c.Add(tr.Counts(head))
	}
	h := lat.Snapshot()
	enc, err := results.EncodeHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	return results.Run{
		Transport: contract.SSE, Clients: len(trackers), Rate: 10, Burst: 1, Payload: 64, DurationS: 1,
		EventsPublished: head, Delivery: c.Delivery,
		LatencyNS: results.LatencyOf(h), Histogram: enc, Shard: sh,
	}
}

// Merging shards' results gives exactly what one load generator holding
// every client records for the same events: the same counts and the same
// histogram, so the same percentiles to the nanosecond.
func TestMergedShardsEqualOneProcessOnTheSameEvents(t *testing.T) {
	const clients, shards, events = 90, 3, 200
	rng := rand.New(rand.NewPCG(1, 2))
	one := loadgen.NewLatency()
	all := make([]*loadgen.Tracker, clients)
	perShard := make([][]*loadgen.Tracker, shards)
	lats := make([]*loadgen.Latency, shards)
	for i := range lats {
		lats[i] = loadgen.NewLatency()
	}
	for i := range all {
		all[i] = loadgen.NewTracker(0, one, i)
		s := i % shards
		perShard[s] = append(perShard[s], loadgen.NewTracker(0, lats[s], i))
	}
	start := time.Unix(1_700_000_000, 0)
	for seq := uint64(1); seq <= events; seq++ {
		at := start.Add(time.Duration(seq) * 100 * time.Millisecond).UnixNano()
		for i := range all {
			if seq == 150 && i%7 == 0 {
				continue // lost, on both sides
			}
			// A wide, skewed spread, so percentiles fall in many buckets.
			arrive := at + int64(rng.ExpFloat64()*float64(2*time.Millisecond)) + int64(i)*1000
			all[i].Event(event.Header{Seq: seq, At: at}, arrive)
			perShard[i%shards][i/shards].Event(event.Header{Seq: seq, At: at}, arrive)
		}
	}
	single := shardRun(t, all, one, events, nil)
	var runs []results.Run
	for s := range shards {
		runs = append(runs, shardRun(t, perShard[s], lats[s], events, &results.Shard{Index: s, Count: shards, Clients: len(perShard[s])}))
	}
	// Shards arrive in any order.
	runs[0], runs[2] = runs[2], runs[0]
	merged, err := results.MergeRuns(runs)
	if err != nil {
		t.Fatal(err)
	}
	if merged.Clients != single.Clients || merged.Expected != single.Expected ||
		merged.Delivered != single.Delivered || merged.Lost != single.Lost || merged.Lost == 0 {
		t.Fatalf("counts: merged %+v\nsingle %+v", merged, single)
	}
	if merged.LatencyNS != single.LatencyNS {
		t.Fatalf("percentiles: merged %+v, single %+v", merged.LatencyNS, single.LatencyNS)
	}
	hm, err := merged.DecodeHistogram()
	if err != nil {
		t.Fatal(err)
	}
	hs, err := single.DecodeHistogram()
	if err != nil {
		t.Fatal(err)
	}
	if !hm.Equals(hs) {
		t.Fatal("merged histogram differs from the single process's")
	}
}

// Two shards against one server: each connects its share, waits for the
// agreed instant, shard 0 starts the schedule, and both measure exactly the
// same events; the merge adds up to every client getting every event.
func TestShardsShareOneScheduleAndMerge(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
	hub := servers.NewHub(nil)
	srv, err := servers.New(hub, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})

	const shards, clients = 2, 60
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard
	defer cancel()
	// The agreed start leaves each shard StartAt-ShardMargin to connect
	// its 30 clients: generous on a busy core under -race, as the drain is.
	startAt := time.Now().Add(ShardMargin + 3*time.Second)
	runs := make([]results.Run, shards)
	errs := make([]error, shards)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Go(func() {
			runs[i], errs[i] = Measure(ctx, Target{Stream: hs.URL, Control: Control{Base: hs.URL}}, Plan{
				Load: Load{
					Transport: []contract.Transport{contract.SSE, contract.WS}[i], Clients: clients / shards,
					Schedule: contract.Schedule{Rate: 20, Payload: 64},
					Warmup:   300 * time.Millisecond,
					// Events at 0, 50, …, 950 ms: the 300 ms warm-up
					// boundary falls on one, on the server's clock.
					Duration: 700 * time.Millisecond,
				},
				Drain: hangGuard,
				Shard: &Shard{Index: i, Count: shards, StartAt: startAt, Starter: i == 0},
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	// The transports differ only to show that shards need not share one;
	// a merge must refuse that, so relabel before merging.
	runs[1].Transport = runs[0].Transport
	for i := range runs {
		r := runs[i]
		if r.EventsPublished != 20 || r.Lost != 0 || r.Delivered != 20*clients/shards {
			t.Fatalf("shard %d: published %d, delivered %d, lost %d", i, r.EventsPublished, r.Delivered, r.Lost)
		}
		// 14 events are at or after the warm-up boundary (300 ms … 950 ms).
		if r.LatencyNS.Count != 14*clients/shards {
			t.Fatalf("shard %d measured %d latencies, want %d", i, r.LatencyNS.Count, 14*clients/shards)
		}
		if r.Shard == nil || r.Shard.ServerAtStart.RSSBytes == 0 || r.Shard.Starter != (i == 0) {
			t.Fatalf("shard %d: %+v", i, r.Shard)
		}
	}
	m, err := results.MergeRuns(runs)
	if err != nil {
		t.Fatal(err)
	}
	if m.Clients != clients || m.Delivered != 20*clients || m.Expected != 20*clients || m.LatencyNS.Count != 14*clients {
		t.Fatalf("merged: %d clients, %d/%d delivered, %d latencies", m.Clients, m.Delivered, m.Expected, m.LatencyNS.Count)
	}
	if len(m.Shards) != shards || m.Shard != nil {
		t.Fatalf("merged shards %+v", m.Shards)
	}
}

// A shard that cannot be ready before the agreed start refuses to run.
func TestShardRefusesAPassedStart(t *testing.T) {
	_, err := Measure(context.Background(), Target{Stream: "http://127.0.0.1:1", Control: Control{Base: "http://127.0.0.1:1"}}, Plan{
		Load:  Load{Transport: contract.SSE, Clients: 1, Schedule: contract.Schedule{Rate: 1}},
		Shard: &Shard{Count: 1, StartAt: time.Now()},
	})
	if err == nil || !errors.Is(err, ErrStartPassed) {
		t.Fatalf("err = %v, want ErrStartPassed", err)
	}
}

func TestScheduleCount(t *testing.T) {
	for _, c := range []struct {
		rate  float64
		burst int
		d     time.Duration
		want  uint64
	}{
		{0.5, 1, 8 * time.Second, 4}, // 0, 2, 4, 6 s
		{20, 1, time.Second, 20},
		{10, 4, time.Second, 12}, // bursts at 0, 0.4, 0.8 s
		{1, 1, 100 * time.Millisecond, 1},
	} {
		if got := ScheduleCount(c.rate, c.burst, c.d); got != c.want {
			t.Errorf("ScheduleCount(%g, %d, %v) = %d, want %d", c.rate, c.burst, c.d, got, c.want)
		}
	}
}

// On one host the offset is zero, so the estimate's interval must hold it;
// a server whose clock is 2.5 s ahead must be found 2.5 s ahead.
func TestEstimateClock(t *testing.T) {
	t.Parallel()
	for _, ahead := range []time.Duration{0, 2500 * time.Millisecond} {
		t.Run(ahead.String(), func(t *testing.T) {
			t.Parallel()
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if ahead != 0 {
					w.Header().Set("Date", time.Now().Add(ahead).UTC().Format(http.TimeFormat))
				}
			}))
			defer hs.Close()
			c, err := EstimateClock(context.Background(), hs.URL, hs.Client())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("offset %v ± %v", time.Duration(c.OffsetNS), time.Duration(c.ErrorNS))
			// The bound is about one round trip; only a machine that
			// stalled for over a second between two probes in every round
			// could leave it as wide as one Date header's resolution
			// (±500 ms), which the method exists to beat: a hang guard,
			// not a measurement.
			if c.ErrorNS <= 0 || c.ErrorNS >= int64(500*time.Millisecond) {
				t.Fatalf("error bound %v: no better than one Date header's ±500ms (hung, or the method is broken)", time.Duration(c.ErrorNS))
			}
			if d := c.OffsetNS - int64(ahead); d < -c.ErrorNS || d > c.ErrorNS {
				t.Fatalf("offset %v ± %v does not hold %v", time.Duration(c.OffsetNS), time.Duration(c.ErrorNS), ahead)
			}
		})
	}
}
