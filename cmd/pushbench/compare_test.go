package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/results"
)

// referenceRuns is the committed reference run, decoded.
func referenceRuns(t *testing.T) *results.Report {
	t.Helper()
	r, err := results.Load(filepath.Join("..", "..", "results", "reference"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// save writes r as results.json into a new directory under dir.
func save(t *testing.T, r *results.Report, dir string) string {
	t.Helper()
	if err := r.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCompareExit is `pushbench compare` as CI runs it: a run against
// itself exits 0; a copy with p99 doubled or one event lost exits 1,
// naming the configurations.
func TestCompareExit(t *testing.T) {
	tmp := t.TempDir()
	ref := filepath.Join("..", "..", "results", "reference")

	var out bytes.Buffer
	if err := compare([]string{ref, filepath.Join(ref, results.FileName)}, &out); err != nil {
		t.Fatalf("the reference against itself: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "PASS") {
		t.Errorf("no PASS in\n%s", out.String())
	}

	doubled := referenceRuns(t)
	for i := range doubled.Runs {
		if doubled.Runs[i].Scenario == "fanout" && doubled.Runs[i].Clients == 5000 {
			doubled.Runs[i].LatencyNS.P99 *= 2
		}
	}
	out.Reset()
	err := compare([]string{ref, save(t, doubled, filepath.Join(tmp, "doubled"))}, &out)
	if !errors.Is(err, errRegression) {
		t.Fatalf("p99 doubled at 5,000 clients: err %v\n%s", err, out.String())
	}
	for _, tr := range []string{"poll/std 1s", "longpoll/std", "sse/std", "ws/gorilla", "tcp"} {
		if name := "fanout " + tr + ", 5,000 clients, 10/s, 64 B"; !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %q: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), "1,000 clients") {
		t.Errorf("error names a configuration that did not change: %v", err)
	}

	lost := referenceRuns(t)
	lost.Runs[0].Lost = 1
	b, jerr := json.Marshal(lost)
	if jerr != nil {
		t.Fatal(jerr)
	}
	file := filepath.Join(tmp, "edited.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := compare([]string{"--markdown", ref, file}, &out); !errors.Is(err, errRegression) || !strings.Contains(err.Error(), "fanout poll/std 1s, 100 clients, 10/s, 64 B") {
		t.Fatalf("one event lost: err %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "FAIL lost>0") {
		t.Errorf("markdown does not show the failed threshold:\n%s", out.String())
	}

	// Thresholds off: nothing fails.
	out.Reset()
	if err := compare([]string{"--fail-on", "none", ref, file}, &out); err != nil {
		t.Errorf("--fail-on none: %v", err)
	}
}

// TestCompareSessions: a directory of session directories pools their
// runs as repetitions.
func TestCompareSessions(t *testing.T) {
	tmp := t.TempDir()
	r := referenceRuns(t)
	for _, s := range []string{"1", "2"} {
		save(t, r, filepath.Join(tmp, "base", s))
	}
	rs, err := results.LoadSessions(filepath.Join(tmp, "base"))
	if err != nil || len(rs) != 2 {
		t.Fatalf("LoadSessions: %d sessions, %v", len(rs), err)
	}
	if _, err := results.LoadSessions(t.TempDir()); err == nil {
		t.Error("an empty directory loads")
	}
	var out bytes.Buffer
	if err := compare([]string{filepath.Join(tmp, "base"), filepath.Join("..", "..", "results", "reference")}, &out); err != nil {
		t.Errorf("two copies against one: %v", err)
	}
}
