package faults

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pushbench/pushbench/internal/testbin"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
	"github.com/pushbench/pushbench/scenarios"
)

// shortSettings are a fault run's timings scaled down for a test: every
// stated timeout is still far above what loopback needs.
func shortSettings() results.FaultSettings {
	return results.FaultSettings{
		Before: 300 * time.Millisecond, After: 300 * time.Millisecond, Downtime: 300 * time.Millisecond,
		Length: time.Second, Heartbeat: 200 * time.Millisecond, Retry: 50 * time.Millisecond,
		PollInterval: 50 * time.Millisecond, SSERetry: 50 * time.Millisecond,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, ReadTimeout: time.Second,
	}
}

// TestRunMeasuresRecovery runs real fault runs, the server a separate
// process: a kill -9 against SSE and WebSocket, and a storm without jitter
// against the TCP floor. Every client must notice, recover and end with
// every event exactly once; the figures must say so, and the server's
// samples must show the outage and count the floor's accepts.
func TestRunMeasuresRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server as a separate process")
	}
	bin := testbin.Pushbench(t)
	for _, tc := range []struct {
		transport, fault string
		jitter           loadgen.Jitter
	}{
		{loadgen.SSE, Crash, loadgen.FullJitter},
		{loadgen.WS, Crash, loadgen.FullJitter},
		{loadgen.TCP, Storm, loadgen.NoJitter},
	} {
		t.Run(tc.transport+"/"+tc.fault, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			const clients = 8
			set := shortSettings()
			if tc.fault == Storm {
				set.After = 1500 * time.Millisecond // room for a StormWindow of samples
			}
			run := Run(ctx, Config{
				Bin: bin, Scenario: "test", Transport: tc.transport, Fault: tc.fault, Jitter: tc.jitter,
				Clients: clients, Rate: 100, Payload: 64, Settings: set,
			})
			if run.Error != "" {
				t.Fatalf("run failed: %s (notes %q)", run.Error, run.Notes)
			}
			if len(run.Notes) > 0 {
				t.Errorf("notes: %q", run.Notes)
			}
			rc, d := run.Recovery, run.Delivery
			if rc.Broken != clients || rc.CaughtUp != clients {
				t.Errorf("recovery %+v: want all %d clients broken and caught up", rc, clients)
			}
			if !d.Exact() || d.Delivered != d.Expected || d.Expected == 0 {
				t.Errorf("delivery %+v: want every event exactly once", d)
			}
			// A closed connection is noticed at once, well inside the read
			// timeout that a silent one would need.
			if rc.Detect.N != clients || rc.Detect.Max >= float64(run.Settings.ReadTimeout.Milliseconds()) {
				t.Errorf("detect %+v: want every client within the %v read timeout", rc.Detect, run.Settings.ReadTimeout)
			}
			if run.Jitter != string(tc.jitter) || run.Settings.RetryJitter != (tc.jitter == loadgen.FullJitter) {
				t.Errorf("jitter %q, retry jitter %v: not what was asked (%q)", run.Jitter, run.Settings.RetryJitter, tc.jitter)
			}
			if len(run.Timeline) < 5 || run.FaultAt <= 0 {
				t.Errorf("timeline of %d samples, fault at %d ms", len(run.Timeline), run.FaultAt)
			}
			down := false
			for _, s := range run.Server {
				down = down || !s.Up
			}
			if down != (tc.fault == Crash) {
				t.Errorf("server samples show it down: %v, want %v", down, tc.fault == Crash)
			}
			if tc.fault == Storm {
				if st := run.Storm(); st.PeakAcceptsPerSec <= 0 {
					t.Errorf("storm peak accepts %v/s: the floor's reconnections were not counted", st.PeakAcceptsPerSec)
				}
			}
		})
	}
}

func TestRunRejectsUnknownFault(t *testing.T) {
	run := Run(context.Background(), Config{Transport: loadgen.SSE, Fault: "meteor", Clients: 1})
	if run.Error == "" {
		t.Fatal("an unknown fault ran")
	}
}

// TestNamesAgree checks that the scenarios' fault and jitter names are the
// ones Run and the report know.
func TestNamesAgree(t *testing.T) {
	if !slices.Equal(scenarios.AllFaults, All) {
		t.Errorf("scenarios.AllFaults = %q, faults.All = %q", scenarios.AllFaults, All)
	}
	for _, j := range [][3]string{
		{scenarios.FullJitter, string(loadgen.FullJitter), results.FullJitter},
		{scenarios.NoJitter, string(loadgen.NoJitter), results.NoJitter},
	} {
		if j[0] != j[1] || j[1] != j[2] {
			t.Errorf("jitter names differ: scenarios %q, loadgen %q, results %q", j[0], j[1], j[2])
		}
	}
}
