package results_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/pushbench/pushbench/results"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// references are the committed reports, kept as written: schema 1 files
// among them.
var references = []string{"reference", "reference-faults", "reference-scale"}

// TestSaveLoad: every committed report survives a load, a save and a load
// unchanged (a schema 1 file read, upgraded, and written as this version),
// and a save leaves no temporary file behind.
func TestSaveLoad(t *testing.T) {
	for _, ref := range references {
		want, err := results.Load(ref)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "new")
		if err := want.Save(dir); err != nil {
			t.Fatal(err)
		}
		got, err := results.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s changed in a save and load", ref)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != results.FileName {
			t.Errorf("directory holds %v, want only %s (no temporary left)", entries, results.FileName)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := results.Load(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if _, err := results.Decode(strings.NewReader(`{"runs": []}`)); !errors.Is(err, results.ErrNoRuns) {
		t.Errorf("empty report: %v, want ErrNoRuns", err)
	}
	if _, err := results.Decode(strings.NewReader(`{"runs": [`)); err == nil {
		t.Error("truncated JSON: no error")
	}
	// A newer pushbench's fields do not stop an older one rendering.
	r, err := results.Decode(strings.NewReader(`{"future": 1, "runs": [{"transport": "sse", "clients": 1, "future": true}]}`))
	if err != nil || len(r.Runs) != 1 {
		t.Errorf("unknown fields: %v", err)
	}
}

func TestCurrentEnv(t *testing.T) {
	e := results.CurrentEnv()
	if e.Cores < 1 || e.GoVersion != runtime.Version() || e.StartedAt.IsZero() || !strings.Contains(e.OS, runtime.GOOS) {
		t.Errorf("CurrentEnv() = %+v", e)
	}
	if runtime.GOOS == "linux" && (e.Kernel == "" || e.MemoryBytes == 0) {
		t.Errorf("on Linux, kernel %q and memory %d should be known", e.Kernel, e.MemoryBytes)
	}
}

// TestDecodeSchema1: a results.json written before the schema was versioned
// kept a fault run's delivery account under other names and its latencies in
// milliseconds; it reads into this version's types.
func TestDecodeSchema1(t *testing.T) {
	const v1 = `{"faults": [{"transport": "sse", "fault": "crash",
		"delivery": {"expected": 10, "delivered": 9, "lost": 1, "gap_missed": 2},
		"latency": {"n": 5, "p50_ms": 1.5, "p99_ms": 3, "max_ms": 4.25},
		"recovery": {"broken": 2, "detect": {"n": 2, "p50_ms": 0.5, "p99_ms": 1, "max_ms": 1.25}}}]}`
	r, err := results.Decode(strings.NewReader(v1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Schema != results.SchemaVersion || len(r.Faults) != 1 {
		t.Fatalf("schema %d, %d fault runs", r.Schema, len(r.Faults))
	}
	f := r.Faults[0]
	if want := (results.Delivery{Expected: 10, Delivered: 9, Lost: 1, GapMissed: 2}); f.Delivery != want {
		t.Errorf("delivery %+v, want %+v", f.Delivery, want)
	}
	if want := (results.Latency{Count: 5, P50: 1_500_000, P99: 3_000_000, Max: 4_250_000}); f.LatencyNS != want {
		t.Errorf("latency %+v, want %+v", f.LatencyNS, want)
	}
	if want := (results.Latency{Count: 2, P50: 500_000, P99: 1_000_000, Max: 1_250_000}); f.Recovery.Detect != want || f.Recovery.Broken != 2 {
		t.Errorf("recovery %+v, want detect %+v and 2 broken", f.Recovery, want)
	}
}
