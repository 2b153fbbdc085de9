package results_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/results"
)

// A report of load runs alone is a report: it saves, loads back unchanged
// (histograms included), and its JSON has the names the issue lists, with
// errors present even when there were none.
func TestLoadRunsRoundTrip(t *testing.T) {
	want := &results.Report{Loads: []results.LoadRun{{
		URL: "http://example.test/events", Transport: "sse", Clients: 2, RampS: 1, DurationS: 10,
		EventsReceived: 40, EventsPerClient: results.MinMax{Min: 20, Max: 20}, EventsPerSec: 4,
		ConnectNS:      results.Latency{P50: 1, P90: 2, P99: 3, Max: 4, Count: 2},
		FirstEventNS:   results.Latency{P50: 5, Max: 6, Count: 2},
		InterArrivalNS: results.Latency{P50: 7, Max: 8, Count: 38},
		LatencyNS: &results.StampLatency{Latency: results.Latency{P50: 9, Count: 40}, Field: "ts", Unit: "ms",
			UnitFrom: "detected", Clock: results.ClockNote},
		Bytes: results.LoadBytes{In: 100, Out: 10}, Reconnects: 0,
	}}}
	dir := t.TempDir()
	if err := want.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := results.Load(dir)
	if err != nil {
		t.Fatalf("a report of load runs alone: %v", err)
	}
	if !reflect.DeepEqual(got.Loads, want.Loads) {
		t.Fatalf("loads\n%+v\nwant\n%+v", got.Loads, want.Loads)
	}
	b, err := json.Marshal(want.Loads[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"clients":`, `"duration_s":`, `"events_received":`, `"events_per_sec":`,
		`"connect_ns":{"p50":1,"p90":2,"p99":3,`, `"first_event_ns":{`, `"inter_arrival_ns":{`,
		`"bytes":{"in":100,"out":10}`, `"reconnects":0`, `"errors":{}`,
		`"latency_ns":{"p50":9,`, `"field":"ts","unit":"ms","unit_from":"detected"`, `"clock":"arrival on`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON lacks %s:\n%s", k, b)
		}
	}
}
