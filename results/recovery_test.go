package results_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pushbench/pushbench/internal/resultstest"
	"github.com/pushbench/pushbench/results"
)

func TestStormPeaks(t *testing.T) {
	ws := results.FaultRun{Fault: "storm", FaultAt: 12000, Server: resultstest.StormSamples(2)}
	got := ws.Storm()
	// 800 accepts/100ms and 0.15 CPU-s/100ms for the two seconds after the
	// fault: 8000/s and 1.5 cores over any one-second window inside them.
	if got.PeakAcceptsPerSec != 8000 || got.PeakCPU < 1.49 || got.PeakCPU > 1.51 {
		t.Errorf("Storm() = %+v, want 8000 accepts/s and 1.5 cores", got)
	}

	// A sample that arrived late and its successor early must not read as
	// a spike, and a restart (counters back to zero) must not count.
	var base results.ServerSample
	for i := range ws.Server {
		s := &ws.Server[i]
		switch {
		case s.At == 13000:
			s.At = 13090 // a late answer: the next comes 10 ms after it
		case s.At == 14900:
			base = *s
		case s.At >= 15000: // restarted at 14950: counting from zero again
			s.Accepted -= base.Accepted
			s.CPUSeconds -= base.CPUSeconds
		}
	}
	got = ws.Storm()
	if got.PeakAcceptsPerSec > 8000*1.11 || got.PeakCPU > 1.5*1.11 {
		t.Errorf("Storm() with jittered samples = %+v, want within 11%% of 8000/s and 1.5 cores", got)
	}

	// Reconnections that all land between the last sample before the fault
	// and the first after it are still the storm.
	quick := results.FaultRun{FaultAt: 1050}
	for at := int64(0); at <= 2100; at += 100 {
		acc := uint64(10)
		if at > 1050 {
			acc = 5010
		}
		quick.Server = append(quick.Server, results.ServerSample{At: at, Up: true, Accepted: acc})
	}
	if got := quick.Storm(); got.PeakAcceptsPerSec != 5000 {
		t.Errorf("Storm() of a storm inside one sample interval = %+v, want 5000 accepts/s", got)
	}

	if s := (results.FaultRun{}).Storm(); s != (results.Storm{}) {
		t.Errorf("Storm() without samples = %+v, want zero", s)
	}
}

// TestFaultsRoundTrip checks that fault runs survive results.json with the
// names the schema promises, and that a report of fault runs alone loads.
func TestFaultsRoundTrip(t *testing.T) {
	r, err := results.Load("reference-faults")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Faults) == 0 || len(r.Runs) > 0 {
		t.Fatalf("reference-faults holds %d runs and %d fault runs, want fault runs alone", len(r.Runs), len(r.Faults))
	}
	dir := t.TempDir()
	if err := r.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := results.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Faults, r.Faults) {
		t.Error("Load(Save(r)).Faults differs from r.Faults")
	}
	b, err := os.ReadFile(filepath.Join(dir, results.FileName))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Faults []map[string]json.RawMessage `json:"faults"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "fault", "jitter", "settings", "fault_at_ms", "recovery", "delivery", "latency_ns", "timeline", "server"} {
		if _, ok := raw.Faults[0][k]; !ok {
			t.Errorf("fault run lacks %q", k)
		}
	}
}
