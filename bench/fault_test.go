package bench

import (
	"context"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/testbin"
	"github.com/pushbench/pushbench/results"
)

// shortSettings are a fault run's timings scaled down for a test: every
// stated timeout is still far above what loopback needs.
func shortSettings() results.FaultSettings {
	return results.FaultSettings{
		Before: 300 * time.Millisecond, After: 300 * time.Millisecond, Downtime: 300 * time.Millisecond,
		Length: time.Second, Heartbeat: 200 * time.Millisecond, Retry: 50 * time.Millisecond,
		PollInterval: 50 * time.Millisecond, SSERetry: 50 * time.Millisecond,
		// Far above any reconnect: a closed connection must be noticed as
		// closed, long before the read timeout could.
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, ReadTimeout: 5 * time.Second,
	}
}

// TestRunMeasuresRecovery runs real fault runs, the server a separate
// process: a kill -9 against SSE and WebSocket, and a storm without jitter
// against the TCP floor. Every client must notice, recover and end with
// every event exactly once; the figures must say so, and the server's
// samples must show the outage and count the floor's accepts.
func TestRunFaultMeasuresRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server as a separate process")
	}
	bin := testbin.Pushbench(t)
	for _, tc := range []struct {
		transport contract.Transport
		fault     contract.Fault
		jitter    contract.Jitter
	}{
		{contract.SSE, contract.Crash, contract.FullJitter},
		{contract.WS, contract.Crash, contract.FullJitter},
		{contract.TCP, contract.Storm, contract.NoJitter},
	} {
		t.Run(string(tc.transport)+"/"+string(tc.fault), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			const clients = 8
			set := shortSettings()
			if tc.fault == contract.Storm {
				set.After = 1500 * time.Millisecond // room for a StormWindow of samples
			}
			run := RunFault(ctx, FaultPlan{
				Scenario: "test", Fault: tc.fault, Jitter: tc.jitter, Settings: set,
				Load:   Load{Transport: tc.transport, Clients: clients, Schedule: contract.Schedule{Rate: 100, Payload: 64}},
				Server: ServerSpec{Command: []string{bin, "serve"}},
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
			if rc.Detect.Count != clients || time.Duration(rc.Detect.Max) >= run.Settings.ReadTimeout {
				t.Errorf("detect %+v: want every client within the %v read timeout", rc.Detect, run.Settings.ReadTimeout)
			}
			if run.Jitter != tc.jitter || run.Settings.RetryJitter != (tc.jitter == contract.FullJitter) {
				t.Errorf("jitter %q, retry jitter %v: not what was asked (%q)", run.Jitter, run.Settings.RetryJitter, tc.jitter)
			}
			if len(run.Timeline) < 5 || run.FaultAt <= 0 {
				t.Errorf("timeline of %d samples, fault at %d ms", len(run.Timeline), run.FaultAt)
			}
			down := false
			for _, s := range run.Server {
				down = down || !s.Up
			}
			if down != (tc.fault == contract.Crash) {
				t.Errorf("server samples show it down: %v, want %v", down, tc.fault == contract.Crash)
			}
			if tc.fault == contract.Storm {
				if st := run.Storm(); st.PeakAcceptsPerSec <= 0 {
					t.Errorf("storm peak accepts %v/s: the floor's reconnections were not counted", st.PeakAcceptsPerSec)
				}
			}
		})
	}
}

func TestRunFaultRejectsAnUnknownFault(t *testing.T) {
	run := RunFault(context.Background(), FaultPlan{Fault: "meteor", Load: Load{Transport: contract.SSE, Clients: 1}})
	if run.Error == "" {
		t.Fatal("an unknown fault ran")
	}
}
